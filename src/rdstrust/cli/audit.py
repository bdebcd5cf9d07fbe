"""``rdstrust audit``: which clients of a PostgreSQL server use SSL (step 1 of a CA rotation)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from rdstrust.audit import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_QUERY_TIMEOUT,
    MAX_CONNECT_TIMEOUT,
    MAX_INTERVAL,
    MAX_WATCH,
    MIN_INTERVAL,
    AuditOptions,
    AuditResult,
    ClientSession,
    SslMode,
    parse_dsn,
)
from rdstrust.audit import audit as run_audit

# A minimal escape of server values for the terminal, kept in rdstrust.audit until the shared
# rdstrust.text.safe lands.
from rdstrust.audit import escape as safe
from rdstrust.cli._common import (
    JsonOption,
    choice,
    emit,
    err,
    exit_on_error,
    seconds,
)
from rdstrust.cli._groups import Opt, Values, command, option
from rdstrust.errors import ExitCode, UsageError

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(value: Any) -> float:
    """Parser for ``--watch``: seconds, or a number with ``s``, ``m`` or ``h``, up to a day."""
    text = str(value).strip().lower()
    unit = text[-1:] if text[-1:] in ("s", "m", "h") else ""
    try:
        number = float(text[: len(text) - len(unit)]) * _UNITS[unit]
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and 0 < number <= MAX_WATCH):
        raise typer.BadParameter(
            f"{str(value)!r} is not a duration greater than 0 and at most 24h "
            "(seconds, or a number with s, m or h)."
        )
    return number


def interval_seconds(value: Any) -> float:
    """Parser for ``--interval``: seconds from ``MIN_INTERVAL`` to ``MAX_INTERVAL``."""
    try:
        number = float(str(value).strip())
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and MIN_INTERVAL <= number <= MAX_INTERVAL):
        raise typer.BadParameter(
            f"{str(value)!r} is not a number of seconds from {MIN_INTERVAL:g} to {MAX_INTERVAL:g}."
        )
    return number


#: The options of ``audit``.
AUDIT = (
    Opt(
        "dsn",
        Annotated[
            str,
            typer.Argument(
                metavar="DSN",
                help="libpq connection string or postgresql:// URI, without a password (default: "
                "the PGHOST, PGPORT, PGUSER, PGDATABASE, ... environment).",
                show_default=False,
            ),
        ],
        "",
    ),
    option(
        "sslmode",
        SslMode | None,
        None,
        "--sslmode",
        parser=choice(SslMode),
        help="libpq sslmode for the audit's own connection (overrides the DSN's).",
        show_default=False,
    ),
    option(
        "password_file",
        Path | None,
        None,
        "--password-file",
        metavar="FILE",
        help="Read the password (or an IAM auth token) from the first line of this file "
        "(otherwise PGPASSWORD, PGPASSFILE or ~/.pgpass).",
        show_default=False,
    ),
    option(
        "timeout",
        float | None,
        None,
        "--timeout",
        metavar="SECONDS",
        parser=seconds,
        help=f"Seconds to wait for the connection (default "
        f"{DEFAULT_CONNECT_TIMEOUT}, or the "
        f"DSN's connect_timeout / PGCONNECT_TIMEOUT) and for each query (default "
        f"{DEFAULT_QUERY_TIMEOUT:g}); at most {MAX_CONNECT_TIMEOUT}.",
        show_default=False,
    ),
    option(
        "watch",
        float | None,
        None,
        "--watch",
        metavar="DURATION",
        parser=duration,
        help="Sample repeatedly for this long (30, 90s, 5m, 1h; at most 24h) and report "
        "every client seen.",
        show_default=False,
    ),
    option(
        "interval",
        float | None,
        None,
        "--interval",
        metavar="SECONDS",
        parser=interval_seconds,
        help=f"Seconds between samples with --watch (default 1, {MIN_INTERVAL:g} to "
        f"{MAX_INTERVAL:g}).",
        show_default=False,
    ),
    option(
        "fail_on_plain",
        bool,
        False,
        "--fail-on-plain",
        help="Exit 1 when a client without SSL was seen, or sessions were hidden from the "
        "audit's role (they may be plain): a CI gate before setting rds.force_ssl=1.",
    ),
    Opt("json", JsonOption, False),
)


@command(AUDIT)
def audit(v: Values) -> None:
    """Show which clients of a PostgreSQL server connect over SSL (TLS version, cipher) and which
    do not, with the server's ssl and rds.force_ssl settings.

    Exit codes: 0 audited, 1 --fail-on-plain and a plain (or hidden) client, 2 usage, 6 cannot
    connect or query, 7 psycopg is not installed (pip install 'rdstrust[postgres]'), 130 Ctrl-C
    (during --watch, after printing what the samples so far saw).
    """
    with exit_on_error():
        if v["interval"] is not None and v["watch"] is None:
            raise UsageError("--interval only applies with --watch; add --watch DURATION.")
        if v["dsn"] and "password" in parse_dsn(v["dsn"]):
            raise UsageError(
                "The connection string holds a password, which other users of this machine can "
                "read in the process list; use PGPASSWORD, PGPASSFILE (~/.pgpass) or "
                "--password-file instead."
            )
        options = AuditOptions(
            dsn=v["dsn"],
            sslmode=v["sslmode"],
            password_file=v["password_file"],
            # libpq counts whole seconds and treats 1 as 2.
            connect_timeout=None if v["timeout"] is None else max(2, math.ceil(v["timeout"])),
            query_timeout=DEFAULT_QUERY_TIMEOUT if v["timeout"] is None else max(1.0, v["timeout"]),
            watch=v["watch"] or 0.0,
            interval=1.0 if v["interval"] is None else v["interval"],
        )
        if options.watch:
            err(f"watching for {options.watch:g} s, one sample every {options.interval:g} s ...")
        result = run_audit(options)
    emit(result, json=v["json"], human=render_audit(result))
    if result.interrupted:
        err("rdstrust: interrupted; the report covers the samples taken until then")
        raise typer.Exit(int(ExitCode.INTERRUPTED))
    if v["fail_on_plain"] and (result.plain_clients or result.hidden):
        err(
            f"rdstrust: {len(result.plain_clients)} client(s) without SSL and "
            f"{len(result.hidden)} hidden session(s) (--fail-on-plain)"
        )
        raise typer.Exit(int(ExitCode.NOT_TRUSTED))


def render_audit(result: AuditResult) -> str:
    """Settings first, then one row per client, the hidden sessions, a summary and the notes."""
    server = result.server
    rds = "not present (not RDS)" if server.force_ssl is None else safe(server.force_ssl)
    audit_tls = safe(server.audit_tls_version or "SSL") if server.audit_ssl else "no SSL"
    sees = "sees every session" if server.can_read_all_stats else "cannot see other roles' sessions"
    version = safe(server.server_version)
    lines = [
        f"server         {safe(server.host)}:{server.port} (PostgreSQL {version})",
        f"ssl            {'on' if server.ssl else 'off'}",
        f"rds.force_ssl  {rds}",
        f"audited as     {safe(server.audit_user)} ({audit_tls}; {sees})",
        f"window         {_window(result)}",
        "",
    ]
    watching = result.samples > 1
    header = ["PID", "DATABASE", "USER", "CLIENT", "APPLICATION", "BACKEND START", "SSL", "TLS"]
    header += ["CIPHER"] + (["FIRST SEEN", "LAST SEEN"] if watching else [])
    rows = [_row(c, watching=watching) for c in result.clients]
    lines += _table(header, rows) if rows else ["(no client sessions visible)"]
    if result.hidden:
        lines += ["", "hidden sessions (SSL unknown):"]
        lines += _table(
            ["PID", "DATABASE", "USER", "APPLICATION"],
            [
                [str(h.pid), _v(h.database), _v(h.user), _v(h.application_name)]
                for h in result.hidden
            ],
        )
    lines += [
        "",
        f"{len(result.clients)} client(s): {len(result.ssl_clients)} over SSL, "
        f"{len(result.plain_clients)} without SSL; {len(result.hidden)} hidden session(s).",
    ]
    lines += [f"note: {safe(n)}" for n in result.notes]
    return "\n".join(lines)


def _window(result: AuditResult) -> str:
    if result.samples == 1:
        return f"1 sample at {_time(result.started)}"
    return (
        f"{result.samples} samples over {result.watch:g} s (every {result.interval:g} s), "
        f"{_time(result.started)} .. {_time(result.finished)}"
    )


def _row(client: ClientSession, *, watching: bool) -> list[str]:
    where = "local socket"
    if client.client_addr is not None:
        addr = client.client_addr
        addr = f"[{addr}]" if ":" in addr else addr
        where = f"{addr}:{client.client_port}" if client.client_port else addr
    row = [
        str(client.pid),
        _v(client.database),
        _v(client.user),
        safe(where),
        _v(client.application_name),
        _time(client.backend_start) if client.backend_start else "-",
        "yes" if client.ssl else "NO",
        _v(client.tls_version),
        _v(client.cipher),
    ]
    if watching:
        row += [_clock(client.first_seen), _clock(client.last_seen)]
    return row


def _v(value: str | None) -> str:
    return "-" if value is None or value == "" else safe(value)


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ")


def _clock(value: datetime) -> str:
    """Time of day to the millisecond: samples may be a fraction of a second apart."""
    return value.strftime("%H:%M:%S.%f")[:-3] + "Z"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
