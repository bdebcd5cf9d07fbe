"""Who connects to a PostgreSQL server over SSL: step 1 of AWS's CA rotation procedure.

Before an RDS / Aurora PostgreSQL instance moves to a new CA, AWS says to find out whether its
applications use SSL at all: the parameter ``rds.force_ssl`` (1: every client must) and, when it
is not 1, ``pg_stat_ssl`` joined with ``pg_stat_activity`` on ``pid``, leaving out ``rdsadmin``.
:func:`audit` does that, keeps the clients *without* SSL too (they are the ones ``rds.force_ssl=1``
would break), and can sample over a window, because one query only sees the connections open at
that moment.

Two things the plain query hides are made explicit here:

- ``pg_stat_ssl`` keeps only rows with a ``client_port``, and a role without ``pg_read_all_stats``
  sees other roles' sessions with that column (and every SSL column) NULL: those sessions simply
  vanish from the documented query. They are read from ``pg_stat_activity`` instead and reported as
  hidden, so "no plain clients" is never claimed for sessions nobody could look at.
- A non-RDS server has no ``rds.force_ssl``; ``current_setting(name, true)`` returns NULL for an
  unknown parameter, which is reported as "not present" rather than as 0.

psycopg 3 is an optional extra (``pip install 'rdstrust[postgres]'``), imported only when an audit
runs, so ``import rdstrust`` and ``rdstrust --help`` stay as light as before.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from rdstrust.errors import ProbeError, ToolMissingError, UsageError
from rdstrust.passwords import read_password_file

if TYPE_CHECKING:  # only for the types: the module itself is imported lazily (load_driver)
    from psycopg import Connection

#: Longest ``watch`` window in seconds (a day): an audit is a bounded job, not a daemon.
MAX_WATCH = 86400.0
#: Shortest and longest pause between two samples, in seconds.
MIN_INTERVAL = 0.1
MAX_INTERVAL = 3600.0
#: Seconds libpq waits for a connection when neither the DSN nor PGCONNECT_TIMEOUT says.
DEFAULT_CONNECT_TIMEOUT = 10
#: Longest connect timeout accepted, in seconds.
MAX_CONNECT_TIMEOUT = 3600
#: Seconds the server gets to answer each statement (the views are cheap), and the longest allowed.
DEFAULT_QUERY_TIMEOUT = 30.0
MAX_QUERY_TIMEOUT = 3600.0
#: Rows read per sample and distinct sessions kept over a window: a server (or something posing
#: as one) cannot make the audit use unbounded memory.
MAX_ROWS = 10_000
#: Characters kept of each text value the server sends (names are at most 63 bytes on a real one).
MAX_TEXT = 256
#: A database password file is one line; anything larger is the wrong file.
#: What ``pg_stat_activity.query`` says for a session the current role may not look at.
HIDDEN_MARKER = "<insufficient privilege>"

# AWS's query (pg_stat_ssl JOIN pg_stat_activity ON pid, usename <> 'rdsadmin') turned around:
# pg_stat_activity LEFT JOIN pg_stat_ssl, so the sessions pg_stat_ssl drops because their
# client_port is hidden stay visible as hidden rows. "IS DISTINCT FROM" keeps rows whose usename
# is NULL (hidden or background processes) for the Python side to sort out; the audit's own
# backend is left out. One row more than MAX_ROWS (10000 + 1) tells that the answer was cut.
# The marker is HIDDEN_MARKER. A plain literal: nothing from outside ever goes into the SQL.
_SESSIONS_SQL = """
SELECT a.pid, a.datname, a.usename, a.application_name, host(a.client_addr), a.client_port,
       a.backend_start, a.backend_type, a.query = '<insufficient privilege>' AS hidden,
       s.pid IS NOT NULL AS client, s.ssl, s.version, s.cipher, s.bits
  FROM pg_stat_activity AS a
  LEFT JOIN pg_stat_ssl AS s ON s.pid = a.pid
 WHERE a.pid <> pg_backend_pid() AND a.usename IS DISTINCT FROM 'rdsadmin'
 ORDER BY a.pid
 LIMIT 10001
"""

_SETTINGS_SQL = """
SELECT current_setting('ssl'), current_setting('rds.force_ssl', true),
       current_setting('server_version'), current_setting('server_version_num')::int,
       current_user::text,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
         OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'),
       (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()),
       (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid())
