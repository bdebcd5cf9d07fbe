"""Listing a trust store's entries: what ``rdstrust inspect`` shows.

For each entry: alias, entry type, subject, RDS generation and region where it is an Amazon RDS
CA, notAfter, whether it has expired or expires soon, and its SHA-256 fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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
