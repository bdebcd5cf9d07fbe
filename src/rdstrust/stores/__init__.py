"""Trust store formats behind one small interface: Java JKS, PKCS12 and PEM bundles.

* :func:`detect_type` tells the format from the bytes (never the file name).
* :func:`read_store` loads a store into :class:`StoreContents` (what inspect and verify need).
* :func:`load_store` returns a :class:`LoadedStore`: the contents plus the original bytes of
  every entry, so :meth:`LoadedStore.render` can write the store back with entries removed or
  added without re-encoding anything else (what merge needs). :func:`create_store` makes a new one.

One module per format (:mod:`.jks`, :mod:`.pkcs12`, :mod:`.pem`), each with the same ``load``
and ``create`` functions, chosen once by :func:`detect_type`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Protocol

from rdstrust.certs import CertInfo
from rdstrust.errors import StoreError, UsageError, WrongPasswordError
from rdstrust.files import read_input


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


@dataclass(frozen=True)
class StoreEntry:
    """One entry of a store.

    ``certificates`` holds DER certificates: the trusted certificate, or a private key's chain
    (leaf first). ``info`` describes the first certificate, or is ``None`` when cryptography
    cannot parse it (the entry is still carried byte for byte). ``java_trusted`` is, for PKCS12,
    whether the bag carries Java's trusted-certificate attribute (OID 2.16.840.1.113894.746875.1.1)
    without which Java does not see a certificate as a trust anchor; ``None`` for other formats.
    """

    alias: str
    kind: EntryKind
    sha256: str | None
    info: CertInfo | None
    certificates: tuple[bytes, ...] = field(default=(), repr=False, metadata={"json": False})
    java_trusted: bool | None = None


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
    """:class:`CertInfo` for DER bytes, or ``None`` when cryptography cannot parse them."""
    from cryptography import x509

    from rdstrust.certs import DECODE_ERRORS, describe

    with warnings.catch_warnings():
        # Debian's cacerts has certificates with serial number 0, which cryptography warns about.
        warnings.simplefilter("ignore")
        try:
            return describe(x509.load_der_x509_certificate(der), der)
        except DECODE_ERRORS:  # unparseable: the entry is still carried byte for byte
            return None


def detect_type(data: bytes) -> StoreType | None:
    """The store format of ``data`` from its bytes, or ``None`` when it is none of them.

    JKS and JCEKS by magic number, PKCS12 as a DER ``PFX`` (version 3 with a PKCS7
    authenticated safe), PEM as text with a ``CERTIFICATE`` block.
    """
    from rdstrust.stores import jks, pem, pkcs12

    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic == jks.MAGIC_JKS:
        return StoreType.JKS
    if magic == jks.MAGIC_JCEKS:
        return StoreType.JCEKS
    if data[:1] == b"\x30" and pkcs12.looks_like_pkcs12(data):
        return StoreType.PKCS12
    if pem.looks_like_pem(data):
        return StoreType.PEM
    return None


def type_from_name(path: str | Path) -> StoreType | None:
    """The store format a new file's extension suggests (``.jks``, ``.p12``/``.pfx``, ``.pem``)."""
    suffix = Path(path).suffix.lower()
    return {
        ".jks": StoreType.JKS,
        ".jceks": StoreType.JCEKS,
        ".keystore": StoreType.JKS,
        ".truststore": StoreType.JKS,
        ".p12": StoreType.PKCS12,
        ".pfx": StoreType.PKCS12,
        ".pkcs12": StoreType.PKCS12,
        ".pem": StoreType.PEM,
        ".crt": StoreType.PEM,
        ".cer": StoreType.PEM,
    }.get(suffix)


#: The formats :func:`create_store` writes new stores in.
CREATABLE_TYPES = (StoreType.JKS, StoreType.PKCS12, StoreType.PEM)


