"""Listing a trust store's entries: what ``rdstrust inspect`` shows.

For each entry: alias, entry type, subject, RDS generation and region where it is an Amazon RDS
CA, notAfter, whether it has expired or expires soon, and its SHA-256 fingerprint.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from rdstrust.atomic import real_path
from rdstrust.certs import Generation, utcnow
from rdstrust.stores import EntryKind, StoreEntry, StoreType, load_store

#: Default window for "expiring soon".
SOON_DAYS = 90


@dataclass(frozen=True)
class ListedEntry:
    """One store entry as reported."""

    alias: str
    kind: EntryKind
    subject: str | None
    #: RDS generation (``rds-ca-rsa2048-g1`` ...), ``None`` for certificates that are not RDS CAs.
    generation: Generation | None
    region: str | None
    #: For an RDS-named entry: whether its SHA-256 is one AWS has published (``False``: the name
    #: says Amazon RDS, the bytes are no RDS CA rdstrust knows); ``None`` for other entries.
    known: bool | None
    not_after: datetime | None
    #: ``valid``, ``expiring`` (within the window), ``expired``, ``undecodable`` or
    #: ``no-certificate``.
    status: str
    sha256: str | None
    #: PKCS12 only: whether Java sees the certificate as trusted (Java's trusted attribute).
    java_trusted: bool | None
    #: Certificates in a private key entry's chain (1 for a trusted certificate).
    chain_length: int


@dataclass(frozen=True)
class StoreListing:
    """A store's entries with a summary."""

    store: str
    real_path: str
    type: StoreType
    #: False when the store was read without a password (JKS digest / PKCS12 MAC not checked).
    integrity_checked: bool
    entries: tuple[ListedEntry, ...]
    #: Trusted-certificate entries, and those of them that are Amazon RDS CAs.
    trusted: int
    rds_cas: int
    #: Entries of any kind whose certificate has expired / expires within the window: the same
    #: rows the table marks, private keys' certificates included.
    expired: int
    expiring: int
    notes: tuple[str, ...] = ()
    #: Entries in the store; ``entries`` holds those a filter kept (all of them by default).
    total: int = 0

    def __post_init__(self) -> None:
        if not self.total:
            object.__setattr__(self, "total", len(self.entries))


class SortKey(str, Enum):
    """The orders ``inspect`` can list entries in."""

    #: As stored in the file.
    FILE = "file"
    #: By alias, case-insensitively (Java compares aliases that way).
    ALIAS = "alias"
    #: Soonest notAfter first; entries without a certificate last.
    EXPIRY = "expiry"
    #: Amazon RDS CAs by generation, then region; other certificates last, by alias.
    GENERATION = "generation"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ListFilter:
    """Which entries a listing shows; an entry must pass every filter that is set.

    ``expired`` and ``expiring`` together keep entries that are either. ``alias`` is a shell
    pattern (``*``, ``?``, ``[...]``) matched against the whole alias, case-insensitively.
    """

    rds_only: bool = False
    expired: bool = False
    expiring: bool = False
    alias: str | None = None

    def keeps(self, entry: ListedEntry) -> bool:
        """Whether ``entry`` passes the filters."""
        if self.rds_only and entry.generation is None:
            return False
        statuses = {s for s, on in (("expired", self.expired), ("expiring", self.expiring)) if on}
        if statuses and entry.status not in statuses:
            return False
        if self.alias is not None:
            # casefold on both sides, then fnmatchcase: the same result on every platform
            # (fnmatch.fnmatch folds case only where the file system does).
            return fnmatch.fnmatchcase(entry.alias.casefold(), self.alias.casefold())
        return True


def _by_alias(e: ListedEntry) -> tuple[str, str]:
    return (e.alias.casefold(), e.alias)


def _by_expiry(e: ListedEntry) -> tuple[float, str, str]:
    when = e.not_after.timestamp() if e.not_after is not None else math.inf
    return (when, *_by_alias(e))


