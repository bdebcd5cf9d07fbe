"""A real MariaDB server on 127.0.0.1 for tests, serving a fixture chain over TLS.

Debian's ``mariadbd`` runs as the ``mysql`` system user (``--user=mysql`` when the tests run as
root), from a directory of its own under /tmp: pytest's ``tmp_path`` lives under a root-only
(0700) directory the server could not enter. Users are made at start-up by an ``--init-file``
(no root login needed): ``rdstrust`` with a password, allowed from 127.0.0.1 only and
``REQUIRE SSL`` (so every successful connection went through TLS), and ``rdstrust_admin`` on the
server's Unix socket, for administration::

    server = start_mysql_server("rsa2048-g1-us-east-1")
    try:
        subprocess.run(["mariadb", *server.client_args(), "--ssl-ca", str(server.root),
                        "--ssl-verify-server-cert", "-e", "select 1"],
                       env={**os.environ, "MYSQL_PWD": server.password}, check=True)
        server.use_chain("2019-us-east-1")     # "rotate" the instance's certificate
    finally:
        server.stop()

``start_mysql_server(chain=None)`` starts a server with TLS off (``--skip-ssl``). In tests, use
the session-scoped fixture ``mysql_server`` (one server for the whole run; import it from this
module into a test module). A missing MariaDB server skips the test locally and fails it under
CI (``support.missing``).
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
from pgserver import free_port
from support import FIXTURES, missing

CHAINS = FIXTURES / "chains"
#: The system user the server runs as when the tests run as root.
MYSQL_USER = "mysql"
#: Test-only credentials; the server listens on 127.0.0.1 and lives for one test run.
USER = "rdstrust"
PASSWORD = "rdstrust-test-password"
ADMIN = "rdstrust_admin"


def find_mariadbd() -> tuple[Path, Path] | None:
    """``mariadbd`` and ``mariadb-install-db``: ``$RDSTRUST_MARIADBD`` or Debian's, else PATH."""
    server = os.environ.get("RDSTRUST_MARIADBD") or shutil.which(
        "mariadbd", path=os.pathsep.join(["/usr/sbin", "/usr/bin", os.environ.get("PATH", "")])
    )
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not server or not install or not Path(server).exists():
        return None
    return Path(server), Path(install)


@dataclass
class MySQLServer:
    """A running MariaDB server; :func:`start_mysql_server` makes one."""

    mariadbd: Path
    base: Path
    port: int
    #: The fixture chain served, or None when TLS is off.
    chain: str | None
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket(self) -> Path:
        return self.base / "mysqld.sock"

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    @property
    def root(self) -> Path:
        """The root certificate a client must trust for the chain currently served."""
        if self.chain is None:
            raise ValueError("this server has TLS off")
        return CHAINS / self.chain / "root.pem"

    @property
    def target(self) -> str:
        """``HOST:PORT`` for ``rdstrust probe``."""
        return f"{self.host}:{self.port}"

    def client_args(self, host: str = "localhost") -> list[str]:
        """``mariadb`` options reaching this server over TCP as :data:`USER`.

        ``host`` is the name checked against the certificate (``localhost`` is in the fixture
        leaf's SAN); ``--protocol=TCP`` keeps the client off the Unix socket that ``localhost``
        otherwise means. The password goes in ``MYSQL_PWD``, never argv.
        """
        return [
            "--no-defaults",
            "--protocol=TCP",
            f"--host={host}",
            f"--port={self.port}",
            f"--user={self.user}",
            "--connect-timeout=10",
        ]

    def jdbc_url(self, host: str = "localhost", **params: str) -> str:
        """A MariaDB Connector/J URL for this server with the given query parameters."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"jdbc:mariadb://{host}:{self.port}/" + (f"?{query}" if query else "")

    def admin(self, sql: str) -> str:
        """Run ``sql`` as the admin user over the Unix socket; returns the output."""
        client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
        done = subprocess.run(
            [
                client,
                "--no-defaults",
                f"--socket={self.socket}",
                f"--user={ADMIN}",
                "-N",
                "-e",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "MYSQL_PWD": self.password},
        )
        return done.stdout

    def use_chain(self, chain: str) -> None:
        """Serve another fixture chain from now on (``FLUSH SSL`` re-reads the files)."""
        if self.chain is None:
            raise ValueError("this server has TLS off")
        _install_chain(self.base, chain)
        self.admin("FLUSH SSL")
        self.chain = chain

    def stop(self) -> None:
        """Stop the server and remove its directory (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)


def _as_root() -> bool:
    return os.geteuid() == 0


def _chown(path: Path) -> None:
    if _as_root():
        entry = pwd.getpwnam(MYSQL_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _install_chain(base: Path, chain: str) -> None:
    source = CHAINS / chain
    if not (source / "server.pem").exists():
        raise FileNotFoundError(f"no fixture chain {chain} in {CHAINS}")
    # Write to new names and rename: the running server never sees half a file.
    for src, name in ((source / "server.pem", "server.crt"), (source / "leaf.key", "server.key")):
        tmp = base / f"{name}.new"
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o600)
        _chown(tmp)
        os.replace(tmp, base / name)


