"""PKCS12 password-based encryption and MAC (rdstrust.stores._pbe): known answers, no password
oracle, each derivation once, and bounded work for hostile stores."""

from __future__ import annotations

import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.hashes import SHA256
from support import FIXTURES, require_tool
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.cli import app
from rdstrust.errors import StoreError
from rdstrust.stores import NewCert, StoreType, create_store, jks, parse_store, pkcs12
from rdstrust.stores import _der as der
from rdstrust.stores import _pbe as pbe

PW = "changeit"
G1 = FIXTURES / "bundles" / "g1.pem"
runner = CliRunner()


def _certs() -> list[NewCert]:
    return [NewCert.from_info(c) for c in read_bundle(G1)]


# --------------------------------------------------------------------------- known answers

# RFC 7292 has no test vectors. These are the ones BouncyCastle's and OpenSSL's test suites use,
# from Dr Stephen Henson's test.txt: bcgit/bc-csharp,
# crypto/test/src/crypto/test/Pkcs12Test.cs (Run1: key id 1, 24 bytes; Run2: IV id 2, 8 bytes;
# Run3: MAC id 3, 20 bytes; all SHA-1), the same values as OpenSSL's PKCS12KDF tests.
BC_VECTORS = [
    ("smeg", "0A58CF64530D823F", 1, 1, "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3"),
    ("smeg", "0A58CF64530D823F", 2, 1, "79993DFE048D3B76"),
    ("smeg", "642B99AB44FB4B1F", 1, 1, "F3A95FEC48D7711E985CFE67908C5AB79FA3D7C5CAA5D966"),
    ("smeg", "642B99AB44FB4B1F", 2, 1, "C0A38D64A79BEA1D"),
    ("smeg", "3D83C0E4546AC140", 3, 1, "8D967D88F6CAA9D714800AB3D48051D63F73A312"),
    ("queeg", "05DEC959ACFF72F7", 1, 1000, "ED2034E36328830FF09DF1E1A07DD357185DAC0D4F9EB3D4"),
    ("queeg", "05DEC959ACFF72F7", 2, 1000, "11DEDAD7758D4860"),
    ("queeg", "1682C0FC5B3F7EC5", 1, 1000, "483DD6E919D7DE2E8E648BA8F862F3FBFBDC2BCB2C02957F"),
    ("queeg", "1682C0FC5B3F7EC5", 2, 1000, "9D461D1B00355C50"),
    ("queeg", "263216FCC2FAB31C", 3, 1000, "5EC4C7A80DF652294C3925B6489A7AB857C83476"),
]


@pytest.mark.parametrize(("password", "salt", "ident", "count", "expected"), BC_VECTORS)
def test_pkcs12_kdf_known_answers(
    password: str, salt: str, ident: int, count: int, expected: str
) -> None:
    out = pbe.pkcs12_kdf(
        pbe.bmp_password(password), bytes.fromhex(salt), ident, count, len(expected) // 2, "sha1"
    )
    assert out.hex().upper() == expected
    # Negative control: one bit of salt off gives another key.
    other = bytes.fromhex(salt)[:-1] + bytes([bytes.fromhex(salt)[-1] ^ 1])
    assert pbe.pkcs12_kdf(pbe.bmp_password(password), other, ident, count, 8, "sha1") != out[:8]


