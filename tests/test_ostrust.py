"""``rdstrust os-trust`` and :func:`rdstrust.ostrust.regenerated_by`, on private trees only.

The real ``update-ca-certificates`` runs against a private tree (its ``--certsconf``,
``--certsdir``, ``--localcertsdir``, ``--etccertsdir`` and ``--hooksdir`` all point into a temp
directory); the machine's own /etc/ssl and /usr/local/share/ca-certificates are never touched.

The Java cacerts: Debian's own hook (``/etc/ca-certificates/update.d/jks-keystore``) cannot be
confined (it queues the change in /var/lib/ca-certificates-java and runs dpkg's trigger, which
rewrites /etc/ssl/certs/java/cacerts), so it is never run. The private hooks directory holds a
hook that runs the same code the trigger runs, ca-certificates-java's ``UpdateCertificates``
class from its jar, fed the same ``+/path.pem`` lines, with only the keystore path changed to one
in the private tree.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, IN_CI, require_tool
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.certs import sha256_hex
from rdstrust.cli import app
from rdstrust.errors import ToolMissingError, UsageError
from rdstrust.ostrust import (
    Family,
    OsTrustOptions,
    anchor_name,
    detect_layout,
    install_anchors,
    regenerated_by,
)
from rdstrust.stores import read_store

G1 = FIXTURES / "bundles" / "g1.pem"
DEB = "usr/local/share/ca-certificates/rdstrust"
RHEL = "etc/pki/ca-trust/source/anchors"
OLD = FIXTURES / "bundles" / "old-2019.pem"
CHAIN = FIXTURES / "chains" / "rsa2048-g1-us-east-1"
MOZILLA = Path("/usr/share/ca-certificates/mozilla")
#: A few of Debian's roots, so the private system store is not empty before rdstrust runs.
SYSTEM_ROOTS = ("ISRG_Root_X1.crt", "Amazon_Root_CA_1.crt", "DigiCert_Global_Root_G2.crt")
CA_JAVA_JAR = Path("/usr/share/ca-certificates-java/ca-certificates-java.jar")
runner = CliRunner()

#: Runs ca-certificates-java's updater (what its dpkg trigger runs) on a keystore of our choice.
UPDATE_PRIVATE_JAVA = """\
import java.io.InputStreamReader;
import org.debian.security.UpdateCertificates;

public class UpdatePrivate extends UpdateCertificates {
    UpdatePrivate(String keystore) throws Exception { super(keystore, "changeit"); }

    public static void main(String[] args)
            throws java.io.IOException, java.security.GeneralSecurityException {
        try {
            UpdatePrivate updater = new UpdatePrivate(args[0]);
            updater.processChanges(new InputStreamReader(System.in, "UTF-8"));
            updater.finish();
        } catch (java.io.IOException | java.security.GeneralSecurityException e) {
            throw e;
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }
}
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))


def make_root(base: Path, os_release: str) -> Path:
    root = base / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text(os_release)
    return root


def os_trust(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["os-trust", "--no-cache", *args])
    return result.exit_code, result.stdout, result.stderr


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


# --- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("release", "family", "anchors"),
    [
        ("ID=debian\n", Family.DEBIAN, DEB),
        ('ID=ubuntu\nID_LIKE="debian"\n', Family.DEBIAN, DEB),
        ("ID=alpine\n", Family.ALPINE, "usr/local/share/ca-certificates"),
        ('ID="rhel"\nID_LIKE="fedora"\n', Family.RHEL, RHEL),
        ('ID="amzn"\nID_LIKE="centos rhel fedora"\n', Family.RHEL, RHEL),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', Family.RHEL, RHEL),
    ],
)  # fmt: skip
def test_detects_the_family_from_os_release(
    tmp_path: Path, release: str, family: Family, anchors: str
) -> None:
    root = make_root(tmp_path, release)
    layout = detect_layout(root)
    assert layout.family is family
    assert layout.anchor_dir == root / anchors
    assert layout.manifest == root / "var/lib/rdstrust/os-trust.json"


def test_unknown_or_missing_distribution_is_a_usage_error(tmp_path: Path) -> None:
    root = make_root(tmp_path, 'ID="\x1b[2Jdistro"\nID_LIKE=plan9\n')
    with pytest.raises(UsageError, match="not one whose trust anchors") as caught:
        detect_layout(root)
    assert "\x1b" not in caught.value.message
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, stderr = os_trust("--source", str(G1), "--root", str(empty))
    assert code == 2 and "no etc/os-release" in stderr


# --- anchors -----------------------------------------------------------------------------------