_GENERATION_RANK = {g: i for i, g in enumerate(Generation)}


def _by_generation(e: ListedEntry) -> tuple[int, str, str, str]:
    rank = _GENERATION_RANK[e.generation] if e.generation is not None else len(_GENERATION_RANK)
    return (rank, (e.region or "").casefold(), *_by_alias(e))


_ORDERS: dict[SortKey, Callable[[ListedEntry], tuple[Any, ...]]] = {
    SortKey.ALIAS: _by_alias,
    SortKey.EXPIRY: _by_expiry,
    SortKey.GENERATION: _by_generation,
}


def select_entries(
    listing: StoreListing,
    which: ListFilter | None = None,
    order: SortKey | str = SortKey.FILE,
) -> StoreListing:
    """``listing`` with only the entries ``which`` keeps, in ``order``.

    The summary counts (``total``, ``trusted``, ``rds_cas``, ``expired``, ``expiring``) still
    describe the whole store; ``len(entries)`` is how many are shown.
    """
    key = SortKey(order)
    kept = [e for e in listing.entries if which is None or which.keeps(e)]
    if key is not SortKey.FILE:
        kept.sort(key=_ORDERS[key])
    return replace(listing, entries=tuple(kept), total=listing.total)


def _status(entry: StoreEntry, at: datetime, soon_days: int) -> str:
    if not entry.certificates:
        return "no-certificate"
    info = entry.info
    if info is None:
        return "undecodable"
    if info.expired(at):
        return "expired"
    return "expiring" if info.expires_within(soon_days, at) else "valid"


def list_store(
    path: str | Path,
    password: str | None,
    *,
    soon_days: int = SOON_DAYS,
    at: datetime | None = None,
) -> StoreListing:
    """Read the store at ``path`` and describe every entry, in file order.

    A JKS store (and a PKCS12 store whose certificates are not encrypted) can be listed
    without its password; its integrity is then not checked, and the listing says so.
    """
    at = at or utcnow()
    kind, loaded = load_store(path, password)
    listed = []
    for entry in loaded.entries:
        info = entry.info
        rds = info is not None and info.generation is not Generation.UNKNOWN
        listed.append(
            ListedEntry(
                alias=entry.alias,
                kind=entry.kind,
                subject=info.subject if info else None,
                generation=info.generation if info and rds else None,
                region=info.region if info and rds else None,
                known=info.known if info and rds else None,
                not_after=info.not_after if info else None,
                status=_status(entry, at, soon_days),
                sha256=entry.sha256,
                java_trusted=entry.java_trusted,
                chain_length=len(entry.certificates),
            )
        )
    checked = loaded.verified
    notes = []
    if not checked:
        notes.append("read without a password: the store's integrity was not checked")
    untrusted = [e.alias for e in loaded.entries if e.java_trusted is False]
    if untrusted:
        notes.append(
            f"{len(untrusted)} certificate(s) lack Java's trusted-certificate attribute; Java "
            "ignores them as trust anchors"
        )
    unknown = [e.sha256[:16] for e in listed if e.known is False and e.sha256]
    if unknown:
        # Fingerprints, not aliases: a store's aliases are not ours to print raw.
        notes.append(
            f"{len(unknown)} entr{'y is' if len(unknown) == 1 else 'ies are'} named as Amazon "
            f"RDS CAs but not ones AWS has published (unknown, SHA-256 "
            f"{', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''})"
        )
    trusted = [e for e in listed if e.kind is EntryKind.TRUSTED_CERT]
    return StoreListing(
        store=str(path),
        real_path=str(real_path(path)),
        type=kind,
        integrity_checked=checked,
        entries=tuple(listed),
        trusted=len(trusted),
        rds_cas=sum(1 for e in trusted if e.generation),
        expired=sum(1 for e in listed if e.status == "expired"),
        expiring=sum(1 for e in listed if e.status == "expiring"),
        notes=tuple(notes),
    )
