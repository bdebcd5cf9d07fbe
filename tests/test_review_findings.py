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
from rdstrust.stores import StoreType

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


def test_a_store_that_needs_a_password_is_asked_for_it(tmp_path: Path) -> None:
    """With no password given, the runner asks (the CLI asks on a terminal) once the store says
    it needs one; before, no store ever said so and the prompt was never reached."""
    from rdstrust.listing import list_store
    from rdstrust.runner import Passwords, run_stores
    from rdstrust.stores import NewCert, pkcs12
    from rdstrust.storespec import StoreSpec

    bundle = parse_bundle((FIXTURES / "bundles" / "g1.pem").read_bytes(), source="g1")
    first = [NewCert.from_info(c) for c in bundle][:3]
    store = tmp_path / "locked.p12"
    store.write_bytes(pkcs12.create(first, password="s3cret", encrypt_certificates=True))
    asked: list[Path] = []

    def prompt(path: Path) -> str:
        asked.append(path)
        return "s3cret"

    def job(spec: StoreSpec, password: str | None) -> int:
        return len(list_store(spec.path, password).entries)

    specs = [StoreSpec(store)]
    (outcome,) = run_stores(specs, job, Passwords(prompt=prompt))
    assert outcome.result == 3 and asked == [store]
    # Control: nobody to ask, so the store fails with its one sentence (exit 5).
    (failed,) = run_stores(specs, job, Passwords())
    assert failed.failure is not None and failed.failure.exit_code == 5


def test_a_pem_store_has_the_same_entry_bound_as_jks_and_pkcs12(tmp_path: Path) -> None:
    """100,001 tiny certificate blocks are refused before any is decoded (a 64 MiB store of
    tiny certificates took minutes and gigabytes before)."""
    import time

    from rdstrust.errors import StoreError
    from rdstrust.stores import read_store
    from rdstrust.stores.jks import MAX_ENTRIES

    block = b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"
    store = tmp_path / "many.pem"
    store.write_bytes(block * (MAX_ENTRIES + 1))
    started = time.monotonic()
    with pytest.raises(StoreError, match="more than any trust store has"):
        read_store(store, None)
    assert time.monotonic() - started < 30


def test_a_keystore_with_two_entries_of_one_alias_is_refused(tmp_path: Path) -> None:
    """Java keys entries by lower-cased alias (the last wins): a JKS holding the RDS root and
    then a foreign certificate under one alias looked trusted to rdstrust, not to the JVM."""
    import dataclasses

    from rdstrust.bundle import read_bundle
    from rdstrust.errors import StoreError
    from rdstrust.stores import NewCert, create_store, read_store

    rds = read_bundle(FIXTURES / "bundles" / "g1.pem").certificates[0]
    foreign = parse_bundle(
        (FIXTURES / "bundles" / "foreign.pem").read_bytes(), source="f", allow_foreign=True
    ).certificates[0]
    twins = [
        dataclasses.replace(NewCert.from_info(rds), alias="rds-ca"),
        dataclasses.replace(NewCert.from_info(foreign), alias="RDS-CA"),
    ]
    store = tmp_path / "dup.jks"
    store.write_bytes(create_store(StoreType.JKS, twins, password="changeit"))
    with pytest.raises(StoreError, match="two different entries named 'RDS-CA'"):
        read_store(store, "changeit")
    # Control: the same two certificates under two aliases are read as two entries.
    twins[1] = dataclasses.replace(twins[1], alias="other")
    store.write_bytes(create_store(StoreType.JKS, twins, password="changeit"))
    assert len(read_store(store, "changeit").entries) == 2
