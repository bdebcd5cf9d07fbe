"""rdstrust inspect: every entry listed with its kind, RDS generation, expiry and fingerprint."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from support import FIXTURES
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.cli import app
from rdstrust.errors import WrongPasswordError
from rdstrust.listing import list_store
from rdstrust.stores import (
    CREATABLE_TYPES,
    EntryKind,
    NewCert,
    StoreType,
    create_store,
    pkcs12,
)

PW = "changeit"
runner = CliRunner()


def _store(tmp_path: Path, store_type: StoreType, password: str | None = PW) -> Path:
    path = tmp_path / f"s.{store_type.value}"
    certs = [NewCert.from_info(c) for c in read_bundle(FIXTURES / "bundles" / "mixed.pem")]
    path.write_bytes(create_store(store_type, certs, password=password))
    return path


@pytest.mark.parametrize("store_type", CREATABLE_TYPES)
def test_listing_classifies_and_flags_expiry(tmp_path: Path, store_type: StoreType) -> None:
    store = _store(tmp_path, store_type)
    bundle = read_bundle(FIXTURES / "bundles" / "mixed.pem")
    at = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    listing = list_store(store, PW, at=at)
    assert [e.alias for e in listing.entries] == [c.alias for c in bundle]
    assert [e.sha256 for e in listing.entries] == [c.sha256 for c in bundle]
    assert listing.trusted == listing.rds_cas == 13
    assert listing.expired == 4  # the rds-ca-2019 root and intermediates (2024-08-22)
    by_alias = {e.alias: e for e in listing.entries}
    g1 = by_alias["rds-ca-rsa2048-g1-us-east-1"]
    assert (g1.generation, g1.region, g1.status) == ("rds-ca-rsa2048-g1", "us-east-1", "valid")
    assert all(e.kind is EntryKind.TRUSTED_CERT for e in listing.entries)
    first_end = min(c.not_after for c in bundle if not c.expired(at))
    soon = list_store(store, PW, at=first_end - dt.timedelta(days=10))
    assert soon.expiring > 0


def test_jks_without_password_is_listed_but_flagged(tmp_path: Path) -> None:
    store = _store(tmp_path, StoreType.JKS)
    listing = list_store(store, None)
    assert not listing.integrity_checked and listing.notes
    assert list_store(store, PW).integrity_checked
    with pytest.raises(WrongPasswordError):
        list_store(store, "wrong")


def test_cli_inspect_json_and_errors(tmp_path: Path) -> None:
    store = _store(tmp_path, StoreType.PKCS12)
    result = runner.invoke(app, ["inspect", str(store), "--json"], env={"RDSTRUST_STOREPASS": PW})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["type"] == "pkcs12" and len(data["entries"]) == 13
    assert all(e["java_trusted"] for e in data["entries"])
    human = runner.invoke(app, ["inspect", str(store), "--storepass", PW])
    assert human.exit_code == 0 and "rds-ca-ecc384-g1-us-east-1" in human.stdout
    # rdstrust's PKCS12 keeps certificates unencrypted (issue 11): readable without a password.
    open_ = runner.invoke(app, ["inspect", str(store)], env={"RDSTRUST_STOREPASS": None})
    assert open_.exit_code == 0 and "rds-ca-ecc384-g1-us-east-1" in open_.stdout
    # A store whose certificates are encrypted needs its password.
    encrypted = tmp_path / "encrypted.p12"
    certs = [NewCert.from_info(c) for c in read_bundle(FIXTURES / "bundles" / "mixed.pem")]
    encrypted.write_bytes(pkcs12.create(certs, password=PW, encrypt_certificates=True))
    locked = runner.invoke(app, ["inspect", str(encrypted)], env={"RDSTRUST_STOREPASS": None})
    assert locked.exit_code == 5 and "password" in locked.output
    missing = runner.invoke(app, ["inspect", str(tmp_path / "nope.jks")])
    assert missing.exit_code == 5 and "does not exist" in missing.output


def test_cli_inspect_refuses_a_device_without_reading_it() -> None:
    result = runner.invoke(app, ["inspect", "/dev/zero"])
    assert result.exit_code == 5, result.output
    assert "/dev/zero is not a regular file" in result.output


def test_summary_counts_every_entry_the_table_marks(tmp_path: Path) -> None:
    # A PKCS12 keystore with a private key whose certificate expires in 30 days, plus CAs.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    from cryptography.x509.oid import NameOID

    at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(at - dt.timedelta(days=335))
        .not_valid_after(at + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    store = tmp_path / "app.p12"
    store.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"mykey", key, cert, None, BestAvailableEncryption(PW.encode())
        )
    )
    listing = list_store(store, PW, at=at)
    assert [(e.kind, e.status) for e in listing.entries] == [(EntryKind.PRIVATE_KEY, "expiring")]
    assert listing.expiring == 1 and listing.expired == 0 and listing.trusted == 0
    expired = list_store(store, PW, at=at + dt.timedelta(days=31))
    assert expired.expired == 1 and expired.expiring == 0
    human = runner.invoke(app, ["inspect", str(store), "--storepass", PW])
    assert human.exit_code == 0, human.output
    assert "private-key" in human.stdout and "expiring" in human.stdout  # the table row ...
    assert "0 expired, 1 expiring within 90 days" in human.output  # ... and the summary agree


def test_cli_inspect_does_not_take_a_pem_header_for_an_alias(tmp_path: Path) -> None:
    store = tmp_path / "ca.pem"
    old = FIXTURES / "bundles" / "old-2019.pem"
    store.write_bytes(b"# Corporate trust bundle - do not edit by hand\n" + old.read_bytes())
    result = runner.invoke(app, ["inspect", str(store), "--json"])
    assert result.exit_code == 0, result.output
    aliases = [e["alias"] for e in json.loads(result.stdout)["entries"]]
    assert aliases == [c.alias for c in read_bundle(old)]
    assert "Corporate" not in result.output
