"""PKCS12 details: password encodings, OpenSSL interop, hostile parameters, BER, fresh salts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, require_tool
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.cli import app
from rdstrust.errors import StoreError, WrongPasswordError
from rdstrust.merge import merge_store
from rdstrust.options import MergeOptions
from rdstrust.stores import NewCert, StoreType, _pbe, create_store, parse_store, pkcs12, read_store
from rdstrust.stores import _der as der

PW = "changeit"
G1 = FIXTURES / "bundles" / "g1.pem"
OLD = FIXTURES / "bundles" / "old-2019.pem"
runner = CliRunner()


def _certs(bundle: Path = G1) -> list[NewCert]:
    return [NewCert.from_info(c) for c in read_bundle(bundle)]


def _openssl_p12(tmp_path: Path, name: str, password: str, *extra: str) -> Path:
    """A certificates-only PKCS12 made by ``openssl pkcs12 -export`` from the G1 fixtures."""
    out = tmp_path / name
    subprocess.run(
        [require_tool("openssl"), "pkcs12", "-export", "-nokeys", "-in", str(G1),
         "-passout", f"pass:{password}", "-out", str(out), *extra],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return out


# --------------------------------------------------------------------------- passwords


@pytest.mark.parametrize(
    ("store_type", "profile"),
    [(StoreType.PKCS12, "modern"), (StoreType.PKCS12, "legacy"), (StoreType.JKS, None)],
)
def test_password_that_is_not_text_is_one_sentence(
    tmp_path: Path, store_type: StoreType, profile: str | None
) -> None:
    # RDSTRUST_STOREPASS=$'\xff' reaches Python as the lone surrogate U+DCFF.
    bad = "\udcff"
    path = tmp_path / "s"
    path.write_bytes(create_store(store_type, _certs(), password=PW, profile=profile))
    with pytest.raises(WrongPasswordError, match=r"holds bytes that are not UTF-8 text"):
        read_store(path, bad)
    with pytest.raises(WrongPasswordError, match=r"not UTF-8 text"):
        create_store(store_type, _certs(), password=bad, profile=profile)
    _, loaded = parse_store(path.read_bytes(), source=str(path), password=PW)
    with pytest.raises(WrongPasswordError, match=rf"given for {path} holds bytes"):
        loaded.render(remove=frozenset(), add=[], password=bad)


@pytest.mark.parametrize("legacy", [False, True], ids=["modern", "legacy"])
def test_openssl_store_with_the_empty_password_is_read(tmp_path: Path, legacy: bool) -> None:
    # RFC 7292 B.1: "" is the BMPString 00 00; OpenSSL keys both MAC and PBE with it.
    store = _openssl_p12(tmp_path, "e.p12", "", *(["-legacy"] if legacy else []))
    contents = read_store(store, "")
    assert contents.fingerprints() == {c.sha256 for c in read_bundle(G1)}
    with pytest.raises(WrongPasswordError):
        read_store(store, "x")  # negative control: any other password is wrong
    result = runner.invoke(app, ["inspect", str(store), "--storepass", ""])
    assert result.exit_code == 0, result.output
    assert "9 trusted" in result.output


def test_empty_password_is_written_as_openssl_reads_it(tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    store = tmp_path / "e.p12"
    store.write_bytes(create_store(StoreType.PKCS12, _certs(), password="", profile="legacy"))

    def openssl_reads(password: str) -> bool:
        proc = subprocess.run(
            [openssl, "pkcs12", "-in", str(store), "-passin", f"pass:{password}", "-nokeys"],
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0 and proc.stdout.count(b"BEGIN CERTIFICATE") == 9

    assert openssl_reads("")
    assert not openssl_reads("x")
    # The MAC is keyed with the BMPString 00 00 itself, not with no bytes (which OpenSSL and
    # Java only accept on a retry).
    pfx = der.parse(store.read_bytes()).children()
    auth_safe = pfx[1].children()[1].children()[0].content
    digest_info, salt, count = pfx[2].children()
    stored = digest_info.children()[1].content
    keys = _pbe.KeyDeriver()
    value = _pbe.mac_value(
        "sha1", salt.content, der.to_int(count), b"\x00\x00", auth_safe, keys=keys
    )
    assert value == stored


def test_empty_password_without_the_terminator_is_still_read() -> None:
    # What rdstrust wrote before: the MAC keyed with no bytes at all instead of 00 00.
    bags = [pkcs12._cert_bag(c) for c in _certs()]
    auth_safe = der.seq(pkcs12._plain_envelope(bags))
    mac = pkcs12._Mac("sha256", b"0123456789abcdef", 2048)
    value = _pbe.mac_value(
        mac.digest, mac.salt, mac.iterations, b"", auth_safe, keys=_pbe.KeyDeriver()
    )
    digest_info = der.seq(
        der.seq(der.oid("2.16.840.1.101.3.4.2.1"), der.encode(der.NULL, b"")), der.octets(value)
    )
    pfx = der.seq(
        der.integer(3),
        der.seq(der.oid(pkcs12.OID_DATA), der.explicit0(der.octets(auth_safe))),
        der.seq(digest_info, der.octets(mac.salt), der.integer(mac.iterations)),
    )
    _, loaded = parse_store(pfx, source="old.p12", password="")
    assert len(loaded.entries) == 9
    with pytest.raises(WrongPasswordError):
        parse_store(pfx, source="old.p12", password="x")


# --------------------------------------------------------------------------- hostile parameters


def _set_integer(data: bytes, old: int, new: int, occurrence: int) -> bytes:
    """``data`` with the ``occurrence``-th INTEGER equal to ``old`` set to ``new``.

    Walks into constructed elements and into OCTET STRINGs that hold DER (the authenticated
    safe), re-encoding the lengths on the way out, as a damaged or hostile file would have them.
    """
    seen = 0

    def walk(tlv: der.Tlv) -> bytes:
        nonlocal seen
        if tlv.tag == der.INTEGER and der.to_int(tlv) == old:
            seen += 1
            if seen - 1 == occurrence:
                return der.encode(der.INTEGER, new.to_bytes(new.bit_length() // 8 + 1, "big"))
            return tlv.raw
        if tlv.tag & 0x20:
            return der.encode(tlv.tag, b"".join(walk(c) for c in tlv.children()))
        if tlv.tag == der.OCTET_STRING:
            try:
                inner = der.parse(tlv.content)
            except der.DerError:
                return tlv.raw
            if inner.tag & 0x20:
                return der.encode(der.OCTET_STRING, walk(inner))
        return tlv.raw

    out = walk(der.parse(data))
    assert seen > occurrence, "no such INTEGER"
    return out


@pytest.mark.parametrize(
    ("profile", "occurrence", "count", "what"),
    [
        ("modern", 0, 2**64, "PBKDF2 count that overflowed cryptography"),
        ("modern", 0, 2**31 - 1, "PBKDF2 count that hashed for hours"),
        ("modern", 1, 2**31 - 1, "MAC count"),
        ("legacy", 0, 2**31 - 1, "PKCS12 PBE count"),
        ("legacy", 1, 5_000_001, "MAC count just past the limit"),
    ],
)
def test_iteration_counts_are_capped(profile: str, occurrence: int, count: int, what: str) -> None:
    del what  # the test id
    # The older, encrypted shape: a MAC count and a PBE count to corrupt.
    data = pkcs12.create(_certs()[:2], password=PW, profile=profile, encrypt_certificates=True)
    hostile = _set_integer(data, pkcs12.ITERATIONS, count, occurrence)
    with pytest.raises(StoreError) as caught:
        parse_store(hostile, source="h.p12", password=PW)
    assert caught.value.message == (
        f"h.p12 uses {count:,} iterations, more than any real store (limit 5,000,000); "
        "it is damaged or hostile."
    )
    # Negative control: the same rewrite with the original count is a valid store.
    same = _set_integer(data, pkcs12.ITERATIONS, pkcs12.ITERATIONS, occurrence)
    assert same == data and len(parse_store(same, source="h.p12", password=PW)[1].entries) == 2


def test_zero_iterations_is_damage() -> None:
    data = pkcs12.create(_certs()[:1], password=PW, encrypt_certificates=True)
    with pytest.raises(StoreError, match="damaged PKCS12 file"):
        parse_store(_set_integer(data, pkcs12.ITERATIONS, 0, 1), source="z.p12", password=PW)


# --------------------------------------------------------------------------- BER


def _indefinite(element: bytes) -> bytes:
    """The same element with BER's indefinite length (``30 80 ... 00 00``)."""
    tlv = der.parse(element)
    return bytes([tlv.tag, 0x80]) + tlv.content + b"\x00\x00"


