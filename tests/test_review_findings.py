"""Defects an attack review of the redesign found, each pinned by a test that failed before."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support import FIXTURES
from typer.testing import CliRunner

from rdstrust.bundle import parse_bundle
from rdstrust.cli import app
from rdstrust.known_cas import UnknownRdsCaError, accepting_unknown_rds
from rdstrust.passwords import read_password_file

runner = CliRunner()


def _v99(tmp_path: Path) -> Path:
    """The fixture's foreign CA with its X.509 version field set to 99 (OpenSSL parses it)."""
    pem = (FIXTURES / "bundles" / "foreign.pem").read_text()
    der = base64.b64decode("".join(x for x in pem.splitlines() if not x.startswith("-----")))
    at = der.find(bytes.fromhex("a003020102"))
    bad = der[:at] + bytes.fromhex("a003020163") + der[at + 5 :]
    body = base64.encodebytes(bad).decode()
    path = tmp_path / "v99.pem"
    path.write_text(f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n")
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["merge", "-b", "{v99}", "-s", "{out}", "--allow-foreign"],
        ["split", "{v99}", "-d", "{out}", "--allow-foreign"],
        ["fetch", "--source", "{v99}", "-o", "{out}", "--allow-foreign"],
    ],
)
def test_an_invalid_x509_version_is_one_sentence_not_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    values = {"v99": str(_v99(tmp_path)), "out": str(tmp_path / "out")}
    result = runner.invoke(app, [part.format(**values) for part in command])
    assert result.exit_code == 3, result.output
    assert "not a valid X509 version" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def _rds_named_without_basic_constraints() -> bytes:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon Web Services, Inc."),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Amazon RDS"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Amazon RDS us-east-1 Root CA ECC384 G1"),
        ]
    )
    now = dt.datetime.now(dt.timezone.utc)
    usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA384())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_an_unpublished_rds_named_certificate_needs_the_opt_in_even_without_basic_constraints() -> (
    None
):
    """OpenSSL takes a keyCertSign certificate without basicConstraints as a CA (and Java never
    checks an anchor's): --allow-foreign alone must not let an unpublished "Amazon RDS" one in."""
    data = _rds_named_without_basic_constraints()
    with accepting_unknown_rds(enabled=False), pytest.raises(UnknownRdsCaError):
        parse_bundle(data, source="nobc.pem", allow_foreign=True)
    with accepting_unknown_rds(enabled=False):
        taken = parse_bundle(data, source="nobc.pem", allow_foreign=True, accept_unknown_rds=True)
    (cert,) = taken.certificates
    assert cert.is_ca  # keyCertSign without basicConstraints counts as a CA, as for OpenSSL


def test_a_password_file_is_cut_only_at_a_newline(tmp_path: Path) -> None:
    """str.splitlines() also splits at \\x1c, \\x85, U+2028...: a store got a shorter password."""
    secret = tmp_path / "pw"
    secret.write_bytes(b"abc\x1cSECRET\xc2\x85def\r\nignored\n")
    assert read_password_file(secret) == "abc\x1cSECRET\x85def"


@pytest.mark.parametrize(
    ("layout", "libssl_count"),
    [("bom-after-end", 2), ("bom-at-start", 1), ("bom-after-text", 1)],
)
def test_a_byte_order_mark_is_read_as_openssl_reads_it(
    tmp_path: Path, layout: str, libssl_count: int
) -> None:
    """OpenSSL drops a UTF-8 BOM from the first line of each PEM read (the file's start, or the
    line after an END): a CA hidden behind one was trusted by libpq but not seen by rdstrust.
    The count is checked against libssl itself (Python's ssl module loads the file as libpq)."""
    import ssl

    from rdstrust.stores import read_store

    root = (FIXTURES / "chains" / "rsa2048-g1-us-east-1" / "root.pem").read_bytes()
    other = (FIXTURES / "bundles" / "foreign.pem").read_bytes()
    bom = b"\xef\xbb\xbf"
    data = {
        "bom-after-end": root + bom + other,
        "bom-at-start": bom + root,
        "bom-after-text": root + b"text\n" + bom + other,
    }[layout]
    store = tmp_path / "store.pem"
    store.write_bytes(data)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(store))
    assert len(context.get_ca_certs()) == libssl_count
    assert len(read_store(store, None).trusted()) == libssl_count
