"""Chains built on the fly for host name and path-profile cases (root, intermediate, leaf).

Each leaf is made from a :class:`LeafSpec`: which subjectAltName entries, which CN, with or without
an AuthorityKeyIdentifier. EC P-256 keys keep generation fast. ``Built.write`` puts the files
where a server (tests/pgserver.py) or a client needs them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOT_BEFORE = datetime(2025, 1, 1, tzinfo=timezone.utc)
NOT_AFTER = datetime(2045, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class LeafSpec:
    """What the server certificate says about its names."""

    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    cn: str | None = None
    aki: bool = True
    #: Extra critical extension OpenSSL does not know (it refuses the chain).
    unknown_critical: bool = False


@dataclass(frozen=True)
class Built:
    """A generated chain: PEM of the root, of leaf + intermediate, and the leaf's key."""

    root_pem: bytes
    chain_pem: bytes
    key_pem: bytes = field(repr=False)

    def write(self, directory: Path) -> tuple[Path, Path, Path]:
        """Write root.pem, server.pem (leaf + intermediate) and leaf.key; return their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        root, server, key = directory / "root.pem", directory / "server.pem", directory / "leaf.key"
        root.write_bytes(self.root_pem)
        server.write_bytes(self.chain_pem)
        key.write_bytes(self.key_pem)
        return root, server, key


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rdstrust tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ca(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer if issuer else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


@lru_cache(maxsize=4)
def _cas(label: str) -> tuple[x509.Certificate, x509.Certificate, ec.EllipticCurvePrivateKey]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _ca(f"{label} Root CA", root_key, None)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = _ca(f"{label} Intermediate CA", inter_key, (root.subject, root_key))
    return root, inter, inter_key


def build(spec: LeafSpec, *, label: str = "Names Test") -> Built:
    """A chain whose leaf follows ``spec``, under the (cached) CAs named after ``label``."""
    root, inter, inter_key = _cas(label)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = (
        _name(spec.cn)
        if spec.cn is not None
        else x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rdstrust tests")])
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(inter.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in spec.ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if spec.aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()),
            critical=False,
        )
    if spec.unknown_critical:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
            critical=True,
        )
    leaf = builder.sign(inter_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    return Built(
        root_pem=root.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + inter.public_bytes(pem),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
