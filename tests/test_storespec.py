"""Per-store password sources, the JVM's own cacerts, and one unreadable store among several."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, require_tool
from typer.testing import CliRunner

from rdstrust.cli import app
from rdstrust.errors import UsageError
from rdstrust.passwords import PasswordSource
from rdstrust.stores import StoreType, read_store
from rdstrust.storespec import JDK_CACERTS_PASSWORD, StoreSpec, jdk_cacerts, parse_store_spec

G1 = FIXTURES / "bundles" / "g1.pem"
JDK_CACERTS = Path("/etc/ssl/certs/java/cacerts")
runner = CliRunner()


def test_store_spec_syntax() -> None:
    assert parse_store_spec("a.jks") == StoreSpec(Path("a.jks"))
    assert parse_store_spec("a.p12,storepass:env=APP") == StoreSpec(
        Path("a.p12"), PasswordSource(env_var="APP")
    )
    assert parse_store_spec("/x/t.jks,storepass:file=/run/s") == StoreSpec(
        Path("/x/t.jks"), PasswordSource(file=Path("/run/s"))
    )
    assert parse_store_spec("ca.pem,storepass:none").password == PasswordSource(none=True)
    # A comma that is not a password suffix belongs to the path.
    assert parse_store_spec("odd,name.pem") == StoreSpec(Path("odd,name.pem"))
    for bad in ("", ",storepass:env=X", "a.jks,storepass:env=", "a.jks,storepass:none=x",
                "a.jks,storepass:literal=x"):  # fmt: skip
        with pytest.raises(UsageError):
            parse_store_spec(bad)


def _jks_copy(tmp_path: Path) -> Path:
    if not JDK_CACERTS.exists():
        pytest.skip("no Debian JDK cacerts on this machine")
    copy = tmp_path / "cacerts"
    shutil.copyfile(JDK_CACERTS, copy)
    return copy


def test_one_update_gives_each_store_its_own_password(tmp_path: Path) -> None:
    """A JDK cacerts (JKS, changeit) and a PKCS12 app store with its own secret, in one run."""
    keytool = require_tool("keytool")
    cacerts = _jks_copy(tmp_path)
    app_store = tmp_path / "app.p12"
    secret = tmp_path / "app-secret"
    secret.write_text("s3cret-app-pass\n")
    env = {"JDK_PASS": "changeit", "RDSTRUST_STOREPASS": ""}
    args = [
        "update", "--source", str(G1), "--create", "--json",
        "-s", f"{cacerts},storepass:env=JDK_PASS",
        "-s", f"{app_store},storepass:file={secret}",
    ]  # fmt: skip
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    stores = json.loads(result.stdout)["stores"]
    assert [(s["status"], s["exit_code"]) for s in stores] == [("updated", 0), ("created", 0)]
    assert "changeit" not in result.output and "s3cret-app-pass" not in result.output
    # Each store really has its own password: keytool opens each with it, and not the other's.
    for store, password in ((cacerts, "changeit"), (app_store, "s3cret-app-pass")):
        listed = subprocess.run(
            [keytool, "-list", "-keystore", str(store), "-storepass", password],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert "rds-ca-rsa2048-g1-us-east-1" in listed.stdout
    wrong = subprocess.run(
        [keytool, "-list", "-keystore", str(app_store), "-storepass", "changeit"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert wrong.returncode != 0
    # Control: one global password for both fails the app store and leaves it unchanged.
    before = app_store.read_bytes()
    again = runner.invoke(
        app, ["update", "--source", str(G1), "-s", str(cacerts), "-s", str(app_store)],
        env={"RDSTRUST_STOREPASS": "changeit"},
    )  # fmt: skip
    assert again.exit_code == 5 and app_store.read_bytes() == before


def _fake_jdk(tmp_path: Path) -> Path:
    """A JDK-shaped directory whose ``bin/java`` is a stand-in (never run) and whose cacerts is
    a copy: --java-cacerts must find the file through java.home without touching the real one."""
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    (home / "lib" / "security").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\nexit 1\n")
    java.chmod(0o755)
    shutil.copyfile(_jks_copy(tmp_path), home / "lib" / "security" / "cacerts")
    return home


def test_java_cacerts_names_the_jvms_store_with_its_default_password(tmp_path: Path) -> None:
    home = _fake_jdk(tmp_path)
    spec = jdk_cacerts(str(home))
    assert spec.path == home / "lib" / "security" / "cacerts"
    assert spec.password == PasswordSource(literal=JDK_CACERTS_PASSWORD)
    result = runner.invoke(
        app,
        ["update", "--source", str(G1), "--java-cacerts", "--java", str(home), "--json"],
        env={"RDSTRUST_STOREPASS": ""},
    )
    assert result.exit_code == 0, result.output
    (store,) = json.loads(result.stdout)["stores"]
    assert store["status"] == "updated" and store["merge"]["type"] == "jks"
    assert len(read_store(spec.path, "changeit").trusted()) > 100
    # Control: a JVM without lib/security/cacerts is a clear error, not a new file.
    (home / "lib" / "security" / "cacerts").unlink()
    missing = runner.invoke(
        app, ["update", "--source", str(G1), "--java-cacerts", "--java", str(home)]
    )
    assert missing.exit_code == 7 and "no lib/security/cacerts" in missing.output


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the unprivileged user can enter (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="rdstrust-spec-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the CLI as another user")
def test_a_mode_000_store_fails_alone_for_a_non_root_user(shared_dir: Path) -> None:
    """Among three stores, the unreadable one is a store error (5) for that store only; the
    other two are updated, and --json carries each store's real exit code."""
    nobody = 65534
    stores = [shared_dir / name for name in ("a.pem", "locked.pem", "c.pem")]
    for store in stores:
        store.write_bytes(b"")
        os.chown(store, nobody, nobody)
    stores[1].chmod(0o000)
    os.chown(shared_dir, nobody, nobody)
    # The project's interpreter may live under root's home, which the other user cannot enter:
    # run the system's Python 3 of the same minor version on the venv's packages instead.
    python = Path("/usr/bin/python3")
    same = subprocess.run([str(python), "-c", "import sys; print(sys.version_info[:2])"],
                          capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    if same != str(sys.version_info[:2]):
        pytest.skip(f"no system Python {sys.version_info[:2]} to run as another user")
    site = next(p for p in sys.path if p.endswith("site-packages"))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(shared_dir),
        "RDSTRUST_CACHE_DIR": str(shared_dir / "cache"),
        "RDSTRUST_ACCEPT_UNKNOWN_RDS": "1",
        "PYTHONPATH": f"{ROOT / 'src'}:{site}",
    }
    done = subprocess.run(
        [str(python), "-m", "rdstrust", "update", "--source", str(G1), "--json",
         *(a for s in stores for a in ("-s", str(s)))],
        user=nobody, group=nobody, env=env, capture_output=True, text=True, check=False,
        cwd=shared_dir, timeout=120,
    )  # fmt: skip
    assert done.returncode == 5, done.stderr
    report = json.loads(done.stdout)["stores"]
    assert [(s["status"], s["exit_code"]) for s in report] == [
        ("created", 0), ("failed", 5), ("created", 0)
    ]  # fmt: skip
    assert "Traceback" not in done.stderr and "locked.pem" in done.stderr
    assert stores[0].read_text().count("BEGIN CERTIFICATE") == 9
    assert stores[2].read_text().count("BEGIN CERTIFICATE") == 9
    assert read_store(stores[0], None).type is StoreType.PEM
