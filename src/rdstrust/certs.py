"""One certificate as rdstrust sees it: fingerprint, RDS generation, region, alias.

:func:`describe` turns a parsed :class:`cryptography.x509.Certificate` into a frozen
:class:`CertInfo`; everything else in rdstrust (splitting, merging, verifying, reporting) works on
those. The classification follows the subject names AWS uses, for example
``CN=Amazon RDS us-east-1 Root CA RSA2048 G1`` (a G1 root) or ``CN=Amazon RDS eu-west-1 2019 CA``
(an rds-ca-2019 regional intermediate).

A subject is only what a certificate claims: :attr:`CertInfo.known` says whether its SHA-256 is one
of the CAs AWS really published (:mod:`rdstrust.known_cas`). An Amazon-RDS-named CA that is not
(``is_rds`` but not ``known``) is reported as unknown and kept out of bundles by default.
"""

from __future__ import annotations

import base64
import hashlib
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from rdstrust.catalogue import SUBJECT_REGION
from rdstrust.known_cas import is_known_rds_ca
from rdstrust.names import fast_names, rfc4514
from rdstrust.runcache import cached_description, describe_once, remember_description

__all__ = [
    "DECODE_ERRORS",
    "G1_GENERATIONS",
    "CertInfo",
    "Generation",
    "base_alias",
    "cached_description",
    "classify",
    "could_be_rds",
    "der_to_pem",
    "describe",
    "describe_once",
    "remember_description",
    "sha256_hex",
    "utcnow",
]


class Generation(str, Enum):
    """The Amazon RDS CA generation a certificate belongs to."""

    RSA2048_G1 = "rds-ca-rsa2048-g1"
    RSA4096_G1 = "rds-ca-rsa4096-g1"
    ECC384_G1 = "rds-ca-ecc384-g1"
    CA_2019 = "rds-ca-2019"
    #: Region-specific CAs of regions opened after 2019 (``Amazon RDS af-south-1 Root CA``).
    REGIONAL = "rds-ca-regional"
    #: The 2015 generation (``Amazon RDS Root CA``) and any other Amazon RDS CA we do not know.
    LEGACY = "rds-ca-legacy"
    #: Not an Amazon RDS certificate at all.
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


#: The generations AWS rotates to; what ``verify`` requires by default.
G1_GENERATIONS: tuple[Generation, ...] = (
    Generation.RSA2048_G1,
    Generation.RSA4096_G1,
    Generation.ECC384_G1,
)

_RDS_ORG = "Amazon Web Services, Inc."
_RDS_OU = "Amazon RDS"
# A region code such as us-east-1, us-gov-west-1, cn-northwest-1, us-isob-east-1, optionally
# behind AWS's pseudo-region qualifiers "Beta" and "Preview".
_REGION = rf"(?P<region>{SUBJECT_REGION})"
_PATTERNS: tuple[tuple[re.Pattern[str], Generation | None], ...] = (
    (re.compile(rf"^Amazon RDS {_REGION} Root CA (?P<g1>RSA2048|RSA4096|ECC384) G1$"), None),
    (re.compile(r"^Amazon RDS (?P<region>(?:Beta |Preview )?)Root 2019 CA$"), Generation.CA_2019),
    (re.compile(rf"^Amazon RDS {_REGION} 2019 CA$"), Generation.CA_2019),
    (re.compile(rf"^Amazon RDS {_REGION} Root CA$"), Generation.REGIONAL),
    (re.compile(rf"^Amazon RDS {_REGION} CA$"), Generation.REGIONAL),
    (re.compile(r"^Amazon RDS Root CA$"), Generation.LEGACY),
)
_G1 = {
    "RSA2048": Generation.RSA2048_G1,
    "RSA4096": Generation.RSA4096_G1,
    "ECC384": Generation.ECC384_G1,
}


#: What cryptography raises for a certificate whose fields cannot be decoded (malformed or
#: unsupported extensions, names or keys). Anything else is a bug and must not be disguised as a
#: damaged file.
DECODE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    UnsupportedAlgorithm,
    # An X.509 version other than v1/v3 (a mutated store found this; cryptography raises it
    # lazily, when the certificate's fields are read).
    x509.InvalidVersion,
)