"""


class SslMode(str, Enum):
    """libpq's ``sslmode`` values (``verify-full`` checks the CA and the host name)."""

    DISABLE = "disable"
    ALLOW = "allow"
    PREFER = "prefer"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


@dataclass(frozen=True)
class AuditOptions:
    """How to reach the server and how long to watch it.

    ``dsn`` is a libpq connection string or URI (empty: libpq's environment, ``PGHOST`` and so on,
    alone). The password comes from ``password_file`` (first line) when given, else from libpq
    (``PGPASSWORD``, ``PGPASSFILE``, ``~/.pgpass``); an IAM authentication token is such a password.
    ``sslmode`` overrides the DSN's. ``query_timeout`` bounds each statement, also against a
    server that stops answering. ``watch`` is the window in seconds (0: one sample) and
    ``interval`` the pause between samples. Out-of-range values raise :class:`UsageError`.
    """

    dsn: str = ""
    sslmode: SslMode | None = None
    password_file: Path | None = None
    connect_timeout: int | None = None
    query_timeout: float = DEFAULT_QUERY_TIMEOUT
    watch: float = 0.0
    interval: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.watch) and 0 <= self.watch <= MAX_WATCH):
            raise UsageError(f"The watch window must be 0 to {MAX_WATCH:g} seconds.")
        if not (math.isfinite(self.interval) and MIN_INTERVAL <= self.interval <= MAX_INTERVAL):
            raise UsageError(f"The interval must be {MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds.")
        if self.watch and self.interval > self.watch:
            raise UsageError(
                f"The interval ({self.interval:g} s) is longer than the watch window "
                f"({self.watch:g} s); shorten the interval or widen the window."
            )
        if not (math.isfinite(self.query_timeout) and 1 <= self.query_timeout <= MAX_QUERY_TIMEOUT):
            raise UsageError(f"The query timeout must be 1 to {MAX_QUERY_TIMEOUT:g} seconds.")
        if self.connect_timeout is not None and not (
            1 <= self.connect_timeout <= MAX_CONNECT_TIMEOUT
        ):
            raise UsageError(f"The connect timeout must be 1 to {MAX_CONNECT_TIMEOUT} seconds.")


@dataclass(frozen=True)
class ServerSettings:
    """What the server says about SSL, and who the audit ran as.

    ``force_ssl`` is ``rds.force_ssl`` as the server reports it ("0" or "1"), ``None`` where the
    parameter does not exist (not Amazon RDS / Aurora). ``can_read_all_stats``: the audit's role
    is a superuser or has ``pg_read_all_stats``, so no session can be hidden from it.
    """

    host: str
    port: int
    server_version: str
    ssl: bool
    force_ssl: str | None
    audit_user: str
    can_read_all_stats: bool
    audit_ssl: bool
    audit_tls_version: str | None


@dataclass(frozen=True)
class ClientSession:
    """One client connection seen by the audit (identity: ``pid`` and ``backend_start``).

    ``client_addr`` is ``None`` for a Unix-socket connection. ``first_seen`` / ``last_seen`` are
    the times (UTC, this machine's clock) of the first and last sample that showed it.
    """

    pid: int
    database: str | None
    user: str | None
    client_addr: str | None
    client_port: int | None
    application_name: str | None
    backend_start: datetime | None
    backend_type: str | None
    ssl: bool
    tls_version: str | None
    cipher: str | None
    bits: int | None
    first_seen: datetime
    last_seen: datetime
    samples: int


@dataclass(frozen=True)
class HiddenSession:
    """A session of another role the audit's role may not inspect: SSL or not is unknown.

    PostgreSQL still shows its pid, database, user and application name.
    """

    pid: int
    database: str | None
    user: str | None
    application_name: str | None
    first_seen: datetime
    last_seen: datetime
    samples: int


