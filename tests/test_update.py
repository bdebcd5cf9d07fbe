"""``rdstrust update`` end to end on the fixtures: adds, then is a no-op, and ``--check`` gates."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from support import FIXTURES, missing, require_tool, shared_bundle
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.cli import app
from rdstrust.errors import UsageError
from rdstrust.options import VerifyOptions
from rdstrust.update import UpdateOptions, update_stores

G1 = FIXTURES / "bundles" / "g1.pem"
OLD = FIXTURES / "bundles" / "old-2019.pem"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Never read or write the user's cache, and never reach the network.
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RDSTRUST_STOREPASS", "changeit")


def update(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["update", *args])
    return result.exit_code, result.stdout, result.stderr


def keytool_trusted(store: Path, password: str = "changeit") -> int:
    keytool = require_tool("keytool")
    listing = subprocess.run(
        [keytool, "-list", "-keystore", str(store), "-storepass", password],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return listing.count("trustedCertEntry")


def snapshot(*paths: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def test_first_run_adds_second_run_is_a_no_op(tmp_path: Path) -> None:
    jks, p12, pem = tmp_path / "trust.jks", tmp_path / "trust.p12", tmp_path / "ca.pem"
    args = ["--source", str(G1), "-s", str(jks), "-s", str(p12), "-s", str(pem), "--json"]
    code, stdout, stderr = update(*args, "--create")
    assert code == 0, stderr
    data = json.loads(stdout)
    assert [s["status"] for s in data["stores"]] == ["created"] * 3
    assert [s["exit_code"] for s in data["stores"]] == [0] * 3
    assert all(len(s["merge"]["added"]) == 9 for s in data["stores"])
    assert all(s["verify"]["passed"] for s in data["stores"])
    assert keytool_trusted(jks) == 9
    assert keytool_trusted(p12) == 9
    assert pem.read_text().count("BEGIN CERTIFICATE") == 9

    before = snapshot(jks, p12, pem)
    code, stdout, stderr = update(*args)
    assert code == 0, stderr
    assert [s["status"] for s in json.loads(stdout)["stores"]] == ["up-to-date"] * 3
    assert snapshot(jks, p12, pem) == before
    assert not list(tmp_path.glob("*.bak"))


def test_human_output_names_client_settings(tmp_path: Path) -> None:
    jks, pem = tmp_path / "trust.jks", tmp_path / "ca.pem"
    code, stdout, _ = update(
        "--source",
        str(G1),
        "-s",
        str(jks),
        "-s",
        str(pem),
        "--storepass-env",
        "RDSTRUST_STOREPASS",
        "--create",
    )
    assert code == 0
    assert f"-Djavax.net.ssl.trustStore={jks}" in stdout
    assert "-Djavax.net.ssl.trustStorePassword=$RDSTRUST_STOREPASS" in stdout
    assert "sslfactory=org.postgresql.ssl.DefaultJavaSSLFactory" in stdout
    assert f"sslmode=verify-full sslrootcert={pem}" in stdout
    assert "changeit" not in stdout  # the password itself is never printed


def test_check_gates_and_writes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "trust.jks"
    # A store with only the old generation: what a client had before the rotation.
    merged = runner.invoke(app, ["merge", "-b", str(OLD), "-s", str(store)])
    assert merged.exit_code == 0, merged.stderr
    before = snapshot(store)
    code, stdout, stderr = update("--check", "--source", str(G1), "-s", str(store))
    assert code == 1, stderr
    assert "out-of-date" in stdout and "missing 9 of 9" in stdout
    assert snapshot(store) == before
    # Update for real, then the same gate passes.
    assert update("--source", str(G1), "-s", str(store))[0] == 0
    code, stdout, _ = update("--check", "--source", str(G1), "-s", str(store))
    assert code == 0
    assert "up-to-date" in stdout
    assert keytool_trusted(store) == 13  # the old CAs are kept next to the new ones


def test_check_on_a_missing_store_fails_without_creating_it(tmp_path: Path) -> None:
    store = tmp_path / "absent.p12"
    code, _, stderr = update("--check", "--source", str(G1), "-s", str(store))
    assert code == 5 and "does not exist" in stderr and "--create" in stderr
    assert not store.exists()
    # With --create the check says the store would have to be created: out of date.
    code, stdout, _ = update("--check", "--create", "--source", str(G1), "-s", str(store), "--json")
    assert code == 1
    (item,) = json.loads(stdout)["stores"]
    assert (item["status"], item["exit_code"]) == ("out-of-date", 1)
    assert not store.exists()


def test_a_mistyped_store_is_an_error_and_the_others_are_updated(tmp_path: Path) -> None:
    """``update -s ap.jks`` when the file is app.jks: an error naming the path, not a new file."""
    real = tmp_path / "app.jks"
    pem = tmp_path / "ca.pem"
    assert update("--source", str(G1), "-s", str(real), "-s", str(pem), "--create")[0] == 0
    typo = tmp_path / "ap.jks"
    code, stdout, stderr = update("--source", str(G1), "-s", str(typo), "-s", str(real), "--json")
    assert code == 5
    assert f"{typo} does not exist" in stderr and "--create" in stderr
    assert not typo.exists()
    stores = json.loads(stdout)["stores"]
    assert [(s["status"], s["exit_code"]) for s in stores] == [("failed", 5), ("up-to-date", 0)]


def test_check_json_carries_each_stores_real_exit_code(tmp_path: Path) -> None:
    old, new = tmp_path / "old.jks", tmp_path / "new.jks"
    assert runner.invoke(app, ["merge", "-b", str(OLD), "-s", str(old)]).exit_code == 0
    assert update("--source", str(G1), "-s", str(new), "--create")[0] == 0
    code, stdout, _ = update(
        "--check", "--source", str(G1), "-s", str(new), "-s", str(old), "--json"
    )
    assert code == 1
    stores = json.loads(stdout)["stores"]
    assert [(s["status"], s["exit_code"]) for s in stores] == [
        ("up-to-date", 0),
        ("out-of-date", 1),
    ]


def test_one_bad_store_does_not_stop_the_others(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.pem", tmp_path / "bad.jks"
    bad.write_bytes(b"\xfe\xed\xfe\xed" + b"\x00" * 40)  # JKS magic, then garbage
    before = bad.read_bytes()
    code, stdout, stderr = update("--source", str(G1), "-s", str(bad), "-s", str(good), "--create")
    assert code == 5
    assert "failed" in stdout and "Traceback" not in stdout + stderr
    assert bad.read_bytes() == before
    assert good.read_text().count("BEGIN CERTIFICATE") == 9


def test_wrong_password_fails_and_leaves_store(tmp_path: Path) -> None:
    store = tmp_path / "trust.jks"
    assert update("--source", str(G1), "-s", str(store), "--create")[0] == 0
    before = snapshot(store)
    code, stdout, stderr = update("--source", str(G1), "-s", str(store), "--storepass", "wrong")
    assert code == 5
    assert snapshot(store) == before
    # The failure is on stderr (where a pipeline looks), once, naming the store; the report on
    # stdout keeps it too.
    errors = [line for line in stderr.splitlines() if line.startswith("rdstrust: error: ")]
    assert len(errors) == 1 and str(store) in errors[0] and "password" in errors[0].lower()
    assert f"{store}: failed" in stdout


def test_each_failed_store_is_named_on_stderr(tmp_path: Path) -> None:
    good, bad, folder = tmp_path / "good.pem", tmp_path / "bad.jks", tmp_path / "folder"
    bad.write_bytes(b"\xfe\xed\xfe\xed" + b"\x00" * 40)
    folder.mkdir()
    code, _, stderr = update(
        "--source", str(G1), "-s", str(bad), "-s", str(good), "-s", str(folder), "--create"
    )
    assert code == 5
    errors = [line for line in stderr.splitlines() if line.startswith("rdstrust: error: ")]
    assert len(errors) == 2
    assert str(bad) in errors[0] and str(folder) in errors[1]
    assert "Traceback" not in stderr
    # Control: the good store was updated and is not reported as an error.
    assert not any(str(good) in e for e in errors)
    assert good.read_text().count("BEGIN CERTIFICATE") == 9


def test_region_narrows_the_required_cas(tmp_path: Path) -> None:
    # A store holding only us-east-1's G1 CAs (a PEM store, written by hand).
    east = [c for c in read_bundle(G1) if c.region == "us-east-1"]
    store = tmp_path / "east.pem"
    store.write_bytes(b"".join(c.pem() for c in east))
    before = snapshot(store)
    # With --region us-east-1 the --source bundle is narrowed to that region: nothing missing.
    code, stdout, stderr = update(
        "--check", "--source", str(G1), "-s", str(store), "--region", "us-east-1"
    )
    assert code == 0, stdout + stderr
    assert "up-to-date" in stdout and "(3/3 required CAs)" in stdout
    # Control: without --region every region's G1 CAs are required, and six are missing.
    code, stdout, _ = update("--check", "--source", str(G1), "-s", str(store))
    assert code == 1 and "missing 6 of 9" in stdout
    assert snapshot(store) == before


def test_bad_option_values_fail_before_anything_is_written(tmp_path: Path) -> None:
    store = tmp_path / "x.pem"
    for args in (
        ["--warn-days", "99999999999"],
        ["--warn-days", "-5"],
        ["--timeout", "0"],
        ["--store-type", "bogus"],
        ["--pkcs12-profile", "bogus"],
    ):
        result = runner.invoke(app, ["update", "--source", str(G1), "-s", str(store), *args])
        assert result.exit_code == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and "Value error" not in result.stderr
        assert f"Invalid value for '{args[0]}'" in result.stderr
        assert not store.exists(), args
    # The library refuses the same before touching a store.
    with pytest.raises(UsageError):
        update_stores(read_bundle(G1), [store], UpdateOptions(verify=VerifyOptions(warn_days=-1)))
    assert not store.exists()


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--source", "missing.pem"], 3, "does not exist"),
        (["--source", str(FIXTURES / "bundles" / "foreign.pem")], 3, "--allow-foreign"),
        (["--source", str(G1), "--require", "rds-ca-2030"], 2, "Unknown CA generation"),
        (["--source", str(OLD)], 3, "holds no CA certificate of rds-ca-rsa2048-g1"),
        (["--url", "http://example.invalid/b.pem"], 2, "https"),
        (["--source", str(G1), "--jvm"], 2, "--jvm needs --chain"),
        (["--source", str(G1), "--storepass-env", "NO_SUCH_VAR_X"], 2, "NO_SUCH_VAR_X"),
        (["--source", str(G1), "--server-name", "db"], 2, "--server-name needs --chain"),
        (["--source", str(G1), "--region", "mars-1"], 2, "not a region code"),
        (["--source", str(G1), "--region", "us-west-2"], 3, "for region us-west-2"),
        (["--source", str(G1), "--region", "us-east-1", "--partition", "aws-cn"], 2, "aws-cn"),
        (["--url", "https://[::1"], 2, "not a valid URL"),
        (["--url", "https://127.0.0.1:1/x", "--ca-bundle", "missing.pem"], 2, "does not exist"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    tmp_path: Path, args: list[str], code: int, words: str
) -> None:
    store = tmp_path / "trust.p12"
    got, _, stderr = update(*args, "-s", str(store))
    assert got == code, stderr
    assert words in stderr
    assert stderr.count("rdstrust: error:") == 1 and "Traceback" not in stderr
    assert not store.exists()


def test_chain_and_jvm_agree_after_update(tmp_path: Path) -> None:
    require_tool("java")
    store = tmp_path / "trust.p12"
    chain = FIXTURES / "chains" / "ecc384-g1-ap-southeast-2" / "chain.pem"
    code, stdout, stderr = update(
        "--source", str(G1), "-s", str(store), "--chain", str(chain), "--jvm", "--json", "--create"
    )
    assert code == 0, stderr
    report = json.loads(stdout)["stores"][0]["verify"]
    assert report["path"]["trusted"] is True
    assert report["java"]["verdict"]["trusted"] is True
    assert report["java"]["agrees"] is True
    # Negative control: a store holding only the old generation trusts neither way.
    old_store = tmp_path / "old.p12"
    assert runner.invoke(app, ["merge", "-b", str(OLD), "-s", str(old_store)]).exit_code == 0
    code, stdout, _ = update(
        "--check",
        "--source",
        str(G1),
        "-s",
        str(old_store),
        "--chain",
        str(chain),
        "--jvm",
        "--json",
    )
    assert code == 1
    report = json.loads(stdout)["stores"][0]["verify"]
    assert report["path"]["trusted"] is False
    assert report["java"]["verdict"]["trusted"] is False
    assert report["java"]["agrees"] is True


@pytest.mark.realdata
def test_real_bundle_into_jdk_cacerts_copy(tmp_path: Path) -> None:
    cacerts = Path("/etc/ssl/certs/java/cacerts")
    if not cacerts.exists():
        missing("the Debian JDK cacerts (/etc/ssl/certs/java/cacerts)")
    store = tmp_path / "cacerts"
    shutil.copyfile(cacerts, store)
    original = keytool_trusted(store)
    bundle = shared_bundle("global-2026-03.pem")
    code, _, stderr = update("--source", str(bundle), "-s", str(store))
    assert code == 0, stderr
    assert keytool_trusted(store) == original + 102
    assert update("--check", "--source", str(bundle), "-s", str(store))[0] == 0


def test_update_fixes_a_pkcs12_made_by_openssl(tmp_path: Path) -> None:
    # OpenSSL writes certificates without Java's trusted-certificate attribute: Java sees no
    # anchors, so update must add them again (with it) and then pass, keeping OpenSSL's bags.
    openssl = require_tool("openssl")
    store = tmp_path / "openssl.p12"
    subprocess.run(
        [openssl, "pkcs12", "-export", "-nokeys", "-in", str(G1), "-out", str(store),
         "-passout", "pass:changeit"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    original = store.read_bytes()
    assert keytool_trusted(store) == 0
    assert update("--check", "--source", str(G1), "-s", str(store))[0] == 1
    code, stdout, stderr = update("--source", str(G1), "-s", str(store))
    assert code == 0, stdout + stderr
    assert "trusted-certificate attribute" in stdout
    assert keytool_trusted(store) == 9
    assert Path(str(store) + ".bak").read_bytes() == original
    before = snapshot(store)
    assert update("--source", str(G1), "-s", str(store))[0] == 0
    assert snapshot(store) == before
