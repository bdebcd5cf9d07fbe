"""``rdstrust inspect``: list a trust store's entries, as a table fitted to the terminal."""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from typing import Annotated

import typer

from rdstrust.cli._common import (
    MAX_DAYS,
    JsonOption,
    StorePassEnvOption,
    StorePassFileOption,
    StorePassOption,
    choice,
    days,
    emit,
    err,
    exit_on_error,
    passwords_from,
)
from rdstrust.cli._groups import Opt, Values, command, option
from rdstrust.listing import (
    SOON_DAYS,
    ListedEntry,
    ListFilter,
    SortKey,
    StoreListing,
    list_store,
    select_entries,
)
from rdstrust.runner import run_stores
from rdstrust.stores import EntryKind
from rdstrust.storespec import parse_store_spec
from rdstrust.text import safe

#: The options of ``inspect``.
INSPECT = (
    Opt(
        "store",
        Annotated[
            str,
            typer.Argument(
                metavar="STORE[,storepass:env=VAR|file=FILE|none]",
                help="JKS, PKCS12 or PEM trust store.",
                show_default=False,
            ),
        ],
        ...,
    ),
    Opt("storepass", StorePassOption, None),
    Opt("storepass_env", StorePassEnvOption, None),
    Opt("storepass_file", StorePassFileOption, None),
    option(
        "soon_days",
        int,
        SOON_DAYS,
        "--expiring-days",
        metavar="DAYS",
        help=f"Flag certificates expiring within this many days (0-{MAX_DAYS}).",
        parser=days,
    ),
    Opt("json", JsonOption, False),
)

#: Which entries ``inspect`` shows, and in which order.
SELECT = (
    Opt(
        "sort",
        Annotated[
            SortKey,
            typer.Option(
                "--sort",
                parser=choice(SortKey),
                help="Order of the entries: file (as stored), alias, expiry (soonest first) or "
                "generation (RDS CAs by generation and region, then the others).",
            ),
        ],
        SortKey.FILE,
    ),
    Opt(
        "rds_only",
        Annotated[bool, typer.Option("--rds-only", help="Show only Amazon RDS CA certificates.")],
        False,
    ),
    Opt(
        "expired",
        Annotated[bool, typer.Option("--expired", help="Show only expired certificates.")],
        False,
    ),
    Opt(
        "expiring",
        Annotated[
            bool,
            typer.Option(
                "--expiring",
                help="Show only certificates expiring within --expiring-days (with --expired: "
                "both).",
            ),
        ],
        False,
    ),
    Opt(
        "alias",
        Annotated[
            str | None,
            typer.Option(
                "--alias",
                metavar="PATTERN",
                help="Show only aliases matching this shell pattern (*, ?, [...]), ignoring case.",
                show_default=False,
            ),
        ],
        None,
    ),
)


@command(INSPECT, SELECT)
def inspect(v: Values) -> None:
    """List a store's entries: alias, RDS CA generation and region, expiry, status, SHA-256,
    subject.

    The table fits the terminal (COLUMNS is honoured): long aliases and subjects are cut with
    an ellipsis and the fingerprint is shortened; --json has every field in full. The summary
    on stderr counts every entry of the store, and says how many the filters show.
    """
    which = ListFilter(
        rds_only=v["rds_only"], expired=v["expired"], expiring=v["expiring"], alias=v["alias"]
    )
    with exit_on_error():
        spec = parse_store_spec(v["store"])
        passwords = passwords_from(v["storepass"], v["storepass_env"], v["storepass_file"])
        passwords.check([spec])
        (outcome,) = run_stores(
            [spec], lambda s, pw: list_store(s.path, pw, soon_days=v["soon_days"]), passwords
        )
        if outcome.failure is not None:
            err(f"rdstrust: error: {outcome.failure.message}")
            raise typer.Exit(outcome.failure.exit_code)
        assert outcome.result is not None
        listing = select_entries(outcome.result, which, v["sort"])
    emit(listing, json=v["json"], human=render_listing(listing, terminal_width()))
    shown = "" if listing.total == len(listing.entries) else f" ({len(listing.entries)} shown)"
    err(
        f"{safe(listing.store)} ({listing.type}): {listing.total} entries{shown}, "
        f"{listing.trusted} trusted, {listing.rds_cas} Amazon RDS CAs, {listing.expired} expired, "
        f"{listing.expiring} expiring within {v['soon_days']} days."
    )
    for note in listing.notes:
        err(f"note: {safe(note)}")


