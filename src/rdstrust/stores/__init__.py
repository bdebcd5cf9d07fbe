"""Trust store formats behind one small interface: Java JKS, PKCS12 and PEM bundles.

INTERFACE CONTRACT (implemented by the stores work; used by merge, inspect, verify):

* :func:`detect_type` tells the format from the bytes (never the file name).
* :func:`read_store` loads a store into :class:`StoreContents`, whose entries carry their
  original bytes so a rewrite never re-encodes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from rdstrust.certs import CertInfo


class StoreType(str, Enum):
    """The on-disk format of a trust store."""

    JKS = "jks"
    PKCS12 = "pkcs12"
    PEM = "pem"

    def __str__(self) -> str:
        return self.value


class EntryKind(str, Enum):
    """What a store entry holds."""

    TRUSTED_CERT = "trusted-cert"
    PRIVATE_KEY = "private-key"
    SECRET_KEY = "secret-key"

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
    certificates: tuple[bytes, ...] = field(default=(), repr=False)
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