def test_ber_pkcs12_is_named_and_re_export_is_suggested(tmp_path: Path) -> None:
    data = create_store(StoreType.PKCS12, _certs(), password=PW)
    outer = der.parse(data)
    version, auth, mac = outer.children()
    variants = {
        "outer": _indefinite(data),
        "content-info": der.seq(version.raw, _indefinite(auth.raw), mac.raw),
    }
    for name, ber in variants.items():
        path = tmp_path / f"{name}.pfx"
        path.write_bytes(ber)
        with pytest.raises(StoreError) as caught:
            read_store(path, PW)
        assert caught.value.message == (
            f"{path} is a BER-encoded PKCS12 (from some Windows/IBM tools), which rdstrust "
            "cannot rewrite byte for byte; re-export it with keytool -importkeystore or "
            "openssl pkcs12 and try again."
        )
        result = runner.invoke(app, ["inspect", str(path), "--storepass", PW])
        assert result.exit_code == 5 and "BER-encoded PKCS12" in result.output
    # Negative control: a truncated DER store is not called BER.
    assert not pkcs12.looks_like_ber_pkcs12(data[:-10])
    with pytest.raises(StoreError, match="not a JKS, JCEKS, PKCS12 or PEM"):
        parse_store(data[:-10], source="t.p12", password=PW)


