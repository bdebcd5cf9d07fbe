"""``probe`` against real peers: a PostgreSQL server with SSL, a plain TLS server, a TCP server that
is not PostgreSQL, a closed port; and proof that the PostgreSQL server really serves real clients
(psql, psycopg 3, psycopg2, pgjdbc) with the same trust decisions ``verify`` makes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PgServer, free_port, pg_server  # noqa: F401  (session fixture)
from support import FIXTURES, missing, require_tool
from test_verify import G1, NEW_CA, OLD, PASSWORD, certs, make_store
from tls_server import HTTPSServer
from typer.testing import CliRunner

from rdstrust.certs import Generation
from rdstrust.cli import app
from rdstrust.errors import ProbeError, UsageError
from rdstrust.pathcheck import read_chain
from rdstrust.probe import StartTLS, classify_issuer, parse_target, probe

CHAINS = FIXTURES / "chains"
runner = CliRunner()


# --- peers that are not PostgreSQL --------------------------------------------------------


class TcpServer:
    """A TCP server on 127.0.0.1 that answers every connection with fixed bytes (or nothing)."""

    def __init__(self, reply: bytes | None, close: bool = True) -> None:
        self.reply = reply
        self.close = close
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.recv(64)
                if self.reply is not None:
                    conn.sendall(self.reply)
            except OSError:
                pass
            if self.close:
                conn.close()
            else:
                self.conns.append(conn)

    def __enter__(self) -> TcpServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize(
    ("reply", "close", "message"),
    [
        (b"HTTP/1.0 400 Bad Request\r\n\r\n", True, "answered PostgreSQL's SSLRequest with b'H'"),
        (None, True, "closed the connection on PostgreSQL's SSLRequest"),
        (b"N", True, "refuses SSL"),
        (b"E", True, "with an error message"),
        (None, False, "did not answer PostgreSQL's SSLRequest within 0.5 s"),
    ],
)
def test_not_postgres(reply: bytes | None, close: bool, message: str) -> None:
    with TcpServer(reply, close) as server, pytest.raises(ProbeError) as info:
        probe("127.0.0.1", server.port, timeout=0.5)
    assert message in info.value.message
    assert info.value.exit_code == 6


def test_closed_port() -> None:
    with pytest.raises(ProbeError, match="refused: nothing listens"):
        probe("127.0.0.1", free_port(), timeout=2)


def test_unresolvable_host() -> None:
    with pytest.raises(ProbeError, match="Cannot resolve host"):
        probe("no-such-host.invalid", 5432, timeout=2)


def test_plain_tls_endpoint_with_starttls_none() -> None:
    with HTTPSServer(chain="ecc384-g1-eu-west-1") as server:
        result = probe("127.0.0.1", server.port, starttls=StartTLS.NONE, timeout=5)
        assert result.generation is Generation.ECC384_G1 and result.region == "eu-west-1"
        assert len(result.certificates) == 2
        # A TLS server is not PostgreSQL: the SSLRequest is not TLS, it hangs up.
        with pytest.raises(ProbeError, match="not a PostgreSQL server"):
            probe("127.0.0.1", server.port, timeout=5)


def test_starttls_none_against_plain_tcp() -> None:
    with (
        TcpServer(b"HTTP/1.0 400 Bad Request\r\n\r\n") as server,
        pytest.raises(ProbeError) as info,
    ):
        probe("127.0.0.1", server.port, starttls=StartTLS.NONE, timeout=2)
    assert "TLS handshake" in info.value.message


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("db.example.com", ("db.example.com", 5432)),
        ("db.example.com:6543", ("db.example.com", 6543)),
        ("127.0.0.1:1", ("127.0.0.1", 1)),
        ("[::1]:5433", ("::1", 5433)),
        ("[::1]", ("::1", 5432)),
        ("::1", ("::1", 5432)),
        ("db_1.internal.:5433", ("db_1.internal.", 5433)),
        ("bücher.example", ("bücher.example", 5432)),
    ],
)
def test_parse_target(target: str, expected: tuple[str, int]) -> None:
    assert parse_target(target) == expected


@pytest.mark.parametrize(
    "target",
    [
        "",
        ":5432",
        "db:0",
        "db:70000",
        "db:port",
        "[::1",
        "db:5432:1",  # several ':' and not an IPv6 address
        "a..b",  # an empty label: the resolver would raise UnicodeError
        "a b",
        "-db",
        "[::1]:99999",
        "x" * 64 + ".example",  # a label longer than 63
    ],
)
def test_parse_target_errors(target: str) -> None:
    with pytest.raises(UsageError):
        parse_target(target)


@pytest.mark.parametrize(
    ("host", "port", "timeout", "words"),
    [
        ("127.0.0.1", 5432, 0, "greater than 0"),
        ("127.0.0.1", 5432, -1, "greater than 0"),
        ("127.0.0.1", 5432, float("nan"), "greater than 0"),
        ("127.0.0.1", 5432, float("inf"), "greater than 0"),
        ("127.0.0.1", 5432, 1e10, "at most 3600"),
        ("127.0.0.1", 0, 1, "not a port number"),
        ("127.0.0.1", 65536, 1, "not a port number"),
        ("a..b", 5432, 1, "not a host name"),
    ],
)
def test_probe_refuses_bad_arguments_before_connecting(
    host: str, port: int, timeout: float, words: str
) -> None:
    with pytest.raises(UsageError) as info:
        probe(host, port, timeout=timeout)
    assert words in info.value.message and info.value.exit_code == 2


def test_probe_refuses_a_bad_server_name() -> None:
    with pytest.raises(UsageError, match="not a host name"):
        probe("127.0.0.1", free_port(), timeout=1, server_name="a..b")


@pytest.mark.parametrize(
    ("chain", "generation", "region"),
    [
        ("rsa2048-g1-us-east-1", Generation.RSA2048_G1, "us-east-1"),
        ("rsa4096-g1-eu-west-1", Generation.RSA4096_G1, "eu-west-1"),
        ("ecc384-g1-ap-southeast-2", Generation.ECC384_G1, "ap-southeast-2"),
        ("2019-us-east-1", Generation.CA_2019, "us-east-1"),
        ("unrelated", Generation.UNKNOWN, None),
    ],
)
def test_classify_issuer(chain: str, generation: Generation, region: str | None) -> None:
    leaf = read_chain(CHAINS / chain / "chain.pem").leaf
    assert classify_issuer(leaf.certificate.issuer) == (generation, region)


def test_cli_probe_errors() -> None:
    result = runner.invoke(app, ["probe", f"127.0.0.1:{free_port()}", "--timeout", "2"])
    assert result.exit_code == 6 and result.stdout == ""
    assert result.stderr.startswith("rdstrust: error: Connection to 127.0.0.1:")
    result = runner.invoke(app, ["probe", "db:port"])
    assert result.exit_code == 2 and "not a port number" in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--timeout", "0"], "'0' is not a number of seconds greater than 0"),
        (["--timeout", "-1"], "greater than 0"),
        (["--timeout", "nan"], "greater than 0"),
        (["--timeout", "1e309"], "greater than 0"),
        (["--starttls", "bogus"], "'bogus' is not one of 'postgres', 'none', 'mysql', 'auto'."),
    ],
)
def test_cli_probe_bad_option_values_exit_2(args: list[str], words: str) -> None:
    result = runner.invoke(app, ["probe", "127.0.0.1:1", *args])
    assert result.exit_code == 2 and result.stdout == ""
    assert words in result.stderr and "Traceback" not in result.stderr


def test_cli_save_chain_into_a_directory_fails_once_before_connecting(tmp_path: Path) -> None:
    with TcpServer(None, close=False) as server:
        result = runner.invoke(
            app,
            ["probe", f"127.0.0.1:{server.port}", "--timeout", "1", "--save-chain", str(tmp_path)],
        )
        assert server.conns == []
    assert result.exit_code == 5 and result.stdout == ""
    assert result.stderr == (
        f"rdstrust: error: Output {tmp_path} is a directory; give a file name with --save-chain.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_cli_save_chain_from_a_tls_endpoint(tmp_path: Path) -> None:
    saved = tmp_path / "chain.pem"
    with HTTPSServer(chain="ecc384-g1-eu-west-1") as server:
        args = ["probe", f"127.0.0.1:{server.port}", "--starttls", "NONE", "--save-chain"]
        result = runner.invoke(app, [*args, str(saved)])
    assert result.exit_code == 0, result.stderr
    assert "CN=Amazon RDS eu-west-1 Subordinate CA ECC384 G1" in read_chain(saved).leaf.issuer
    assert result.stderr.strip() == f"chain of 2 certificate(s) written to {saved}"


# --- a real PostgreSQL server -------------------------------------------------------------


@pytest.fixture
def pg(pg_server: PgServer) -> Iterator[PgServer]:  # noqa: F811
    """The shared server, back on its default chain after each test."""
    yield pg_server
    if pg_server.chain != "rsa2048-g1-us-east-1":
        pg_server.use_chain("rsa2048-g1-us-east-1")


@pytest.mark.postgres
def test_probe_postgres(pg: PgServer, tmp_path: Path) -> None:
    result = probe(pg.host, pg.port)
    # Not told how to start TLS on a port other than 3306, it speaks PostgreSQL's upgrade.
    assert result.starttls is StartTLS.POSTGRES and result.server_version is None
    assert result.generation is Generation.RSA2048_G1 and result.rotated
    assert result.region == "us-east-1"
    assert result.issuer == "Amazon RDS us-east-1 Subordinate CA RSA2048 G1.A.1"
    assert "localhost" in result.names and "127.0.0.1" in result.names
    assert [c.is_ca for c in result.certificates] == [False, True]
    assert result.chain.to_pem() == (CHAINS / "rsa2048-g1-us-east-1" / "server.pem").read_bytes()

    # --starttls none against a PostgreSQL 15 server: it expects the SSLRequest first
    with pytest.raises(ProbeError):
        probe(pg.host, pg.port, starttls=StartTLS.NONE, timeout=5)


@pytest.mark.postgres
def test_probe_shows_an_instance_not_yet_rotated(pg: PgServer) -> None:
    pg.use_chain("2019-us-east-1")
    result = probe(pg.host, pg.port)
    assert result.generation is Generation.CA_2019 and not result.rotated
    assert any("still issued by rds-ca-2019" in n for n in result.notes)


@pytest.mark.postgres
def test_cli_probe_save_chain_then_verify(pg: PgServer, tmp_path: Path) -> None:
    saved = tmp_path / "chain.pem"
    result = runner.invoke(app, ["probe", pg.target, "--save-chain", str(saved)])
    assert result.exit_code == 0, result.stderr
    assert "generation  rds-ca-rsa2048-g1 (us-east-1)" in result.stdout
    assert "rotated     yes" in result.stdout
    assert "written to" in result.stderr

    good = make_store(tmp_path, "pem", certs(G1))
    (tmp_path / "bad").mkdir()
    bad = make_store(tmp_path / "bad", "pem", certs(G1, drop=[NEW_CA]))
    base = ["verify", "--bundle", str(G1), "--chain", str(saved), "--server-name", "localhost"]
    assert runner.invoke(app, [*base, "-s", str(good)]).exit_code == 0
    failed = runner.invoke(app, [*base, "-s", str(bad), "--json"])
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["stores"][0]["path"]["failure"] == "unknown-issuer"

    as_json = runner.invoke(app, ["probe", pg.target, "--json"])
    assert json.loads(as_json.stdout)["generation"] == "rds-ca-rsa2048-g1"


@pytest.mark.postgres
def test_cli_verify_host(pg: PgServer, tmp_path: Path) -> None:
    good = make_store(tmp_path, "pem", certs(G1))
    args = ["verify", "-s", str(good), "--bundle", str(G1), "--host", pg.host]
    ok = runner.invoke(app, [*args, "--port", str(pg.port)])
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    wrong = runner.invoke(
        app, [*args, "--port", str(pg.port), "--server-name", "db.example.com", "--json"]
    )
    assert wrong.exit_code == 1
    assert json.loads(wrong.stdout)["stores"][0]["path"]["failure"] == "hostname-mismatch"
    closed = runner.invoke(app, [*args, "--port", str(free_port()), "--timeout", "2"])
    assert closed.exit_code == 6 and closed.stdout == ""


# --- real clients against the same server -------------------------------------------------


def _psql(pg: PgServer, root: Path, host: str = "localhost", mode: str = "verify-full"):  # type: ignore[no-untyped-def]
    psql = require_tool("psql")
    dsn = pg.dsn(host=host, hostaddr=pg.host, sslmode=mode, sslrootcert=str(root))
    return subprocess.run(
        [psql, dsn, "-Atc", "select ssl from pg_stat_ssl where pid = pg_backend_pid()"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.postgres
def test_psql_trusts_the_right_root_only(pg: PgServer) -> None:
    ok = _psql(pg, CHAINS / "rsa2048-g1-us-east-1" / "root.pem")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "t"
    bad = _psql(pg, CHAINS / "unrelated" / "root.pem")
    assert bad.returncode != 0 and "certificate verify failed" in bad.stderr
    # a PEM store made of the G1 bundle works; the old bundle does not
    assert _psql(pg, G1).returncode == 0
    assert _psql(pg, OLD).returncode != 0
    # verify-full checks the name; verify-ca does not
    wrong = _psql(pg, G1, host="db.example.com")
    assert wrong.returncode != 0 and "does not match" in wrong.stderr
    assert _psql(pg, G1, host="db.example.com", mode="verify-ca").returncode == 0


def _connect_psycopg(module: str, dsn: str) -> None:
    if module == "psycopg":
        import psycopg

        with psycopg.connect(dsn) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    else:
        import psycopg2

        conn = psycopg2.connect(dsn)
        try:
            with conn.cursor() as cur:
                cur.execute("select 1")
                assert cur.fetchone() == (1,)
        finally:
            conn.close()


@pytest.mark.postgres
@pytest.mark.parametrize("module", ["psycopg", "psycopg2"])
def test_psycopg_with_a_pem_store(pg: PgServer, module: str, tmp_path: Path) -> None:
    try:
        __import__(module)
    except ImportError:
        missing(f"the Python module {module}")
    store = make_store(tmp_path, "pem", certs(G1))
    ok = pg.dsn(host="localhost", hostaddr=pg.host, sslmode="verify-full", sslrootcert=str(store))
    _connect_psycopg(module, ok)
    # the store verify calls good is what the driver accepts ...
    assert runner.invoke(app, ["verify", "-s", str(store), "--bundle", str(G1)]).exit_code == 0
    # ... and without the new CA the driver refuses, as verify says
    (tmp_path / "bad").mkdir()
    bad_store = make_store(tmp_path / "bad", "pem", certs(G1, drop=[NEW_CA]))
    bad = pg.dsn(
        host="localhost", hostaddr=pg.host, sslmode="verify-full", sslrootcert=str(bad_store)
    )
    with pytest.raises(Exception, match="certificate verify failed"):
        _connect_psycopg(module, bad)
    refused = runner.invoke(app, ["verify", "-s", str(bad_store), "--bundle", str(G1)])
    assert refused.exit_code == 1, refused.output
    # ... and asked about the live server itself, verify agrees with the driver on both stores.
    live = ["--host", pg.host, "--port", str(pg.port), "--server-name", "localhost"]
    for path, code in ((store, 0), (bad_store, 1)):
        result = runner.invoke(app, ["verify", "-s", str(path), "--bundle", str(G1), *live])
        assert result.exit_code == code, result.output


PG_CONNECT = """
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;

