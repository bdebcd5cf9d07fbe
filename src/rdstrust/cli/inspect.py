"""``rdstrust inspect``: list a trust store's entries."""

from __future__ import annotations

from typing import Annotated

import typer

from rdstrust.cli._common import (
    MAX_DAYS,
    JsonOption,
    StorePassEnvOption,
    StorePassFileOption,
    StorePassOption,
    days,
    emit,
    err,
    exit_on_error,
    passwords_from,
)
from rdstrust.cli._groups import Opt, Values, command, option
from rdstrust.listing import SOON_DAYS, StoreListing, list_store
from rdstrust.runner import run_stores
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


@command(INSPECT)
def inspect(v: Values) -> None:
    """List a store's entries: alias, type, subject, RDS generation/region, expiry, SHA-256."""
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
        listing = outcome.result
    emit(listing, json=v["json"], human=render_listing(listing))
    err(
        f"{safe(listing.store)} ({listing.type}): {len(listing.entries)} entries, "
        f"{listing.trusted} trusted, {listing.rds_cas} Amazon RDS CAs, {listing.expired} expired, "
        f"{listing.expiring} expiring within {v['soon_days']} days."
    )
    for note in listing.notes:
        err(f"note: {safe(note)}")


def render_listing(listing: StoreListing) -> str:
    """A table: alias, type, generation, region, not-after, status, fingerprint, subject.

    Aliases and subjects come from the store: each is shown through :func:`safe`, so a control
    character or bidi override in one is a visible escape, never a terminal command.
    """
    rows = [("ALIAS", "TYPE", "GENERATION", "REGION", "NOT AFTER", "STATUS", "SHA-256", "SUBJECT")]
    for e in listing.entries:
        status = e.status if e.java_trusted is not False else f"{e.status},not-java-trusted"
        rows.append(
            (
                safe(e.alias),
                e.kind.value,
                safe(e.generation or "-"),
                safe(e.region or "-"),
                f"{e.not_after:%Y-%m-%d}" if e.not_after else "-",
                status,
                e.sha256 or "-",
                safe(e.subject or "-"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])), r[-1]]).rstrip()
        for r in rows
    )
