"""rdstrust inspect: every entry listed with its kind, RDS generation, expiry and fingerprint."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import FIXTURES
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.cli import app
from rdstrust.errors import WrongPasswordError
from rdstrust.listing import list_store
from rdstrust.stores import CREATABLE_TYPES, EntryKind, NewCert, StoreType, create_store

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
    listing = list_store(store, PW, now=at)
    assert [e.alias for e in listing.entries] == [c.alias for c in bundle]
    assert [e.sha256 for e in listing.entries] == [c.sha256 for c in bundle]
    assert listing.trusted == listing.rds_cas == 13
    assert listing.expired == 4  # the rds-ca-2019 root and intermediates (2024-08-22)
    by_alias = {e.alias: e for e in listing.entries}
    g1 = by_alias["rds-ca-rsa2048-g1-us-east-1"]
    assert (g1.generation, g1.region, g1.status) == ("rds-ca-rsa2048-g1", "us-east-1", "valid")
    assert all(e.kind is EntryKind.TRUSTED_CERT for e in listing.entries)
    first_end = min(c.not_after for c in bundle if not c.expired(at))
    soon = list_store(store, PW, now=first_end - dt.timedelta(days=10))
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
    locked = runner.invoke(app, ["inspect", str(store)], env={"RDSTRUST_STOREPASS": None})
    assert locked.exit_code == 5 and "password" in locked.output
    missing = runner.invoke(app, ["inspect", str(tmp_path / "nope.jks")])
    assert missing.exit_code == 5 and "does not exist" in missing.output


def test_cli_inspect_refuses_a_device_without_reading_it() -> None:
    result = runner.invoke(app, ["inspect", "/dev/zero"])
    assert result.exit_code == 5, result.output
    assert "/dev/zero is not a regular file" in result.output
