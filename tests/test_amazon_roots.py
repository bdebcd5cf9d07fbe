"""The Amazon Trust Services roots (RDS Proxy, Aurora Serverless v1): pinned, opt-in, verifiable.

Real data: Debian's ca-certificates package ships the five roots
(``/usr/share/ca-certificates/mozilla/Amazon_Root_CA_1.crt`` ...); the tests use those files as
the "downloaded" source and prove the pins match them. The network is never reached: the
download path is exercised against a local HTTPS mirror serving the same files.

Trust through these roots cannot be shown with a TLS server here: a server chain ending in
Amazon Root CA 1 needs Amazon's private key. The tests show instead that the stores hold the
genuine roots (the membership check ``verify --require amazon-roots``, and OpenSSL itself
verifying each self-signed root against the PEM store) and that without the opt-in they do not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from conftest import FIXTURES, IN_CI, require_tool
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from tls_server import HTTPSServer, Reply
from typer.testing import CliRunner

from rdstrust.amazon_roots import (
    PINNED_ROOTS,
    AmazonRootsSource,
    check_include,
    load_amazon_roots,
    split_require,
)
from rdstrust.bundle import read_bundle
from rdstrust.certs import sha256_hex
from rdstrust.cli import app
from rdstrust.errors import BundleError, UsageError
from rdstrust.fetch import SourceOptions, fetch_bundle
from rdstrust.stores import read_store
from rdstrust.transport import DownloadPolicy

G1 = FIXTURES / "bundles" / "g1.pem"
MOZILLA = Path("/usr/share/ca-certificates/mozilla")
DEBIAN_FILES = {
    "amazon-root-ca-1": "Amazon_Root_CA_1.crt",
    "amazon-root-ca-2": "Amazon_Root_CA_2.crt",
    "amazon-root-ca-3": "Amazon_Root_CA_3.crt",
    "amazon-root-ca-4": "Amazon_Root_CA_4.crt",
    "starfield-services-root-certificate-authority-g2": (
        "Starfield_Services_Root_Certificate_Authority_-_G2.crt"
    ),
}
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RDSTRUST_STOREPASS", "changeit")


@pytest.fixture
def debian_roots() -> Path:
    """Debian's copies of the five roots (the ca-certificates package; .ci/run installs it)."""
    if not all((MOZILLA / name).is_file() for name in DEBIAN_FILES.values()):
        if IN_CI:
            pytest.fail("Debian's ca-certificates package is required in CI")
        pytest.skip("Debian's /usr/share/ca-certificates/mozilla is not present")
    return MOZILLA


@pytest.fixture
def roots_dir(tmp_path: Path, debian_roots: Path) -> Path:
    """A mirror directory holding only the five roots, under AWS's file names."""
    out = tmp_path / "amazon"
    out.mkdir()
    for pinned in PINNED_ROOTS:
        shutil.copy(debian_roots / DEBIAN_FILES[pinned.alias], out / pinned.aws_file)
    return out


def load(path: Path) -> x509.Certificate:
    with warnings.catch_warnings():
        # Starfield's root has a serial number cryptography calls non-positive; it is the
        # genuine root all the same.
        warnings.simplefilter("ignore")
        return x509.load_pem_x509_certificate(path.read_bytes())


def der_of(path: Path) -> bytes:
    return load(path).public_bytes(Encoding.DER)


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def tampered_pem(path: Path) -> bytes:
    """``path``'s certificate with one byte of its signature changed (still parses)."""
    der = bytearray(der_of(path))
    der[-1] ^= 0x01
    cert = x509.load_der_x509_certificate(bytes(der))
    return cert.public_bytes(Encoding.PEM)


# --- the pins ----------------------------------------------------------------------------------


def test_pins_match_debians_files(debian_roots: Path) -> None:
    assert len(PINNED_ROOTS) == 5
    for pinned in PINNED_ROOTS:
        path = debian_roots / DEBIAN_FILES[pinned.alias]
        cert = load(path)
        assert sha256_hex(der_of(path)) == pinned.sha256, pinned.common_name
        cn = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
        assert cn == pinned.common_name


def test_load_from_a_directory_takes_only_the_pinned_roots(debian_roots: Path) -> None:
    # The whole Mozilla directory (about 140 roots): only the five pinned ones are taken.
    roots = load_amazon_roots(AmazonRootsSource(path=debian_roots))
    assert [r.alias for r in roots] == [p.alias for p in PINNED_ROOTS]
    assert [r.sha256 for r in roots] == [p.sha256 for p in PINNED_ROOTS]
    assert all(r.is_ca and r.is_root for r in roots)


def test_load_from_one_concatenated_file(tmp_path: Path, roots_dir: Path) -> None:
    joined = tmp_path / "amazon.pem"
    joined.write_bytes(b"".join(p.read_bytes() for p in sorted(roots_dir.iterdir())))
    roots = load_amazon_roots(AmazonRootsSource(path=joined))
    assert {r.sha256 for r in roots} == {p.sha256 for p in PINNED_ROOTS}