public class PgConnect {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0]);
             ResultSet r = c.createStatement().executeQuery("select 1")) {
            r.next();
            System.out.println("OK " + r.getInt(1));
        } catch (Exception e) {
            Throwable t = e;
            while (t.getCause() != null) { t = t.getCause(); }
            System.out.println("FAIL " + e + " / " + t);
            System.exit(1);
        }
    }
}
"""
PGJDBC = Path("/usr/share/java/postgresql.jar")


@pytest.mark.postgres
@pytest.mark.jvm
@pytest.mark.parametrize("kind", ["jks", "pkcs12"])
def test_pgjdbc_with_a_java_store(pg: PgServer, tmp_path: Path, kind: str) -> None:
    if not PGJDBC.exists():
        missing("pgjdbc (Debian package libpostgresql-jdbc-java)")
    java = require_tool("java")
    program = tmp_path / "PgConnect.java"
    program.write_text(PG_CONNECT)
    url = pg.jdbc_url(
        host="localhost",
        sslmode="verify-full",
        # pgjdbc ignores javax.net.ssl.trustStore unless told to use the JVM's factory
        sslfactory="org.postgresql.ssl.DefaultJavaSSLFactory",
    )

    def connect(store: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(java, "-cp", str(PGJDBC), f"-Djavax.net.ssl.trustStore={store}"),
                f"-Djavax.net.ssl.trustStorePassword={PASSWORD}",
                f"-Djavax.net.ssl.trustStoreType={'PKCS12' if kind == 'pkcs12' else 'JKS'}",
                *(str(program), url),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    store = make_store(tmp_path, kind, certs(G1))
    ok = connect(store)
    assert ok.returncode == 0 and "OK 1" in ok.stdout, ok.stdout + ok.stderr
    (tmp_path / "bad").mkdir()
    bad_store = make_store(tmp_path / "bad", kind, certs(G1, drop=[NEW_CA]))
    bad = connect(bad_store)
    assert bad.returncode == 1 and "FAIL" in bad.stdout
    assert "certification path" in bad.stdout or "PKIX" in bad.stdout, bad.stdout
    # and verify --jvm, asked about the live server, says the same about both stores
    for path, code in ((store, 0), (bad_store, 1)):
        result = runner.invoke(
            app,
            [
                *("verify", "-s", str(path), "--bundle", str(G1), "--storepass", PASSWORD),
                *("--host", "127.0.0.1", "--port", str(pg.port), "--server-name", "localhost"),
                *("--jvm", "--java", java),
            ],
        )
        assert result.exit_code == code, result.stdout + result.stderr
