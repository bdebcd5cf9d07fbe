"""The JVM's own verdict (TrustCheck.java) agrees with rdstrust's on every case.

Runs the real ``java`` (JDK 17 on the CI image) with the shipped single-file program; one case also
with Temurin 25 where it is installed.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support import FIXTURES, require_tool
from test_verify import (
    CHAINS,
    EXPIRED,
    G1,
    NEW_CA,
    NOW,
    OLD,
    PASSWORD,
    certs,
    chain,
    make_store,
    password_for,
    run,
)

from rdstrust.bundle import read_bundle
from rdstrust.errors import ToolMissingError
from rdstrust.jvm import find_java, java_trust_check
from rdstrust.options import VerifyOptions
from rdstrust.pathcheck import PathFailure
from rdstrust.stores import StoreType
from rdstrust.verify import required_cas, verify_store

pytestmark = pytest.mark.jvm

TEMURIN_25 = Path("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java")


@pytest.fixture(scope="module")
def java() -> str:
    require_tool("java")
    found = find_java()
    assert found is not None
    return found


@pytest.fixture(scope="module")
def required():  # type: ignore[no-untyped-def]
    return required_cas(read_bundle(G1))


# (store content, chain, host name, time, rdstrust's expected path failure or None)
CASES = {
    "g1-trusted": (lambda: certs(G1), "rsa2048-g1-us-east-1", "localhost", None, None),
    "g1-ecc-by-ip": (lambda: certs(G1), "ecc384-g1-ap-southeast-2", "127.0.0.1", None, None),
    "without-new-ca": (
        lambda: certs(G1, drop=[NEW_CA]),
        "rsa2048-g1-us-east-1",
        "localhost",
        None,
        PathFailure.UNKNOWN_ISSUER,
    ),
    "only-old-ca": (
        lambda: certs(OLD),
        "rsa2048-g1-us-east-1",
        "localhost",
        None,
        PathFailure.UNKNOWN_ISSUER,
    ),
    "wrong-host": (
        lambda: certs(G1),
        "rsa2048-g1-us-east-1",
        "db.example.com",
        None,
        PathFailure.HOSTNAME_MISMATCH,
    ),
    "unrelated-chain": (
        lambda: certs(G1),
        "unrelated",
        "localhost",
        None,
        PathFailure.UNKNOWN_ISSUER,
    ),
    "expired-at-2061": (
        lambda: certs(G1),
        "rsa2048-g1-us-east-1",
        "localhost",
        datetime(2061, 6, 1, tzinfo=timezone.utc),
        PathFailure.EXPIRED,
    ),
    "old-chain-expired-now": (
        lambda: certs(OLD, G1, EXPIRED),
        "2019-us-east-1",
        "localhost",
        None,
        PathFailure.EXPIRED,
    ),
}


@pytest.mark.parametrize("kind", ["jks", "pkcs12"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_java_agrees_with_rdstrust(
    tmp_path: Path,
    java: str,
    required,  # type: ignore[no-untyped-def]
    kind: str,
    case: str,
) -> None:
    content, chain_name, host, at, failure = CASES[case]
    store = make_store(tmp_path, kind, content())
    report = verify_store(
        store,
        required,
        password=password_for(kind),
        options=VerifyOptions(chain=chain(chain_name), hostname=host, at=at, java=java),
    )
    assert report.path is not None
    assert report.path.failure is failure, report.path.message
    assert report.java is not None and report.java.verdict is not None
    verdict = report.java.verdict
    assert verdict.loaded, verdict.message
    assert verdict.anchors == len(content())
    assert verdict.ok is (failure is None), verdict.message
    assert report.java.agrees is True
    if failure is PathFailure.HOSTNAME_MISMATCH:
        assert verdict.trusted and verdict.hostname_ok is False
    if failure is PathFailure.UNKNOWN_ISSUER:
        assert "unable to find valid certification path" in verdict.message
    if failure is PathFailure.EXPIRED:
        assert "validity check failed" in verdict.message or "expired" in verdict.message.lower()


@pytest.mark.parametrize("case", ["g1-trusted", "without-new-ca"])
def test_java_agrees_on_password_less_pkcs12(
    tmp_path: Path, java: str, required, case: str
) -> None:  # type: ignore[no-untyped-def]
    """A JDK 18+ cacerts-style PKCS12: no password, certificates in the clear."""
    content, chain_name, host, _at, failure = CASES[case]
    store = make_store(tmp_path, "pkcs12-open", content())
    report = verify_store(
        store,
        required,
        password=None,
        options=VerifyOptions(chain=chain(chain_name), hostname=host, java=java),
    )
    assert report.java is not None and report.java.verdict is not None
    assert report.java.verdict.anchors == len(content())
    assert report.java.verdict.ok is (failure is None) and report.java.agrees is True


def test_java_agrees_without_hostname(tmp_path: Path, java: str) -> None:
    store = make_store(tmp_path, "jks", certs(G1))
    verdict = java_trust_check(
        store, StoreType.JKS, chain("rsa2048-g1-us-east-1"), java=java, password=PASSWORD
    )
    assert verdict.ok and verdict.hostname_ok is None


def test_pkcs12_without_trust_attribute_java_sees_no_anchor(tmp_path: Path, java: str) -> None:
    store = make_store(tmp_path, "pkcs12-plain", certs(G1))
    verdict = java_trust_check(
        store, StoreType.PKCS12, chain("rsa2048-g1-us-east-1"), java=java, password=PASSWORD
    )
    assert verdict.loaded and verdict.anchors == 0 and not verdict.trusted
    assert "no trusted certificate" in verdict.message
    # negative control: the same certificates with the attribute are anchors
    store = make_store(tmp_path, "pkcs12", certs(G1))
    verdict = java_trust_check(
        store, StoreType.PKCS12, chain("rsa2048-g1-us-east-1"), java=java, password=PASSWORD
    )
    assert verdict.ok and verdict.anchors == 9


def test_encrypted_pkcs12_without_password_has_no_anchors_for_java(
    tmp_path: Path, java: str
) -> None:
    """The fact that bites: Java loads it "fine" and silently trusts nothing."""
    store = make_store(tmp_path, "pkcs12-encrypted", certs(G1))
    verdict = java_trust_check(
        store, StoreType.PKCS12, chain("rsa2048-g1-us-east-1"), java=java, password=None
    )
    assert verdict.loaded and verdict.anchors == 0 and not verdict.ok
    with_password = java_trust_check(
        store, StoreType.PKCS12, chain("rsa2048-g1-us-east-1"), java=java, password=PASSWORD
    )
    assert with_password.ok and with_password.anchors == 9


def test_wrong_password_java_cannot_load(tmp_path: Path, java: str) -> None:
    store = make_store(tmp_path, "jks", certs(G1))
    verdict = java_trust_check(
        store, StoreType.JKS, chain("rsa2048-g1-us-east-1"), java=java, password="wrong"
    )
    assert not verdict.loaded and not verdict.ok
    assert "password" in verdict.message.lower() or "tampered" in verdict.message


def test_password_never_on_the_java_command_line(tmp_path: Path) -> None:
    """The password travels in the child's environment only (argv is world-readable)."""
    record = tmp_path / "seen"
    fake = tmp_path / "java"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "ARGS $*" > {record}\n'
        f'echo "ENV $RDSTRUST_STORE_PASSWORD" >> {record}\n'
        'echo \'{"trusted":true,"hostname_ok":null,"anchors":9,"auth_type":"x",'
        '"java_version":"fake","message":"ok"}\'\n'
    )
    fake.chmod(0o755)
    store = make_store(tmp_path, "jks", certs(G1))
    verdict = java_trust_check(
        store, StoreType.JKS, chain("rsa2048-g1-us-east-1"), java=str(fake), password="s3cret-pw"
    )
    assert verdict.ok
    args, env = record.read_text().splitlines()
    assert "s3cret-pw" not in args and str(store) in args
    assert env == "ENV s3cret-pw"