@dataclass(frozen=True)
class AuditResult:
    """The clients seen over the whole window, the server's SSL settings, and what to make of it.

    ``interrupted``: Ctrl-C ended the watch early; the result covers the samples taken until then.
    """

    server: ServerSettings
    clients: tuple[ClientSession, ...]
    hidden: tuple[HiddenSession, ...]
    samples: int
    started: datetime
    finished: datetime
    watch: float
    interval: float
    truncated: bool
    interrupted: bool
    notes: tuple[str, ...]

    @property
    def ssl_clients(self) -> tuple[ClientSession, ...]:
        """Clients connected over SSL (the ones the CA rotation concerns)."""
        return tuple(c for c in self.clients if c.ssl)

    @property
    def plain_clients(self) -> tuple[ClientSession, ...]:
        """Clients connected without SSL (the ones ``rds.force_ssl=1`` would refuse)."""
        return tuple(c for c in self.clients if not c.ssl)


def audit(options: AuditOptions, *, environ: Mapping[str, str] | None = None) -> AuditResult:
    """Connect, read the SSL settings, sample the sessions for ``options.watch`` seconds.

    Raises :class:`ToolMissingError` without psycopg 3, :class:`UsageError` for a malformed DSN or
    unreadable password file, :class:`ProbeError` when the server cannot be reached or queried.
    """
    psycopg = load_driver()
    env = os.environ if environ is None else environ
    password = _read_password(options.password_file) if options.password_file else None
    conn = _connect(psycopg, options, password, env)
    try:
        return _run(psycopg, conn, options, password)
    finally:
        conn.close()


def load_driver() -> ModuleType:
    """psycopg 3, imported now (not with rdstrust) so the core install does not need it."""
    try:
        import psycopg
    except ImportError:
        # Also the message when psycopg is there but finds no libpq ("no pq wrapper available"):
        # the binary extra brings one.
        raise ToolMissingError(
            "rdstrust audit needs the PostgreSQL driver psycopg 3: install the extra with "
            "pip install 'rdstrust[postgres]'."
        ) from None
    return psycopg


def parse_dsn(dsn: str) -> dict[str, str]:
    """The parameters of a libpq connection string or URI; :class:`UsageError` if malformed."""
    psycopg = load_driver()
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        # libpq's message may quote the string, and the string may hold a password.
        raise UsageError(
            "The connection string cannot be parsed (malformed, or an unknown parameter); use "
            "libpq key=value pairs ('host=db.example.com dbname=app') or a postgresql:// URI."
        ) from None
    return {str(k): str(v) for k, v in params.items() if v is not None}


def escape(text: str) -> str:
    """``text`` with every non-printable character (and backslash) as a Python escape.

    Server values (names, application names, error messages) are attacker-controlled and must
    not reach a terminal raw. A minimal stand-in until the shared ``rdstrust.text.safe`` exists.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(
        c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def _read_password(path: Path) -> str:
    return read_password_file(path, "database password")


def _connect(
    psycopg: ModuleType, options: AuditOptions, password: str | None, env: Mapping[str, str]
) -> Connection[Any]:
    params = parse_dsn(options.dsn) if options.dsn else {}
    kwargs: dict[str, Any] = {
        "autocommit": True,  # pg_stat_activity is a snapshot per transaction: one per sample
        "fallback_application_name": "rdstrust audit",
    }
    if options.sslmode is not None:
        kwargs["sslmode"] = options.sslmode.value
    if password is not None:
        kwargs["password"] = password  # to libpq in memory, never through argv
    if options.connect_timeout is not None:
        kwargs["connect_timeout"] = str(options.connect_timeout)
    elif "connect_timeout" not in params and not env.get("PGCONNECT_TIMEOUT"):
        kwargs["connect_timeout"] = str(DEFAULT_CONNECT_TIMEOUT)
    try:
        conn: Connection[Any] = psycopg.connect(options.dsn, **kwargs)
    except psycopg.Error as exc:
        raise ProbeError(
            f"Cannot connect to PostgreSQL ({_detail(exc, password)}); check the connection "
            "string, the PG* environment variables, the password and sslmode."
        ) from None
    return conn


def _detail(exc: BaseException, password: str | None) -> str:
    """libpq's message on one line, cut short, without the password, safe for a terminal."""
    text = " ".join(str(exc).split())
    if password:
        text = text.replace(password, "********")
    text = text.rstrip(" .?!;")
    if len(text) > 300:
        text = text[:300] + "..."
    return escape(text) or type(exc).__name__


