"""``update``'s human output: each note once, failures counted apart from "not trusted", no
``-D`` settings for the JVM's own default truststore, ``--region`` merging only that region's
CAs, and a warning for a bundle whose CAs of a required generation have all expired."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, missing, require_tool
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.certs import Generation
from rdstrust.cli import app
from rdstrust.clients import JVM_DEFAULT_NOTE, jvm_default_truststore
from rdstrust.stores import read_store
from rdstrust.update import region_bundle

G1 = FIXTURES / "bundles" / "g1.pem"
OLD = FIXTURES / "bundles" / "old-2019.pem"
EXPIRED_G1 = FIXTURES / "bundles" / "expired-g1.pem"
SYSTEM_CACERTS = Path("/etc/ssl/certs/java/cacerts")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RDSTRUST_STOREPASS", "changeit")
    monkeypatch.delenv("JAVA_HOME", raising=False)


def update(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["update", *args])
    return result.exit_code, result.stdout, result.stderr


def test_each_note_is_printed_once_and_the_pkcs12_note_only_when_written(tmp_path: Path) -> None:
    jks, p12, pem = tmp_path / "a.jks", tmp_path / "b.p12", tmp_path / "c.pem"
    args = ["--source", str(G1), "-s", str(jks), "-s", f"{p12},storepass:none", "-s", str(pem)]
    runs = [update(*args, "--create"), update(*args)]
    for code, stdout, stderr in runs:
        assert code == 0, stderr
        lines = [line.strip() for line in (stdout + stderr).splitlines() if line.strip()]
        notes = [line for line in lines if "note" in line.lower() or line.startswith("- ")]
        assert len(notes) == len(set(notes)), notes  # no note twice
        assert sum(line.startswith("Bundle ") for line in lines) == 1
        # The notes every Java store shares are said once, not once per store.
        assert (stdout + stderr).count("pgjdbc ignores the -Djavax.net.ssl.* properties") == 1
        assert (stdout + stderr).count("MariaDB Connector/J 2.x silently ignores") == 1
    first, second = runs[0][1], runs[1][1]
    # The password-less PKCS12 note comes with the run that writes the store, not every run.
    assert "password-less PKCS12" in first
    assert "password-less PKCS12" not in second and "b.p12: up-to-date" in second


def test_a_store_that_failed_is_not_counted_as_not_trusting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, locked = tmp_path / "good.pem", tmp_path / "locked.jks"
    assert update("--source", str(G1), "-s", str(locked), "--create")[0] == 0
    monkeypatch.setenv("WRONG_PW", "not-the-password")
    wrong = f"{locked},storepass:env=WRONG_PW"
    code, _, stderr = update("--source", str(G1), "-s", str(good), "--create", "-s", wrong)
    assert code == 5, stderr
    summary = stderr.strip().splitlines()[-1]
    assert summary.startswith("1 of 1 store(s) checked trust the required RDS CAs")
    assert "1 could not be read or written (left unchanged, not checked" in summary
    # Only the failed store: nothing was checked, and nothing claims it does not trust.
    code, _, stderr = update("--source", str(G1), "-s", wrong)
    assert code == 5
    assert stderr.strip().splitlines()[-1].startswith("No store could be checked; 1 could not")
    # Control: a store that was read and lacks CAs is counted as such.
    partial = tmp_path / "east.pem"
    partial.write_bytes(b"".join(c.pem() for c in read_bundle(G1) if c.region == "us-east-1"))
    code, _, stderr = update("--check", "--source", str(G1), "-s", str(partial))
    assert code == 1
    assert stderr.strip().splitlines()[-1] == (
        "0 of 1 store(s) checked trust the required RDS CAs; 1 would need an update."
    )


def _fake_jdk(root: Path, cacerts_target: Path | None = None) -> Path:
    """A directory shaped like a JDK: bin/java (never run) and lib/security/cacerts (a copy of
    the machine's, or a symlink to ``cacerts_target`` as on Debian)."""
    if not SYSTEM_CACERTS.is_file():
        missing(f"{SYSTEM_CACERTS} (ca-certificates-java)")
    (root / "bin").mkdir(parents=True)
    java = root / "bin" / "java"
    java.write_text("#!/bin/sh\nexit 1\n")
    java.chmod(0o755)
    security = root / "lib" / "security"
    security.mkdir(parents=True)
    if cacerts_target is None:
        shutil.copyfile(SYSTEM_CACERTS, security / "cacerts")
    else:
        shutil.copyfile(SYSTEM_CACERTS, cacerts_target)
        (security / "cacerts").symlink_to(cacerts_target)
    return root


def _settings(stdout: str) -> dict[str, dict[str, object]]:
    return {s["store"]: s["settings"] for s in json.loads(stdout)["stores"]}


def test_no_d_settings_for_the_jvms_own_default_truststore(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    jdk = _fake_jdk(tmp_path / "jdk", cacerts_target=etc / "cacerts")
    default = jdk / "lib" / "security" / "cacerts"
    other = tmp_path / "app" / "cacerts"  # the same bytes elsewhere: not the JVM's default
    other.parent.mkdir()
    shutil.copyfile(SYSTEM_CACERTS, other)
    base = ["--source", str(G1), "--java", str(jdk), "-s", str(etc / "cacerts"), "-s", str(other)]
    code, stdout, stderr = update(*base)
    assert code == 0, stderr
    blocks = stdout.split("\n\n")
    mine = next(b for b in blocks if b.startswith(f"{etc / 'cacerts'}:"))
    theirs = next(b for b in blocks if b.startswith(f"{other}:"))
    assert JVM_DEFAULT_NOTE in mine and "-Djavax.net.ssl.trustStore" not in mine
    # Control: the copy elsewhere still gets the settings that point Java at it.
    assert f"-Djavax.net.ssl.trustStore={other}" in theirs and JVM_DEFAULT_NOTE not in theirs
    code, stdout, _ = update(*base, "--json")
    settings = _settings(stdout)
    assert settings[str(etc / "cacerts")]["jvm_default"] is True
    assert settings[str(etc / "cacerts")]["java_options"]  # kept in JSON, for other JVMs
    assert settings[str(other)]["jvm_default"] is False
    # --java-cacerts names the same store through the JDK's own path (a symlink).
    code, stdout, stderr = update("--source", str(G1), "--java", str(jdk), "--java-cacerts")
    assert code == 0, stderr
    assert JVM_DEFAULT_NOTE in stdout and "-Djavax.net.ssl.trustStore=" not in stdout
    assert jvm_default_truststore(str(jdk)) == Path(os.path.realpath(default))
    # With a jssecacerts the JVM reads that instead: cacerts is then not the default.
    shutil.copyfile(SYSTEM_CACERTS, jdk / "lib" / "security" / "jssecacerts")
    code, stdout, stderr = update("--source", str(G1), "--java", str(jdk), "--java-cacerts")
    assert code == 0, stderr
    assert JVM_DEFAULT_NOTE not in stdout and "-Djavax.net.ssl.trustStore=" in stdout


@pytest.mark.jvm
def test_the_default_truststore_is_the_one_the_real_jvm_names() -> None:
    java = require_tool("java")
    shown = subprocess.run(
        [java, "-XshowSettings:properties", "-version"], capture_output=True, text=True, check=True
    ).stderr
    home = next(
        line.split("=", 1)[1].strip() for line in shown.splitlines() if "java.home =" in line
    )
    security = Path(home) / "lib" / "security"
    expected = security / "jssecacerts"
    if not expected.exists():
        expected = security / "cacerts"
    assert jvm_default_truststore(java) == Path(os.path.realpath(expected))
    # Control: no JVM, no default truststore.
    assert jvm_default_truststore(str(Path(home) / "no-such-java")) is None


def test_region_merges_only_that_regions_cas(tmp_path: Path) -> None:
    east, every = tmp_path / "east.pem", tmp_path / "all.pem"
    code, stdout, stderr = update(
        "--source", str(G1), "--region", "us-east-1", "-s", str(east), "--create", "--json"
    )
    assert code == 0, stderr
    data = json.loads(stdout)
    assert (data["merged_certificates"], data["region"], data["certificates"]) == (
        3,
        "us-east-1",
        9,
    )
    regions = {e.info.region for e in read_store(east, None).entries if e.info}
    assert regions == {"us-east-1"}
    code, stdout, _ = update("--source", str(G1), "--region", "us-east-1", "-s", str(east))
    assert code == 0 and "Merging only us-east-1's CAs and the CAs they chain to: 3 of 9" in stdout
    # Control: without --region every region's CAs are merged.
    assert update("--source", str(G1), "-s", str(every), "--create")[0] == 0
    assert len(read_store(every, None).entries) == 9


def test_region_bundle_keeps_the_root_a_regional_intermediate_chains_to() -> None:
    old = read_bundle(OLD)
    kept = region_bundle(old, "eu-west-1")
    assert [c.alias for c in kept] == ["rds-ca-2019-root", "rds-ca-2019-eu-west-1"]
    g1 = region_bundle(read_bundle(G1), "eu-west-1")
    assert {c.region for c in g1} == {"eu-west-1"} and len(g1) == 3
    assert len(region_bundle(read_bundle(G1), "nowhere-1")) == 0


def test_a_bundle_whose_required_cas_all_expired_draws_a_warning(tmp_path: Path) -> None:
    _, _, stderr = update("--check", "--source", str(EXPIRED_G1), "-s", str(tmp_path / "x.pem"))
    assert "rdstrust: warning: every rds-ca-ecc384-g1 CA" in stderr
    assert "has expired (the last on 2023-01-01); the bundle is stale" in stderr
    # Control: a current bundle draws none, and a generation not required is not judged.
    _, _, stderr = update("--check", "--source", str(G1), "-s", str(tmp_path / "y.pem"))
    assert "warning" not in stderr
    _, _, stderr = update(
        "--check",
        "--source",
        str(FIXTURES / "bundles" / "mixed.pem"),
        "-s",
        str(tmp_path / "z.pem"),
    )
    assert "warning" not in stderr
    _, _, stderr = update(
        "--check",
        "--source",
        str(FIXTURES / "bundles" / "mixed.pem"),
        "--require",
        Generation.CA_2019.value,
        "-s",
        str(tmp_path / "z.pem"),
    )
    assert "every rds-ca-2019 CA in" in stderr and "has expired (the last on 2024-08-22)" in stderr


_DEFAULT_TRUST = """
import javax.net.ssl.*;

public class DefaultTrust {
    public static void main(String[] args) throws Exception {
        // The default SSLSocketFactory: the truststore the JVM picks with no -D option at all.
        SSLSocket socket = (SSLSocket) SSLSocketFactory.getDefault()
            .createSocket("127.0.0.1", Integer.parseInt(args[0]));
        try {
            socket.startHandshake();
            System.out.println("TRUSTED");
        } catch (SSLHandshakeException e) {
            System.out.println("REFUSED " + e.getMessage());
        } finally {
            socket.close();
        }
    }
}
"""


def _jdk_copy(root: Path) -> Path:
    """A real JDK whose java.home is ``root``: the machine's JDK hard-linked file by file (no
    data copied), with ``lib/security/cacerts`` replaced by a private copy, so the machine's own
    cacerts is never written."""
    java = require_tool("java")
    home = Path(os.path.realpath(java)).parent.parent
    if not SYSTEM_CACERTS.is_file():
        missing(f"{SYSTEM_CACERTS} (ca-certificates-java)")
    try:
        subprocess.run(["cp", "-al", str(home), str(root)], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot hard-link the JDK into {root}: {exc.stderr.decode(errors='replace')}")
    cacerts = root / "lib" / "security" / "cacerts"
    cacerts.unlink()  # a symlink (Debian) or a hard link: either way, never write through it
    shutil.copyfile(SYSTEM_CACERTS, cacerts)
    assert not cacerts.is_symlink() and cacerts.stat().st_nlink == 1
    return root


def _java_trusts_by_default(jdk: Path, source: Path, port: int) -> str:
    shown = subprocess.run(
        [str(jdk / "bin" / "java"), str(source), str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(source.parent)},
    )
    return shown.stdout.strip() or shown.stderr.strip()


@pytest.mark.jvm
def test_the_jvm_trusts_its_updated_default_store_without_d_settings(tmp_path: Path) -> None:
    from tls_server import HTTPSServer

    jdk = _jdk_copy(tmp_path / "jdk")
    source = tmp_path / "DefaultTrust.java"
    source.write_text(_DEFAULT_TRUST)
    with HTTPSServer("rsa2048-g1-us-east-1") as server:
        # Control: the JDK's stock cacerts does not hold the fixture RDS CA.
        assert _java_trusts_by_default(jdk, source, server.port).startswith("REFUSED")
        code, stdout, stderr = update("--source", str(G1), "--java", str(jdk), "--java-cacerts")
        assert code == 0, stderr
        assert JVM_DEFAULT_NOTE in stdout and "-Djavax.net.ssl.trustStore" not in stdout
        # As printed: no -D option, and the JVM now trusts the server.
        assert _java_trusts_by_default(jdk, source, server.port) == "TRUSTED"
