"""PKCS12 password-based encryption and integrity (RFC 7292 appendix B/C, RFC 8018), apart from
the PFX structure in :mod:`.pkcs12`.

Reading and writing are separate paths: :func:`decrypt` opens an envelope a file hands us (any
algorithm Java or OpenSSL writes, RC2 included), :func:`encrypt` seals what rdstrust writes (3DES
or AES only), :func:`mac_value` is the integrity MAC both directions share.

Every key derivation goes through a :class:`KeyDeriver`, scoped to one load or render of one
store. It runs each derivation once (the same password, salt, iteration count and algorithm
give the cached key), and charges every iteration against a total budget: the count comes from
the file, so without a total a store of many envelopes at the per-count cap makes rdstrust hash
for minutes.

Salts and IVs of what rdstrust encrypts come from :func:`derive_salt`: a hash of the content
(and an optional caller-given seed), never of the password, so the file gives no cheaper way
to test a guessed password than the format's own iterated derivation.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import NamedTuple

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes
from cryptography.hazmat.primitives.hashes import (
    SHA1,
    SHA224,
    SHA256,
    SHA384,
    SHA512,
    HashAlgorithm,
)
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from rdstrust.stores import _der as der
from rdstrust.stores._der import DerError, Tlv

OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_PBE_SHA1_3DES = "1.2.840.113549.1.12.1.3"
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
OID_HMAC_SHA256 = "1.2.840.113549.2.9"
#: PKCS12 PBE (RFC 7292 appendix C): OID -> (cipher, key length).
PBE_SHA1 = {
    "1.2.840.113549.1.12.1.3": ("3des", 24),
    "1.2.840.113549.1.12.1.4": ("3des", 16),
    "1.2.840.113549.1.12.1.5": ("rc2", 16),
    "1.2.840.113549.1.12.1.6": ("rc2", 5),
}
_AES = {
    "2.16.840.1.101.3.4.1.2": 16,
    "2.16.840.1.101.3.4.1.22": 24,
    "2.16.840.1.101.3.4.1.42": 32,
}
_HMAC_PRF: dict[str, type[HashAlgorithm]] = {
    "1.2.840.113549.2.7": SHA1,
    "1.2.840.113549.2.8": SHA224,
    "1.2.840.113549.2.9": SHA256,
    "1.2.840.113549.2.10": SHA384,
    "1.2.840.113549.2.11": SHA512,
}

#: What rdstrust writes: keytool's default since JDK 12 (``keystore.pkcs12.*IterationCount``).
ITERATIONS = 10000
#: The most iterations one derivation may ask for (MAC, PKCS12 PBE or PBKDF2): Java's
#: ``PKCS12KeyStore.MAX_ITERATION_COUNT``. Without it a hostile count hashes for hours (2**31-1).
MAX_ITERATIONS = 5_000_000
#: The most iterations one load or render of a store may cost in all. A store needs at most a
#: MAC and one certificate envelope, and PKCS12 PBE derives a key and an IV: three derivations,
#: so three at the per-count cap still load. keytool's and OpenSSL's defaults need 20,000-30,000
#: (10,000 / 2,048 each); this only refuses many envelopes at huge counts (16 at 5M took 108 s).
MAX_TOTAL_ITERATIONS = 3 * MAX_ITERATIONS


class Undecryptable(Exception):
    """Decryption failed: wrong password, or an algorithm rdstrust does not implement."""


class TooManyIterations(Exception):
    """One derivation asks for more than :data:`MAX_ITERATIONS`."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


class WorkBudgetExceeded(Exception):
    """The derivations of one store would cost more than its total budget."""

    def __init__(self, total: int, budget: int) -> None:
        super().__init__(total, budget)
        self.total = total
        self.budget = budget


def iterations(tlv: Tlv) -> int:
    """An iteration count from the file, bounded by :data:`MAX_ITERATIONS`."""
    count = der.to_int(tlv)
    if count < 1:
        raise DerError(f"iteration count {count}")
    if count > MAX_ITERATIONS:
        raise TooManyIterations(count)
    return count


# --------------------------------------------------------------------------- passwords


def bmp_password(password: str) -> bytes:
    """The password as PKCS12 PBE and the MAC take it: a NUL-terminated BMPString (RFC 7292 B.1).

    The empty password is the two bytes 00 00 (what OpenSSL and Java write).
    """
    return password.encode("utf-16-be") + b"\x00\x00"