@dataclass(frozen=True)
class CertInfo:
    """A certificate with everything rdstrust needs to name, merge and report it.

    ``alias`` is the name rdstrust proposes for it in a store; :class:`rdstrust.bundle.Bundle`
    makes aliases unique across a bundle.
    """

    der: bytes = field(repr=False, metadata={"json": False})
    sha256: str
    subject: str
    issuer: str
    common_name: str | None
    generation: Generation
    region: str | None
    is_ca: bool
    is_root: bool
    key_type: str
    not_before: datetime
    not_after: datetime
    alias: str
    #: Whether the SHA-256 is one of the Amazon RDS CAs AWS has published (rdstrust's list, see
    #: :mod:`rdstrust.known_cas`). ``generation`` and ``region`` come from the subject, which
    #: anyone can write; this comes from the bytes.
    known: bool
    certificate: x509.Certificate = field(
        repr=False, compare=False, hash=False, metadata={"json": False}
    )

    @property
    def is_rds(self) -> bool:
        """True for a certificate *named* as an Amazon RDS CA (any generation).

        The name is a claim; :attr:`known` says whether it is a published RDS CA, and
        :attr:`unknown_rds` flags one that claims to be and is not.
        """
        return self.generation is not Generation.UNKNOWN

    @property
    def unknown_rds(self) -> bool:
        """True for an Amazon-RDS-named certificate whose SHA-256 is not a published RDS CA."""
        return self.is_rds and not self.known

    def expired(self, at: datetime | None = None) -> bool:
        """Whether the certificate is past its notAfter at ``at`` (default: now)."""
        return (at or utcnow()) > self.not_after

    def expires_within(self, days: int, at: datetime | None = None) -> bool:
        """Whether the certificate expires within ``days`` days of ``at`` (default: now)."""
        return self.not_after <= (at or utcnow()) + timedelta(days=days)

    def pem(self) -> bytes:
        """The certificate as one PEM block."""
        return der_to_pem(self.der)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def der_to_pem(der: bytes) -> bytes:
    """Encode DER certificate bytes as a PEM block with 64-column lines."""
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
    ).encode("ascii")


def sha256_hex(der: bytes) -> str:
    """Lower-case hex SHA-256 of DER bytes: the identity rdstrust compares certificates by."""
    return hashlib.sha256(der).hexdigest()


#: "Amazon RDS" as each string type of a name spells it (PrintableString, UTF8String and the
#: other single-byte types; BMPString; UniversalString).
_RDS_MARKS = tuple(_RDS_OU.encode(codec) for codec in ("ascii", "utf-16-be", "utf-32-be"))
_ASCII_MARK, _BMP_MARK, _UNIVERSAL_MARK = _RDS_MARKS


def could_be_rds(der: bytes) -> bool:
    """False when ``der`` cannot be an Amazon RDS CA: its bytes never spell "Amazon RDS".

    :attr:`CertInfo.is_rds` needs the organizational unit "Amazon RDS", so a certificate whose
    bytes hold that text in none of the encodings a name may use is not one; checking the bytes
    spares describing every other certificate of a large store.
    """
    # Spelled out rather than any(...) over the marks: a verify asks this of 50,000 entries.
    return _ASCII_MARK in der or _BMP_MARK in der or _UNIVERSAL_MARK in der


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _key_type(cert: x509.Certificate) -> str:
    try:
        key = cert.public_key()
    except DECODE_ERRORS:  # unsupported algorithm: describe, don't fail
        return "unknown"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    return type(key).__name__


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        # X.509 v1 roots (some old CAs) carry no extensions; a self-signed one is a CA. A v3
        # certificate without basicConstraints but allowed to sign certificates (keyUsage
        # keyCertSign) is one too for OpenSSL's check_ca, so it is one here.
        if cert.version is x509.Version.v1:
            return cert.subject == cert.issuer
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            return False
        return usage.key_cert_sign
    return bc.ca


