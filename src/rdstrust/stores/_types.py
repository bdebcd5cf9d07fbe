"""Types shared by every store format: the interface the format modules implement.

They live apart from :mod:`rdstrust.stores` so that each format module (and the package that
chooses between them) imports them without a cycle.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Protocol

from rdstrust.certs import (
    DECODE_ERRORS,
    CertInfo,
    cached_description,
    describe,
    remember_description,
)
from rdstrust.errors import WrongPasswordError
from rdstrust.runcache import run_descriptions


class StoreType(str, Enum):
    """The on-disk format of a trust store."""

    JKS = "jks"
    #: Java's JCEKS (same layout as JKS, another magic number); rdstrust merges into existing
    #: JCEKS stores but does not create new ones.
    JCEKS = "jceks"
    PKCS12 = "pkcs12"
    PEM = "pem"

    def __str__(self) -> str:
        return self.value


class EntryKind(str, Enum):
    """What a store entry holds."""

    TRUSTED_CERT = "trusted-cert"
    PRIVATE_KEY = "private-key"
    SECRET_KEY = "secret-key"  # noqa: S105  # an entry kind, not a password

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class StoreEntry:
    """One entry of a store.

    ``certificates`` holds DER certificates: the trusted certificate, or a private key's chain
    (leaf first); ``sha256`` is the first one's fingerprint, which is all that merging and
    membership need. :attr:`info` describes the first certificate on first use (parsing every
    certificate of a 50,000-entry store up front took seconds and a gigabyte). ``java_trusted``
    is, for PKCS12, whether the bag carries Java's trusted-certificate attribute (OID
    2.16.840.1.113894.746875.1.1) without which Java does not see a certificate as a trust
    anchor; ``None`` for other formats.

    Slotted: a store holds one per entry (50,000 in the benchmarks), and a ``__dict__`` each
    cost more than the entry's own fields.
    """

    alias: str
    kind: EntryKind
    sha256: str | None
    certificates: tuple[bytes, ...] = field(default=(), repr=False, metadata={"json": False})
    java_trusted: bool | None = None
    #: The description once made, as a 1-tuple (``(None,)``: cryptography cannot parse it).
    _described: tuple[CertInfo | None] | None = field(
        default=None, init=False, repr=False, compare=False, metadata={"json": False}
    )

    @property
    def info(self) -> CertInfo | None:
        """The first certificate described, or ``None`` when cryptography cannot parse it (the
        entry is still carried byte for byte). Described on first use, then kept."""
        described = self._described
        if described is None:
            described = (describe_der(self.certificates[0]) if self.certificates else None,)
            object.__setattr__(self, "_described", described)
        return described[0]


@dataclass(frozen=True)
class StoreContents:
    """A loaded store: its real path, format and entries in file order."""

    path: str
    type: StoreType
    entries: tuple[StoreEntry, ...]
    #: Whether a password was needed to read the certificates (PKCS12 with encrypted bags).
    password_required: bool = False

    def trusted(self) -> tuple[StoreEntry, ...]:
        """Entries Java (or libpq, for PEM) uses as trust anchors."""
        return tuple(e for e in self.entries if e.kind is EntryKind.TRUSTED_CERT)

    def fingerprints(self) -> frozenset[str]:
        """SHA-256 fingerprints of the trusted certificates."""
        return frozenset(e.sha256 for e in self.trusted() if e.sha256)


@dataclass(frozen=True)
class NewCert:
    """A certificate to add to a store as a trusted-certificate entry under ``alias``."""

    alias: str
    der: bytes = field(repr=False, metadata={"json": False})
    subject: str
    #: Used as the entry timestamp where the format has one (JKS): fixed, so output is stable.
    #: Normalised to UTC; a naive value is taken as UTC (never as local time, which would make
    #: the bytes depend on the machine's time zone).
    not_before: datetime

    def __post_init__(self) -> None:
        when = self.not_before
        when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when
        object.__setattr__(self, "not_before", when.astimezone(timezone.utc))

    @classmethod
    def from_info(cls, info: CertInfo, alias: str | None = None) -> NewCert:
        """The entry for a described certificate (its own alias unless ``alias`` is given)."""
        return cls(alias or info.alias, info.der, info.subject, info.not_before)


class LoadedStore(Protocol):
    """A parsed store that can be written back; implemented by each format module."""

    entries: tuple[StoreEntry, ...]
    #: Whether a password was needed to read the certificates (PKCS12 with encrypted bags).
    password_required: bool
    #: Whether the store's integrity was checked (False for JKS read without its password).
    verified: bool

    @property
    def password_less(self) -> bool:
        """Whether the store is written without any password (PEM, JDK 18+ style PKCS12)."""
        ...

    @property
    def profile(self) -> str | None:
        """The PKCS12 profile matching how the store is protected now; ``None`` for others."""
        ...

    def render(
        self,
        *,
        remove: frozenset[int],
        add: Sequence[NewCert],
        password: str | None,
        profile: str | None = None,
    ) -> bytes:
        """The store's bytes with entries at indices ``remove`` dropped and ``add`` appended.

        Every other entry keeps its original bytes. Raises :class:`StoreError` when the store
        cannot be written (for example, no password for a JKS store).
        """
        ...


def check_password(password: str | None, source: str | None) -> None:
    """Raise :class:`WrongPasswordError` for a password that is not Unicode text.

    Python keeps bytes that are not UTF-8 (``RDSTRUST_STOREPASS=$'\\xff'``) as lone surrogates,
    which neither UTF-8 (PBKDF2) nor UTF-16 (the PKCS12 KDF, JKS) can encode; no store written
    by Java or OpenSSL can have such a password.
    """
    if password is None:
        return
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        where = f"for {source} " if source else ""
        raise WrongPasswordError(
            f"The password given {where}holds bytes that are not UTF-8 text, so it cannot be "
            "a store password; give the password as UTF-8 text.",
            path=source,
        ) from None


def describe_der(der: bytes) -> CertInfo | None:
    """:class:`CertInfo` for DER bytes, or ``None`` when cryptography cannot parse them.

    Described once per run inside :func:`rdstrust.certs.describe_once`.
    """
    hit, known = cached_description(der)
    if hit:
        return known
    from cryptography import x509

    with warnings.catch_warnings():
        # Debian's cacerts has certificates with serial number 0, which cryptography warns about.
        warnings.simplefilter("ignore")
        try:
            return describe(x509.load_der_x509_certificate(der), der)
        except DECODE_ERRORS:  # unparseable: the entry is still carried byte for byte
            remember_description(der, None)
            return None


def unparseable(ders: Iterable[bytes]) -> int:
    """How many of ``ders`` cryptography cannot load as a certificate (no field is decoded).

    What a merge counts as "cannot be decoded" without describing every entry of the store.
    """
    from cryptography import x509

    count = 0
    described = run_descriptions()  # looked up once, not once per certificate
    load = x509.load_der_x509_certificate
    with warnings.catch_warnings():  # once for the whole store: it costs more than the load
        warnings.simplefilter("ignore")
        for der in ders:
            if described and described.get(der) is not None:
                continue  # described this run, so it loads
            try:
                load(der)
            except DECODE_ERRORS:
                count += 1
    return count