def test_keytool_made_stores(tmp_path: Path, java: str, required) -> None:  # type: ignore[no-untyped-def]
    """Stores written by keytool itself, not by rdstrust or cryptography."""
    keytool = require_tool("keytool")
    import subprocess

    root = CHAINS / "rsa2048-g1-us-east-1" / "root.pem"
    for store_type, name in (("JKS", "kt.jks"), ("PKCS12", "kt.p12")):
        store = tmp_path / name
        subprocess.run(
            [
                *(keytool, "-importcert", "-noprompt", "-alias", "rds", "-file", str(root)),
                *("-keystore", str(store), "-storetype", store_type, "-storepass", PASSWORD),
            ],
            check=True,
            capture_output=True,
        )
        good = verify_store(
            store,
            [c for c in required if c.alias == NEW_CA],
            password=PASSWORD,
            options=VerifyOptions(
                chain=chain("rsa2048-g1-us-east-1"), hostname="localhost", java=java
            ),
        )
        assert good.passed, good.reasons
        bad = verify_store(
            store,
            required,
            password=PASSWORD,
            options=VerifyOptions(
                chain=chain("rsa4096-g1-us-east-1"), hostname="localhost", java=java
            ),
        )
        assert not bad.passed
        assert bad.java is not None and bad.java.agrees is True
        assert bad.java.verdict is not None and not bad.java.verdict.ok


