"""An Amazon-RDS-named CA is an RDS CA only if AWS published its bytes.

Every test here runs under rdstrust's safe default (the ``safe_default`` fixture undoes the suite's
opt-in for the fake PKI in ``fixtures/``): the real bundles are fully known, the fake PKI's
"Amazon RDS ..." CAs are refused from files, mirrors and the cache with one sentence, and taken
only fresh from the official URL or on purpose.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from support import FIXTURES, REAL_BUNDLE_COUNTS, ROOT, shared_bundle
from tls_server import HTTPSServer, Reply
from typer.testing import CliRunner

from rdstrust import catalogue
from rdstrust import fetch as fetch_module
from rdstrust.bundle import parse_bundle, parse_certificates, read_bundle
from rdstrust.certs import Generation, der_to_pem, describe
from rdstrust.cli import app
from rdstrust.errors import BundleError, ExitCode
from rdstrust.fetch import Partition, SourceOptions, fetch_bundle
from rdstrust.known_cas import (
    DATA_FILE,
    KnownCasError,
    UnknownRdsCaError,
    accepting_unknown_rds,
    known_rds_cas,
    parse_known_list,
    render_known_list,
)
from rdstrust.listing import list_store
from rdstrust.merge import merge_store

pytestmark = pytest.mark.usefixtures("safe_default")

runner = CliRunner()
G1 = FIXTURES / "bundles" / "g1.pem"
FOREIGN = FIXTURES / "bundles" / "foreign.pem"
PACKAGED = ROOT / "src" / "rdstrust" / DATA_FILE
PATH = "/global/global-bundle.pem"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "refresh_known_cas", ROOT / "scripts" / "refresh_known_cas.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fixture_fingerprints() -> set[str]:
    found = set()
    for path in FIXTURES.rglob("*.pem"):
        try:
            _fmt, certs = parse_certificates(path.read_bytes(), source=str(path))
        except BundleError:
            continue
        found.update(describe(c, der).sha256 for c, der in certs)
    return found


# (a) the real bundles ------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(REAL_BUNDLE_COUNTS))
def test_every_real_bundle_is_known_under_the_safe_default(name: str) -> None:
    bundle = read_bundle(shared_bundle(name))
    assert len(bundle) == REAL_BUNDLE_COUNTS[name]
    assert all(c.known and c.is_rds and not c.unknown_rds for c in bundle)
    assert bundle.notes == ()


@pytest.mark.realdata
def test_the_packaged_list_is_exactly_what_the_script_makes_of_the_real_bundles(
    tmp_path: Path,
) -> None:
    bundles = [shared_bundle(name) for name in sorted(REAL_BUNDLE_COUNTS)]
    output = tmp_path / "known.txt"
    assert _load_script().main([*map(str, bundles), "--output", str(output)]) == 0
    assert output.read_text("ascii") == PACKAGED.read_text("ascii")
    assert len(known_rds_cas()) == 136  # distinct certificates across the eight bundles
    # Re-running learns nothing and changes nothing.
    assert _load_script().main([*map(str, bundles), "--output", str(output), "--check"]) == 0


def test_no_fake_fixture_ca_is_ever_in_the_list() -> None:
    fakes = _fixture_fingerprints()
    assert len(fakes) > 20  # the scan found the fake PKI
    assert not fakes & set(known_rds_cas())


def test_the_script_refuses_the_fake_pki_and_non_rds_certificates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "known.txt"
    output.write_text(PACKAGED.read_text("ascii"), "ascii")
    script = _load_script()
    assert script.main([str(G1), "--output", str(output)]) == 2
    assert "fake test PKI" in capsys.readouterr().err
    assert script.main([str(FOREIGN), "--output", str(output)]) == 2
    assert "not an Amazon-RDS-named CA" in capsys.readouterr().err
    assert output.read_text("ascii") == PACKAGED.read_text("ascii")


def test_the_script_only_adds_and_writes_subjects_on_one_printable_line(tmp_path: Path) -> None:
    """A refresh never drops a CA, and a hostile subject cannot forge a line of the list."""
    existing = parse_known_list(PACKAGED.read_text("ascii"))
    hostile = "CN=Amazon RDS x\n" + "a" * 64 + "  CN=forged\x1b[2J"
    text = render_known_list({**existing, "f" * 64: hostile})
    again = parse_known_list(text)
    assert set(again) == {*existing, "f" * 64}  # one new entry, no forged one, none dropped
    assert "\n" + "a" * 64 not in text and "\x1b" not in text
    assert render_known_list(again) == text  # stable when read back


def test_a_damaged_list_is_refused_with_a_sentence() -> None:
    with pytest.raises(KnownCasError, match="line 2 is not"):
        parse_known_list("# header\nnot-a-fingerprint  CN=x\n")
    with pytest.raises(KnownCasError):
        parse_known_list("A" * 64 + "  upper-case hex is not what the script writes\n")


# (b) the fake PKI from a file, refused by default --------------------------------------------


def test_a_fake_rds_ca_from_a_file_is_refused_with_one_sentence() -> None:
    with pytest.raises(UnknownRdsCaError) as info:
        read_bundle(G1)
    error = info.value
    assert error.exit_code is ExitCode.BAD_BUNDLE and isinstance(error, BundleError)
    first = next(c for c in parse_bundle(G1.read_bytes(), accept_unknown_rds=True))
    assert str(error) == (
        f"{G1}: certificate {first.alias} (SHA-256 {first.sha256[:16]}) and 8 more are named as "
        "Amazon RDS CAs but are not ones AWS has published; refusing the bundle: such a CA is "
        "taken only from the official download URL over verified HTTPS, or on purpose with "
        "--accept-unknown-rds."
    )
    assert len(error.fingerprints) == 9
    # allow_foreign is about certificates that do not claim to be RDS CAs; it does not cover these.
    with pytest.raises(UnknownRdsCaError):
        read_bundle(G1, allow_foreign=True)


def test_the_fake_ca_is_reported_as_unknown_but_keeps_its_claimed_generation() -> None:
    info = next(iter(parse_bundle(G1.read_bytes(), accept_unknown_rds=True)))
    assert info.is_rds and not info.known and info.unknown_rds
    assert info.generation in {
        Generation.RSA2048_G1,
        Generation.RSA4096_G1,
        Generation.ECC384_G1,
    }


@pytest.mark.parametrize("command", ["merge", "split", "fetch", "update", "verify"])
def test_the_cli_refuses_the_fake_pki_from_a_file_and_writes_nothing(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))
    args = {
        "merge": ["merge", "-b", str(G1), "-s", "store.pem"],
        "split": ["split", str(G1), "-d", "out"],
        "fetch": ["fetch", "--source", str(G1), "-o", "out.pem"],
        "update": ["update", "--source", str(G1), "--store", "store.pem"],
        "verify": ["verify", "--bundle", str(G1), "-s", str(G1)],
    }[command]
    result = runner.invoke(app, args)
    assert result.exit_code == ExitCode.BAD_BUNDLE, result.output
    assert "and 8 more are named as Amazon RDS CAs but are not ones AWS has published" in (
        result.stderr
    )
    assert "--accept-unknown-rds" in result.stderr
    assert result.stderr.count("rdstrust: error:") == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# (c) accepted on purpose -----------------------------------------------------------------------


def test_the_fake_pki_is_taken_on_purpose_with_the_opt_in_and_says_so() -> None:
    bundle = read_bundle(G1, accept_unknown_rds=True)
    assert len(bundle) == 9 and not any(c.known for c in bundle)
    assert len(bundle.notes) == 1 and bundle.notes[0].startswith(
        "taken on purpose (--accept-unknown-rds): 9 Amazon-RDS-named CAs that AWS has not published"
    )
    with accepting_unknown_rds():
        assert read_bundle(G1).certificates == bundle.certificates
        # An explicit argument wins over the enclosing scope.
        with pytest.raises(UnknownRdsCaError):
            read_bundle(G1, accept_unknown_rds=False)
    with pytest.raises(UnknownRdsCaError):  # the scope ended
        read_bundle(G1)


def test_the_cli_takes_the_fake_pki_with_the_option_or_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["split", str(G1), "-d", "a", "--accept-unknown-rds"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "a").glob("*.pem"))) == 9
    monkeypatch.setenv("RDSTRUST_ACCEPT_UNKNOWN_RDS", "1")
    result = runner.invoke(app, ["split", str(G1), "-d", "b"])
    assert result.exit_code == 0, result.output


def test_the_opt_in_reaches_a_separate_process_only_through_its_variable(tmp_path: Path) -> None:
    """The README's offline demo: ``--source fixtures/...`` needs the opt-in, in a real process."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "RDSTRUST_ACCEPT_UNKNOWN_RDS"}
    env["RDSTRUST_STOREPASS"] = "changeit"
    command = [sys.executable, "-m", "rdstrust", "update", "--source", str(G1)]
    refused = subprocess.run(
        [*command, "--store", str(tmp_path / "a.pem")], env=env, capture_output=True, text=True
    )
    assert refused.returncode == ExitCode.BAD_BUNDLE, refused.stderr
    assert not (tmp_path / "a.pem").exists()
    taken = subprocess.run(
        [*command, "--store", str(tmp_path / "a.pem"), "--accept-unknown-rds", "--create"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert taken.returncode == 0, taken.stderr
    assert (tmp_path / "a.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 9


def test_inspect_reports_an_unknown_rds_ca_in_a_store(tmp_path: Path) -> None:
    store = tmp_path / "store.pem"
    merge_store(store, read_bundle(G1, accept_unknown_rds=True), password=None)
    listing = list_store(store, None)
    assert [e.known for e in listing.entries] == [False] * 9
    assert all(e.generation for e in listing.entries)  # the claim is still shown
    assert any("not ones AWS has published (unknown" in n for n in listing.notes)
    result = runner.invoke(app, ["inspect", str(store), "--json"])
    assert result.exit_code == 0, result.output
    assert '"known": false' in result.stdout
    assert "not ones AWS has published" in result.stderr


@pytest.mark.realdata
def test_inspect_reports_published_cas_as_known(tmp_path: Path) -> None:
    store = tmp_path / "store.pem"
    store.write_bytes(shared_bundle("us-east-1-2024-10.pem").read_bytes())
    listing = list_store(store, None)
    # As a PEM store (what libpq's sslrootcert reads) the first certificate is not there: its
    # BEGIN line is indented, and OpenSSL skips such a block. The two it does read are known.
    assert [e.known for e in listing.entries] == [True] * 2
    assert not any("AWS has published" in n for n in listing.notes)


# (d) one bit is enough -------------------------------------------------------------------------


def _flip_last_bit(pem: bytes) -> bytes:
    cert = x509.load_pem_x509_certificate(pem)
    der = bytearray(cert.public_bytes(Encoding.DER))
    der[-1] ^= 0x01  # inside the signature: still parses, no longer the published bytes
    return der_to_pem(bytes(der))


@pytest.mark.realdata
def test_a_published_ca_with_one_bit_changed_is_not_known() -> None:
    real = shared_bundle("us-east-1-2024-10.pem").read_bytes()
    original = read_bundle(shared_bundle("us-east-1-2024-10.pem")).certificates[0]
    assert original.known
    forged = _flip_last_bit(original.pem())
    with pytest.raises(UnknownRdsCaError, match=original.alias) as info:
        parse_bundle(real + forged, source="forged.pem")
    assert len(info.value.fingerprints) == 1 and info.value.fingerprints[0] != original.sha256
    assert "is named as an Amazon RDS CA but is not one AWS has published" in str(info.value)
    taken = parse_bundle(forged, source="forged.pem", accept_unknown_rds=True)
    twin = taken.certificates[0]
    assert twin.subject == original.subject and not twin.known and twin.unknown_rds


def test_a_fake_ca_with_one_bit_changed_stays_unknown() -> None:
    """The same property without the shared bundles: a changed bit never makes a CA known."""
    first = read_bundle(G1, accept_unknown_rds=True).certificates[0]
    forged = parse_bundle(_flip_last_bit(first.pem()), accept_unknown_rds=True).certificates[0]
    assert forged.sha256 != first.sha256 and not forged.known


# (e) foreign CAs keep needing --allow-foreign --------------------------------------------------


def test_a_foreign_ca_still_needs_allow_foreign_even_with_the_opt_in() -> None:
    with pytest.raises(BundleError, match="--allow-foreign") as info:
        read_bundle(FOREIGN, accept_unknown_rds=True)
    assert not isinstance(info.value, UnknownRdsCaError)
    bundle = read_bundle(FOREIGN, allow_foreign=True)
    assert [c.known or c.is_rds for c in bundle] == [False]
    assert bundle.notes and bundle.notes[0].startswith("taken on purpose (--allow-foreign)")


def test_the_cli_refuses_a_foreign_ca_with_the_rds_opt_in(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["split", str(FOREIGN), "-d", str(tmp_path / "o"), "--accept-unknown-rds"]
    )
    assert result.exit_code == ExitCode.BAD_BUNDLE
    assert "--allow-foreign" in result.stderr and not (tmp_path / "o").exists()


# Where the bytes come from: the official URL, a mirror, the cache ------------------------------


@pytest.fixture
def official(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> HTTPSServer:
    """A real HTTPS server standing in for AWS's trust store host (the only seam: its address).

    It serves the fake PKI's bundle, which no list will ever hold, like a new region's CA.
    """
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))
    with HTTPSServer("rsa2048-g1-us-east-1") as server:
        monkeypatch.setitem(catalogue.HOSTS, Partition.AWS, server.url("").rstrip("/"))
        # The stand-in's CA cannot be put in the system's trust store, so the server is verified
        # with it (REQUESTS_CA_BUNDLE), and the one check that looks at how the server was
        # verified is told "system CAs only", as for AWS's real host. That check is tested on
        # its own below (test_the_official_url_verified_with_another_ca_is_no_proof).
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_file))
        monkeypatch.setattr(fetch_module, "_default_trust", lambda _opts: True)
        body = G1.read_bytes()

        def answer(request: object) -> Reply:
            if getattr(request, "headers", {}).get("if-none-match") == '"v1"':
                return Reply(304, b"", {"ETag": '"v1"'})
            return Reply(200, body, {"ETag": '"v1"'})

        server.route(PATH, answer)
        yield server  # type: ignore[misc]