# --------------------------------------------------------------------------- re-encryption


def _encrypted_algs(data: bytes) -> list[der.Tlv]:
    """The encryption algorithm identifier of every encrypted envelope, in order."""
    auth_safe = der.parse(data).children()[1].children()[1].children()[0].content
    algs = []
    for info in der.parse(auth_safe).children():
        ci = info.children()
        if der.oid_str(ci[0]) == pkcs12.OID_ENCRYPTED_DATA:
            algs.append(ci[1].children()[0].children()[1].children()[1])
    return algs


def _salt_iv_and_rest(alg: der.Tlv) -> tuple[bytes, bytes | None, list[bytes]]:
    """(salt, IV or None, every other parameter's raw bytes) of a PBE identifier."""
    parts = alg.children()
    if der.oid_str(parts[0]) == pkcs12.OID_PBES2:
        kdf, scheme = parts[1].children()
        kp = kdf.children()[1].children()
        sp = scheme.children()
        rest = [kdf.children()[0].raw, *(p.raw for p in kp[1:]), sp[0].raw]
        return kp[0].content, sp[1].content, rest
    params = parts[1].children()
    return params[0].content, None, [parts[0].raw, params[1].raw]


@pytest.mark.parametrize("legacy", [False, True], ids=["modern", "legacy"])
def test_pruned_envelope_gets_a_fresh_salt_and_iv_and_keeps_its_settings(
    tmp_path: Path, legacy: bool
) -> None:
    openssl = require_tool("openssl")
    # An OpenSSL store holding expired rds-ca-2019 CAs and the G1 CAs in one encrypted envelope.
    both = tmp_path / "both.pem"
    both.write_bytes(OLD.read_bytes() + G1.read_bytes())
    store = tmp_path / "o.p12"
    args = ["-legacy", "-certpbe", "PBE-SHA1-3DES"] if legacy else []
    subprocess.run(
        [openssl, "pkcs12", "-export", "-nokeys", "-in", str(both), "-passout", f"pass:{PW}",
         "-out", str(store), *args],
        check=True,
        capture_output=True,
    )  # fmt: skip
    before = _encrypted_algs(store.read_bytes())
    assert len(before) == 1
    # Merging the (expired) 2019 bundle with pruning: four bags go, nothing is added.
    result = merge_store(
        store, read_bundle(OLD), password=PW, options=MergeOptions(prune_expired=True, backup=False)
    )
    assert len(result.pruned) == 4 and not result.added
    after = _encrypted_algs(store.read_bytes())
    old_salt, old_iv, old_rest = _salt_iv_and_rest(before[0])
    new_salt, new_iv, new_rest = _salt_iv_and_rest(after[0])
    assert new_rest == old_rest  # same cipher, KDF, PRF and iteration count as OpenSSL chose
    assert new_salt != old_salt and len(new_salt) == len(old_salt)
    assert new_iv != old_iv if not legacy else new_iv is None
    # Still read by rdstrust and OpenSSL, and the contents are the G1 certificates only.
    assert read_store(store, PW).fingerprints() == {c.sha256 for c in read_bundle(G1)}
    listed = subprocess.run(
        [openssl, "pkcs12", "-in", str(store), "-passin", f"pass:{PW}", "-nokeys",
         *(["-legacy"] if legacy else [])],
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    assert listed.count(b"BEGIN CERTIFICATE") == 9


# --------------------------------------------------------------------------- the one DER reader


def _reference_declared_length(data: bytes) -> int | None:
    # bundle.py's own length reader before it switched to _der (X.690 8.1.3), kept as the oracle.
    if len(data) < 2 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2 : 2 + count], "big")


@given(st.binary(max_size=12))
def test_declared_size_answers_what_bundle_py_asks(data: bytes) -> None:
    """_der.declared_size answers what bundle.py's old reader did (one DER reader now)."""
    assert der.declared_size(data) == _reference_declared_length(data)


def test_read_header_forms() -> None:
    assert der.read_header(b"\x30\x03abc") == der.Header(0x30, 2, 3)
    assert der.read_header(b"\x30\x82\x01\x00") == der.Header(0x30, 4, 256)
    assert der.read_header(b"\x30\x80") == der.Header(0x30, 2, None)  # BER indefinite
    assert der.declared_size(b"\x30\x82\x01\x00") == 260  # cut off: announces 260 bytes
    for bad in (b"\x30", b"\x30\x85\x01\x02\x03\x04\x05", b"\x1f\x01"):
        with pytest.raises(der.DerError):
            der.read_header(bad)