def classify(subject: x509.Name) -> tuple[Generation, str | None]:
    """Return the RDS generation and region (``None`` where it has none) named by a subject."""
    return _classify(
        _attr(subject, NameOID.COMMON_NAME),
        _attr(subject, NameOID.ORGANIZATION_NAME),
        _attr(subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
    )


def _classify(cn: str | None, org: str | None, unit: str | None) -> tuple[Generation, str | None]:
    """:func:`classify` from a subject's first common name, organization and unit."""
    if cn is None or org != _RDS_ORG or unit != _RDS_OU:
        return Generation.UNKNOWN, None
    for pattern, generation in _PATTERNS:
        match = pattern.match(cn)
        if match is None:
            continue
        groups = match.groupdict()
        region = (groups.get("region") or "").strip() or None
        if generation is None:
            generation = _G1[groups["g1"]]
        return generation, region
    return (Generation.LEGACY, None) if cn.startswith("Amazon RDS ") else (Generation.UNKNOWN, None)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60].rstrip("-") or "certificate"


def base_alias(generation: Generation, region: str | None, *, is_root: bool, cn: str | None) -> str:
    """The readable alias for a certificate, before collisions are resolved.

    G1 roots: ``rds-ca-rsa2048-g1-us-east-1``; rds-ca-2019: ``rds-ca-2019-root`` and
    ``rds-ca-2019-eu-west-1``; others: the generation and region plus ``-root`` for a root, or a
    slug of the common name for certificates that are not RDS CAs.
    """
    if generation is Generation.UNKNOWN:
        return _slug(cn or "certificate")
    parts = [generation.value]
    if region:
        parts.append(_slug(region))
    if generation in G1_GENERATIONS:
        return "-".join(parts)
    if is_root:
        parts.append("root")
    return "-".join(parts)


def describe(cert: x509.Certificate, der: bytes | None = None) -> CertInfo:
    """Build the :class:`CertInfo` of a parsed certificate.

    Raises one of :data:`DECODE_ERRORS` when a field needed here cannot be decoded; callers
    translate that into their own error with the file name. Inside :func:`describe_once`, a
    certificate given with its ``der`` bytes is described once per run.
    """
    if der is not None:
        hit, known = cached_description(der)
        if hit and known is not None:
            return known
    info = _describe(cert, der)
    remember_description(info.der, info)
    return info


def _describe(cert: x509.Certificate, der: bytes | None) -> CertInfo:
    with warnings.catch_warnings():
        # cryptography warns on serial number 0 and other oddities of real-world roots
        # (Debian's cacerts has some); they are still certificates to carry and report.
        warnings.simplefilter("ignore")
        raw = der if der is not None else _der_of(cert)
        subject, issuer, cn, generation, region, is_root = _names(cert, raw)
        fingerprint = sha256_hex(raw)
        return CertInfo(
            der=raw,
            sha256=fingerprint,
            subject=subject,
            issuer=issuer,
            common_name=cn,
            generation=generation,
            region=region,
            is_ca=_is_ca(cert),
            is_root=is_root,
            key_type=_key_type(cert),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            alias=base_alias(generation, region, is_root=is_root, cn=cn),
            known=is_known_rds_ca(fingerprint),
            certificate=cert,
        )


def _names(
    cert: x509.Certificate, der: bytes
) -> tuple[str, str, str | None, Generation, str | None, bool]:
    """Subject, issuer, common name, generation, region and whether the certificate is its own
    issuer: read from the DER for plain names (no ``Name`` objects built, most of describing a
    certificate otherwise), from cryptography for anything else; the same answers either way
    (tests/test_speed.py compares them on every certificate it can find)."""
    names = fast_names(der)
    if names is not None:
        issuer, subject = names
        firsts = subject[1]
        cn = firsts.get("CN")
        generation, region = _classify(cn, firsts.get("O"), firsts.get("OU"))
        # Equal parts are equal attributes (escaping is one-to-one), as cryptography compares.
        is_root = subject[0] == issuer[0]
        return rfc4514(subject), rfc4514(issuer), cn, generation, region, is_root
    generation, region = classify(cert.subject)
    return (
        cert.subject.rfc4514_string(),
        cert.issuer.rfc4514_string(),
        _attr(cert.subject, NameOID.COMMON_NAME),
        generation,
        region,
        cert.subject == cert.issuer,
    )


def _der_of(cert: x509.Certificate) -> bytes:
    # Imported here: serialization (and its SSH key code) is needed only for a certificate
    # described without its bytes, which no command does.
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)