def _run(
    psycopg: ModuleType, conn: Connection[Any], options: AuditOptions, password: str | None
) -> AuditResult:
    dog = _Watchdog(conn.fileno(), options.query_timeout)
    try:
        with dog.guard():
            # The server's own limit first; the watchdog is for a server that ignores it.
            timeout_ms = str(int(options.query_timeout * 1000))
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (timeout_ms,))
            server = _read_settings(conn)
        started = _now()
        tracker = _Tracker()
        count, interrupted = _sample(conn, tracker, options, dog)
    except psycopg.Error as exc:
        if dog.fired:
            raise ProbeError(
                f"The server did not answer the audit query within {options.query_timeout:g} s; "
                "check that it is healthy, or allow more time with --timeout."
            ) from None
        raise ProbeError(
            f"The audit query failed on the server ({_detail(exc, password)}); the role needs "
            "to be able to read pg_stat_activity and pg_stat_ssl."
        ) from None
    clients, hidden = tracker.results()
    notes = _notes(server, clients, hidden, count, truncated=tracker.truncated)
    if interrupted:
        notes += (f"Interrupted after {count} sample(s): the window was cut short.",)
    return AuditResult(
        server=server,
        clients=clients,
        hidden=hidden,
        samples=count,
        started=started,
        finished=_now(),
        watch=options.watch,
        interval=options.interval,
        truncated=tracker.truncated,
        interrupted=interrupted,
        notes=notes,
    )


def _sample(
    conn: Connection[Any], tracker: _Tracker, options: AuditOptions, dog: _Watchdog
) -> tuple[int, bool]:
    """Sample every ``interval`` seconds for ``watch`` seconds; (samples taken, interrupted)."""
    begin = time.monotonic()
    count = 0
    try:
        while True:
            with dog.guard():
                rows = conn.execute(_SESSIONS_SQL).fetchall()
            tracker.add(rows, _now())
            count += 1
            due = begin + count * options.interval
            # A small tolerance so a 3 s window at 0.5 s gives 7 samples despite float steps.
            if options.watch == 0 or due > begin + options.watch + 1e-6:
                return count, False
            time.sleep(max(0.0, due - time.monotonic()))
    except KeyboardInterrupt:
        # Ctrl-C ends a long watch early: what the samples so far saw is still worth reporting.
        if count == 0:
            raise
        return count, True


