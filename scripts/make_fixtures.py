#!/usr/bin/env python3
"""Generate a FAKE, TEST-ONLY Amazon-RDS-like PKI into ``fixtures/``.

The certificates mimic the subject layout, key algorithms and validity
periods of the real Amazon RDS certificate authorities (the 2019 generation
and the G1 ``RSA2048`` / ``RSA4096`` / ``ECC384`` roots) so that the project's
classifier recognises them as RDS CAs.  None of them is real: every key is
freshly generated and the private keys are written next to the certificates.
Never trust any of these certificates outside the test suite.

Usage::

    python scripts/make_fixtures.py [--out fixtures]

Re-running the script replaces the generated ``bundles/`` and ``chains/``
directories and ``README.md`` inside the output directory.  Keys and serial
numbers are random, so the file *contents* change on every run, but the set
of files and their meaning stay the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    """Return a timezone-aware UTC datetime."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone.utc)


# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

REGIONS: tuple[str, ...] = ("us-east-1", "eu-west-1", "ap-southeast-2")
EXPIRED_REGION = "us-west-2"
RDS_HOST_TEMPLATE = "fixturedb.c9akciq32.{region}.rds.amazonaws.com"

# G1 generation (roots issued 2021-05, subordinates valid until 2060).
G1_ROOT_NOT_BEFORE = utc(2021, 5, 25, 22, 34, 57)
G1_SUB_NOT_BEFORE = utc(2021, 5, 26, 0, 0, 0)
G1_SUB_NOT_AFTER = utc(2060, 5, 25, 0, 0, 0)
G1_LEAF_NOT_BEFORE = utc(2025, 1, 1)
G1_LEAF_NOT_AFTER = utc(2035, 1, 1)
EXPIRED_G1_NOT_AFTER = utc(2023, 1, 1)

# 2019 generation (everything expires 2024-08-22).
RDS2019_ROOT_NOT_BEFORE = utc(2019, 8, 22, 17, 8, 50)
RDS2019_NOT_AFTER = utc(2024, 8, 22, 17, 8, 50)
RDS2019_INTERMEDIATE_NOT_BEFORE = utc(2019, 9, 19, 18, 16, 53)
RDS2019_LEAF_NOT_BEFORE = utc(2022, 1, 1)

# Unrelated (non-Amazon) PKI.
UNRELATED_ROOT_NOT_BEFORE = utc(2024, 1, 1)
UNRELATED_ROOT_NOT_AFTER = utc(2054, 1, 1)
UNRELATED_SUB_NOT_AFTER = utc(2044, 1, 1)
UNRELATED_LEAF_REGION = "us-east-1"

AMAZON_ORG = "Amazon Web Services, Inc."
AMAZON_OU = "Amazon RDS"


def new_rsa2048() -> PrivateKey:
    """Generate a 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_rsa4096() -> PrivateKey:
    """Generate a 4096-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=4096)


def new_p384() -> PrivateKey:
    """Generate a NIST P-384 key."""
    return ec.generate_private_key(ec.SECP384R1())


@dataclass(frozen=True)
class G1Variant:
    """One of the three G1 root flavours."""

    label: str  # as it appears in the CN, e.g. "RSA2048"
    root_not_after: dt.datetime
    new_ca_key: Callable[[], PrivateKey]
    new_leaf_key: Callable[[], PrivateKey]

    @property
    def slug(self) -> str:
        """Lower-case label used in directory names."""
        return self.label.lower()


G1_VARIANTS: tuple[G1Variant, ...] = (
    G1Variant("RSA2048", utc(2061, 5, 25, 23, 34, 57), new_rsa2048, new_rsa2048),
    G1Variant("RSA4096", utc(2121, 5, 25, 23, 32, 57), new_rsa4096, new_rsa2048),
    G1Variant("ECC384", utc(2121, 5, 25, 23, 39, 15), new_p384, new_p384),
)
ECC384 = G1_VARIANTS[2]


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------


