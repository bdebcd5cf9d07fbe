"""``merge -b app.jks -s bundle.pem``: the keystore given as the bundle is recognised, the swap
is suggested in the one-sentence error (exit 3), and nothing is written."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, require_tool
from typer.testing import CliRunner

from rdstrust.cli import app

G1 = FIXTURES / "bundles" / "g1.pem"
runner = CliRunner()


def keytool_store(path: Path, store_type: str) -> Path:
    """A real keystore made by keytool: one trusted CA (the first of the fixture bundle)."""
    keytool = require_tool("keytool")
    ca = path.parent / "one-ca.pem"
    ca.write_text(
        G1.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )
    subprocess.run(
        [keytool, "-importcert", "-noprompt", "-alias", "corp-ca", "-file", str(ca),
         "-keystore", str(path), "-storetype", store_type, "-storepass", "changeit"],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


def merge(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["merge", *args], env={"RDSTRUST_STOREPASS": "changeit"})
    return result.exit_code, result.stderr


@pytest.mark.parametrize(("store_type", "name"), [("JKS", "app.jks"), ("PKCS12", "app.p12")])
def test_swapped_bundle_and_store_are_recognised(
    tmp_path: Path, store_type: str, name: str
) -> None:
    store = keytool_store(tmp_path / name, store_type)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(G1.read_bytes())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (store, bundle)}
    code, stderr = merge("-b", str(store), "-s", str(bundle))
    assert code == 3, stderr
    (line,) = stderr.strip().splitlines()  # one sentence, no traceback
    assert f"{store} is a {store_type} keystore, not a CA bundle" in line
    assert f"{bundle} (given with -s) is a bundle of Amazon RDS CAs" in line
    suggested = f"rdstrust merge -b {shlex.quote(str(bundle))} -s {shlex.quote(str(store))}"
    assert line.endswith(suggested)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (store, bundle)} == before
    assert not list(tmp_path.glob("*.bak"))
    # The suggestion works as printed: the bundle's other 8 CAs join the keystore's one.
    code, stderr = merge(*shlex.split(suggested)[2:])
    assert code == 0, stderr
    assert "8 added, 1 already present, 1 kept" in stderr


def test_a_keystore_as_bundle_without_a_bundle_among_the_stores(tmp_path: Path) -> None:
    store = keytool_store(tmp_path / "app.jks", "JKS")
    other = keytool_store(tmp_path / "other.jks", "JKS")
    code, stderr = merge("-b", str(store), "-s", str(other))
    assert code == 3
    assert f"{store} is a JKS keystore, not a CA bundle: give the RDS CA bundle with -b" in stderr
    assert "swapped" not in stderr


def test_other_bad_bundles_keep_their_own_message(tmp_path: Path) -> None:
    # Control: a file that is no keystore either gets the bundle reader's message, no hint.
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01binary junk" * 10)
    pem = tmp_path / "bundle.pem"
    pem.write_bytes(G1.read_bytes())
    code, stderr = merge("-b", str(junk), "-s", str(pem))
    assert code == 3 and "keystore" not in stderr and "swapped" not in stderr
    assert "is binary data" in stderr