class _Watchdog:
    """Cuts the connection when the server does not answer a statement in time.

    libpq waits for an answer as long as the socket stays open, and statement_timeout only binds
    a server that honours it. Shutting the socket down from a timer thread makes libpq's blocked
    read return at once with an error (psycopg raises), whatever the peer does.
    """

    def __init__(self, fd: int, seconds: float) -> None:
        self.fd = fd
        self.seconds = seconds
        self.fired = False

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Run the body under the deadline."""
        timer = threading.Timer(self.seconds, self._cut)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _cut(self) -> None:
        self.fired = True
        # A duplicate of the descriptor: shutdown acts on the shared socket, and closing the
        # duplicate leaves libpq's own descriptor valid for its cleanup.
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(self.fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)


def _read_settings(conn: Connection[Any]) -> ServerSettings:
    row = conn.execute(_SETTINGS_SQL).fetchone()
    if row is None:  # a SELECT without FROM always returns one row from a real server
        raise ProbeError("The server answered the settings query with no row; is it PostgreSQL?")
    ssl, force_ssl, version, version_num, user, can_read, audit_ssl, audit_tls = row
    if version_num < 100000:
        raise ProbeError(
            f"The server runs PostgreSQL {escape(_text(version) or '?')}; audit needs "
            "PostgreSQL 10 or later."
        )
    return ServerSettings(
        host=_text(conn.info.host) or "",
        port=int(conn.info.port),
        server_version=_text(version) or "",
        ssl=ssl == "on",
        force_ssl=_text(force_ssl),
        audit_user=_text(user) or "",
        can_read_all_stats=bool(can_read),
        audit_ssl=bool(audit_ssl),
        audit_tls_version=_text(audit_tls),
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text[:MAX_TEXT] + "..." if len(text) > MAX_TEXT else text


def _utc(value: Any) -> datetime | None:
    return value.astimezone(timezone.utc) if isinstance(value, datetime) else None


@dataclass
class _Seen:
    """Mutable first/last-seen bookkeeping for one session while sampling."""

    row: tuple[Any, ...]
    first: datetime
    last: datetime
    samples: int = 1


@dataclass
class _Tracker:
    """The distinct sessions over all samples, in order of first appearance."""

    clients: dict[tuple[Any, ...], _Seen] = field(default_factory=dict)
    hidden: dict[tuple[Any, ...], _Seen] = field(default_factory=dict)
    truncated: bool = False

    def add(self, rows: Iterable[tuple[Any, ...]], at: datetime) -> None:
        rows = list(rows)
        if len(rows) > MAX_ROWS:
            self.truncated = True
            rows = rows[:MAX_ROWS]
        for row in rows:
            pid, database, user, _app, _addr, _port, start, _type, hidden, client = row[:10]
            if hidden:
                # Without a database and a user it is a background process (checkpointer,
                # launchers), not a client; a hidden client always has both.
                if database is None or user is None:
                    continue
                self._see(self.hidden, (pid, database, user), row, at)
            elif client:
                # pid + backend_start: a pid the server reuses for a new connection is a new client.
                self._see(self.clients, (pid, start), row, at)

    def _see(
        self,
        table: dict[tuple[Any, ...], _Seen],
        key: tuple[Any, ...],
        row: tuple[Any, ...],
        at: datetime,
    ) -> None:
        seen = table.get(key)
        if seen is not None:
            seen.last = at
            seen.samples += 1
        elif len(self.clients) + len(self.hidden) < MAX_ROWS:
            table[key] = _Seen(row, at, at)
        else:
            self.truncated = True

    def results(self) -> tuple[tuple[ClientSession, ...], tuple[HiddenSession, ...]]:
        clients = tuple(_client(s) for s in self.clients.values())
        hidden = tuple(
            HiddenSession(
                pid=int(s.row[0]),
                database=_text(s.row[1]),
                user=_text(s.row[2]),
                application_name=_text(s.row[3]),
                first_seen=s.first,
                last_seen=s.last,
                samples=s.samples,
            )
            for s in self.hidden.values()
        )
        return clients, hidden


def _client(seen: _Seen) -> ClientSession:
    pid, database, user, app, addr, port, start, btype, _h, _c, ssl, version, cipher, bits = (
        seen.row
    )
    return ClientSession(
        pid=int(pid),
        database=_text(database),
        user=_text(user),
        client_addr=_text(addr),
        client_port=None if port is None or port < 0 else int(port),
        application_name=_text(app),
        backend_start=_utc(start),
        backend_type=_text(btype),
        ssl=bool(ssl),
        tls_version=_text(version),
        cipher=_text(cipher),
        bits=None if bits is None else int(bits),
        first_seen=seen.first,
        last_seen=seen.last,
        samples=seen.samples,
    )


def _notes(
    server: ServerSettings,
    clients: tuple[ClientSession, ...],
    hidden: tuple[HiddenSession, ...],
    samples: int,
    *,
    truncated: bool,
) -> tuple[str, ...]:
    notes: list[str] = []
    plain = sum(1 for c in clients if not c.ssl)
    if not server.ssl:
        notes.append("ssl is off on this server: no client can connect over SSL.")
    if server.force_ssl is None:
        notes.append(
            "rds.force_ssl does not exist on this server (not Amazon RDS / Aurora PostgreSQL)."
        )
    elif server.force_ssl == "1":
        notes.append("rds.force_ssl=1: the server refuses clients that do not use SSL.")
    if plain:
        notes.append(
            f"{plain} client(s) connect without SSL: the CA rotation does not affect them, but "
            "rds.force_ssl=1 would refuse them."
        )
    if hidden:
        users = ", ".join(sorted({h.user or "?" for h in hidden}))
        notes.append(
            f"{len(hidden)} session(s) of other roles ({users}) are hidden from role "
            f"{server.audit_user} ('{HIDDEN_MARKER}'), so whether they use SSL is unknown; "
            "grant it pg_read_all_stats or pg_monitor (on RDS the master user can) or audit as "
            "the master user."
        )
    if samples == 1:
        notes.append(
            "One sample shows only the connections open at this moment; watch over a window "
            "(--watch) to catch clients that connect now and then."
        )
    if truncated:
        notes.append(f"More than {MAX_ROWS} sessions: only the first {MAX_ROWS} are reported.")
    return tuple(notes)