def g1_name(common_name: str) -> x509.Name:
    """G1-style subject; attribute order C, O, OU, ST, CN, L like the real CAs."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, AMAZON_ORG),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, AMAZON_OU),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle"),
        ]
    )


def rds2019_name(common_name: str) -> x509.Name:
    """2019-style subject.

    Encoded as C, L, ST, O, OU, CN like the real 2019 CAs, so its RFC 4514
    form reads
    ``CN=...,OU=Amazon RDS,O=Amazon Web Services\\, Inc.,ST=Washington,L=Seattle,C=US``.
    """
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, AMAZON_ORG),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, AMAZON_OU),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def unrelated_name(common_name: str) -> x509.Name:
    """Subject for the unrelated (non-Amazon) test PKI."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def rds_host(region: str) -> str:
    """RDS-style endpoint host name for ``region``."""
    return RDS_HOST_TEMPLATE.format(region=region)


# --------------------------------------------------------------------------
# Certificate construction
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A certificate together with its private key."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def common_name(self) -> str:
        """The subject CN as a string."""
        value = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        return value if isinstance(value, str) else value.decode()


def signature_hash(key: PrivateKey) -> hashes.HashAlgorithm:
    """Hash matching the signer's strength (RSA2048/P-256: SHA-256, else SHA-384)."""
    size = key.key_size if isinstance(key, rsa.RSAPrivateKey) else key.curve.key_size
    small = 2048 if isinstance(key, rsa.RSAPrivateKey) else 256
    return hashes.SHA256() if size <= small else hashes.SHA384()


def random_serial() -> int:
    """Random positive 63-bit serial number."""
    return secrets.randbelow(2**63 - 1) + 1


def ca_key_usage() -> x509.KeyUsage:
    """keyCertSign + cRLSign."""
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def leaf_key_usage(key: PrivateKey) -> x509.KeyUsage:
    """digitalSignature (+ keyEncipherment for RSA)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def sign(
    *,
    subject: x509.Name,
    key: PrivateKey,
    issuer: Issued | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
) -> Issued:
    """Build and sign a certificate; ``issuer=None`` means self-signed.

    SKI and AKI are always added.
    """
    signer_key = key if issuer is None else issuer.key
    issuer_name = subject if issuer is None else issuer.cert.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    ).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
        critical=False,
    )
    cert = builder.sign(signer_key, signature_hash(signer_key))
    return Issued(cert=cert, key=key)


def make_root(
    subject: x509.Name,
    key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> Issued:
    """Self-signed root CA (no path length limit)."""
    return sign(
        subject=subject,
        key=key,
        issuer=None,
        not_before=not_before,
        not_after=not_after,
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (ca_key_usage(), True),
        ],
    )


def make_intermediate(
    subject: x509.Name,
    key: PrivateKey,
    issuer: Issued,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> Issued:
    """Intermediate CA with pathlen 0 issued by ``issuer``."""
    return sign(
        subject=subject,
        key=key,
        issuer=issuer,
        not_before=not_before,
        not_after=not_after,
        extensions=[
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (ca_key_usage(), True),
        ],
    )


def make_leaf(
    region: str,
    key: PrivateKey,
    issuer: Issued,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> Issued:
    """TLS server certificate for the RDS-style host of ``region``."""
    host = rds_host(region)
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName(host),
        ]
    )
    return sign(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]),
        key=key,
        issuer=issuer,
        not_before=not_before,
        not_after=not_after,
        extensions=[
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (leaf_key_usage(key), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (san, False),
        ],
    )


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def pem(*certs: x509.Certificate) -> bytes:
    """Concatenated PEM encoding of ``certs``."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM encoding of ``key``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class FixtureWriter:
    """Writes files below ``root`` and remembers a description of each."""

    root: Path
    manifest: list[tuple[str, str]] = field(default_factory=list)

    def write(self, relpath: str, data: bytes, description: str) -> None:
        """Write ``data`` to ``root/relpath`` and record ``description``."""
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.manifest.append((relpath, description))


