"""``rdstrust split``: a file per distinct certificate, a manifest, idempotent, strict input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from support import BAD_BUNDLES, FIXTURES, REAL_BUNDLE_COUNTS, shared_bundle
from typer.testing import CliRunner

from rdstrust.cli import app

runner = CliRunner()


def split(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["split", *args])
    return result.exit_code, result.stdout, result.stderr


def test_split_fixture_writes_files_and_manifest(tmp_path: Path) -> None:
    code, stdout, stderr = split(
        str(FIXTURES / "bundles" / "mixed.pem"), "--out-dir", str(tmp_path)
    )
    assert code == 0, stderr
    pems = sorted(p.name for p in tmp_path.glob("*.pem"))
    assert len(pems) == 13
    assert "rds-ca-rsa2048-g1-us-east-1.pem" in pems
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    rows = {r["file"]: r for r in manifest["certificates"]}
    assert set(rows) == set(pems)
    row = rows["rds-ca-ecc384-g1-eu-west-1.pem"]
    assert row["generation"] == "rds-ca-ecc384-g1"
    assert row["region"] == "eu-west-1"
    assert row["not_after"].startswith("2121")
    # Each file holds exactly the certificate its manifest row describes.
    for name, row in rows.items():
        (cert,) = x509.load_pem_x509_certificates((tmp_path / name).read_bytes())
        assert cert.subject.rfc4514_string() == row["subject"]
    assert "rds-ca-2019-root.pem" in stdout


def test_split_is_idempotent(tmp_path: Path) -> None:
    bundle = str(FIXTURES / "bundles" / "g1.pem")
    assert split(bundle, "-d", str(tmp_path))[0] == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    code, _, stderr = split(bundle, "-d", str(tmp_path))
    assert code == 0
    assert "0 file(s) written" in stderr
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    assert before == after


def test_split_json(tmp_path: Path) -> None:
    code, stdout, _ = split(str(FIXTURES / "bundles" / "g1.p7b"), "-d", str(tmp_path), "--json")
    assert code == 0
    data = json.loads(stdout)
    assert len(data["files"]) == 9
    assert data["written"] == 10


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "count"), sorted(REAL_BUNDLE_COUNTS.items()))
def test_split_real_bundles(tmp_path: Path, name: str, count: int) -> None:
    code, _, stderr = split(str(shared_bundle(name)), "-d", str(tmp_path))
    assert code == 0, stderr
    assert len(list(tmp_path.glob("*.pem"))) == count


@pytest.mark.realdata
@pytest.mark.parametrize("name", BAD_BUNDLES)
def test_split_refuses_broken_files_and_writes_nothing(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = split(str(shared_bundle(f"bad/{name}")), "-d", str(out))
    assert code == 3
    assert stderr.startswith("rdstrust: error: ")
    assert stderr.count("\n") == 1
    assert "Traceback" not in stderr + stdout
    assert not out.exists()


def test_split_refuses_foreign_then_allows(tmp_path: Path) -> None:
    foreign = str(FIXTURES / "bundles" / "foreign.pem")
    code, _, stderr = split(foreign, "-d", str(tmp_path / "a"))
    assert code == 3 and "--allow-foreign" in stderr
    assert not (tmp_path / "a").exists()
    code, _, _ = split(foreign, "-d", str(tmp_path / "b"), "--allow-foreign")
    assert code == 0
    assert (tmp_path / "b" / "unrelated-test-root-ca.pem").exists()


def test_split_missing_bundle(tmp_path: Path) -> None:
    code, _, stderr = split(str(tmp_path / "missing.pem"), "-d", str(tmp_path / "o"))
    assert code == 3 and "does not exist" in stderr


def test_split_unwritable_out_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, stderr = split(str(FIXTURES / "bundles" / "g1.pem"), "-d", str(blocker / "sub"))
    assert code == 5 and "Cannot create output directory" in stderr


def test_split_of_a_newer_bundle_removes_what_the_old_one_wrote(tmp_path: Path) -> None:
    assert split(str(FIXTURES / "bundles" / "mixed.pem"), "-d", str(tmp_path))[0] == 0
    (tmp_path / "notes.txt").write_text("mine")
    edited = tmp_path / "rds-ca-2019-root.pem"
    edited.write_text(edited.read_text() + "# edited by hand\n")
    code, stdout, stderr = split(
        str(FIXTURES / "bundles" / "g1.pem"), "-d", str(tmp_path), "--json"
    )
    assert code == 0, stderr
    removed = set(json.loads(stdout)["removed"])
    assert removed == {
        "rds-ca-2019-us-east-1.pem",
        "rds-ca-2019-eu-west-1.pem",
        "rds-ca-2019-ap-southeast-2.pem",
    }
    # Files rdstrust did not write, or that were changed since, stay.
    assert (tmp_path / "notes.txt").exists() and edited.exists()
    assert len(list(tmp_path.glob("rds-ca-*-g1-*.pem"))) == 9


def test_split_checks_every_target_before_writing(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").mkdir()
    code, _, stderr = split(str(FIXTURES / "bundles" / "g1.pem"), "-d", str(tmp_path))
    assert code == 5
    assert "manifest.json: it is not a regular file; nothing was written" in stderr
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_split_refuses_devices_and_fifos(tmp_path: Path, special: str) -> None:
    import os

    if special == "fifo":
        special = str(tmp_path / "fifo")
        os.mkfifo(special)
    code, _, stderr = split(special, "-d", str(tmp_path / "out"))
    assert code == 3
    assert "not a regular file" in stderr
    assert not (tmp_path / "out").exists()
