"""Issue 11: a PKCS12 truststore rdstrust creates with a password works in a real JVM with the
printed ``-Djavax.net.ssl.trustStore...`` settings, with and without the password property.

Certificates are stored unencrypted with an integrity MAC (JDK 18+ keytool's shape for
certificate-only stores): without ``trustStorePassword`` Java skips the MAC and sees every
anchor; with the right one it verifies the MAC; with a wrong one it refuses the store. The
negative twin is the older shape (certificates encrypted), which without the password leaves
Java with no anchor at all ("the trustAnchors parameter must be non-empty").
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from support import FIXTURES, require_tool

from rdstrust.bundle import read_bundle
from rdstrust.clients import client_settings
from rdstrust.merge import merge_store
from rdstrust.options import MergeOptions
from rdstrust.stores import NewCert, StoreType, pkcs12, read_store

pytestmark = pytest.mark.jvm

PW = "app-secret-42"
G1 = FIXTURES / "bundles" / "g1.pem"

# What the settings configure: the JSSE default trust manager, built from the system properties
# exactly as an application's first TLS connection would build it.
ANCHORS_JAVA = """
import java.security.KeyStore;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class Anchors {
    public static void main(String[] args) throws Exception {
        TrustManagerFactory f =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        try {
            f.init((KeyStore) null);
        } catch (Exception e) {
            Throwable t = e;
            while (t.getCause() != null) t = t.getCause();
            System.out.println("ERROR " + e.getMessage() + " / " + t.getMessage());
            return;
        }
        for (TrustManager t : f.getTrustManagers()) {
            if (t instanceof X509TrustManager) {
                System.out.println("ANCHORS " + ((X509TrustManager) t).getAcceptedIssuers().length);
            }
        }
    }
}
"""


def _anchors(tmp_path: Path, options: list[str], password: str | None) -> str:
    """Run the program with the printed options through a shell, as a user would paste them."""
    java = require_tool("java")
    source = tmp_path / "Anchors.java"
    source.write_text(ANCHORS_JAVA)
    env = {"PATH": "/usr/bin:/bin", **({"STOREPASS": password} if password is not None else {})}
    command = f"{shlex.quote(java)} {' '.join(options)} {shlex.quote(str(source))}"
    proc = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _without_password(options: tuple[str, ...]) -> list[str]:
    return [o for o in options if not o.startswith("-Djavax.net.ssl.trustStorePassword=")]


@pytest.mark.parametrize("profile", ["modern", "legacy"])
def test_created_pkcs12_is_seen_by_java_with_and_without_the_password(
    tmp_path: Path, profile: str
) -> None:
    store = tmp_path / "app-truststore.p12"
    result = merge_store(
        store,
        read_bundle(G1),
        password=PW,
        options=MergeOptions(pkcs12_profile=profile, backup=False),
    )
    assert result.written and len(result.added) == 9
    contents = read_store(store, None)  # rdstrust too reads it without the password
    assert len(contents.trusted()) == 9 and not contents.password_required
    settings = client_settings(store, StoreType.PKCS12, password_env="STOREPASS")
    printed = list(settings.java_options)
    assert "-Djavax.net.ssl.trustStorePassword=$STOREPASS" in printed
    # As printed, with the password: the MAC is verified and every anchor is there.
    assert _anchors(tmp_path, printed, PW) == "ANCHORS 9"
    # The password property left out (the README demo's mistake): still every anchor.
    assert _anchors(tmp_path, _without_password(settings.java_options), None) == "ANCHORS 9"
    # A wrong password: Java checks the MAC and refuses the store.
    wrong = _anchors(tmp_path, printed, "not-the-password")
    assert wrong.startswith("ERROR") and "integrity" in wrong  # "Failed PKCS12 integrity checking"


def test_encrypted_shape_without_the_password_gives_java_no_anchor(tmp_path: Path) -> None:
    """Negative twin: the shape rdstrust created before issue 11."""
    store = tmp_path / "encrypted.p12"
    certs = [NewCert.from_info(c) for c in read_bundle(G1)]
    store.write_bytes(pkcs12.create(certs, password=PW, encrypt_certificates=True))
    settings = client_settings(store, StoreType.PKCS12, password_env="STOREPASS")
    without = _anchors(tmp_path, _without_password(settings.java_options), None)
    assert "trustAnchors parameter must be non-empty" in without or without == "ANCHORS 0"
    # ... while with the password it works, so the store itself is fine.
    assert _anchors(tmp_path, list(settings.java_options), PW) == "ANCHORS 9"


def test_keytool_lists_the_created_store_without_a_password(tmp_path: Path) -> None:
    keytool = require_tool("keytool")
    store = tmp_path / "t.p12"
    merge_store(store, read_bundle(G1), password=PW, options=MergeOptions(backup=False))

    def listed(*password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [keytool, "-list", "-keystore", str(store), "-storetype", "PKCS12", *password],
            input="\n",
            capture_output=True,
            text=True,
            check=False,
        )

    with_pw = listed("-storepass", PW)
    assert with_pw.returncode == 0 and with_pw.stdout.count("trustedCertEntry") == 9
    bad = listed("-storepass", "wrong-password")
    assert bad.returncode != 0 and "integrity check failed" in (bad.stdout + bad.stderr).lower()
    # keytool asks for the password; an empty answer loads it without one (MAC unchecked).
    no_pw = listed()
    assert no_pw.returncode == 0, no_pw.stdout + no_pw.stderr
    assert no_pw.stdout.count("trustedCertEntry") == 9