def _init_sql(tls: bool) -> str:
    require = "REQUIRE SSL" if tls else "REQUIRE NONE"
    return (
        "-- written by tests/mysqlserver.py; run by mariadbd at start-up\n"
        f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}' {require};\n"
        f"CREATE USER IF NOT EXISTS '{ADMIN}'@'localhost' IDENTIFIED BY '{PASSWORD}';\n"
        f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN}'@'localhost';\n"
    )


def start_mysql_server(
    chain: str | None = "rsa2048-g1-us-east-1", *, attempts: int = 3
) -> MySQLServer:
    """Initialise and start a MariaDB server serving ``fixtures/chains/<chain>`` over TLS.

    ``chain=None`` starts it with TLS off. Raises ``RuntimeError`` (with the server log) when it
    cannot start; cleans up after itself on failure. Retries with another port when the chosen
    one was taken in between.
    """
    found = find_mariadbd()
    if found is None:
        raise FileNotFoundError("the MariaDB server (mariadbd, mariadb-install-db) is missing")
    mariadbd, install_db = found
    base = Path(tempfile.mkdtemp(prefix="rdstrust-mysql-", dir="/tmp"))
    # The server must enter its own directory; nobody else needs to write there.
    os.chmod(base, 0o755)
    _chown(base)
    server = MySQLServer(mariadbd=mariadbd, base=base, port=0, chain=chain)
    try:
        _install_db(install_db, server)
        if chain is not None:
            _install_chain(base, chain)
        init = base / "init.sql"
        init.write_text(_init_sql(tls=chain is not None))
        os.chmod(init, 0o600)
        _chown(init)
        last_error = ""
        for _ in range(attempts):
            server.port = free_port()
            server.process = subprocess.Popen(
                _server_args(server),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
                start_new_session=True,
            )
            if _wait_ready(server):
                return server
            last_error = _tail(server.logfile)
            with contextlib.suppress(OSError):
                server.process.kill()
            server.process.wait(timeout=30)
        raise RuntimeError(f"MariaDB did not start: {last_error}")
    except BaseException:
        server.stop()
        raise


def _install_db(install_db: Path, server: MySQLServer) -> None:
    args = [
        str(install_db),
        "--no-defaults",
        f"--datadir={server.datadir}",
        "--skip-test-db",
        "--auth-root-authentication-method=socket",
        "--innodb-log-file-size=8M",
    ]
    if _as_root():
        args.append(f"--user={MYSQL_USER}")
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd="/")
    if done.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed: {done.stdout}{done.stderr}")


def _server_args(server: MySQLServer) -> list[str]:
    args = [
        str(server.mariadbd),
        "--no-defaults",
        f"--datadir={server.datadir}",
        f"--socket={server.socket}",
        f"--pid-file={server.base / 'mysqld.pid'}",
        f"--log-error={server.logfile}",
        f"--port={server.port}",
        "--bind-address=127.0.0.1",
        # Users are matched by address (127.0.0.1), never by a reverse DNS lookup.
        "--skip-name-resolve",
        # Probes hang up after the TLS handshake; the default (100) would block 127.0.0.1.
        "--max-connect-errors=1000000",
        f"--init-file={server.base / 'init.sql'}",
        "--innodb-buffer-pool-size=16M",
        "--innodb-log-file-size=8M",
        "--performance-schema=OFF",
        "--skip-log-bin",
        "--max-connections=50",
    ]
    if server.chain is None:
        args.append("--skip-ssl")
    else:
        args += [
            f"--ssl-cert={server.base / 'server.crt'}",
            f"--ssl-key={server.base / 'server.key'}",
        ]
    if _as_root():
        args.append(f"--user={MYSQL_USER}")
    return args


def _wait_ready(server: MySQLServer) -> bool:
    """True once the server sends its greeting on the TCP port and its users exist."""
    assert server.process is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        if _greets(server.host, server.port) and server.socket.exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                # The init file has run once the admin user can log in.
                server.admin("SELECT 1")
                return True
        time.sleep(0.1)
    return False


def _greets(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            return len(sock.recv(4)) == 4
    except OSError:
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def require_mariadb_server() -> None:
    """Skip (or, under CI, fail) unless a MariaDB server can be started here."""
    if find_mariadbd() is None:
        missing("the MariaDB server (mariadbd, mariadb-install-db; Debian mariadb-server)")
    if _as_root():
        try:
            pwd.getpwnam(MYSQL_USER)
        except KeyError:
            missing(f"the system user {MYSQL_USER!r} (Debian mariadb-server creates it)")


_SHARED: MySQLServer | None = None


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MySQLServer]:
    """One MariaDB server (chain rsa2048-g1-us-east-1, TLS on) for the whole test session.

    Tests that switch chains with ``use_chain`` must switch back before they end.
    """
    global _SHARED
    require_mariadb_server()
    if _SHARED is None or _SHARED._stopped:
        _SHARED = start_mysql_server("rsa2048-g1-us-east-1")
    try:
        yield _SHARED
    finally:
        _SHARED.stop()