@pytest.mark.parametrize(
    ("digest", "ident", "count", "size", "password"),
    [
        ("sha256", 3, 10000, 32, PW),  # the modern MAC key, as keytool and rdstrust derive it
        ("sha1", 1, 10000, 24, PW),  # the legacy 3DES key
        ("sha1", 2, 2048, 8, ""),  # an IV under the empty password (BMPString 00 00)
        ("sha512", 3, 100, 64, "pässwörd"),  # v = 128, a non-ASCII password
    ],
)
def test_pkcs12_kdf_agrees_with_openssl(
    digest: str, ident: int, count: int, size: int, password: str
) -> None:
    openssl = require_tool("openssl")
    salt = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
    bmp = pbe.bmp_password(password)
    proc = subprocess.run(
        [openssl, "kdf", "-keylen", str(size), "-kdfopt", f"digest:{digest.upper()}",
         "-kdfopt", f"hexpass:{bmp.hex()}", "-kdfopt", f"hexsalt:{salt.hex()}",
         "-kdfopt", f"iter:{count}", "-kdfopt", f"id:{ident}", "PKCS12KDF"],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0 and "PKCS12KDF" in proc.stderr:
        pytest.skip(f"this openssl has no PKCS12KDF: {proc.stderr.strip()[:100]}")
    assert proc.returncode == 0, proc.stderr
    expected = bytes.fromhex(proc.stdout.strip().replace(":", ""))
    assert pbe.pkcs12_kdf(bmp, salt, ident, count, size, digest) == expected


# --------------------------------------------------------------------------- no password oracle


def _salts_and_ivs(data: bytes) -> list[bytes]:
    """Every salt and IV of a PKCS12 file: the MAC salt, then each encrypted envelope's."""
    pfx = der.parse(data).children()
    found = [pfx[2].children()[1].content] if len(pfx) > 2 else []
    auth_safe = pfx[1].children()[1].children()[0].content
    for info in der.parse(auth_safe).children():
        ci = info.children()
        if der.oid_str(ci[0]) != pkcs12.OID_ENCRYPTED_DATA:
            continue
        alg = ci[1].children()[0].children()[1].children()[1].children()
        params = alg[1].children()
        if der.oid_str(alg[0]) == pkcs12.OID_PBES2:
            kdf, scheme = params
            found += [kdf.children()[1].children()[0].content, scheme.children()[1].content]
        else:
            found.append(params[0].content)
    return found


@pytest.mark.parametrize("profile", ["modern", "legacy"])
def test_changing_only_the_password_changes_no_salt_or_iv(profile: str) -> None:
    """Issue 8: the MAC salt was HMAC(password, ...), so the file itself was a cheap oracle."""

    def made(password: str) -> bytes:
        return create_store(StoreType.PKCS12, _certs(), password=password, profile=profile)

    a, again, b = made("first-pw"), made("first-pw"), made("second-pw")
    assert a == again  # byte-identical for identical inputs
    assert a != b  # negative control: the password keys the MAC value
    assert _salts_and_ivs(a) == _salts_and_ivs(b) and _salts_and_ivs(a)
    # The encrypted shape (kept for stores that already have it), created and then rewritten.
    for pw_a, pw_b in (("first-pw", "second-pw"), ("", "x")):
        enc_a = pkcs12.create(
            _certs()[:4], password=pw_a, profile=profile, encrypt_certificates=True
        )
        enc_b = pkcs12.create(
            _certs()[:4], password=pw_b, profile=profile, encrypt_certificates=True
        )
        assert enc_a != enc_b
        assert _salts_and_ivs(enc_a) == _salts_and_ivs(enc_b)
        assert len(_salts_and_ivs(enc_a)) == (3 if profile == "modern" else 2)
        out = []
        for data, pw in ((enc_a, pw_a), (enc_b, pw_b)):
            _, loaded = parse_store(data, source="s.p12", password=pw)
            out.append(loaded.render(remove=frozenset({0}), add=_certs()[4:], password=pw))
        assert _salts_and_ivs(out[0]) == _salts_and_ivs(out[1])
        assert len(_salts_and_ivs(out[0])) == (5 if profile == "modern" else 3)


def test_a_seed_changes_salts_and_ivs_and_nothing_else() -> None:
    plain = pkcs12.create(_certs(), password=PW, encrypt_certificates=True)
    seeded = pkcs12.create(_certs(), password=PW, encrypt_certificates=True, seed=b"host-1")
    again = pkcs12.create(_certs(), password=PW, encrypt_certificates=True, seed=b"host-1")
    assert seeded == again
    assert not set(_salts_and_ivs(plain)) & set(_salts_and_ivs(seeded))
    for data in (plain, seeded):
        assert len(parse_store(data, source="s.p12", password=PW)[1].entries) == 9


def _old_rdstrust_store(password: str) -> bytes:
    """A store as rdstrust wrote it before the fix: salts keyed by the password."""
    bags = [pkcs12._cert_bag(c) for c in _certs()]
    plaintext = der.seq(*bags)
    seed = pbe.password_keyed_salt(password, b"rdstrust-pkcs12", plaintext)
    alg = der.seq(
        der.oid(pbe.OID_PBE_SHA1_3DES), der.seq(der.octets(seed[:16]), der.integer(10000))
    )
    keys = pbe.KeyDeriver()
    auth_safe = der.seq(pkcs12._encrypted_envelope(bags, alg, password, keys))
    mac_salt = pbe.password_keyed_salt(password, b"rdstrust-pkcs12-mac", auth_safe)[:16]
    return pkcs12._pfx(auth_safe, pkcs12._Mac("sha1", mac_salt, 10000), password, keys)


def test_password_keyed_salts_of_earlier_versions_are_replaced_on_rewrite() -> None:
    old = _old_rdstrust_store(PW)
    _, loaded = parse_store(old, source="old.p12", password=PW)
    assert isinstance(loaded, pkcs12.Pkcs12Store) and loaded.password_keyed_salts
    assert len(loaded.entries) == 9
    rewritten = loaded.render(remove=frozenset(), add=[], password=PW)
    assert not set(_salts_and_ivs(old)) & set(_salts_and_ivs(rewritten))
    _, again = parse_store(rewritten, source="old.p12", password=PW)
    assert [e.sha256 for e in again.entries] == [e.sha256 for e in loaded.entries]
    assert isinstance(again, pkcs12.Pkcs12Store) and not again.password_keyed_salts
    # Negative control: a store whose salts are not password-keyed keeps them byte for byte.
    fresh = pkcs12.create(_certs(), password=PW, profile="legacy", encrypt_certificates=True)
    _, loaded = parse_store(fresh, source="new.p12", password=PW)
    assert loaded.render(remove=frozenset(), add=[], password=PW) == fresh


# --------------------------------------------------------------------------- each derivation once


def test_each_key_derivation_runs_once_per_store() -> None:
    data = pkcs12.create(_certs(), password=PW, encrypt_certificates=True)
    _, loaded = parse_store(data, source="s.p12", password=PW)
    assert isinstance(loaded, pkcs12.Pkcs12Store)
    assert loaded.keys.runs == 2  # the MAC key and the PBKDF2 key, nothing twice
    assert loaded.keys.spent == 2 * pbe.ITERATIONS
    # A rewrite that keeps the MAC salt reuses the load's MAC key; only the new envelope's
    # key is derived (once, although the MAC and the envelope are both written).
    before = loaded.keys.runs
    loaded.render(remove=frozenset(), add=_certs()[:1], password=PW)
    assert loaded.keys.runs == before + 1
    # A caller sharing one deriver across loads of one store in one run derives nothing again.
    shared = pbe.KeyDeriver()
    pkcs12.load(data, source="s.p12", password=PW, keys=shared)
    first = shared.runs
    pkcs12.load(data, source="s.p12", password=PW, keys=shared)
    assert first == 2 and shared.runs == 2
    # Negative control: another password is a new derivation (and fails).
    with pytest.raises(StoreError):
        pkcs12.load(data, source="s.p12", password="other", keys=shared)


# --------------------------------------------------------------------------- total work


def _pbes2_alg(count: int, salt: bytes) -> bytes:
    pbkdf2 = der.seq(
        der.oid(pbe.OID_PBKDF2),
        der.seq(der.octets(salt), der.integer(count), der.seq(der.oid(pbe.OID_HMAC_SHA256))),
    )
    scheme = der.seq(der.oid(pbe.OID_AES256_CBC), der.octets(bytes(16)))
    return der.seq(der.oid(pbe.OID_PBES2), der.seq(pbkdf2, scheme))


def _many_envelopes(count: int, envelopes: int) -> bytes:
    """A PFX with ``envelopes`` encrypted envelopes of ``count`` PBKDF2 iterations each."""
    bags = [pkcs12._cert_bag(c) for c in _certs()[:1]]
    keys = pbe.KeyDeriver(budget=10**12)
    auth_safe = der.seq(
        *(
            pkcs12._encrypted_envelope(bags, _pbes2_alg(count, bytes([i]) * 16), PW, keys)
            if count <= 10000
            else _fake_envelope(_pbes2_alg(count, bytes([i]) * 16))
            for i in range(envelopes)
        )
    )
    mac = pkcs12._Mac("sha256", b"s" * 16, 10000)
    return pkcs12._pfx(auth_safe, mac, PW, keys)


def _fake_envelope(alg: bytes) -> bytes:
    # Ciphertext never opened: the store is refused before any key is derived.
    eci = der.seq(der.oid(pkcs12.OID_DATA), alg, der.encode(der.CONTEXT_0_PRIMITIVE, bytes(32)))
    return der.seq(der.oid(pkcs12.OID_ENCRYPTED_DATA), der.explicit0(der.seq(der.integer(0), eci)))


def _refused_within(seconds: float, load: Callable[[], object]) -> StoreError:
    """The StoreError ``load`` raises, after checking it came within ``seconds``."""
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        load()
    assert time.monotonic() - started < seconds
    return caught.value


def test_total_iterations_per_store_are_bounded(tmp_path: Path) -> None:
    # 16 envelopes at the per-count cap: each passes the 5,000,000 check; together they took
    # 108 s. Refused before any hashing.
    hostile = tmp_path / "h.p12"
    hostile.write_bytes(_many_envelopes(pbe.MAX_ITERATIONS, 16))
    data = hostile.read_bytes()
    error = _refused_within(2, lambda: pkcs12.load(data, source="h.p12", password=PW))
    assert error.message == (
        "h.p12 asks for 80,010,000 key-derivation iterations in all, more than any real store "
        "(limit 15,000,000 per store); it is damaged or hostile."
    )
    result = runner.invoke(app, ["inspect", str(hostile), "--storepass", PW])
    assert result.exit_code == 5 and "key-derivation iterations in all" in result.output
    # Negative control: the same shape at keytool's count loads.
    fine = _many_envelopes(10000, 16)
    assert len(pkcs12.load(fine, source="f.p12", password=PW).entries) == 16


def test_budget_also_bounds_derivations_as_they_run() -> None:
    keys = pbe.KeyDeriver(budget=25_000)
    keys.pkcs12(b"\x00a\x00\x00", b"salt", 3, 10_000, 32, "sha256")
    keys.pkcs12(b"\x00a\x00\x00", b"salt", 3, 10_000, 32, "sha256")  # cached: free
    keys.pbkdf2(b"a", b"salt", 10_000, 32, SHA256)
    with pytest.raises(pbe.WorkBudgetExceeded) as caught:
        keys.pbkdf2(b"a", b"other", 10_000, 32, SHA256)
    assert (caught.value.total, caught.value.budget) == (30_000, 25_000)


# --------------------------------------------------------------------------- entries per store


def _tiny_jks(entries: int) -> bytes:
    """A JKS of ``entries`` trusted-certificate entries holding one-byte "certificates"."""
    entry = struct.pack(">IH", 2, 1) + b"a" + struct.pack(">QH", 0, 5) + b"X.509"
    entry += struct.pack(">I", 1) + b"\x00"
    body = struct.pack(">III", jks.MAGIC_JKS, 2, entries) + entry * entries
    return body + jks._digest(PW, body)


def test_a_jks_of_millions_of_tiny_entries_is_refused_quickly(tmp_path: Path) -> None:
    # The reported shape: 63 MiB, 1.75 million tiny entries, 2.9 GB and 65 s to merge.
    hostile = tmp_path / "tiny.jks"
    hostile.write_bytes(_tiny_jks(1_750_000))
    assert hostile.stat().st_size > 40 * 1024 * 1024
    started = time.monotonic()
    result = runner.invoke(app, ["inspect", str(hostile), "--storepass", PW])
    assert time.monotonic() - started < 5
    assert result.exit_code == 5, result.output
    assert (
        f"{hostile} declares 1,750,000 entries, more than any real store (limit 100,000); "
        "it is damaged or hostile." in " ".join(result.output.split())
    )
    # Negative control: the same entries, a few of them, are read.
    assert len(jks.load(_tiny_jks(3), source="t.jks", password=PW).entries) == 3


def test_a_pkcs12_of_too_many_bags_is_refused(tmp_path: Path) -> None:
    def pfx(bags: list[bytes]) -> bytes:
        auth_safe = der.seq(pkcs12._plain_envelope(bags))
        return pkcs12._pfx(auth_safe, None, None, pbe.KeyDeriver())

    tiny = der.seq(der.oid(pkcs12.OID_SECRET_BAG), der.explicit0(der.seq()))
    hostile = tmp_path / "many.p12"
    hostile.write_bytes(pfx([tiny] * 150_000))
    data = hostile.read_bytes()
    error = _refused_within(5, lambda: pkcs12.load(data, source="many.p12", password=None))
    assert error.message == (
        "many.p12 holds more than 100,000 PKCS12 bags (or elements in one place), more than "
        "any real store; it is damaged or hostile."
    )
    # Split over many envelopes, the total is what counts.
    envelopes = der.seq(*(pkcs12._plain_envelope([tiny] * 30_000) for _ in range(5)))
    split = pkcs12._pfx(envelopes, None, None, pbe.KeyDeriver())
    with pytest.raises(StoreError, match="more than 100,000 PKCS12 bags"):
        pkcs12.load(split, source="split.p12", password=None)
    # Negative control: a few such bags are read (as secret-key entries).
    assert len(pkcs12.load(pfx([tiny] * 3), source="few.p12", password=None).entries) == 3