def bmp_candidates(password: str) -> tuple[bytes, ...]:
    """The BMPString forms to try when reading: for "" also no bytes at all.

    Some writers (OpenSSL given a NULL password, earlier rdstrust versions) derive keys from an
    empty byte string instead of 00 00; OpenSSL's PKCS12_verify_mac callers and Java's
    PKCS12KeyStore (RetryWithZero) retry with the other form, so do the same.
    """
    return (bmp_password(password), b"") if password == "" else (bmp_password(password),)


# --------------------------------------------------------------------------- key derivation


def pkcs12_kdf(
    password: bytes, salt: bytes, ident: int, count: int, size: int, hash_name: str
) -> bytes:
    """The PKCS12 key derivation function (RFC 7292 appendix B.2); ``password`` is a BMPString.

    ``ident`` is 1 for a key, 2 for an IV, 3 for a MAC key. Uncached and unbounded: use
    :class:`KeyDeriver` for anything read from a file.
    """
    u = hashlib.new(hash_name).digest_size
    v = 128 if hash_name in ("sha384", "sha512") else 64

    def fill(data: bytes) -> bytes:
        if not data:
            return b""
        length = v * ((len(data) + v - 1) // v)
        return (data * (length // len(data) + 1))[:length]

    d = bytes([ident]) * v
    i = bytearray(fill(salt) + fill(password))
    out = b""
    new_hash = getattr(hashlib, hash_name)  # the named constructor is faster than hashlib.new
    while len(out) < size:
        a = new_hash(d + bytes(i)).digest()
        for _ in range(count - 1):
            a = new_hash(a).digest()
        out += a
        b = int.from_bytes((a * (v // u + 1))[:v], "big") + 1
        for j in range(0, len(i), v):
            block = (int.from_bytes(i[j : j + v], "big") + b) % (1 << (v * 8))
            i[j : j + v] = block.to_bytes(v, "big")
    return out[:size]


class KeyDeriver:
    """Key derivations for one load or render of one store: each runs once, all within a budget.

    The cache key is every input of the derivation (password bytes, salt, count, algorithm,
    purpose and size), so a hit is the same key by construction. It lives as long as the
    store object it belongs to, never process-wide: passwords must not outlive their use.
    """

    def __init__(self, budget: int = MAX_TOTAL_ITERATIONS) -> None:
        self.budget = budget
        #: Iterations run so far against this budget (cache hits are free).
        self.spent = 0
        self._cache: dict[tuple[object, ...], bytes] = {}
        self._runs = [0]  # shared with fresh_budget() copies, like the cache

    @property
    def runs(self) -> int:
        """Derivations actually run (not served from the cache), over every shared budget."""
        return self._runs[0]

    def fresh_budget(self) -> KeyDeriver:
        """A deriver with the same cache and a new budget (a render after a load)."""
        other = KeyDeriver(self.budget)
        other._cache, other._runs = self._cache, self._runs
        return other

    def check_declared(self, total: int) -> None:
        """Refuse up front when the work a file declares is over budget (before any hashing)."""
        if total > self.budget:
            raise WorkBudgetExceeded(total, self.budget)

    def _charge(self, count: int) -> None:
        if self.spent + count > self.budget:
            raise WorkBudgetExceeded(self.spent + count, self.budget)
        self.spent += count
        self._runs[0] += 1

    def pkcs12(
        self, password: bytes, salt: bytes, ident: int, count: int, size: int, hash_name: str
    ) -> bytes:
        """:func:`pkcs12_kdf`, cached and charged."""
        key = ("pkcs12", password, salt, ident, count, size, hash_name)
        if key not in self._cache:
            self._charge(count)
            self._cache[key] = pkcs12_kdf(password, salt, ident, count, size, hash_name)
        return self._cache[key]

    def pbkdf2(
        self, password: bytes, salt: bytes, count: int, size: int, prf: type[HashAlgorithm]
    ) -> bytes:
        """PBKDF2 (RFC 8018 5.2), cached and charged."""
        key = ("pbkdf2", password, salt, count, size, prf.name)
        if key not in self._cache:
            self._charge(count)
            self._cache[key] = PBKDF2HMAC(prf(), size, salt, count).derive(password)
        return self._cache[key]


# --------------------------------------------------------------------------- algorithm parameters


# A NamedTuple rather than a frozen dataclass: every update imports this module, and Python
# 3.11 takes about 0.5 ms to create a dataclass.
class _Params(NamedTuple):
    """A parsed PBE algorithm identifier."""

    cipher: str  # "3des", "rc2" or "aes"
    key_len: int
    salt: bytes
    iterations: int
    #: PBES2: the PBKDF2 PRF and the IV carried in the identifier; ``None`` for PKCS12 PBE.
    prf: type[HashAlgorithm] | None = None
    iv: bytes | None = None


def _params(alg: Tlv) -> _Params:
    try:
        parts = alg.expect(der.SEQUENCE).children()
        name = der.oid_str(parts[0])
        if name in PBE_SHA1:
            cipher, key_len = PBE_SHA1[name]
            params = parts[1].children()
            salt = params[0].expect(der.OCTET_STRING).content
            return _Params(cipher, key_len, salt, iterations(params[1]))
        if name == OID_PBES2:
            return _pbes2_params(parts[1])
    except (DerError, IndexError, ValueError, OverflowError):
        raise Undecryptable("malformed algorithm parameters") from None
    raise Undecryptable(f"unsupported algorithm {name}")


def _pbes2_params(params: Tlv) -> _Params:
    kdf, scheme = params.children()
    kdf_parts = kdf.children()
    if der.oid_str(kdf_parts[0]) != OID_PBKDF2:
        raise Undecryptable("unsupported PBES2 key derivation")
    kp = kdf_parts[1].children()
    salt, count = kp[0].expect(der.OCTET_STRING).content, iterations(kp[1])
    prf: type[HashAlgorithm] = SHA1
    for extra in kp[2:]:
        if extra.tag == der.SEQUENCE:
            prf_name = der.oid_str(extra.children()[0])
            if prf_name not in _HMAC_PRF:
                raise Undecryptable("unsupported PBKDF2 PRF")
            prf = _HMAC_PRF[prf_name]
    scheme_parts = scheme.children()
    enc_oid = der.oid_str(scheme_parts[0])
    if enc_oid not in _AES:
        raise Undecryptable("unsupported PBES2 cipher")
    iv = scheme_parts[1].expect(der.OCTET_STRING).content
    return _Params("aes", _AES[enc_oid], salt, count, prf, iv)


def declared_work(alg: Tlv) -> int:
    """The iterations decrypting with ``alg`` costs (PKCS12 PBE derives a key and an IV).

    0 for an identifier that cannot be parsed (decryption then fails without hashing).
    Raises :class:`TooManyIterations` past the per-count cap.
    """
    try:
        params = _params(alg)
    except Undecryptable:
        return 0
    return params.iterations if params.prf is not None else 2 * params.iterations


def _key_iv(params: _Params, password: str, bmp: bytes, keys: KeyDeriver) -> tuple[bytes, bytes]:
    if params.prf is not None:
        assert params.iv is not None
        # PBKDF2 takes the password as UTF-8 bytes (what Java and OpenSSL both do).
        key = keys.pbkdf2(
            password.encode(), params.salt, params.iterations, params.key_len, params.prf
        )
        return key, params.iv
    key = keys.pkcs12(bmp, params.salt, 1, params.iterations, params.key_len, "sha1")
    iv = keys.pkcs12(bmp, params.salt, 2, params.iterations, 8, "sha1")
    if params.cipher == "3des" and params.key_len == 16:
        key = key + key[:8]  # two-key 3DES
    return key, iv


def _algorithm(cipher: str, key: bytes) -> BlockCipherAlgorithm:
    if cipher == "3des":
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

        return TripleDES(key)
    return algorithms.AES(key)


def _block(cipher: str) -> int:
    return 8 if cipher in ("3des", "rc2") else 16


# --------------------------------------------------------------------------- decrypt


def decrypt(
    alg: Tlv, password: str, data: bytes | memoryview, *, keys: KeyDeriver, bmp: bytes
) -> bytes:
    """Decrypt ``data`` with the PBE algorithm identifier ``alg`` from a file.

    ``bmp`` is the BMPString form of the password for PKCS12 PBE (see :func:`bmp_candidates`).
    Raises :class:`Undecryptable`, :class:`TooManyIterations` or :class:`WorkBudgetExceeded`.
    """
    params = _params(alg)
    key, iv = _key_iv(params, password, bmp, keys)
    block = _block(params.cipher)
    if len(data) % block:
        raise Undecryptable("ciphertext is not a whole number of blocks")
    if params.cipher == "rc2":
        # cryptography only offers 128-bit RC2; Java 8 encrypted certificates with 40-bit RC2
        # (PBEWithSHA1AndRC2_40), so use pycryptodomex for it.
        from Cryptodome.Cipher import ARC2

        rc2 = ARC2.new(key, ARC2.MODE_CBC, iv=iv, effective_keylen=len(key) * 8)  # type: ignore[call-arg]  # noqa: S304
        plain = rc2.decrypt(data)
    else:
        dec = Cipher(_algorithm(params.cipher, key), modes.CBC(iv)).decryptor()
        plain = dec.update(data) + dec.finalize()
    unpadder = padding.PKCS7(block * 8).unpadder()
    try:
        return unpadder.update(plain) + unpadder.finalize()
    except ValueError:
        raise Undecryptable("bad padding") from None


# --------------------------------------------------------------------------- encrypt


def encrypt(alg: bytes, password: str, data: bytes, *, keys: KeyDeriver) -> bytes:
    """Encrypt ``data`` with the identifier ``alg`` (DER) that rdstrust chose: 3DES or AES."""
    params = _params(der.parse(alg))
    if params.cipher == "rc2":
        raise Undecryptable("rdstrust does not encrypt with RC2")
    key, iv = _key_iv(params, password, bmp_password(password), keys)
    padder = padding.PKCS7(_block(params.cipher) * 8).padder()
    padded = padder.update(data) + padder.finalize()
    enc = Cipher(_algorithm(params.cipher, key), modes.CBC(iv)).encryptor()
    return enc.update(padded) + enc.finalize()


def derive_salt(label: bytes, content: bytes, seed: bytes | None = None) -> bytes:
    """32 bytes of salt (or IV) material for ``content``: deterministic, never from a secret.

    Salts are usually random; here "same inputs, byte-identical store" is a requirement, so they
    come from the content, plus ``seed`` when a caller wants stores of equal content to differ.
    The password is never an input: an earlier version keyed this by the password, which let a
    guess be checked with one HMAC instead of the iterated derivation (issue 8). The trade-off:
    stores of identical content share salts, so one precomputation against a candidate password
    list serves them all; their contents are public CA certificates, and the MAC's iteration
    count is what stands between a copy of the file and its password.
    """
    tag = b"" if seed is None else len(seed).to_bytes(4, "big") + seed
    return hashlib.sha256(b"rdstrust-pkcs12\x00" + label + b"\x00" + tag + content).digest()


def profile_alg(profile: str, plaintext: bytes, seed: bytes | None = None) -> bytes:
    """The algorithm identifier rdstrust encrypts new content with (salt and IV from content)."""
    salt, iv = derive_salt(b"salt", plaintext, seed)[:16], derive_salt(b"iv", plaintext, seed)[:16]
    if profile == "legacy":
        return der.seq(
            der.oid(OID_PBE_SHA1_3DES), der.seq(der.octets(salt), der.integer(ITERATIONS))
        )
    pbkdf2 = der.seq(
        der.oid(OID_PBKDF2),
        der.seq(
            der.octets(salt),
            der.integer(ITERATIONS),
            der.seq(der.oid(OID_HMAC_SHA256), der.encode(der.NULL, b"")),
        ),
    )
    aes = der.seq(der.oid(OID_AES256_CBC), der.octets(iv))
    return der.seq(der.oid(OID_PBES2), der.seq(pbkdf2, aes))


def resalted(alg_raw: bytes, plaintext: bytes, seed: bytes | None = None) -> bytes | None:
    """``alg_raw`` with the same cipher, KDF and count but a salt and IV for ``plaintext``.

    A pruned envelope is re-encrypted with its original settings; reusing its salt and IV on
    different contents would repeat a key and IV across two plaintexts. ``None`` when the
    identifier has a shape this does not rebuild (the caller then uses the profile's).
    """
    salt, iv = derive_salt(b"salt", plaintext, seed), derive_salt(b"iv", plaintext, seed)
    try:
        parts = der.parse(alg_raw).children()
        name = der.oid_str(parts[0])
        if name in PBE_SHA1:
            params = parts[1].children()
            old = params[0].expect(der.OCTET_STRING).content
            new_params = der.seq(der.octets(salt[: max(8, min(len(old), 32))]), params[1].raw)
            return der.seq(parts[0].raw, new_params)
        if name == OID_PBES2:
            kdf, scheme = parts[1].children()
            kdf_parts = kdf.children()
            kp = kdf_parts[1].children()
            old = kp[0].expect(der.OCTET_STRING).content
            new_salt = der.octets(salt[: max(8, min(len(old), 32))])
            new_kdf = der.seq(kdf_parts[0].raw, der.seq(new_salt, *(p.raw for p in kp[1:])))
            scheme_parts = scheme.children()
            if len(scheme_parts[1].expect(der.OCTET_STRING).content) != 16:
                return None
            new_scheme = der.seq(scheme_parts[0].raw, der.octets(iv[:16]))
            return der.seq(parts[0].raw, der.seq(new_kdf, new_scheme))
    except (DerError, IndexError, ValueError):
        return None
    return None


def alg_profile(alg_raw: bytes) -> str | None:
    """``legacy`` or ``modern`` for an encryption algorithm identifier, else ``None``."""
    try:
        name = der.oid_str(der.parse(alg_raw).children()[0])
    except (DerError, IndexError):
        return None
    if name in PBE_SHA1:
        return "legacy"
    return "modern" if name == OID_PBES2 else None


def is_rc2(alg_raw: bytes) -> bool:
    """Whether an identifier is PKCS12 PBE with RC2 (read, never written)."""
    try:
        name = der.oid_str(der.parse(alg_raw).children()[0])
    except (DerError, IndexError):
        return False
    return name in PBE_SHA1 and PBE_SHA1[name][0] == "rc2"


def salt_of(alg: Tlv) -> bytes | None:
    """The salt of a PBE identifier, or ``None`` when it cannot be parsed."""
    try:
        return _params(alg).salt
    except (Undecryptable, TooManyIterations):
        return None


def password_keyed_salt(password: str, label: bytes, content: bytes | memoryview) -> bytes:
    """The salt rdstrust before issue 8 derived from the password (to recognise and replace it).

    ``label`` was ``rdstrust-pkcs12`` for envelopes (over their plaintext) and
    ``rdstrust-pkcs12-mac`` for the MAC (over the authenticated safe). Such a salt lets anyone
    holding the file test a password guess with one HMAC; a rewrite replaces it with one from
    :func:`derive_salt`.
    """
    key = password.encode("utf-8", "surrogatepass")
    mac = hmac.new(key, label + b"\x00", "sha256")
    mac.update(content)  # not concatenated: ``content`` can be a 40 MB view of the file
    return mac.digest()


# --------------------------------------------------------------------------- MAC


def mac_value(
    digest: str, salt: bytes, count: int, bmp: bytes, data: bytes | memoryview, *, keys: KeyDeriver
) -> bytes:
    """The PKCS12 MAC (RFC 7292 B.4) of ``data`` keyed with the BMPString password ``bmp``."""
    return mac_of_pieces(digest, salt, count, bmp, (data,), keys=keys)


def mac_of_pieces(
    digest: str,
    salt: bytes,
    count: int,
    bmp: bytes,
    pieces: Iterable[der.Bytes],
    *,
    keys: KeyDeriver,
) -> bytes:
    """:func:`mac_value` of the concatenation of ``pieces``, without concatenating them.

    A store is written as pieces joined once (old envelopes are views of the file read); the
    MAC covers the authenticated safe, most of the file, so it is fed piece by piece.
    """
    size = hashlib.new(digest).digest_size
    key = keys.pkcs12(bmp, salt, 3, count, size, digest)
    mac = hmac.new(key, digestmod=digest)
    for piece in pieces:
        mac.update(piece)
    return mac.digest()


def mac_salt(content: bytes, seed: bytes | None = None, size: int = 16) -> bytes:
    """The MAC salt rdstrust writes for a store's plaintext ``content``, never the password."""
    return derive_salt(b"mac", content, seed)[: max(8, min(size, 32))]
