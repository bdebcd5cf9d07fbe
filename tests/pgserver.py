"""A real PostgreSQL server with SSL on 127.0.0.1 for tests, serving a fixture chain.

The server runs as the ``postgres`` system user (PostgreSQL refuses to run as root), from a
directory of its own under /tmp: pytest's ``tmp_path`` lives under a root-only (0700) directory
the server could not enter. Authentication is ``trust`` over ``hostssl`` on 127.0.0.1 only, so
every successful connection went through TLS::

    server = start_pg_server("rsa2048-g1-us-east-1")
    try:
        dsn = server.dsn(sslmode="verify-full", sslrootcert=str(server.root))
        subprocess.run(["psql", dsn, "-c", "select 1"], check=True)
        server.use_chain("2019-us-east-1")      # "rotate" the instance's certificate
    finally:
        server.stop()

In tests, use the session-scoped fixture ``pg_server`` (one server for the whole run; import it
from this module into a test module or conftest.py). Missing PostgreSQL binaries skip the test
locally and fail it under CI (``support.missing``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support import FIXTURES, missing

CHAINS = FIXTURES / "chains"
#: The system user the server runs as when the tests run as root.
PG_USER = "postgres"


def find_bindir() -> Path | None:
    """Directory holding ``initdb``/``pg_ctl``: ``$RDSTRUST_PG_BINDIR``, the newest Debian
    ``/usr/lib/postgresql/*/bin``, or the directory of an ``initdb`` on PATH."""
    env = os.environ.get("RDSTRUST_PG_BINDIR")
    if env:
        return Path(env) if (Path(env) / "initdb").exists() else None
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    """A running PostgreSQL server; :func:`start_pg_server` makes one."""

    bindir: Path
    base: Path
    port: int
    chain: str
    host: str = "127.0.0.1"
    user: str = PG_USER
    #: ``False`` for a server started with ``ssl = off`` (plain ``host`` lines in pg_hba).
    ssl: bool = True
    _stopped: bool = field(default=False, repr=False)

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    @property
    def root(self) -> Path:
        """The root certificate a client must trust for the chain currently served."""
        return CHAINS / self.chain / "root.pem"

    @property
    def target(self) -> str:
        """``HOST:PORT`` for ``rdstrust probe``."""
        return f"{self.host}:{self.port}"

    def dsn(self, host: str | None = None, **params: str) -> str:
        """A libpq connection string, e.g. ``dsn(sslmode="verify-full", sslrootcert=path)``.

        ``host`` defaults to 127.0.0.1; pass ``localhost`` (also in the leaf's SAN) or another
        name together with ``hostaddr`` params to test host name checks.
        """
        parts = {
            "host": host or self.host,
            "port": str(self.port),
            "user": self.user,
            "dbname": "postgres",
            "connect_timeout": "10",
        }
        parts.update(params)
        return " ".join(f"{k}={_quote(str(v))}" for k, v in parts.items())

    def jdbc_url(self, host: str | None = None, **params: str) -> str:
        """A pgjdbc URL for this server with the given query parameters."""
        query = "&".join(f"{k}={v}" for k, v in {"user": self.user, **params}.items())
        return f"jdbc:postgresql://{host or self.host}:{self.port}/postgres?{query}"

    def use_chain(self, chain: str) -> None:
        """Serve another fixture chain (``fixtures/chains/<chain>``) from now on.

        PostgreSQL re-reads its certificate files on reload (SIGHUP); this waits until a new
        TLS handshake shows the new server certificate.
        """
        self._install_chain(chain)
        self._pg_ctl("reload")
        expected = _first_der(CHAINS / chain / "server.pem")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _served_leaf(self.host, self.port) == expected:
                self.chain = chain
                return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not switch to chain {chain}; see {self.logfile}")

    def sql(self, query: str) -> str:
        """Run ``query`` as the superuser over the Unix socket (psql); its unaligned output."""
        done = _run_as_pg(
            [
                str(self.bindir / "psql"),
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.base),
                "-p",
                str(self.port),
                "-U",
                PG_USER,
                "-d",
                "postgres",
                "-c",
                query,
            ],
            timeout=60,
        )
        return done.stdout.strip()

    def create_role(self, name: str, *, password: str | None = None) -> None:
        """Create a LOGIN role ``name`` (no privileges) unless it exists; set its password."""
        literal = "NULL" if password is None else "'" + password.replace("'", "''") + "'"
        self.sql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') "
            f'THEN CREATE ROLE "{name}" LOGIN; END IF; END $$; '
            f'ALTER ROLE "{name}" PASSWORD {literal}'
        )

    def add_hba(self, *lines: str) -> None:
        """Put ``lines`` at the top of pg_hba.conf (first match wins) and reload; idempotent.

        The default lines stay, so everything that connected before still does. The caller
        waits for the reload to take effect by connecting the way the new lines allow.
        """
        hba = self.datadir / "pg_hba.conf"
        text = hba.read_text()
        new = [line for line in lines if line not in text.splitlines()]
        if new:
            hba.write_text("\n".join(new) + "\n" + text)
            self._pg_ctl("reload")

    def stop(self) -> None:
        """Stop the server and remove its directory (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "30")
        shutil.rmtree(self.base, ignore_errors=True)

    def _install_chain(self, chain: str) -> None:
        source = CHAINS / chain
        if not (source / "server.pem").exists():
            raise FileNotFoundError(f"no fixture chain {chain} in {CHAINS}")
        cert = self.base / "server.crt"
        key = self.base / "server.key"
        # Write to new names and rename: the running server never sees half a file.
        for src, dst in ((source / "server.pem", cert), (source / "leaf.key", key)):
            tmp = dst.with_suffix(".new")
            shutil.copyfile(src, tmp)
            os.chmod(tmp, 0o600)  # PostgreSQL refuses a key readable by others
            _chown(tmp)
            os.replace(tmp, dst)

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run_as_pg([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args], timeout=90)


def _quote(value: str) -> str:
    if value and all(c not in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _as_root() -> bool:
    return os.geteuid() == 0


def _chown(path: Path) -> None:
    if _as_root():
        entry = pwd.getpwnam(PG_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _run_as_pg(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    command = ["runuser", "-u", PG_USER, "--", *args] if _as_root() else args
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=True, cwd="/"
    )


def _first_der(pem_file: Path) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = x509.load_pem_x509_certificates(pem_file.read_bytes())[0]
    return cert.public_bytes(Encoding.DER)


def _served_leaf(host: str, port: int) -> bytes | None:
    """The certificate a fresh SSLRequest + TLS handshake shows, or None."""
    import ssl
    import struct

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(struct.pack("!ii", 8, 80877103))
            if sock.recv(1) != b"S":
                return None
            with context.wrap_socket(sock) as tls:
                return tls.getpeercert(binary_form=True)
    except OSError:
        return None


def _ssl_answer(host: str, port: int) -> bytes | None:
    """The server's one-byte answer to an SSLRequest (``S`` or ``N``), or None."""
    import struct

    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(struct.pack("!ii", 8, 80877103))
            return sock.recv(1) or None
    except OSError:
        return None


def start_pg_server(
    chain: str = "rsa2048-g1-us-east-1", *, attempts: int = 3, ssl: bool = True
) -> PgServer:
    """Initialise and start a PostgreSQL server with SSL serving ``fixtures/chains/<chain>``.

    ``ssl=False`` starts one with ``ssl = off`` that accepts plain TCP (``host`` lines) instead.

    Raises ``RuntimeError`` (with the server log) when it cannot start; cleans up after itself
    on failure. Retries with another port when the chosen one was taken in between.
    """
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    if _as_root():
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            raise FileNotFoundError(f"system user {PG_USER!r} does not exist") from None
    base = Path(tempfile.mkdtemp(prefix="rdstrust-pg-", dir="/tmp"))
    os.chmod(base, 0o700)
    _chown(base)
    server = PgServer(bindir=bindir, base=base, port=0, chain=chain, ssl=ssl)
    try:
        _run_as_pg(
            [
                str(bindir / "initdb"),
                "-D",
                str(server.datadir),
                "-U",
                PG_USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
        )
        server._install_chain(chain)
        kind, what = ("hostssl", "TLS") if ssl else ("host", "plain TCP")
        (server.datadir / "pg_hba.conf").write_text(
            f"# rdstrust tests: {what} only, on the loopback address only\n"
            "local   all all               trust\n"
            f"{kind:<7} all all 127.0.0.1/32  trust\n"
            f"{kind:<7} all all ::1/128       trust\n"
        )
        last_error = ""
        for _ in range(attempts):
            server.port = free_port()
            _write_conf(server)
            try:
                server._pg_ctl("start", "-w", "-t", "60", "-l", str(server.logfile))
            except subprocess.CalledProcessError as exc:
                last_error = (exc.stderr or "") + _tail(server.logfile)
                continue
            _wait_ready(server)
            return server
        raise RuntimeError(f"PostgreSQL did not start: {last_error}")
    except BaseException:
        server.stop()
        raise


def _write_conf(server: PgServer) -> None:
    conf = server.datadir / "postgresql.auto.conf"
    conf.write_text(
        "# written by tests/pgserver.py\n"
        "listen_addresses = '127.0.0.1'\n"
        f"port = {server.port}\n"
        f"unix_socket_directories = '{server.base}'\n"
        f"ssl = {'on' if server.ssl else 'off'}\n"
        f"ssl_cert_file = '{server.base / 'server.crt'}'\n"
        f"ssl_key_file = '{server.base / 'server.key'}'\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
        "max_connections = 20\n"
        "shared_buffers = 16MB\n"
        "log_connections = on\n"
    )
    _chown(conf)


def _wait_ready(server: PgServer) -> None:
    # pg_ctl -w already waits for the postmaster; additionally make sure TLS on the TCP port
    # answers, which is what every test needs.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.ssl and _served_leaf(server.host, server.port) is not None:
            return
        if not server.ssl and _ssl_answer(server.host, server.port) == b"N":
            return
        time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL started but does not answer TLS: {_tail(server.logfile)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


_SHARED: PgServer | None = None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server (chain rsa2048-g1-us-east-1) for the whole test session.

    Tests that switch chains with ``use_chain`` must switch back before they end.
    """
    global _SHARED
    if find_bindir() is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl)")
    if shutil.which("runuser") is None and _as_root():
        missing("the 'runuser' program")
    if _SHARED is None or _SHARED._stopped:
        _SHARED = start_pg_server("rsa2048-g1-us-east-1")
    try:
        yield _SHARED
    finally:
        _SHARED.stop()