def test_fresh_from_the_official_url_an_unknown_rds_ca_is_taken_and_noted(
    official: HTTPSServer,
) -> None:
    result = fetch_bundle(SourceOptions(backoff=0))
    assert result.certificates == 9 and not result.from_cache
    assert any("came from the official URL over verified HTTPS" in n for n in result.bundle.notes)


def test_the_official_url_verified_with_another_ca_is_no_proof(
    official: HTTPSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever holds a --ca-bundle / REQUESTS_CA_BUNDLE CA (a TLS-inspecting proxy's) can answer
    for AWS's host name: the same bytes are then refused like a mirror's."""
    monkeypatch.undo()  # the real _default_trust, and no REQUESTS_CA_BUNDLE
    monkeypatch.setitem(catalogue.HOSTS, Partition.AWS, official.url("").rstrip("/"))
    monkeypatch.setenv("NO_PROXY", "*")
    with pytest.raises(UnknownRdsCaError, match="--accept-unknown-rds"):
        fetch_bundle(SourceOptions(ca_bundle=official.ca_file, backoff=0, use_cache=False))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(official.ca_file))
    with pytest.raises(UnknownRdsCaError, match="--accept-unknown-rds"):
        fetch_bundle(SourceOptions(backoff=0, use_cache=False))


def test_the_same_bytes_from_a_mirror_url_are_refused(official: HTTPSServer) -> None:
    with pytest.raises(UnknownRdsCaError, match="are not ones AWS has published"):
        fetch_bundle(SourceOptions(url=official.url(PATH), ca_bundle=official.ca_file, backoff=0))
    with accepting_unknown_rds():
        assert (
            fetch_bundle(
                SourceOptions(url=official.url(PATH), ca_bundle=official.ca_file)
            ).certificates
            == 9
        )


def test_the_same_bytes_from_the_cache_after_a_304_are_fetched_afresh(
    official: HTTPSServer,
) -> None:
    """A 304 proves the server's version, not the bytes on disk (the cache can be tampered with):
    cached bytes holding an unknown CA are not taken; the official URL is asked again, without
    validators, and its fresh answer is what is accepted."""
    fetch_bundle(SourceOptions(backoff=0))
    again = fetch_bundle(SourceOptions(backoff=0))
    assert again.certificates == 9 and not again.from_cache
    assert [r.headers.get("if-none-match") for r in official.seen(PATH)] == [None, '"v1"', None]
    # Without the cache the official server is asked afresh, and its answer is taken again.
    assert fetch_bundle(SourceOptions(use_cache=False)).certificates == 9