def render_listing(listing: StoreListing, width: int | None = None) -> str:
    """A table fitted to ``width`` columns (``None``: not cut, as for a pipe).

    Columns: alias, kind, RDS CA generation, region, not-after, status, the first 12 hex digits
    of the SHA-256, subject. A column with nothing to say (no RDS CA in the store, only
    trusted certificates) is left out; when a row is still too wide the fingerprint, then
    region and generation, are dropped, and alias and subject are cut with an ellipsis, so a row
    never wraps. ``--json`` has every field in full. Aliases and subjects come from the store:
    each is shown through :func:`safe` before it is cut, so a control character or bidi
    override in one is a visible escape, never a terminal command.
    """
    rows = [dict(zip(_HEADERS, _HEADERS, strict=True))]
    rows += [_cells(e) for e in listing.entries]
    shown = _columns(rows, max(MIN_WIDTH, width) if width is not None else None)
    lines = []
    for row in rows:
        cells = [_fit(row[name], size) for name, size in shown]
        padded = [c + " " * (n - _width(c)) for c, (_, n) in zip(cells[:-1], shown, strict=False)]
        line = GAP.join([*padded, cells[-1]]).rstrip()
        lines.append(_fit(line, width) if width is not None else line)
    return "\n".join(lines)


def terminal_width() -> int | None:
    """The width to fit the table to: ``COLUMNS`` if set, else the terminal's on a terminal;
    ``None`` for a pipe or file, which gets whole rows (``grep`` loses nothing)."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size(FALLBACK_SIZE).columns
    return None


#: Size assumed on a terminal whose size cannot be read.
FALLBACK_SIZE = (80, 24)
#: Narrower than this, no table is readable; rows are cut at this width instead.
MIN_WIDTH = 40
GAP = "  "
_HEADERS = ("ALIAS", "KIND", "RDS CA", "REGION", "NOT AFTER", "STATUS", "SHA-256", "SUBJECT")
#: Columns given up, in this order, when alias and subject would be cut below their minimum.
_DROP_ORDER = ("SHA-256", "REGION", "RDS CA")
_ALIAS_MIN, _SUBJECT_MIN = 16, 16


def _cells(e: ListedEntry) -> dict[str, str]:
    status = e.status if e.java_trusted is not False else f"{e.status},no-java"
    generation = e.generation.value.removeprefix("rds-ca-") if e.generation else "-"
    return {
        "ALIAS": safe(e.alias),
        "KIND": e.kind.value,
        "RDS CA": generation,
        "REGION": safe(e.region or "-"),
        "NOT AFTER": f"{e.not_after:%Y-%m-%d}" if e.not_after else "-",
        "STATUS": status,
        "SHA-256": e.sha256[:12] if e.sha256 else "-",
        "SUBJECT": safe(e.subject or "-"),
    }


def _columns(rows: list[dict[str, str]], width: int | None) -> list[tuple[str, int]]:
    """The columns to show, each with its width; alias and subject share what is left."""
    data = rows[1:]
    names = [
        n
        for n in _HEADERS
        # A column that says the same thing on every row tells nothing.
        if not (n == "KIND" and all(r[n] == EntryKind.TRUSTED_CERT.value for r in data))
        and not (n in ("RDS CA", "REGION") and all(r[n] == "-" for r in data))
    ]
    natural = {n: max(_width(r[n]) for r in rows) for n in names}
    if width is None:
        return [(n, natural[n]) for n in names]
    drop = [n for n in _DROP_ORDER if n in names]
    while True:
        fixed = [n for n in names if n not in ("ALIAS", "SUBJECT")]
        room = width - sum(natural[n] for n in fixed) - len(GAP) * (len(names) - 1)
        wanted = min(natural["ALIAS"], _ALIAS_MIN) + min(natural["SUBJECT"], _SUBJECT_MIN)
        if room >= wanted or not drop:
            break
        names.remove(drop.pop(0))
    # The alias is what a user types next (keytool -alias, --alias): it gets the room first.
    alias = min(natural["ALIAS"], max(_ALIAS_MIN, room - min(natural["SUBJECT"], _SUBJECT_MIN)))
    sizes = {**natural, "ALIAS": max(1, alias), "SUBJECT": max(1, room - alias)}
    return [(n, sizes[n]) for n in names]


def _width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide characters two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _fit(text: str, size: int) -> str:
    """``text`` cut to ``size`` columns, ending with an ellipsis when it was cut."""
    if _width(text) <= size:
        return text
    kept, used = [], 0
    for char in text:
        step = _char_width(char)
        if used + step > size - 1:
            break
        kept.append(char)
        used += step
    return "".join(kept) + "…"
