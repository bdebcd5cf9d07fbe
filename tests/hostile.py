"""Hostile certificates for tests: subjects with newlines, PEM blocks and terminal escapes.

Everything is built with cryptography at test time (no fixture files), so each test shows the
exact bytes an attacker would choose.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.timezone.utc)

#: Every class of character a terminal acts on: CSI clear screen, an OSC 8 hyperlink, BEL, CR
#: (overwrite the line), other C0 controls, DEL, the C1 CSI U+009B, and bidi override/isolate.
TERMINAL_ATTACK = (
    "\x1b[2J\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07\x07"
    "\rOVERWRITE\x08\x0b\x7f\u009b31m\u202eevil\u202c\u2066x\u2069\u200f\u061c"
)
#: The characters that must never appear raw in human output or JSON.
RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x08", "\x0b", "\x7f", "\u009b", "\u202e", "\u2066")


@dataclass(frozen=True)
class Issued:
    """A certificate with its key."""

    cert: x509.Certificate
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _build(
    subject: x509.Name,
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    issuer: Issued | None = None,
    *,
    ca: bool = True,
    names: tuple[str, ...] = (),
) -> Issued:
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer, algorithm), key)


def ca(common_name: str, *extra: x509.NameAttribute) -> Issued:
    """A self-signed EC CA named ``common_name`` (plus ``extra`` attributes, first)."""
    name = x509.Name([*extra, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return _build(name, ec.generate_private_key(ec.SECP256R1()))


def rds_named_ca(common_name: str, *extra: x509.NameAttribute) -> Issued:
    """A self-made CA named like an Amazon RDS CA (O and OU as AWS writes them)."""
    name = x509.Name(
        [
            *extra,
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon Web Services, Inc."),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Amazon RDS"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    return _build(name, ec.generate_private_key(ec.SECP256R1()))


def leaf(issuer: Issued, host: str = "localhost") -> Issued:
    """A server certificate for ``host`` issued by ``issuer``."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    return _build(name, ec.generate_private_key(ec.SECP256R1()), issuer, ca=False, names=(host,))


def hidden_root() -> Issued:
    """A small Ed25519 root whose base64 holds no '+'.

    RFC 4514 escapes '+' as '\\+', which OpenSSL's base64 decoder refuses; an attacker simply
    makes certificates until one encodes without it (about one in 500 for this size).
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "h")])
    for _ in range(20000):
        root = _build(name, ed25519.Ed25519PrivateKey.generate())
        if b"+" not in base64.b64encode(root.der):
            return root
    raise AssertionError("no '+'-free root found")


def smuggler(hidden: Issued, *, label: str = "X509 CERTIFICATE", rds: bool = True) -> Issued:
    """A CA whose subject carries ``hidden`` as a complete PEM block labelled ``label``.

    The payload is the subject's first attribute, so RFC 4514 (which lists attributes in
    reverse) prints it last: a PEM comment line written from it ends with the planted block.
    """
    body = base64.b64encode(hidden.der).decode("ascii")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    payload = f"x\n-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n#"
    attribute = x509.NameAttribute(NameOID.LOCALITY_NAME, payload)
    if rds:
        return rds_named_ca("Amazon RDS Hostile Root CA", attribute)
    return ca("Hostile Root CA", attribute)