def test_writes_one_pem_per_ca_idempotently(tmp_path: Path) -> None:
    root = make_root(tmp_path, "ID=debian\n")
    code, stdout, stderr = os_trust("--source", str(G1), "--root", str(root), "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    anchors = root / "usr/local/share/ca-certificates/rdstrust"
    bundle = read_bundle(G1)
    assert sorted(result["written"]) == sorted(anchor_name(c) for c in bundle)
    assert "rdstrust-rds-ca-rsa2048-g1-us-east-1.crt" in result["written"]
    # Not run here: the image's own tool must regenerate the image's stores.
    assert result["tool"] is None
    assert result["run_next"] == ["chroot", str(root), "update-ca-certificates"]
    written = files_in(anchors)
    assert len(written) == 9
    for info in bundle:
        data = written[anchor_name(info)]
        assert data == info.pem() and data.count(b"BEGIN CERTIFICATE") == 1
        assert (anchors / anchor_name(info)).stat().st_mode & 0o777 == 0o644
    assert anchors.stat().st_mode & 0o777 == 0o755
    manifest = json.loads((root / "var/lib/rdstrust/os-trust.json").read_text())
    assert manifest["files"] == {anchor_name(c): sha256_hex(c.pem()) for c in bundle}
    # Second run: nothing rewritten (mtimes kept).
    times = {p.name: p.stat().st_mtime_ns for p in anchors.iterdir()}
    code, stdout, _ = os_trust("--source", str(G1), "--root", str(root), "--json")
    assert code == 0
    again = json.loads(stdout)
    assert again["written"] == [] and len(again["unchanged"]) == 9
    assert times == {p.name: p.stat().st_mtime_ns for p in anchors.iterdir()}


def test_removes_only_its_own_unmodified_files(tmp_path: Path) -> None:
    root = make_root(tmp_path, "ID=debian\n")
    anchors = root / "usr/local/share/ca-certificates/rdstrust"
    assert os_trust("--source", str(G1), "--root", str(root))[0] == 0
    edited = anchors / "rdstrust-rds-ca-ecc384-g1-eu-west-1.crt"
    edited.write_bytes(edited.read_bytes() + b"# local edit\n")
    admin = anchors / "corporate-proxy.crt"
    admin.write_bytes((CHAIN / "root.pem").read_bytes())
    # The bundle changes to the 2019 generation: the G1 files go, except the edited one.
    code, stdout, stderr = os_trust("--source", str(OLD), "--root", str(root), "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert len(result["removed"]) == 8
    assert result["kept"] == [edited.name]
    left = set(files_in(anchors))
    assert edited.name in left and admin.name in left
    assert {anchor_name(c) for c in read_bundle(OLD)} <= left
    assert not any("rsa2048" in name for name in left)


def test_someone_elses_file_in_the_way_stops_before_writing(tmp_path: Path) -> None:
    root = make_root(tmp_path, "ID=debian\n")
    anchors = root / "usr/local/share/ca-certificates/rdstrust"
    anchors.mkdir(parents=True)
    (anchors / "rdstrust-rds-ca-rsa4096-g1-us-east-1.crt").write_bytes(b"not ours\n")
    code, _, stderr = os_trust("--source", str(G1), "--root", str(root))
    assert code == 5 and "rdstrust did not write it" in stderr
    assert set(files_in(anchors)) == {"rdstrust-rds-ca-rsa4096-g1-us-east-1.crt"}
    assert not (root / "var/lib/rdstrust").exists()


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    root = make_root(tmp_path, 'ID="fedora"\n')
    code, stdout, stderr = os_trust("--source", str(G1), "--root", str(root), "--dry-run")
    assert code == 0, stderr
    assert "would write 9" in stdout
    assert "rdstrust-rds-ca-rsa2048-g1-us-east-1.crt" in stdout
    assert sorted(p.name for p in root.rglob("*")) == ["etc", "os-release"]


def test_rhel_layout_and_its_tool(tmp_path: Path) -> None:
    root = make_root(tmp_path, 'ID="rhel"\nID_LIKE="fedora"\n')
    code, stdout, stderr = os_trust("--source", str(G1), "--root", str(root), "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["run_next"] == ["chroot", str(root), "update-ca-trust", "extract"]
    assert len(files_in(root / "etc/pki/ca-trust/source/anchors")) == 9


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = make_root(tmp_path, "ID=debian\n")
    outside = tmp_path / "host-usr-local"
    outside.mkdir()
    (root / "usr").mkdir()
    (root / "usr" / "local").symlink_to(outside)
    code, _, stderr = os_trust("--source", str(G1), "--root", str(root))
    assert code == 2 and "leads outside --root" in stderr
    assert list(outside.iterdir()) == []
    # A planted anchor file that is a symlink out of the tree: refused, the target untouched.
    (root / "usr" / "local").unlink()
    anchors = root / DEB
    anchors.mkdir(parents=True)
    victim = outside / "victim"
    victim.write_bytes(b"host file\n")
    (anchors / "rdstrust-rds-ca-rsa2048-g1-us-east-1.crt").symlink_to(victim)
    code, _, stderr = os_trust("--source", str(G1), "--root", str(root))
    assert code == 2 and "leads outside --root" in stderr
    assert victim.read_bytes() == b"host file\n"
    assert [p.name for p in anchors.iterdir()] == ["rdstrust-rds-ca-rsa2048-g1-us-east-1.crt"]


def test_hostile_alias_never_names_a_file() -> None:
    from dataclasses import replace

    info = read_bundle(G1).certificates[0]
    for alias in ("../../etc/passwd", "x\ny", "a b", "", ".hidden"):
        name = anchor_name(replace(info, alias=alias))
        assert name == f"rdstrust-{info.sha256[:16]}.crt"


def test_missing_or_failing_tool_exits_7(tmp_path: Path) -> None:
    root = make_root(tmp_path, "ID=debian\n")
    code, _, stderr = os_trust(
        "--source", str(G1), "--root", str(root),
        "--update-command", str(tmp_path / "no-such-update-ca-certificates"),
    )  # fmt: skip
    assert code == 7 and "was not found" in stderr
    # The anchors are written all the same (they are the desired state); a rerun fixes the rest.
    assert len(files_in(root / "usr/local/share/ca-certificates/rdstrust")) == 9
    false = require_tool("false")
    code, stdout, stderr = os_trust(
        "--source", str(G1), "--root", str(root), "--update-command", false, "--json"
    )
    assert code == 7 and "exited with 1" in stderr
    assert json.loads(stdout)["tool"]["exit_code"] == 1


def test_library_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        OsTrustOptions(root=tmp_path / "nope")
    with pytest.raises(UsageError, match="empty"):
        OsTrustOptions(root=tmp_path, command=())


# --- the real update-ca-certificates on a private tree -----------------------------------------


def private_tree(tmp_path: Path, java_hook: bool) -> tuple[Path, list[str]]:
    """A Debian root the real tool can work on, and the command that confines it there."""
    tool = require_tool("update-ca-certificates")
    if not all((MOZILLA / name).is_file() for name in SYSTEM_ROOTS):
        if IN_CI:
            pytest.fail("Debian's ca-certificates package is required in CI")
        pytest.skip("Debian's /usr/share/ca-certificates/mozilla is not present")
    root = make_root(tmp_path, "ID=debian\n")
    certs = root / "usr/share/ca-certificates/mozilla"
    certs.mkdir(parents=True)
    for name in SYSTEM_ROOTS:
        (certs / name).write_bytes((MOZILLA / name).read_bytes())
    (root / "etc/ca-certificates.conf").write_text(
        "".join(f"mozilla/{name}\n" for name in SYSTEM_ROOTS)
    )
    (root / "etc/ssl/certs").mkdir(parents=True)
    hooks = root / "etc/ca-certificates/update.d"
    hooks.mkdir(parents=True)
    if java_hook:
        java = require_tool("java")
        if not CA_JAVA_JAR.is_file():
            if IN_CI:
                pytest.fail("ca-certificates-java is required in CI")
            pytest.skip("ca-certificates-java is not installed")
        source = root / "UpdatePrivate.java"
        source.write_text(UPDATE_PRIVATE_JAVA)
        keystore = root / "etc/ssl/certs/java/cacerts"
        keystore.parent.mkdir()
        hook = hooks / "jks-private"
        hook.write_text(f"#!/bin/sh\nexec {java} -Xmx64m -cp {CA_JAVA_JAR} {source} {keystore}\n")
        hook.chmod(0o755)
    command = [
        tool,
        "--certsconf", str(root / "etc/ca-certificates.conf"),
        "--certsdir", str(root / "usr/share/ca-certificates"),
        "--localcertsdir", str(root / "usr/local/share/ca-certificates"),
        "--etccertsdir", str(root / "etc/ssl/certs"),
        "--hooksdir", str(hooks),
    ]  # fmt: skip
    return root, command


def openssl_verifies(bundle: Path) -> bool:
    openssl = require_tool("openssl")
    done = subprocess.run(
        [
            openssl, "verify", "-no-CApath", "-no-CAstore", "-CAfile", str(bundle),
            "-untrusted", str(CHAIN / "intermediate.pem"), str(CHAIN / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    return done.returncode == 0


def test_real_update_ca_certificates_regenerates_the_openssl_bundle(tmp_path: Path) -> None:
    root, command = private_tree(tmp_path, java_hook=False)
    system_bundle = root / "etc/ssl/certs/ca-certificates.crt"
    # Before: the system store as the distribution builds it, without the RDS CAs.
    subprocess.run(command, check=True, capture_output=True)
    assert system_bundle.read_bytes().count(b"BEGIN CERTIFICATE") == len(SYSTEM_ROOTS)
    assert not openssl_verifies(system_bundle)
    code, stdout, stderr = os_trust(
        "--source", str(G1), "--root", str(root),
        "--update-command", " ".join(command), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["tool"]["exit_code"] == 0 and result["run_next"] is None
    assert any("9 added" in line for line in result["tool"]["output"])
    assert system_bundle.read_bytes().count(b"BEGIN CERTIFICATE") == len(SYSTEM_ROOTS) + 9
    assert openssl_verifies(system_bundle)
    pem_store = read_store(system_bundle, None).fingerprints()
    assert {c.sha256 for c in read_bundle(G1)} <= pem_store
    # The distribution's next run (a package update) keeps them: they are anchors now.
    subprocess.run(command, check=True, capture_output=True)
    assert openssl_verifies(system_bundle)


@pytest.mark.jvm
def test_the_java_cacerts_hook_gains_the_cas(tmp_path: Path) -> None:
    root, command = private_tree(tmp_path, java_hook=True)
    keystore = root / "etc/ssl/certs/java/cacerts"
    subprocess.run(command, check=True, capture_output=True)
    before = read_store(keystore, "changeit").fingerprints()
    rds = {c.sha256 for c in read_bundle(G1)}
    assert len(before) == len(SYSTEM_ROOTS) and not before & rds
    code, stdout, stderr = os_trust(
        "--source", str(G1), "--root", str(root), "--update-command", " ".join(command)
    )
    assert code == 0, stderr + stdout
    after = read_store(keystore, "changeit").fingerprints()
    assert rds <= after and before <= after
    assert os.access(keystore, os.R_OK)


# --- stores the OS regenerates -----------------------------------------------------------------


def test_regenerated_by_names_the_generated_files(tmp_path: Path) -> None:
    for path in (
        "/etc/ssl/certs/java/cacerts",
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/ca-trust/extracted/java/cacerts",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    ):
        note = regenerated_by(path)
        assert note is not None and "rdstrust os-trust" in note and path in note
    assert regenerated_by(tmp_path / "app-truststore.p12") is None
    # Through a symlink (the JDK's cacerts on Debian and RHEL is one).
    image = tmp_path / "image"
    target = image / "etc/pki/ca-trust/extracted/java/cacerts"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"")
    jdk = image / "usr/lib/jvm/jre/lib/security/cacerts"
    jdk.parent.mkdir(parents=True)
    jdk.symlink_to(target)
    note = regenerated_by(jdk, root=image)
    assert note is not None and "update-ca-trust" in note
    assert "(it is /etc/pki/ca-trust/extracted/java/cacerts)" in note
    assert regenerated_by(jdk) is None  # without the root it is just a file in a temp dir


def test_regenerated_by_the_real_jdk_cacerts() -> None:
    from rdstrust.storespec import jdk_cacerts

    try:
        spec = jdk_cacerts()
    except ToolMissingError:  # no JDK here: the synthetic twin above covers the logic
        pytest.skip("no JDK with a cacerts")
    if os.path.realpath(spec.path) != "/etc/ssl/certs/java/cacerts":
        pytest.skip("this JDK owns its cacerts (not Debian's ca-certificates-java)")
    note = regenerated_by(spec.path)
    assert note is not None and "ca-certificates-java" in note


def test_anchor_files_hold_only_pem_never_certificate_text(tmp_path: Path) -> None:
    root = make_root(tmp_path, "ID=debian\n")
    result = install_anchors(read_bundle(G1), OsTrustOptions(root=root, run_tool=False))
    assert result.tool is None and result.run_next is not None
    for name in result.written:
        text = (root / "usr/local/share/ca-certificates/rdstrust" / name).read_text("ascii")
        assert text.startswith("-----BEGIN CERTIFICATE-----\n")
        assert text.endswith("-----END CERTIFICATE-----\n")