@pytest.mark.skipif(not TEMURIN_25.exists(), reason="Temurin 25 not installed")
def test_temurin_25_agrees(tmp_path: Path, required) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, "pkcs12", certs(G1, drop=[NEW_CA]))
    for chain_name, ok in (("rsa4096-g1-us-east-1", True), ("rsa2048-g1-us-east-1", False)):
        report = verify_store(
            store,
            required,
            password=PASSWORD,
            options=VerifyOptions(
                chain=chain(chain_name), hostname="localhost", java=str(TEMURIN_25)
            ),
        )
        assert report.java is not None and report.java.verdict is not None
        assert report.java.verdict.java_version.startswith("25")
        assert report.java.verdict.ok is ok and report.java.agrees is True


def test_find_java(tmp_path: Path, java: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_java(tmp_path / "nope") is None
    jdk = Path(java).resolve().parent.parent
    assert find_java(jdk) == str(jdk / "bin" / "java")
    monkeypatch.setenv("JAVA_HOME", str(jdk))
    assert find_java() == str(jdk / "bin" / "java")


def test_find_java_looks_up_a_bare_name_on_path(
    tmp_path: Path, java: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bare command name is looked up on PATH as a shell would, not in the current directory.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mine = bin_dir / "java-for-rdstrust"
    mine.symlink_to(Path(java).resolve())
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert find_java("java-for-rdstrust") == str(mine)
    assert find_java("java") == shutil.which("java")
    # Control: a name that is on no PATH entry is not found.
    assert find_java("no-such-java-for-rdstrust") is None


def test_cli_java_bare_name_and_env(
    tmp_path: Path, java: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path, "jks", certs(G1))
    monkeypatch.setenv("PATH", f"{Path(java).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    args = ["-s", str(store), "--bundle", str(G1), "--storepass", PASSWORD, "--jvm"]
    args += ["--chain", str(CHAINS / "rsa2048-g1-us-east-1" / "chain.pem")]
    code, out, err = run(*args, "--java", "java")
    assert code == 0, err
    assert "(agrees)" in out
    monkeypatch.setenv("RDSTRUST_JAVA", "java")
    code, out, err = run(*args)
    assert code == 0, err
    # Control: a bare name that is nowhere on PATH is exit 7, one line.
    monkeypatch.setenv("RDSTRUST_JAVA", "no-such-java-for-rdstrust")
    code, out, err = run(*args)
    assert code == 7 and out == "" and err.startswith("rdstrust: error: --jvm needs Java")


def test_not_a_java(tmp_path: Path) -> None:
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'Error: this is no JVM' >&2\nexit 1\n")
    fake.chmod(0o755)
    store = make_store(tmp_path, "jks", certs(G1))
    with pytest.raises(ToolMissingError, match="this is no JVM"):
        java_trust_check(store, StoreType.JKS, chain("rsa2048-g1-us-east-1"), java=str(fake))


def test_cli_jvm(tmp_path: Path, java: str) -> None:
    good = make_store(tmp_path, "jks", certs(G1))
    (tmp_path / "bad").mkdir()
    bad = make_store(tmp_path / "bad", "jks", certs(OLD))
    code, out, err = run(
        *("-s", str(good), "-s", str(bad), "--bundle", str(G1), "--storepass", PASSWORD),
        *("--chain", str(CHAINS / "rsa2048-g1-us-east-1" / "chain.pem")),
        *("--server-name", "localhost", "--jvm", "--java", java, "--json"),
    )
    assert code == 1, err
    data = json.loads(out)
    java_results = [s["java"] for s in data["stores"]]
    assert [j["verdict"]["trusted"] for j in java_results] == [True, False]
    assert [j["agrees"] for j in java_results] == [True, True]
    # the table names Java's verdict beside rdstrust's
    code, out, _ = run(
        *("-s", str(good), "--bundle", str(G1), "--storepass", PASSWORD, "--jvm"),
        *("--chain", str(CHAINS / "rsa2048-g1-us-east-1" / "chain.pem"), "--java", java),
    )
    assert code == 0 and "jvm" in out and "(agrees)" in out


def test_cli_jvm_pem_store_is_explained(tmp_path: Path, java: str) -> None:
    store = make_store(tmp_path, "pem", certs(G1))
    code, out, _ = run(
        *("-s", str(store), "--bundle", str(G1), "--jvm", "--java", java),
        *("--chain", str(FIXTURES / "chains" / "rsa2048-g1-us-east-1" / "chain.pem")),
    )
    assert code == 0 and "Java reads no PEM trust stores" in out


def test_at_is_passed_to_java(tmp_path: Path, java: str) -> None:
    store = make_store(tmp_path, "jks", certs(OLD))
    old = chain("2019-us-east-1")
    then = datetime(2023, 6, 1, tzinfo=timezone.utc)
    assert java_trust_check(store, StoreType.JKS, old, java=java, at=then).ok
    assert not java_trust_check(store, StoreType.JKS, old, java=java, at=NOW).ok