#: Stores larger than this are refused: a full JDK cacerts is about 200 KB.
MAX_STORE_BYTES = 64 * 1024 * 1024


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a store file, with read errors turned into one-sentence :class:`StoreError`.

    Only a regular file (after following symlinks) of at most :data:`MAX_STORE_BYTES` is read:
    ``/dev/zero``, a FIFO or a huge file given by mistake must not exhaust memory or hang, so
    at most one byte more than the cap is ever read.
    """
    return read_input(path, limit=MAX_STORE_BYTES, what="Trust store", error=StoreError)


def parse_store(
    data: bytes, *, source: str, password: str | None, store_type: StoreType | None = None
) -> tuple[StoreType, LoadedStore]:
    """Parse store bytes (type detected unless given); see :func:`load_store`."""
    from rdstrust.stores import jks, pem, pkcs12

    detected = detect_type(data)
    if detected is None and pkcs12.looks_like_ber_pkcs12(data):
        raise StoreError(
            f"{source} is a BER-encoded PKCS12 (from some Windows/IBM tools), which rdstrust "
            "cannot rewrite byte for byte; re-export it with keytool -importkeystore or "
            "openssl pkcs12 and try again.",
            path=source,
        )
    if detected is None:
        raise StoreError(
            f"{source} is not a JKS, JCEKS, PKCS12 or PEM trust store"
            + (" (it is empty)" if not data.strip() else "")
            + "; check the path.",
            path=source,
        )
    if store_type is not None and store_type is not detected:
        raise StoreError(
            f"{source} is a {detected.value.upper()} store, not {store_type.value.upper()} "
            "as requested; drop --store-type or fix it.",
            path=source,
        )
    loaded: LoadedStore
    if detected in (StoreType.JKS, StoreType.JCEKS):
        loaded = jks.load(data, source=source, password=password)
    elif detected is StoreType.PKCS12:
        loaded = pkcs12.load(data, source=source, password=password)
    else:
        loaded = pem.load(data, source=source, password=password)
    return detected, loaded


def load_store(
    path: str | Path, password: str | None, store_type: StoreType | None = None
) -> tuple[StoreType, LoadedStore]:
    """Read and parse the store at ``path`` for rewriting; see :func:`read_store`."""
    return parse_store(read_bytes(path), source=str(path), password=password, store_type=store_type)


def read_store(
    path: str | Path, password: str | None, store_type: StoreType | None = None
) -> StoreContents:
    """Load the trust store at ``path`` (JKS, JCEKS, PKCS12 or PEM, detected from its bytes).

    ``password`` may be ``None``: a JKS store is then read without checking its digest, and a
    PKCS12 store only when its certificates are not encrypted (both as Java does). Raises
    :class:`rdstrust.errors.WrongPasswordError` for a wrong password or a modified store and
    :class:`rdstrust.errors.StoreError` for anything else (missing, unreadable, not a store).
    """
    from rdstrust.atomic import real_path

    kind, loaded = load_store(path, password, store_type)
    return StoreContents(
        path=str(real_path(path)),
        type=kind,
        entries=loaded.entries,
        password_required=loaded.password_required,
    )


def create_store(
    store_type: StoreType,
    add: Sequence[NewCert],
    *,
    password: str | None,
    profile: str | None = None,
) -> bytes:
    """The bytes of a new store of ``store_type`` holding ``add`` as trusted certificates.

    Raises :class:`UsageError` for JCEKS: rdstrust only merges into existing JCEKS stores.
    """
    from rdstrust.stores import jks, pem, pkcs12

    if store_type not in CREATABLE_TYPES:
        raise UsageError(
            f"rdstrust creates jks, pkcs12 or pem stores, not {store_type.value}; create the "
            "store with keytool first, or pick one of those types."
        )

    if store_type is StoreType.JKS:
        return jks.create(add, password=password, profile=profile)
    if store_type is StoreType.PKCS12:
        return pkcs12.create(add, password=password, profile=profile)
    return pem.create(add, password=password, profile=profile)


__all__ = [
    "CREATABLE_TYPES",
    "EntryKind",
    "LoadedStore",
    "NewCert",
    "StoreContents",
    "StoreEntry",
    "StoreType",
    "check_password",
    "create_store",
    "describe_der",
    "detect_type",
    "load_store",
    "parse_store",
    "read_store",
    "type_from_name",
]
