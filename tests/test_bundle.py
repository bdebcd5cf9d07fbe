"""Reading bundles: accepted shapes parse, refused ones say why, and nothing else escapes."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import BAD_BUNDLES, FIXTURES, REAL_BUNDLE_COUNTS, shared_bundle

from rdstrust import BundleError, Generation, parse_bundle, read_bundle
from rdstrust.bundle import assign_aliases, parse_certificates

G1 = FIXTURES / "bundles" / "g1.pem"


def g1_bytes() -> bytes:
    return G1.read_bytes()


# --- accepted shapes -------------------------------------------------------------------------


def test_plain_pem_bundle() -> None:
    bundle = parse_bundle(g1_bytes(), source="g1.pem")
    assert len(bundle) == 9
    assert bundle.format == "pem"
    assert {c.generation for c in bundle} == set(
        (Generation.RSA2048_G1, Generation.RSA4096_G1, Generation.ECC384_G1)
    )


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="utf8-bom"),
        pytest.param(lambda b: b.replace(b"\n", b"   \n"), id="trailing-spaces"),
        pytest.param(lambda b: b"Amazon RDS bundle\nsaved 2026\n\n" + b + b"\n# end\n", id="text"),
        pytest.param(
            lambda b: b.replace(b"-----\n-----BEGIN", b"-----\nnote\n-----BEGIN"), id="between"
        ),
    ],
)
def test_pem_tolerates_real_world_noise(mangle) -> None:  # type: ignore[no-untyped-def]
    bundle = parse_bundle(mangle(g1_bytes()), source="x.pem")
    assert len(bundle) == 9
    assert bundle.certificates == parse_bundle(g1_bytes()).certificates


def test_annotated_fixture() -> None:
    assert len(read_bundle(FIXTURES / "bundles" / "g1-annotated.pem")) == 9


@pytest.mark.parametrize(("name", "fmt"), [("g1.p7b", "pkcs7-der"), ("g1.p7b.pem", "pem")])
def test_pkcs7_bundles(name: str, fmt: str) -> None:
    bundle = read_bundle(FIXTURES / "bundles" / name)
    assert bundle.format == fmt
    assert {c.sha256 for c in bundle} == {c.sha256 for c in read_bundle(G1)}


def test_single_der_certificate() -> None:
    first = x509.load_pem_x509_certificates(g1_bytes())[0]
    bundle = parse_bundle(first.public_bytes(Encoding.DER), source="root.der")
    assert bundle.format == "der"
    assert len(bundle) == 1


def test_duplicates_collapse() -> None:
    data = g1_bytes()
    bundle = parse_bundle(data + data, source="twice.pem")
    assert len(bundle) == 9
    assert bundle.duplicates == 9


def test_mixed_fixture_generations_and_aliases() -> None:
    bundle = read_bundle(FIXTURES / "bundles" / "mixed.pem")
    aliases = [c.alias for c in bundle]
    assert "rds-ca-2019-root" in aliases
    assert "rds-ca-2019-us-east-1" in aliases
    assert "rds-ca-rsa2048-g1-us-east-1" in aliases
    assert "rds-ca-ecc384-g1-ap-southeast-2" in aliases
    assert len(set(aliases)) == len(aliases)
    assert all(a.isascii() and a == a.lower() for a in aliases)
    root = next(c for c in bundle if c.alias == "rds-ca-2019-root")
    assert root.is_root and root.expired()
    g1 = next(c for c in bundle if c.alias == "rds-ca-rsa4096-g1-eu-west-1")
    assert (g1.generation, g1.region, g1.key_type) == (
        Generation.RSA4096_G1,
        "eu-west-1",
        "RSA 4096",
    )
    assert not g1.expired()


def test_alias_collision_gets_fingerprint_suffix() -> None:
    bundle = read_bundle(G1)
    a, b = bundle.certificates[0], bundle.certificates[1]
    clash = assign_aliases([a, b.__class__(**{**b.__dict__, "alias": a.alias})])
    assert clash[0].alias == a.alias
    assert clash[1].alias == f"{a.alias}-{b.sha256[:8]}"
    # ...and against aliases already taken in a store.
    taken = assign_aliases([a], taken=[a.alias])
    assert taken[0].alias != a.alias


# --- refused inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        (b"  \n\r\n ", "is empty"),
        (b"<!DOCTYPE html><html><body>-----BEGIN CERTIFICATE-----</body></html>", "web page"),
        (b"hello world\n", "no PEM certificate blocks"),
        (b"-----BEGIN CERTIFICATE-----\nxxxx\n-----END CERTIFICATE-----\n", "placeholder"),
        (b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n", "base64"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "truncated"),
        (b"\x30\x82\x01\x00garbage", "neither a DER certificate nor a PKCS7"),
        (b"\x00\x01\x02binary", "binary data"),
    ],
)
def test_refused_with_one_clear_sentence(data: bytes, words: str) -> None:
    with pytest.raises(BundleError) as info:
        parse_bundle(data, source="input.pem")
    message = str(info.value)
    assert words in message
    assert "input.pem" in message
    assert "\n" not in message


def test_truncated_body_is_named() -> None:
    data = g1_bytes()
    first_end = data.index(b"-----END CERTIFICATE-----")
    cut = data[: first_end - 200] + data[first_end:]
    with pytest.raises(BundleError, match=r"cut off|not a valid"):
        parse_bundle(cut, source="cut.pem")


def test_private_key_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with pytest.raises(BundleError, match="private key"):
        parse_bundle(g1_bytes() + pem, source="k.pem")


def test_other_pem_block_is_refused() -> None:
    block = (
        b"-----BEGIN X509 CRL-----\n"
        + base64.encodebytes(b"\x30\x03\x02\x01\x00")
        + b"-----END X509 CRL-----\n"
    )
    with pytest.raises(BundleError, match="X509 CRL"):
        parse_bundle(g1_bytes() + block, source="crl.pem")


def test_leaf_only_is_refused() -> None:
    with pytest.raises(BundleError, match="no CA certificate"):
        read_bundle(FIXTURES / "bundles" / "leaf-only.pem")


def test_foreign_ca_refused_unless_allowed() -> None:
    data = g1_bytes() + (FIXTURES / "bundles" / "foreign.pem").read_bytes()
    with pytest.raises(BundleError, match="--allow-foreign") as info:
        parse_bundle(data, source="f.pem")
    assert "Unrelated Test Root CA" in str(info.value)
    bundle = parse_bundle(data, source="f.pem", allow_foreign=True)
    assert len(bundle) == 10
    assert bundle.notes and "Unrelated Test Root CA" in bundle.notes[0]
    foreign = bundle.certificates[-1]
    assert foreign.generation is Generation.UNKNOWN
    assert foreign.alias == "unrelated-test-root-ca"


def test_non_ca_next_to_cas_refused_unless_allowed() -> None:
    data = g1_bytes() + (FIXTURES / "bundles" / "leaf-only.pem").read_bytes()
    with pytest.raises(BundleError, match="not a CA"):
        parse_bundle(data, source="l.pem")
    assert len(parse_bundle(data, source="l.pem", allow_foreign=True)) == 10


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        read_bundle(tmp_path / "nope.pem")
    with pytest.raises(BundleError, match="directory"):
        read_bundle(tmp_path)


# --- real bundles ----------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "count"), sorted(REAL_BUNDLE_COUNTS.items()))
def test_real_bundles_parse(name: str, count: int) -> None:
    bundle = read_bundle(shared_bundle(name))
    assert len(bundle) == count
    assert all(c.is_rds and c.is_ca for c in bundle)
    assert len({c.alias for c in bundle}) == count
    if "mixed" not in name and "2024-02" not in name:
        assert {c.generation.value for c in bundle} == {
            "rds-ca-rsa2048-g1",
            "rds-ca-rsa4096-g1",
            "rds-ca-ecc384-g1",
        }


@pytest.mark.realdata
def test_real_pseudo_regions_and_2019() -> None:
    bundle = read_bundle(shared_bundle("global-2023-10-mixed.pem"))
    by_alias = {c.alias: c for c in bundle}
    assert by_alias["rds-ca-rsa2048-g1-beta-us-east-1"].region == "Beta us-east-1"
    assert by_alias["rds-ca-2019-root"].is_root
    assert by_alias["rds-ca-2019-preview-root"].generation is Generation.CA_2019
    assert not by_alias["rds-ca-2019-eu-west-1"].is_root
    assert by_alias["rds-ca-regional-af-south-1-root"].generation is Generation.REGIONAL


@pytest.mark.realdata
@pytest.mark.parametrize("name", BAD_BUNDLES)
def test_real_broken_files_refused(name: str) -> None:
    path = shared_bundle(f"bad/{name}")
    with pytest.raises(BundleError) as info:
        read_bundle(path)
    assert str(path) in str(info.value)


# --- property: anything parses or raises BundleError -----------------------------------------

_PIECES = st.sampled_from(
    [
        b"-----BEGIN CERTIFICATE-----\n",
        b"-----END CERTIFICATE-----\n",
        b"-----BEGIN PKCS7-----\n",
        b"-----END PKCS7-----\n",
        b"-----BEGIN PRIVATE KEY-----\n",
        b"MIIB",
        b"\x30\x82",
        b"<html>",
        b"\r\n",
        b"\xef\xbb\xbf",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=64), _PIECES), max_size=12))
def test_any_bytes_parse_or_raise_bundle_error(parts: list[bytes]) -> None:
    data = b"".join(parts)
    try:
        parse_bundle(data, source="fuzz")
    except BundleError as exc:
        assert str(exc)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=3000), st.binary(min_size=1, max_size=8))
def test_corrupted_real_shape_parses_or_raises(offset: int, junk: bytes) -> None:
    data = bytearray(g1_bytes())
    pos = offset % len(data)
    data[pos : pos + len(junk)] = junk
    try:
        parse_certificates(bytes(data), source="fuzz")
        parse_bundle(bytes(data), source="fuzz")
    except BundleError:
        pass


# --- import cost (issue 12) -------------------------------------------------------------------


def test_pkcs7_support_is_imported_only_for_pkcs7_input() -> None:
    # cryptography's pkcs7 module pulls in the email package: a PEM bundle must not pay for it.
    import subprocess
    import sys

    pkcs7 = "cryptography.hazmat.primitives.serialization.pkcs7"
    script = (
        "import sys\n"
        "from rdstrust.bundle import read_bundle\n"
        f"read_bundle({str(FIXTURES / 'bundles' / 'g1.pem')!r}, accept_unknown_rds=True)\n"
        f"print({pkcs7!r} in sys.modules)\n"
        f"read_bundle({str(FIXTURES / 'bundles' / 'g1.p7b')!r}, accept_unknown_rds=True)\n"
        f"print({pkcs7!r} in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "True"]


# --- PEM framing (issue 8.1, 8.7) -----------------------------------------------------------


def test_indented_begin_line_is_taken() -> None:
    # AWS's us-east-1 bundle of 2024-10 starts with four spaces before its first BEGIN line.
    bundle = parse_bundle(b"    " + g1_bytes(), source="indented.pem")
    assert bundle.certificates == parse_bundle(g1_bytes()).certificates


def test_x509_certificate_label_is_a_certificate() -> None:
    data = g1_bytes().replace(b"CERTIFICATE-----", b"X509 CERTIFICATE-----")
    assert len(parse_bundle(data, source="x509.pem")) == 9


def test_begin_after_other_text_on_its_line_is_refused() -> None:
    # OpenSSL does not see such a block: a bundle whose readers disagree is refused.
    data = g1_bytes() + b"note -----BEGIN CERTIFICATE-----\n"
    with pytest.raises(BundleError, match=r"line \d+ that does not start a PEM block"):
        parse_bundle(data, source="stray.pem")