def test_a_tampered_root_is_refused(roots_dir: Path) -> None:
    target = roots_dir / "AmazonRootCA1.pem"
    target.write_bytes(tampered_pem(target))
    with pytest.raises(BundleError, match="not the pinned") as caught:
        load_amazon_roots(AmazonRootsSource(path=roots_dir))
    assert "Amazon Root CA 1" in caught.value.message


def test_a_missing_root_is_refused(roots_dir: Path) -> None:
    (roots_dir / "SFSRootCAG2.pem").unlink()
    with pytest.raises(BundleError, match="does not hold Starfield Services"):
        load_amazon_roots(AmazonRootsSource(path=roots_dir))


def test_download_from_a_mirror_checks_the_pins(roots_dir: Path) -> None:
    with HTTPSServer() as server:
        for pinned in PINNED_ROOTS:
            body = (roots_dir / pinned.aws_file).read_bytes()
            server.route(f"/repository/{pinned.aws_file}", Reply(body=body))
        source = AmazonRootsSource(url=server.url("/repository/"))
        policy = DownloadPolicy(5.0, 0, 0.0, 1024 * 1024, 30.0, str(server.ca_file))
        roots = load_amazon_roots(source, policy=policy)
        assert [r.sha256 for r in roots] == [p.sha256 for p in PINNED_ROOTS]
        # The mirror now serves a tampered Amazon Root CA 3: refused.
        bad = tampered_pem(roots_dir / "AmazonRootCA3.pem")
        server.route("/repository/AmazonRootCA3.pem", Reply(body=bad))
        with pytest.raises(BundleError, match="Amazon Root CA 3"):
            load_amazon_roots(source, policy=policy)


def test_include_names_are_checked() -> None:
    assert check_include(["amazon-roots"]) is True
    assert check_include(None) is False
    with pytest.raises(UsageError, match="Unknown --include 'amazon-root'"):
        check_include(["amazon-root"])
    assert split_require(["rds-ca-rsa2048-g1,amazon-roots"]) == (["rds-ca-rsa2048-g1"], True)
    assert split_require(["rds-ca-rsa2048-g1"]) == (["rds-ca-rsa2048-g1"], False)


def test_fetch_adds_the_roots_and_the_saved_bundle_reads_back(
    tmp_path: Path, roots_dir: Path
) -> None:
    plain = fetch_bundle(SourceOptions(file=G1, use_cache=False))
    opts = SourceOptions(file=G1, use_cache=False, amazon_roots=AmazonRootsSource(path=roots_dir))
    result = fetch_bundle(opts)
    assert result.certificates == 14
    assert result.generations["amazon-roots"] == 5
    assert [c.alias for c in result.bundle.certificates[9:]] == [p.alias for p in PINNED_ROOTS]
    # The digest shown stays the RDS bundle's: what --expect-sha256 pins.
    assert result.sha256 == plain.sha256
    saved = tmp_path / "bundle.pem"
    code, _, stderr = invoke(
        "fetch", "--source", str(G1), "--include", "amazon-roots",
        "--amazon-roots-source", str(roots_dir), "-o", str(saved), "--no-cache",
    )  # fmt: skip
    assert code == 0, stderr
    # No --allow-foreign: the pinned roots are identified by their bytes.
    again = read_bundle(saved)
    assert len(again) == 14
    assert {c.sha256 for c in again.certificates[9:]} == {p.sha256 for p in PINNED_ROOTS}


