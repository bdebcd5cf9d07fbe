"""``audit`` against real PostgreSQL servers with real clients connected at the same time.

The session server (SSL on) gets three roles of its own here: one allowed to connect without SSL
(a ``hostnossl`` line for that role only, so every other test still sees a TLS-only server), one
without ``pg_read_all_stats`` (it must report other sessions as hidden, not as "no SSL clients"),
and one with a SCRAM password (the password must travel from a file or PGPASSWORD, never argv).
A second server with ``ssl = off`` is started for its own tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pgserver import PgServer, free_port, pg_server, start_pg_server  # noqa: F401
from support import ROOT, require_tool
from typer.testing import CliRunner

from rdstrust.audit import AuditOptions, SslMode, audit, escape
from rdstrust.cli import app
from rdstrust.errors import ProbeError, UsageError

runner = CliRunner()
RDSTRUST = [sys.executable, "-m", "rdstrust"]
WATCH_3S = ["--watch", "3", "--interval", "0.5"]

PLAIN_ROLE = "rdstrust_audit_plain"
LOW_ROLE = "rdstrust_audit_low"
STATS_ROLE = "rdstrust_audit_stats"
PW_ROLE = "rdstrust_audit_pw"
PW = "s3cret-Pa55word"
EVIL_ROLE = "rdstrust_\x1b[31mevil"


# --- helpers ------------------------------------------------------------------------------


def psql_client(server: PgServer, app_name: str, seconds: float = 30, **params: str) -> Any:
    """A psql process connected to ``server`` and sleeping there (kill it when done)."""
    require_tool("psql")
    dsn = server.dsn(application_name=app_name, **params)
    return subprocess.Popen(
        ["psql", "-X", "-q", dsn, "-c", f"SELECT pg_sleep({seconds})"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )


def stop(*procs: Any) -> None:
    """End psql clients the way Ctrl-C does: psql cancels its query and closes the connection.

    (A killed psql would leave its backend sleeping until pg_sleep ends: the server does not
    notice a vanished client while it sleeps.)
    """
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def visible_clients(server: PgServer) -> list[tuple[str, str]]:
    """(application_name, usename) of every client session but the asking one (superuser)."""
    out = server.sql(
        "SELECT a.application_name || '|' || a.usename FROM pg_stat_activity a "
        "JOIN pg_stat_ssl s ON s.pid = a.pid WHERE a.pid <> pg_backend_pid()"
    )
    return sorted(tuple(line.split("|", 1)) for line in out.splitlines() if line)  # type: ignore[misc]


def wait_for_clients(server: PgServer, expected: set[str], procs: tuple[Any, ...] = ()) -> None:
    """Wait until exactly the clients named ``expected`` are connected (nothing else lingers).

    A precondition, not the test: the audit must then find the same set on its own.
    """
    deadline = time.monotonic() + 20
    names: set[str] = set()
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"client exited early: {proc.stderr.read()!r}")
        names = {app for app, _user in visible_clients(server)}
        if names == expected:
            # The poll's own psql backend is gone before psql exits; a short pause covers a
            # backend on a busy machine that has not been scheduled to finish yet.
            time.sleep(0.2)
            return
        time.sleep(0.1)
    raise AssertionError(f"server never showed exactly {expected}; it shows {names}")


def run_cli(*args: str, env: dict[str, str | None] | None = None) -> Any:
    return runner.invoke(app, ["audit", *args], env=env)


def by_app(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["application_name"]: c for c in data["clients"]}


def table_rows(output: str) -> list[str]:
    """The client table's data rows of the human rendering (between header and blank line)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("PID "))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(line)
    return rows


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg(pg_server: PgServer) -> PgServer:  # noqa: F811
    """The session server, plus this module's roles and pg_hba lines (idempotent)."""
    require_tool("psql")
    for role in (PLAIN_ROLE, LOW_ROLE, STATS_ROLE, EVIL_ROLE):
        pg_server.create_role(role)
    pg_server.create_role(PW_ROLE, password=PW)
    pg_server.sql(f"GRANT pg_read_all_stats TO {STATS_ROLE}")
    pg_server.add_hba(
        f"hostnossl all {PLAIN_ROLE} 127.0.0.1/32 trust",
        f"hostssl   all {PW_ROLE}    127.0.0.1/32 scram-sha-256",
    )
    # The reload is asynchronous: wait until the plain role gets in without SSL.
    deadline = time.monotonic() + 20
    while True:
        done = subprocess.run(
            ["psql", "-X", pg_server.dsn(user=PLAIN_ROLE, sslmode="disable"), "-c", "select 1"],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            return pg_server
        if time.monotonic() > deadline:
            raise AssertionError(f"pg_hba reload did not take: {done.stderr}")
        time.sleep(0.1)


@pytest.fixture
def quiet(pg: PgServer) -> PgServer:
    """The server with no client sessions left over from earlier tests."""
    wait_for_clients(pg, set())
    return pg


@pytest.fixture(scope="module")
def plain_server() -> Iterator[PgServer]:
    """A second server with ``ssl = off``."""
    require_tool("psql")
    try:
        server = start_pg_server(ssl=False)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


# --- two SSL clients and one plain client -------------------------------------------------


@pytest.mark.postgres
def test_audit_names_exactly_the_three_clients(quiet: PgServer) -> None:
    import psycopg

    pg = quiet
    tls12 = psql_client(
        pg, "audit-psql-tls12", sslmode="require", ssl_max_protocol_version="TLSv1.2"
    )
    plain = psql_client(pg, "audit-psql-plain", sslmode="disable", user=PLAIN_ROLE)
    conn = psycopg.connect(pg.dsn(sslmode="require", application_name="audit-psycopg"))
    try:
        wanted = {"audit-psql-tls12", "audit-psql-plain", "audit-psycopg"}
        wait_for_clients(pg, wanted, (tls12, plain))
        human = run_cli(pg.dsn(), "--sslmode", "require")
        wait_for_clients(pg, wanted)  # the first audit's own session has ended
        as_json = run_cli(pg.dsn(), "--sslmode", "require", "--json")
    finally:
        conn.close()
        stop(tls12, plain)

    assert human.exit_code == 0, human.output
    rows = table_rows(human.stdout)
    assert len(rows) == 3, human.stdout
    row = {
        name: next(r for r in rows if name in r).split() for name in ("tls12", "plain", "psycopg")
    }
    # PID DATABASE USER CLIENT APPLICATION BACKEND-START(date, time) SSL TLS CIPHER
    assert row["tls12"][7:9] == ["yes", "TLSv1.2"]
    assert row["psycopg"][7:9] == ["yes", "TLSv1.3"]
    assert row["plain"][7:10] == ["NO", "-", "-"]
    assert row["plain"][2] == PLAIN_ROLE and row["tls12"][2] == "postgres"
    assert "ssl            on" in human.stdout
    assert "rds.force_ssl  not present" in human.stdout
    assert "3 client(s): 2 over SSL, 1 without SSL; 0 hidden session(s)." in human.stdout
    assert "rds.force_ssl=1 would refuse them" in human.stdout

    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    clients = by_app(data)
    assert set(clients) == {"audit-psql-tls12", "audit-psql-plain", "audit-psycopg"}
    assert clients["audit-psql-tls12"]["ssl"] is True
    assert clients["audit-psql-tls12"]["tls_version"] == "TLSv1.2"
    assert clients["audit-psycopg"]["tls_version"] == "TLSv1.3"
    assert clients["audit-psycopg"]["cipher"] and clients["audit-psycopg"]["bits"] >= 128
    assert clients["audit-psql-plain"]["ssl"] is False
    assert clients["audit-psql-plain"]["tls_version"] is None
    assert clients["audit-psql-plain"]["user"] == PLAIN_ROLE
    for client in clients.values():
        assert client["database"] == "postgres"
        assert client["client_addr"] == "127.0.0.1" and client["client_port"] > 0
        assert client["backend_start"] and client["samples"] == 1
    assert data["server"]["ssl"] is True and data["server"]["force_ssl"] is None
    assert data["server"]["audit_ssl"] is True and data["hidden"] == []
    # The audit's own connection is never a client of its report.
    assert all(c["application_name"] != "rdstrust audit" for c in data["clients"])


@pytest.mark.postgres
def test_fail_on_plain(quiet: PgServer) -> None:
    pg = quiet
    ssl_client = psql_client(pg, "audit-gate-ssl", sslmode="require")
    try:
        wait_for_clients(pg, {"audit-gate-ssl"}, (ssl_client,))
        passed = run_cli(pg.dsn(sslmode="require"), "--fail-on-plain")
        wait_for_clients(pg, {"audit-gate-ssl"})
        plain = psql_client(pg, "audit-gate-plain", sslmode="disable", user=PLAIN_ROLE)
        try:
            wait_for_clients(pg, {"audit-gate-ssl", "audit-gate-plain"}, (plain,))
            failed = run_cli(pg.dsn(sslmode="require"), "--fail-on-plain")
        finally:
            stop(plain)
    finally:
        stop(ssl_client)
    assert passed.exit_code == 0, passed.output
    assert failed.exit_code == 1, failed.output
    assert "1 client(s) without SSL" in failed.stderr
    assert "audit-gate-plain" in failed.stdout  # the report is still printed


@pytest.mark.postgres
def test_a_unix_socket_client_is_a_plain_local_client(quiet: PgServer) -> None:
    pg = quiet
    local = psql_client(pg, "audit-socket", host=str(pg.base))
    try:
        wait_for_clients(pg, {"audit-socket"}, (local,))
        human = run_cli(pg.dsn(sslmode="require"))
        wait_for_clients(pg, {"audit-socket"})
        as_json = run_cli(pg.dsn(sslmode="require"), "--json")
    finally:
        stop(local)
    assert human.exit_code == 0, human.output
    (row,) = table_rows(human.stdout)
    assert row.split()[3:6] == ["local", "socket", "audit-socket"]
    client = by_app(json.loads(as_json.stdout))["audit-socket"]
    assert client["ssl"] is False and client["client_addr"] is None
    assert client["client_port"] is None


# --- --watch ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_watch_catches_a_client_that_comes_and_goes(quiet: PgServer) -> None:
    pg = quiet
    steady = psql_client(pg, "audit-steady", sslmode="require")
    try:
        wait_for_clients(pg, {"audit-steady"}, (steady,))
        watcher = subprocess.Popen(
            [*RDSTRUST, "audit", pg.dsn(sslmode="require"), "--json", *WATCH_3S],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert watcher.stderr is not None
        assert "watching for 3 s" in watcher.stderr.readline()
        time.sleep(1.2)  # well into the window
        late = psql_client(pg, "audit-late", seconds=0.8, sslmode="disable", user=PLAIN_ROLE)
        stdout, stderr = watcher.communicate(timeout=30)
        late.wait(timeout=10)
    finally:
        stop(steady)
    assert watcher.returncode == 0, stderr
    data = json.loads(stdout)
    assert data["samples"] == 7
    clients = by_app(data)
    assert set(clients) == {"audit-steady", "audit-late"}
    seen = {
        name: (
            datetime.fromisoformat(c["first_seen"].replace("Z", "+00:00")),
            datetime.fromisoformat(c["last_seen"].replace("Z", "+00:00")),
        )
        for name, c in clients.items()
    }
    # The steady client is in every sample, from the first to the last (3 s apart).
    assert clients["audit-steady"]["samples"] == 7
    window_start, window_end = seen["audit-steady"]
    assert (window_end - window_start).total_seconds() >= 2.9
    late_first, late_last = seen["audit-late"]
    assert window_start < late_first <= late_last < window_end  # came and went in the window
    assert 1 <= clients["audit-late"]["samples"] < 7
    assert clients["audit-late"]["ssl"] is False


@pytest.mark.postgres
def test_ctrl_c_ends_a_watch_with_the_report_so_far(quiet: PgServer) -> None:
    pg = quiet
    client = psql_client(pg, "audit-ctrl-c", sslmode="require")
    try:
        wait_for_clients(pg, {"audit-ctrl-c"}, (client,))
        watcher = subprocess.Popen(
            [*RDSTRUST, "audit", pg.dsn(sslmode="require"), "--json", "--watch", "1h"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert watcher.stderr is not None
        assert "watching for 3600 s" in watcher.stderr.readline()
        time.sleep(2.5)
        watcher.send_signal(signal.SIGINT)
        stdout, stderr = watcher.communicate(timeout=30)
    finally:
        stop(client)
    assert watcher.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    data = json.loads(stdout)
    assert data["interrupted"] is True and data["samples"] >= 2
    assert by_app(data)["audit-ctrl-c"]["samples"] == data["samples"]


@pytest.mark.postgres
def test_watch_human_output_has_first_and_last_seen(quiet: PgServer) -> None:
    pg = quiet
    client = psql_client(pg, "audit-human-watch", sslmode="require")
    try:
        wait_for_clients(pg, {"audit-human-watch"}, (client,))
        result = run_cli(pg.dsn(sslmode="require"), "--watch", "1s", "--interval", "0.5")
    finally:
        stop(client)
    assert result.exit_code == 0, result.output
    assert "3 samples over 1 s (every 0.5 s)" in result.stdout
    header = next(line for line in result.stdout.splitlines() if line.startswith("PID "))
    assert "  FIRST SEEN" in header and header.endswith("  LAST SEEN")
    (row,) = table_rows(result.stdout)
    assert re.search(r"  \d\d:\d\d:\d\d\.\d{3}Z  +\d\d:\d\d:\d\d\.\d{3}Z$", row), row
    assert "One sample shows only" not in result.stdout


# --- visibility ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_role_without_read_all_stats_reports_hidden_sessions(quiet: PgServer) -> None:
    pg = quiet
    ssl_client = psql_client(pg, "audit-secret", sslmode="require")
    try:
        wait_for_clients(pg, {"audit-secret"}, (ssl_client,))
        low = run_cli(pg.dsn(user=LOW_ROLE, sslmode="require"))
        wait_for_clients(pg, {"audit-secret"})
        low_json = run_cli(pg.dsn(user=LOW_ROLE, sslmode="require"), "--json")
        wait_for_clients(pg, {"audit-secret"})
        gate = run_cli(pg.dsn(user=LOW_ROLE, sslmode="require"), "--fail-on-plain")
        wait_for_clients(pg, {"audit-secret"})
        # The twin: a role with pg_read_all_stats sees the same session in full.
        stats = run_cli(pg.dsn(user=STATS_ROLE, sslmode="require"), "--json")
    finally:
        stop(ssl_client)

    assert low.exit_code == 0, low.output
    assert "(no client sessions visible)" in low.stdout
    assert "hidden sessions (SSL unknown):" in low.stdout
    assert "0 client(s): 0 over SSL, 0 without SSL; 1 hidden session(s)." in low.stdout
    assert "pg_read_all_stats" in low.stdout and "cannot see other roles' sessions" in low.stdout
    data = json.loads(low_json.stdout)
    assert data["clients"] == []
    assert [(h["user"], h["application_name"]) for h in data["hidden"]] == [
        ("postgres", "audit-secret")
    ]
    assert data["server"]["can_read_all_stats"] is False
    assert gate.exit_code == 1, gate.output  # unknown is not a pass

    assert stats.exit_code == 0, stats.output
    full = json.loads(stats.stdout)
    assert full["hidden"] == [] and full["server"]["can_read_all_stats"] is True
    assert by_app(full)["audit-secret"]["ssl"] is True


# --- a server without SSL -----------------------------------------------------------------


@pytest.mark.postgres
def test_server_with_ssl_off(plain_server: PgServer) -> None:
    pg = plain_server
    client = psql_client(pg, "audit-nossl", sslmode="prefer")
    try:
        wait_for_clients(pg, {"audit-nossl"}, (client,))
        result = run_cli(pg.dsn(sslmode="prefer"), "--json")
        wait_for_clients(pg, {"audit-nossl"})
        human = run_cli(pg.dsn(), "--sslmode", "disable")
        refused = run_cli(pg.dsn(), "--sslmode", "require")
    finally:
        stop(client)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["server"]["ssl"] is False and data["server"]["audit_ssl"] is False
    assert [(c["application_name"], c["ssl"]) for c in data["clients"]] == [("audit-nossl", False)]
    assert human.exit_code == 0, human.output
    assert (
        "ssl            off" in human.stdout and "audited as     postgres (no SSL;" in human.stdout
    )
    assert "ssl is off on this server" in human.stdout
    assert refused.exit_code == 6
    assert refused.stderr.count("\n") == 1 and "Cannot connect to PostgreSQL" in refused.stderr


# --- connection: passwords, DSN, failures -------------------------------------------------


@pytest.mark.postgres
def test_password_from_file_or_environment_never_argv(pg: PgServer, tmp_path: Path) -> None:
    dsn = pg.dsn(user=PW_ROLE, sslmode="require")
    good = tmp_path / "pw"
    good.write_text(PW + "\n")
    bad = tmp_path / "bad"
    bad.write_text("not-" + PW + "\n")
    env_free: dict[str, str | None] = {"PGPASSWORD": None, "PGPASSFILE": str(tmp_path / "no")}

    by_file = run_cli(dsn, "--password-file", str(good), "--json", env=env_free)
    assert by_file.exit_code == 0, by_file.output
    assert json.loads(by_file.stdout)["server"]["audit_user"] == PW_ROLE

    by_env = run_cli(dsn, "--json", env={"PGPASSWORD": PW})
    assert by_env.exit_code == 0, by_env.output

    # The twins: wrong or no password is refused, and the password never shows.
    wrong = run_cli(dsn, "--password-file", str(bad), env=env_free)
    assert wrong.exit_code == 6, wrong.output
    assert "password authentication failed" in wrong.stderr
    assert PW not in wrong.output and wrong.stderr.count("\n") == 1
    nothing = run_cli(dsn, env=env_free)
    assert nothing.exit_code == 6, nothing.output

    in_dsn = run_cli(dsn + f" password={PW}")
    assert in_dsn.exit_code == 2 and PW not in in_dsn.output
    assert "PGPASSWORD" in in_dsn.stderr
    uri = run_cli(f"postgresql://{PW_ROLE}:{PW}@{pg.host}:{pg.port}/postgres")
    assert uri.exit_code == 2 and PW not in uri.output


def test_unreachable_server_is_exit_6(tmp_path: Path) -> None:
    result = run_cli(f"host=127.0.0.1 port={free_port()} user=x", "--timeout", "3")
    assert result.exit_code == 6, result.output
    assert result.stderr.startswith("rdstrust: error: Cannot connect to PostgreSQL (")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


class StallingServer:
    """Speaks just enough PostgreSQL to let a client log in, then never answers a query.

    With ``login=False`` it accepts TCP connections and says nothing at all.
    """

    def __init__(self, login: bool = True) -> None:
        self.login = login
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            if self.login:
                with contextlib.suppress(OSError):
                    self._log_in(conn)

    def _log_in(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        while True:  # SSLRequest / GSSENCRequest get "N", then comes the startup packet
            (length,) = struct.unpack("!i", conn.recv(4, socket.MSG_WAITALL))
            body = conn.recv(length - 4, socket.MSG_WAITALL)
            if struct.unpack("!i", body[:4])[0] in (80877103, 80877104):
                conn.sendall(b"N")
                continue
            break
        reply = b"R" + struct.pack("!ii", 8, 0)  # AuthenticationOk
        for name, value in (
            ("server_version", "15.0"),
            ("client_encoding", "UTF8"),
            ("standard_conforming_strings", "on"),
            ("integer_datetimes", "on"),
            ("DateStyle", "ISO, MDY"),
        ):
            payload = name.encode() + b"\0" + value.encode() + b"\0"
            reply += b"S" + struct.pack("!i", 4 + len(payload)) + payload
        reply += b"K" + struct.pack("!iii", 12, 4242, 1) + b"Z" + struct.pack("!i", 5) + b"I"
        conn.sendall(reply)  # ... and then read the query and never answer it

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize(
    ("login", "message"),
    [
        (True, "did not answer the audit query within 2 s"),
        (False, "Cannot connect to PostgreSQL"),
    ],
)
def test_a_server_that_stops_answering_is_cut_off(login: bool, message: str) -> None:
    server = StallingServer(login=login)
    try:
        began = time.monotonic()
        result = run_cli(
            f"host=127.0.0.1 port={server.port} user=x sslmode=disable gssencmode=disable",
            "--timeout",
            "2",
        )
        took = time.monotonic() - began
    finally:
        server.close()
    assert result.exit_code == 6, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert took < 10


@pytest.mark.postgres
def test_a_short_timeout_is_enough_for_a_real_server(quiet: PgServer) -> None:
    # The twin of the stalling server: the same --timeout against a server that answers.
    result = run_cli(quiet.dsn(sslmode="require"), "--timeout", "2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["server"]["ssl"] is True


def test_library_raises_probe_error_for_unreachable_server() -> None:
    with pytest.raises(ProbeError, match="Cannot connect"):
        audit(AuditOptions(dsn=f"host=127.0.0.1 port={free_port()}", connect_timeout=3))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--watch", "0"], "is not a duration"),
        (["--watch", "25h"], "is not a duration"),
        (["--watch", "nan"], "is not a duration"),
        (["--watch", "3", "--interval", "0.01"], "is not a number of seconds"),
        (["--watch", "3", "--interval", "inf"], "is not a number of seconds"),
        (["--watch", "1", "--interval", "2"], "longer than the watch window"),
        (["--interval", "1"], "only applies with --watch"),
        (["--sslmode", "bogus"], "is not one of"),
        (["--timeout", "0"], "is not a number of seconds"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    # Port 1 is never contacted: every check comes before connecting.
    result = run_cli("host=127.0.0.1 port=1", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_malformed_dsn_is_a_usage_error() -> None:
    result = run_cli("host=x port='unterminated")
    assert result.exit_code == 2, result.output
    assert "connection string cannot be parsed" in result.stderr


def test_options_validate_themselves() -> None:
    with pytest.raises(UsageError):
        AuditOptions(watch=-1)
    with pytest.raises(UsageError):
        AuditOptions(watch=2, interval=0.05)
    with pytest.raises(UsageError):
        AuditOptions(connect_timeout=0)
    assert AuditOptions(watch=3, interval=0.5, sslmode=SslMode.REQUIRE).sslmode is SslMode.REQUIRE


# --- hostile values -----------------------------------------------------------------------


@pytest.mark.postgres
def test_server_values_are_escaped_for_the_terminal(quiet: PgServer) -> None:
    pg = quiet
    client = psql_client(pg, "audit-evil", sslmode="require", user=EVIL_ROLE)
    try:
        wait_for_clients(pg, {"audit-evil"}, (client,))
        human = run_cli(pg.dsn(sslmode="require"))
        wait_for_clients(pg, {"audit-evil"})
        as_json = run_cli(pg.dsn(sslmode="require"), "--json")
    finally:
        stop(client)
    assert human.exit_code == 0, human.output
    assert "\x1b" not in human.stdout
    assert "rdstrust_\\x1b[31mevil" in human.stdout
    assert by_app(json.loads(as_json.stdout))["audit-evil"]["user"] == EVIL_ROLE
    assert "\x1b" not in as_json.stdout  # JSON escapes control characters itself


def test_escape() -> None:
    assert escape("plain text") == "plain text"
    assert escape("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert escape("\u202eevil") == "\\u202eevil"
    assert escape("back\\slash\n") == "back\\\\slash\\n"
    assert escape("caf\u00e9") == "caf\u00e9"


# --- without the extra --------------------------------------------------------------------

# Runs rdstrust in a fresh interpreter in which importing psycopg fails, as it does where the
# [postgres] extra is not installed. sys.modules[name] = None is Python's documented way to make
# an import raise ImportError.
BLOCK_PSYCOPG = """
import sys
import threading
sys.modules["psycopg"] = None
sys.argv = ["rdstrust", *sys.argv[1:]]
from rdstrust.cli import main
main()
"""


def test_without_the_postgres_extra_exit_7() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_PSYCOPG, "audit", "host=127.0.0.1 port=1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 7, done.stderr
    assert done.stdout == ""
    assert done.stderr == (
        "rdstrust: error: rdstrust audit needs the PostgreSQL driver psycopg 3: install the "
        "extra with pip install 'rdstrust[postgres]'.\n"
    )
    # The twin: the same wrapper without the block reaches the connection (exit 6, not 7).
    unblocked = BLOCK_PSYCOPG.replace('sys.modules["psycopg"] = None', "")
    done = subprocess.run(
        [sys.executable, "-c", unblocked, "audit", "host=127.0.0.1 port=1", "--timeout", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 6, done.stderr


def test_help_and_import_do_not_load_psycopg() -> None:
    code = (
        "import sys\n"
        "import rdstrust, rdstrust.audit\n"
        "from rdstrust.cli import app\n"
        "for args in (['--help'], ['audit', '--help']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('LOADED' if 'psycopg' in sys.modules else 'NOT LOADED')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("NOT LOADED")
    assert "audit" in done.stdout and "--watch" in done.stdout
