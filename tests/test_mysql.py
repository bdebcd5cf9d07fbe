"""MySQL / MariaDB: ``probe --starttls mysql`` against a real MariaDB server and against peers that
are not MySQL; and proof, with the real ``mariadb`` client and MariaDB Connector/J, that the
settings ``rdstrust.clients`` prints make those clients trust a store rdstrust wrote, and that
without the new CA they do not.

MySQL Connector/J is not tested: neither Debian nor PyPI nor npm ships it (it lives on Maven
Central only, which this project's machines cannot reach); its settings follow its documentation.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mysqlserver import (  # noqa: F401  (session fixture)
    MySQLServer,
    mysql_server,
    require_mariadb_server,
    start_mysql_server,
)
from pgserver import PgServer, free_port, pg_server  # noqa: F401  (session fixture)
from support import FIXTURES, missing, require_tool
from test_verify import G1, NEW_CA, PASSWORD, certs, make_store
from tls_server import HTTPSServer
from typer.testing import CliRunner

from rdstrust.certs import Generation
from rdstrust.cli import app
from rdstrust.clients import client_settings
from rdstrust.errors import ProbeError
from rdstrust.pathcheck import read_chain
from rdstrust.probe import (
    MAX_MYSQL_GREETING,
    MYSQL_CLIENT_FLAGS,
    StartTLS,
    default_port,
    mysql_ssl_request_packet,
    probe,
    resolve_starttls,
)
from rdstrust.stores import StoreType

CHAINS = FIXTURES / "chains"
MARIADB_JAR = Path("/usr/share/java/mariadb-java-client.jar")
runner = CliRunner()

pytestmark = pytest.mark.mysql


@pytest.fixture
def my(mysql_server: MySQLServer) -> Iterator[MySQLServer]:  # noqa: F811
    """The shared server, back on its default chain after each test."""
    yield mysql_server
    if mysql_server.chain != "rsa2048-g1-us-east-1":
        mysql_server.use_chain("rsa2048-g1-us-east-1")


# --- the protocol, without a server ---------------------------------------------------------


def test_ssl_request_packet_layout() -> None:
    packet = mysql_ssl_request_packet()
    # 3-byte length 32, sequence 1, then flags, max packet size, charset and 23 zero bytes.
    assert packet[:4] == b"\x20\x00\x00\x01" and len(packet) == 36
    flags = int.from_bytes(packet[4:8], "little")
    assert flags == MYSQL_CLIENT_FLAGS and flags & 0x0800 and flags & 0x0200 and flags & 0x8000
    assert packet[13:] == bytes(23)


@pytest.mark.parametrize(
    ("starttls", "port", "expected"),
    [
        (None, 3306, StartTLS.MYSQL),
        (StartTLS.AUTO, 3306, StartTLS.MYSQL),
        ("auto", 5432, StartTLS.POSTGRES),
        (None, 6543, StartTLS.POSTGRES),
        (StartTLS.POSTGRES, 3306, StartTLS.POSTGRES),  # what the user says wins
        (StartTLS.NONE, 3306, StartTLS.NONE),
        (StartTLS.MYSQL, 13306, StartTLS.MYSQL),
    ],
)
def test_resolve_starttls(starttls: StartTLS | str | None, port: int, expected: StartTLS) -> None:
    assert resolve_starttls(starttls, port) is expected


def test_default_port_follows_starttls() -> None:
    assert default_port(StartTLS.MYSQL) == 3306
    assert default_port(None) == default_port(StartTLS.AUTO) == default_port("postgres") == 5432


class GreetingServer:
    """A TCP server on 127.0.0.1 that speaks first, as a MySQL server does, with fixed bytes
    (sent in ``chunks`` separated by ``pause`` seconds), then hangs up (``hang_up``) or records
    what the peer sends until the peer hangs up."""

    def __init__(
        self, reply: bytes, chunks: int = 1, pause: float = 0.0, hang_up: bool = False
    ) -> None:
        self.reply, self.chunks, self.pause, self.hang_up = reply, chunks, pause, hang_up
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.received = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.1)
                step = max(1, -(-len(self.reply) // self.chunks))
                try:
                    for at in range(0, len(self.reply), step):
                        conn.sendall(self.reply[at : at + step])
                        if self.stop.wait(self.pause):
                            return
                    while not self.hang_up and not self.stop.is_set():
                        try:
                            data = conn.recv(4096)
                        except TimeoutError:
                            continue
                        if not data:
                            break
                        self.received += data
                except OSError:
                    pass

    def __enter__(self) -> GreetingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def packet(payload: bytes, seq: int = 0) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def greeting(version: bytes = b"8.0.36", capabilities: int = 0xFFFF_F7FF | 0x0800) -> bytes:
    """A protocol-10 greeting as MySQL 8 sends it."""
    return (
        b"\x0a"
        + version
        + b"\x00"
        + (7).to_bytes(4, "little")
        + b"abcdefgh\x00"
        + (capabilities & 0xFFFF).to_bytes(2, "little")
        + b"\xff"
        + b"\x02\x00"
        + (capabilities >> 16).to_bytes(2, "little")
        + b"\x15"
        + bytes(10)
        + b"ijklmnopqrst\x00mysql_native_password\x00"
    )


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"", "closed the connection without sending MySQL's greeting"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "sent SSH- where MySQL's greeting starts"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "it is not a MySQL server"),
        (packet(b"\x0b" + b"x" * 40), "protocol version byte 0x0b"),
        (packet(b"\x09" + b"3.20\x00" + bytes(20)), "protocol version 9"),
        (packet(b"\x0a5.7\x00abc"), "cut short"),
        (packet(greeting(), seq=3), "it is not a MySQL server"),
        (
            (MAX_MYSQL_GREETING + 1).to_bytes(3, "little") + b"\x00" + b"x" * 100,
            "it is not a MySQL server",
        ),
        (packet(greeting()[:30])[:20], "in the middle of MySQL's greeting"),
        (packet(greeting(capabilities=0xFFFF_F7FF)), "(8.0.36) that does not offer TLS"),
        (packet(greeting(capabilities=0xFFFF_F5FF)), "does not offer TLS"),
        (packet(greeting(capabilities=0x0800)), "too old for the 4.1 protocol"),
    ],
)
def test_peers_that_are_not_a_mysql_server_with_tls(reply: bytes, words: str) -> None:
    with GreetingServer(reply, hang_up=True) as server, pytest.raises(ProbeError) as info:
        probe("127.0.0.1", server.port, starttls=StartTLS.MYSQL, timeout=2)
    assert words in info.value.message, info.value.message
    assert info.value.exit_code == 6


def test_an_err_packet_is_reported_escaped() -> None:
    hostile = b"Host '10.0.0.9' is blocked\x1b[2J\nrdstrust: all good\x07 " + b"A" * 600
    err = packet(b"\xff" + (1129).to_bytes(2, "little") + hostile)
    with GreetingServer(err) as server, pytest.raises(ProbeError) as info:
        probe("127.0.0.1", server.port, starttls=StartTLS.MYSQL, timeout=2)
    message = info.value.message
    assert "refused this connection before TLS (error 1129: Host '10.0.0.9' is blocked" in message
    assert "FLUSH HOSTS" in message
    assert "\x1b" not in message and "\n" not in message and "\x07" not in message
    assert "\\x1b[2J\\nrdstrust: all good\\x07" in message
    assert "A" * 300 not in message and "..." in message  # bounded


def test_a_hostile_server_version_is_escaped() -> None:
    reply = packet(greeting(version=b"8.0\x1b]0;owned\x07\xff", capabilities=0xFFFF_F7FF))
    with GreetingServer(reply) as server, pytest.raises(ProbeError) as info:
        probe("127.0.0.1", server.port, starttls=StartTLS.MYSQL, timeout=2)
    assert "(8.0\\x1b]0;owned\\x07\ufffd) that does not offer TLS" in info.value.message


def test_a_greeting_dripped_byte_by_byte_is_bounded_by_the_timeout() -> None:
    # 4 bytes a second would take ~30 s; the probe gives up after its 1 s budget in total.
    with GreetingServer(packet(greeting()), chunks=120, pause=0.25) as server:
        started = time.monotonic()
        with pytest.raises(ProbeError, match="sent no MySQL greeting within 1 s"):
            probe("127.0.0.1", server.port, starttls=StartTLS.MYSQL, timeout=1)
        assert time.monotonic() - started < 5


def test_the_probe_sends_the_ssl_request_after_the_greeting() -> None:
    # A server that offers TLS but then does not speak it: the SSLRequest arrived, TLS fails.
    with GreetingServer(packet(greeting())) as server:
        failed = r"TLS handshake with 127\.0\.0\.1:\d+ (failed|timed out)"
        with pytest.raises(ProbeError, match=failed):
            probe("127.0.0.1", server.port, starttls=StartTLS.MYSQL, timeout=1)
        deadline = time.monotonic() + 5
        while len(server.received) < 36 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert bytes(server.received[:36]) == mysql_ssl_request_packet()
    assert server.received[36:37] == b"\x16"  # then a TLS record: the ClientHello


def test_peers_that_wait_for_the_client() -> None:
    # A plain TLS server (and a PostgreSQL server, below) wait for the client to speak first.
    with HTTPSServer(chain="ecc384-g1-eu-west-1") as server:
        result = runner.invoke(
            app, ["probe", f"127.0.0.1:{server.port}", "--starttls", "mysql", "--timeout", "1"]
        )
    assert result.exit_code == 6 and result.stdout == ""
    assert "sent no MySQL greeting within 1 s: it is not a MySQL server" in result.stderr
    assert "--starttls none" in result.stderr


@pytest.mark.postgres
def test_a_postgres_server_is_not_mysql(pg_server: PgServer) -> None:  # noqa: F811
    with pytest.raises(ProbeError) as info:
        probe(pg_server.host, pg_server.port, starttls=StartTLS.MYSQL, timeout=1)
    assert "it is not a MySQL server" in info.value.message
    assert "--starttls postgres" in info.value.message


def test_cli_starttls_choices() -> None:
    result = runner.invoke(app, ["probe", "127.0.0.1:1", "--starttls", "bogus"])
    assert result.exit_code == 2
    assert "'bogus' is not one of 'postgres', 'none', 'mysql', 'auto'." in result.stderr


# --- a real MariaDB server ------------------------------------------------------------------


def test_probe_mariadb(my: MySQLServer) -> None:
    result = probe(my.host, my.port, starttls=StartTLS.MYSQL)
    assert result.starttls is StartTLS.MYSQL
    assert result.generation is Generation.RSA2048_G1 and result.rotated
    assert result.region == "us-east-1"
    assert result.issuer == "Amazon RDS us-east-1 Subordinate CA RSA2048 G1.A.1"
    assert [c.is_ca for c in result.certificates] == [False, True]
    assert result.chain.to_pem() == (CHAINS / "rsa2048-g1-us-east-1" / "server.pem").read_bytes()
    assert result.server_version is not None and "MariaDB" in result.server_version
    # The PostgreSQL upgrade (the default on any port but 3306) and direct TLS both fail here;
    # the PostgreSQL one says what to use instead.
    for other in (StartTLS.POSTGRES, StartTLS.AUTO, StartTLS.NONE):
        with pytest.raises(ProbeError) as info:
            probe(my.host, my.port, starttls=other, timeout=2)
        if other is not StartTLS.NONE:
            assert "use --starttls mysql" in info.value.message, info.value.message


def test_cli_probe_mariadb_then_verify(my: MySQLServer, tmp_path: Path) -> None:
    saved = tmp_path / "chain.pem"
    args = ["probe", my.target, "--starttls", "mysql"]
    result = runner.invoke(app, [*args, "--save-chain", str(saved)])
    assert result.exit_code == 0, result.stderr
    assert "generation  rds-ca-rsa2048-g1 (us-east-1)" in result.stdout
    assert "rotated     yes" in result.stdout
    assert "CN=Amazon RDS us-east-1 Subordinate CA RSA2048 G1" in read_chain(saved).leaf.issuer
    as_json = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert as_json["generation"] == "rds-ca-rsa2048-g1" and as_json["starttls"] == "mysql"
    assert "MariaDB" in as_json["server_version"]


def test_probe_shows_a_mariadb_instance_not_yet_rotated(my: MySQLServer) -> None:
    my.use_chain("2019-us-east-1")
    result = probe(my.host, my.port, starttls=StartTLS.MYSQL)
    assert result.generation is Generation.CA_2019 and not result.rotated
    assert any("still issued by rds-ca-2019" in n for n in result.notes)


def test_mariadb_with_tls_off() -> None:
    require_mariadb_server()
    server = start_mysql_server(chain=None)
    try:
        result = runner.invoke(app, ["probe", server.target, "--starttls", "mysql"])
    finally:
        server.stop()
    assert result.exit_code == 6 and result.stdout == ""
    assert "is a MySQL server (5.5.5-" in result.stderr
    assert "MariaDB" in result.stderr and "that does not offer TLS" in result.stderr


class Relay:
    """Forwards ``listen`` (host, port) to ``target``, connecting out from ``source``: a way to
    reach the test server on port 3306 (on 127.0.0.2, which the loopback interface answers too)
    or from another client address, without root-only tricks."""

    def __init__(
        self, listen: tuple[str, int], target: tuple[str, int], source: str = "127.0.0.1"
    ) -> None:
        self.target, self.source = target, source
        self.sock = socket.create_server(listen)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                out = socket.create_connection(self.target, 5, (self.source, 0))
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, out), (out, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Relay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def test_port_3306_speaks_mysql_without_being_told(my: MySQLServer) -> None:
    try:
        relay = Relay(("127.0.0.2", 3306), (my.host, my.port))
    except OSError as exc:
        pytest.skip(f"cannot listen on 127.0.0.2:3306 here ({exc.strerror})")
    with relay:
        # No --starttls: port 3306 means MySQL ...
        auto = runner.invoke(app, ["probe", "127.0.0.2:3306", "--json"])
        # ... and --starttls mysql without a port means 3306.
        no_port = runner.invoke(app, ["probe", "127.0.0.2", "--starttls", "mysql", "--json"])
        # Asked explicitly for PostgreSQL's upgrade on 3306, it does not guess.
        told = runner.invoke(app, ["probe", "127.0.0.2:3306", "--starttls", "postgres"])
    for result in (auto, no_port):
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["starttls"] == "mysql" and data["port"] == 3306
        assert data["generation"] == "rds-ca-rsa2048-g1"
    assert told.exit_code == 6 and "PostgreSQL" in told.stderr


def test_a_real_err_packet_from_mariadb(my: MySQLServer) -> None:
    # From 127.0.0.2 no user may connect (they are made for 127.0.0.1): MariaDB sends error
    # 1130 instead of its greeting.
    with Relay(("127.0.0.1", 0), (my.host, my.port), source="127.0.0.2") as relay:
        port = relay.sock.getsockname()[1]
        with pytest.raises(ProbeError) as info:
            probe("127.0.0.1", port, starttls=StartTLS.MYSQL, timeout=5)
    assert "refused this connection before TLS (error 1130: Host '127.0.0.2'" in (
        info.value.message
    )
    assert "let this client's address connect" in info.value.message


# --- real clients, with the settings rdstrust prints ----------------------------------------


def merged_pem(directory: Path, *, without_new_ca: bool = False) -> Path:
    """A PEM store written by ``rdstrust merge`` from the G1 bundle (optionally minus the
    us-east-1 root that issued the test server's chain)."""
    directory.mkdir(parents=True, exist_ok=True)
    bundle = G1
    if without_new_ca:
        bundle = make_store(directory, "pem", certs(G1, drop=[NEW_CA])).rename(directory / "b.pem")
    store = directory / "rds.pem"
    result = runner.invoke(app, ["merge", "-b", str(bundle), "-s", str(store)])
    assert result.exit_code == 0, result.output
    return store


def merged_java_store(directory: Path, kind: str, *, without_new_ca: bool = False) -> Path:
    """A JKS / PKCS12 store written by ``rdstrust merge`` (password :data:`PASSWORD`)."""
    directory.mkdir(parents=True, exist_ok=True)
    bundle = G1
    if without_new_ca:
        bundle = make_store(directory, "pem", certs(G1, drop=[NEW_CA])).rename(directory / "b.pem")
    store = directory / ("rds.jks" if kind == "jks" else "rds.p12")
    result = runner.invoke(
        app,
        ["merge", "-b", str(bundle), "-s", str(store), "--store-type", kind],
        env={"RDSTRUST_STOREPASS": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    return store


def run_mariadb_cli(my: MySQLServer, store: Path) -> subprocess.CompletedProcess[str]:
    """The ``mariadb`` line ``update`` prints for a PEM store, pointed at the test server."""
    client = require_tool("mariadb")
    line = client_settings(store, StoreType.PEM).mysql_cli[0]
    argv = shlex.split(line)
    assert argv[0] == "mariadb"
    return subprocess.run(
        [client, *my.client_args(), *argv[1:], "-N", "-e", "show status like 'Ssl_version'"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MYSQL_PWD": my.password},
    )


def test_mariadb_client_trusts_a_merged_pem_store(my: MySQLServer, tmp_path: Path) -> None:
    store = merged_pem(tmp_path / "good")
    ok = run_mariadb_cli(my, store)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split()[:2] == ["Ssl_version", "TLSv1.3"] or "TLSv1" in ok.stdout
    # ... and without the new CA it does not.
    bad = run_mariadb_cli(my, merged_pem(tmp_path / "bad", without_new_ca=True))
    assert bad.returncode != 0
    assert "certificate" in bad.stderr or "issuer" in bad.stderr, bad.stderr


def test_the_mysql_line_is_not_for_mariadbs_client(tmp_path: Path) -> None:
    # Why two command lines are printed: MariaDB's client (also installed as "mysql" on Debian)
    # does not know MySQL's --ssl-mode, and the notes say so.
    client = require_tool("mariadb")
    settings = client_settings(tmp_path / "rds.pem", StoreType.PEM)
    mysql_line = shlex.split(settings.mysql_cli[1])
    done = subprocess.run(
        [client, "--no-defaults", *mysql_line[1:], "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "unknown variable 'ssl-mode" in done.stderr, done.stderr
    assert any("rejects --ssl-mode" in note for note in settings.mysql_notes)


def test_verify_host_with_starttls_mysql_agrees_with_the_client(
    my: MySQLServer, tmp_path: Path
) -> None:
    good, bad = merged_pem(tmp_path / "good"), merged_pem(tmp_path / "bad", without_new_ca=True)
    live = ["--host", my.host, "--port", str(my.port), "--starttls", "mysql"]
    for store, code in ((good, 0), (bad, 1)):
        result = runner.invoke(
            app,
            ["verify", "-s", str(store), "--bundle", str(G1), *live, "--server-name", "localhost"],
        )
        assert result.exit_code == code, result.output


MY_CONNECT = """
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;

public class MyConnect {
    public static void main(String[] args) throws Exception {
        String password = System.getenv("RDSTRUST_TEST_DB_PASSWORD");
        try (Connection c = DriverManager.getConnection(args[0], args[1], password);
             ResultSet r = c.createStatement().executeQuery("show status like 'Ssl_version'")) {
            r.next();
            System.out.println("OK " + r.getString(2));
        } catch (Exception e) {
            Throwable t = e;
            while (t.getCause() != null) { t = t.getCause(); }
            System.out.println("FAIL " + e + " / " + t);
            System.exit(1);
        }
    }
}
"""


@pytest.fixture(scope="module")
def my_connect(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the compiled MyConnect class (compiled once: javac is slow)."""
    if not MARIADB_JAR.exists():
        missing("MariaDB Connector/J (Debian package libmariadb-java)")
    javac = require_tool("javac")
    classes = tmp_path_factory.mktemp("myconnect")
    (classes / "MyConnect.java").write_text(MY_CONNECT)
    subprocess.run(
        [javac, "-d", str(classes), str(classes / "MyConnect.java")], check=True, timeout=180
    )
    return classes


def _java_connect(
    my: MySQLServer, classes: Path, url: str, java_options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    java = require_tool("java")
    # The printed URL names HOST:3306/DB; point it at the test server (localhost is in the SAN).
    url = url.replace("HOST:3306/DB", f"localhost:{my.port}/")
    classpath = os.pathsep.join([str(MARIADB_JAR), str(classes)])
    return subprocess.run(
        [java, *java_options, "-cp", classpath, "MyConnect", url, my.user],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "RDSTRUST_TEST_DB_PASSWORD": my.password},
    )


@pytest.mark.jvm
def test_mariadb_connector_j_with_a_pem_store(
    my: MySQLServer, tmp_path: Path, my_connect: Path
) -> None:
    store = merged_pem(tmp_path / "good")
    urls = client_settings(store, StoreType.PEM).mariadb_jdbc_urls
    # Debian ships Connector/J 2.7: the useSsl form is the one for 2.x.
    ok = _java_connect(my, my_connect, urls[1])
    assert ok.returncode == 0 and "OK TLSv1" in ok.stdout, ok.stdout + ok.stderr
    bad_store = merged_pem(tmp_path / "bad", without_new_ca=True)
    bad_url = client_settings(bad_store, StoreType.PEM).mariadb_jdbc_urls[1]
    bad = _java_connect(my, my_connect, bad_url)
    assert bad.returncode == 1 and "FAIL" in bad.stdout
    assert "PKIX" in bad.stdout or "certification path" in bad.stdout, bad.stdout
    # Why both forms are printed: 2.x ignores sslMode without a word and connects in clear
    # text, which this server refuses only because its user is REQUIRE SSL.
    clear = _java_connect(my, my_connect, urls[0])
    assert clear.returncode == 1 and "Access denied" in clear.stdout, clear.stdout


@pytest.mark.jvm
@pytest.mark.parametrize("kind", ["jks", "pkcs12"])
def test_mariadb_connector_j_with_a_java_store(
    my: MySQLServer, tmp_path: Path, my_connect: Path, kind: str
) -> None:
    store_type = StoreType.JKS if kind == "jks" else StoreType.PKCS12

    def connect(store: Path) -> subprocess.CompletedProcess[str]:
        settings = client_settings(store, store_type)
        # The printed options, with the placeholder filled in as the user would.
        options = tuple(o.replace("<store password>", PASSWORD) for o in settings.java_options)
        return _java_connect(my, my_connect, settings.mariadb_jdbc_urls[1], options)

    ok = connect(merged_java_store(tmp_path / "good", kind))
    assert ok.returncode == 0 and "OK TLSv1" in ok.stdout, ok.stdout + ok.stderr
    bad = connect(merged_java_store(tmp_path / "bad", kind, without_new_ca=True))
    assert bad.returncode == 1 and "FAIL" in bad.stdout
    assert "PKIX" in bad.stdout or "certification path" in bad.stdout, bad.stdout


# --- the settings themselves ----------------------------------------------------------------


def test_settings_for_a_pem_store(tmp_path: Path) -> None:
    store = tmp_path / "my store.pem"
    settings = client_settings(store, StoreType.PEM)
    assert settings.mysql_jdbc_url is None  # Connector/J reads no PEM
    assert settings.mariadb_jdbc_urls == (
        f"jdbc:mariadb://HOST:3306/DB?sslMode=verify-full&serverSslCert={store}",
        f"jdbc:mariadb://HOST:3306/DB?useSsl=true&serverSslCert={store}",
    )
    assert settings.mysql_cli == (
        f"mariadb --ssl-ca='{store}' --ssl-verify-server-cert",
        f"mysql --ssl-mode=VERIFY_IDENTITY --ssl-ca='{store}'",
    )
    assert any("2.x silently ignores sslMode" in n for n in settings.mysql_notes)


@pytest.mark.parametrize(
    ("store_type", "name"), [(StoreType.JKS, "JKS"), (StoreType.PKCS12, "PKCS12")]
)
def test_settings_for_a_java_store(tmp_path: Path, store_type: StoreType, name: str) -> None:
    store = tmp_path / "trust store"
    settings = client_settings(store, store_type, password_env="DB_TRUST_PW")
    assert settings.mysql_jdbc_url == (
        "jdbc:mysql://HOST:3306/DB?sslMode=VERIFY_IDENTITY"
        f"&trustCertificateKeyStoreUrl=file://{str(store).replace(' ', '%20')}"
        f"&trustCertificateKeyStoreType={name}&trustCertificateKeyStorePassword=$DB_TRUST_PW"
    )
    assert settings.mysql_cli == ()  # the command-line clients read PEM only
    assert settings.mariadb_jdbc_urls[1] == "jdbc:mariadb://HOST:3306/DB?useSsl=true"
    # never a password: a placeholder, or no password parameter for an open store
    assert "<store password>" in (client_settings(store, store_type).mysql_jdbc_url or "")
    open_store = client_settings(store, store_type, password_required=False).mysql_jdbc_url
    assert open_store is not None and "Password" not in open_store