def test_a_pkcs7_source_becomes_pem_with_the_roots(
    tmp_path: Path, roots_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p7b = FIXTURES / "bundles" / "g1.p7b"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, _, stderr = invoke(
        "fetch", "--source", str(p7b), "--include", "amazon-roots",
        "--amazon-roots-source", str(roots_dir), "--no-cache",
    )  # fmt: skip
    assert code == 0, stderr
    # The default output is named by what it holds: PEM, the 9 RDS CAs and the 5 roots.
    saved = work / "global-bundle.pem"
    assert [p.name for p in work.iterdir()] == [saved.name]
    assert len(read_bundle(saved)) == 14


def test_other_foreign_roots_stay_refused(tmp_path: Path, debian_roots: Path) -> None:
    # Exactly the pinned ones pass: another well-known root (or a tampered Amazon one) does not.
    for extra in (
        (debian_roots / "ISRG_Root_X1.crt").read_bytes(),
        tampered_pem(debian_roots / "Amazon_Root_CA_2.crt"),
    ):
        mixed = tmp_path / "mixed.pem"
        mixed.write_bytes(G1.read_bytes() + extra)
        with pytest.raises(BundleError, match="not an Amazon RDS CA"):
            read_bundle(mixed)


def test_option_misuse_is_a_usage_error(tmp_path: Path, roots_dir: Path) -> None:
    out = str(tmp_path / "b.pem")
    code, _, stderr = invoke("fetch", "--source", str(G1), "--include", "proxy", "-o", out)
    assert code == 2 and "Unknown --include" in stderr
    code, _, stderr = invoke(
        "fetch", "--source", str(G1), "--amazon-roots-source", str(roots_dir), "-o", out
    )
    assert code == 2 and "goes with --include" in stderr
    code, _, stderr = invoke("fetch", "--include", "amazon-roots", "--format", "p7b", "-o", out)
    assert code == 2 and "--format pem" in stderr
    assert not Path(out).exists()


# --- into stores, and verified -----------------------------------------------------------------


def test_update_with_include_puts_the_roots_in_every_store_type(
    tmp_path: Path, roots_dir: Path
) -> None:
    stores = [tmp_path / "t.jks", tmp_path / "t.p12", tmp_path / "ca.pem"]
    pinned = {p.sha256 for p in PINNED_ROOTS}
    base = ["update", "--source", str(G1), "--create", "--json"]
    for store in stores:
        base += ["-s", str(store)]
    # Negative control first: without the opt-in, nothing Amazon reaches the stores.
    code, _, stderr = invoke(*base)
    assert code == 0, stderr
    for store in stores:
        assert not read_store(store, "changeit").fingerprints() & pinned
    code, stdout, stderr = invoke(
        *base, "--include", "amazon-roots", "--amazon-roots-source", str(roots_dir)
    )
    assert code == 0, stderr
    assert [s["status"] for s in json.loads(stdout)["stores"]] == ["updated"] * 3
    for store in stores:
        contents = read_store(store, "changeit")
        assert pinned <= contents.fingerprints(), store
        aliases = {e.alias for e in contents.trusted() if e.sha256 in pinned}
        if store.suffix != ".pem":  # a PEM store has no aliases
            assert aliases == {p.alias for p in PINNED_ROOTS}
    # Idempotent: a second run adds nothing.
    code, stdout, _ = invoke(
        *base, "--include", "amazon-roots", "--amazon-roots-source", str(roots_dir)
    )
    assert code == 0
    assert [s["status"] for s in json.loads(stdout)["stores"]] == ["up-to-date"] * 3


def test_verify_require_amazon_roots(tmp_path: Path, roots_dir: Path) -> None:
    with_roots = tmp_path / "with-roots.pem"
    code, _, stderr = invoke(
        "fetch", "--source", str(G1), "--include", "amazon-roots",
        "--amazon-roots-source", str(roots_dir), "-o", str(with_roots), "--no-cache",
    )  # fmt: skip
    assert code == 0, stderr
    plain, full = tmp_path / "plain.jks", tmp_path / "full.jks"
    assert invoke("merge", "-b", str(G1), "-s", str(plain))[0] == 0
    assert invoke("merge", "-b", str(with_roots), "-s", str(full))[0] == 0
    verify = ["verify", "--bundle", str(with_roots), "--require", "amazon-roots", "--json"]
    code, stdout, stderr = invoke(*verify, "-s", str(full))
    assert code == 0, stderr
    report = json.loads(stdout)
    assert len(report["reference"]["required"]) == 9 + 5
    # The negative twin: the store merged without the roots fails on exactly those five.
    code, stdout, _ = invoke(*verify, "-s", str(plain))
    assert code == 1
    missing = json.loads(stdout)["stores"][0]["membership"]["missing"]
    assert {m["sha256"] for m in missing} == {p.sha256 for p in PINNED_ROOTS}
    # Without --require amazon-roots the plain store passes, as before.
    assert invoke("verify", "--bundle", str(with_roots), "-s", str(plain))[0] == 0
    # A reference bundle without the roots cannot require them.
    code, _, stderr = invoke("verify", "--bundle", str(G1), "--require", "amazon-roots",
                             "-s", str(full))  # fmt: skip
    assert code == 3 and "fetch --include amazon-roots" in stderr


def test_openssl_trusts_the_roots_only_from_the_store_that_has_them(
    tmp_path: Path, roots_dir: Path
) -> None:
    openssl = require_tool("openssl")
    with_roots, without = tmp_path / "with.pem", tmp_path / "without.pem"
    args = ["update", "--source", str(G1), "--create"]
    assert invoke(*args, "-s", str(without))[0] == 0
    code, _, stderr = invoke(
        *args, "-s", str(with_roots), "--include", "amazon-roots",
        "--amazon-roots-source", str(roots_dir),
    )  # fmt: skip
    assert code == 0, stderr
    for pinned in PINNED_ROOTS:
        cert = roots_dir / pinned.aws_file
        ok = subprocess.run(
            [openssl, "verify", "-no-CApath", "-no-CAstore", "-CAfile", str(with_roots), str(cert)],
            capture_output=True,
            text=True,
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        refused = subprocess.run(
            [openssl, "verify", "-no-CApath", "-no-CAstore", "-CAfile", str(without), str(cert)],
            capture_output=True,
            text=True,
        )
        assert refused.returncode != 0