def write_chain(
    out: FixtureWriter,
    name: str,
    leaf: Issued,
    intermediate: Issued,
    root: Issued,
) -> None:
    """Write the server chain files for one chain into ``chains/<name>/``."""
    base = f"chains/{name}"
    chain = pem(leaf.cert, intermediate.cert)
    out.write(f"{base}/leaf.pem", pem(leaf.cert), f"leaf `{leaf.common_name}`")
    out.write(f"{base}/leaf.key", key_pem(leaf.key), "leaf private key (PKCS#8)")
    out.write(
        f"{base}/intermediate.pem",
        pem(intermediate.cert),
        f"intermediate `{intermediate.common_name}`",
    )
    out.write(f"{base}/chain.pem", chain, "leaf + intermediate (what a server sends)")
    out.write(f"{base}/root.pem", pem(root.cert), f"root `{root.common_name}`")
    out.write(f"{base}/server.pem", chain, "same as chain.pem")


def clean(out_dir: Path) -> None:
    """Remove previously generated content (only what this script creates)."""
    for sub in ("bundles", "chains"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    (out_dir / "README.md").unlink(missing_ok=True)


README_HEADER = """\
# Test fixtures: FAKE Amazon-RDS-like PKI

**TEST-ONLY.** Every certificate and private key in this directory is fake,
freshly generated by `scripts/make_fixtures.py`, and must never be trusted
anywhere outside this project's tests. The private keys are published here on
purpose. The subjects imitate the real Amazon RDS CAs (2019 generation and
G1 RSA2048 / RSA4096 / ECC384) only so that the classifier treats them as RDS
CAs.

Regenerate (replaces `bundles/`, `chains/` and this README; keys and serial
numbers change on every run):

    python scripts/make_fixtures.py [--out fixtures]

Leaf certificates carry SANs `DNS:localhost`, `IP:127.0.0.1` and
`DNS:fixturedb.c9akciq32.<region>.rds.amazonaws.com` (also the subject CN).
The 2019 generation expired on 2024-08-22; verify it with
`openssl verify -attime <2023 timestamp>`.

## Files
"""


def write_readme(out: FixtureWriter) -> None:
    """Write README.md listing every generated file."""
    lines = [README_HEADER]
    current_dir = ""
    for relpath, description in out.manifest:
        directory = relpath.rsplit("/", 1)[0]
        if directory != current_dir:
            lines.append(f"\n### `{directory}/`\n\n")
            current_dir = directory
        lines.append(f"- `{relpath}`: {description}\n")
    (out.root / "README.md").write_text("".join(lines), encoding="utf-8")


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------


def generate_g1(out: FixtureWriter) -> list[Issued]:
    """G1 roots plus one subordinate + leaf chain per root; returns the roots."""
    roots: list[Issued] = []
    for variant in G1_VARIANTS:
        for region in REGIONS:
            root = make_root(
                g1_name(f"Amazon RDS {region} Root CA {variant.label} G1"),
                variant.new_ca_key(),
                G1_ROOT_NOT_BEFORE,
                variant.root_not_after,
            )
            sub = make_intermediate(
                g1_name(f"Amazon RDS {region} Subordinate CA {variant.label} G1.A.1"),
                variant.new_ca_key(),
                root,
                G1_SUB_NOT_BEFORE,
                G1_SUB_NOT_AFTER,
            )
            leaf = make_leaf(
                region,
                variant.new_leaf_key(),
                sub,
                G1_LEAF_NOT_BEFORE,
                G1_LEAF_NOT_AFTER,
            )
            write_chain(out, f"{variant.slug}-g1-{region}", leaf, sub, root)
            roots.append(root)
            if variant.label == "RSA2048" and region == "us-east-1":
                out.write(
                    "bundles/leaf-only.pem",
                    pem(leaf.cert),
                    "a single non-CA leaf (from `chains/rsa2048-g1-us-east-1`)",
                )
    return roots


def generate_2019(out: FixtureWriter) -> list[Issued]:
    """2019 root, regional intermediates and leaf chains; returns root + CAs."""
    root = make_root(
        rds2019_name("Amazon RDS Root 2019 CA"),
        new_rsa2048(),
        RDS2019_ROOT_NOT_BEFORE,
        RDS2019_NOT_AFTER,
    )
    cas = [root]
    for region in REGIONS:
        intermediate = make_intermediate(
            rds2019_name(f"Amazon RDS {region} 2019 CA"),
            new_rsa2048(),
            root,
            RDS2019_INTERMEDIATE_NOT_BEFORE,
            RDS2019_NOT_AFTER,
        )
        leaf = make_leaf(
            region,
            new_rsa2048(),
            intermediate,
            RDS2019_LEAF_NOT_BEFORE,
            RDS2019_NOT_AFTER,
        )
        write_chain(out, f"2019-{region}", leaf, intermediate, root)
        cas.append(intermediate)
    return cas


def generate_unrelated(out: FixtureWriter) -> None:
    """A non-Amazon CA with intermediate and leaf, plus its root bundle."""
    root = make_root(
        unrelated_name("Unrelated Test Root CA"),
        new_rsa2048(),
        UNRELATED_ROOT_NOT_BEFORE,
        UNRELATED_ROOT_NOT_AFTER,
    )
    sub = make_intermediate(
        unrelated_name("Unrelated Test Intermediate CA"),
        new_rsa2048(),
        root,
        UNRELATED_ROOT_NOT_BEFORE,
        UNRELATED_SUB_NOT_AFTER,
    )
    leaf = make_leaf(
        UNRELATED_LEAF_REGION, new_rsa2048(), sub, G1_LEAF_NOT_BEFORE, G1_LEAF_NOT_AFTER
    )
    write_chain(out, "unrelated", leaf, sub, root)
    out.write(
        "bundles/foreign.pem",
        pem(root.cert),
        "valid CA that is not an Amazon RDS CA (`Unrelated Test Root CA`)",
    )


def generate_expired(out: FixtureWriter) -> None:
    """G1-style ECC384 root for us-west-2 that expired on 2023-01-01."""
    root = make_root(
        g1_name(f"Amazon RDS {EXPIRED_REGION} Root CA {ECC384.label} G1"),
        ECC384.new_ca_key(),
        G1_ROOT_NOT_BEFORE,
        EXPIRED_G1_NOT_AFTER,
    )
    out.write(
        "bundles/expired-g1.pem",
        pem(root.cert),
        f"G1-style ECC384 root for {EXPIRED_REGION}, expired 2023-01-01",
    )


def generate(out_dir: Path) -> FixtureWriter:
    """Generate every fixture below ``out_dir``."""
    clean(out_dir)
    out = FixtureWriter(out_dir)

    g1_roots = generate_g1(out)
    old_cas = generate_2019(out)
    generate_unrelated(out)
    generate_expired(out)

    g1_certs = [r.cert for r in g1_roots]
    g1_pem = pem(*g1_certs)
    old_pem = pem(*(c.cert for c in old_cas))
    annotated = b"".join(f"{r.common_name}\n".encode() + pem(r.cert) for r in g1_roots)
    out.write("bundles/g1.pem", g1_pem, "the 9 G1 roots, pure PEM")
    out.write(
        "bundles/g1-annotated.pem",
        annotated,
        "the 9 G1 roots, each preceded by a plain-text line with its CN",
    )
    out.write(
        "bundles/old-2019.pem",
        old_pem,
        "2019 root + 3 regional 2019 intermediates (all expired 2024-08-22)",
    )
    out.write(
        "bundles/mixed.pem",
        old_pem + g1_pem,
        "old-2019.pem followed by g1.pem (13 certificates)",
    )
    out.write(
        "bundles/g1.p7b",
        pkcs7.serialize_certificates(g1_certs, serialization.Encoding.DER),
        "the 9 G1 roots as DER PKCS#7 (certs-only)",
    )
    out.write(
        "bundles/g1.p7b.pem",
        pkcs7.serialize_certificates(g1_certs, serialization.Encoding.PEM),
        "the 9 G1 roots as PEM PKCS#7 (certs-only)",
    )

    out.manifest.sort(key=lambda item: (not item[0].startswith("bundles/"), item[0]))
    write_readme(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("fixtures"),
        help="output directory (default: fixtures)",
    )
    args = parser.parse_args(argv)
    out = generate(args.out)
    print(f"wrote {len(out.manifest) + 1} files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
