"""PKCS12 (RFC 7292) keystores, walked at the DER level so existing bags are never re-encoded.

cryptography can load and serialize PKCS12, but a load/serialize round trip re-encodes every
certificate, drops attributes it does not model and cannot re-emit a private key it did not
decrypt. Here the file is parsed only as far as needed: the authenticated safe is a list of
``ContentInfo`` envelopes (plain, or password-encrypted), each holding ``SafeBag``s. A merge keeps
every original envelope byte for byte and appends one new envelope with the new certificate bags
(with Java's trusted-certificate attribute, without which Java ignores a certificate). Private
key bags are already individually encrypted (``pkcs8ShroudedKeyBag``); they are carried as they
are and never decrypted. Only the MAC over the whole is recomputed.

Password-less stores (the JDK 18+ ``cacerts`` shape: certificates in a plain envelope and no MAC,
what keytool writes with ``-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE
-J-Dkeystore.pkcs12.macAlgorithm=NONE``) keep that shape.

Profiles for what rdstrust itself encrypts: ``modern`` (Java 17's defaults: PBES2 with
PBKDF2-HMAC-SHA256 and AES-256-CBC, HMAC-SHA256 MAC, 10000 iterations) and ``legacy``
(PBE-SHA1-3DES and an HMAC-SHA1 MAC, readable by Java 8 before 8u301, which cannot decrypt
PBES2: JDK-8153005). Salts and IVs of what rdstrust encrypts are derived from the content, so
the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hashes import (
    SHA1,
    SHA224,
    SHA256,
    SHA384,
    SHA512,
    HashAlgorithm,
)
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from rdstrust.certs import CertInfo
from rdstrust.errors import StoreError, WrongPasswordError
from rdstrust.stores import EntryKind, NewCert, StoreEntry, check_password, describe_der
from rdstrust.stores import _der as der
from rdstrust.stores._der import DerError, Tlv

PROFILES = ("modern", "legacy")

OID_DATA = "1.2.840.113549.1.7.1"
OID_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
OID_KEY_BAG = "1.2.840.113549.1.12.10.1.1"
OID_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
OID_CERT_BAG = "1.2.840.113549.1.12.10.1.3"
OID_SECRET_BAG = "1.2.840.113549.1.12.10.1.5"  # noqa: S105
OID_X509_CERT = "1.2.840.113549.1.9.22.1"
OID_FRIENDLY_NAME = "1.2.840.113549.1.9.20"
OID_LOCAL_KEY_ID = "1.2.840.113549.1.9.21"
#: Oracle's "trusted key usage" bag attribute; Java only treats a certificate bag carrying it as a
#: trusted-certificate entry (sun.security.pkcs12.PKCS12KeyStore, TrustedKeyUsage).
OID_JAVA_TRUSTED = "2.16.840.1.113894.746875.1.1"
OID_ANY_EKU = "2.5.29.37.0"
OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_PBMAC1 = "1.2.840.113549.1.5.14"
_PBE_SHA1 = {
    # PKCS12 PBE (RFC 7292 appendix C): (cipher, key length)
    "1.2.840.113549.1.12.1.3": ("3des", 24),
    "1.2.840.113549.1.12.1.4": ("3des", 16),
    "1.2.840.113549.1.12.1.5": ("rc2", 16),
    "1.2.840.113549.1.12.1.6": ("rc2", 5),
}
OID_PBE_SHA1_3DES = "1.2.840.113549.1.12.1.3"
_AES = {
    "2.16.840.1.101.3.4.1.2": 16,
    "2.16.840.1.101.3.4.1.22": 24,
    "2.16.840.1.101.3.4.1.42": 32,
}
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
_HMAC_PRF: dict[str, type[HashAlgorithm]] = {
    "1.2.840.113549.2.7": SHA1,
    "1.2.840.113549.2.8": SHA224,
    "1.2.840.113549.2.9": SHA256,
    "1.2.840.113549.2.10": SHA384,
    "1.2.840.113549.2.11": SHA512,
}
OID_HMAC_SHA256 = "1.2.840.113549.2.9"
_DIGESTS: dict[str, str] = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_DIGEST_OIDS = {name: oid for oid, name in _DIGESTS.items()}
ITERATIONS = 10000
#: The most iterations a store may ask for (MAC, PKCS12 PBE or PBKDF2): the value of Java's
#: ``PKCS12KeyStore.MAX_ITERATION_COUNT``. The count comes from the file, and without a cap a
#: damaged or hostile file makes rdstrust hash for hours (2**31-1) or crash (2**64).
MAX_ITERATIONS = 5_000_000


class _Undecryptable(Exception):
    """Decryption failed: wrong password, or an algorithm we do not implement."""


class _TooManyIterations(Exception):
    """The file asks for more iterations than :data:`MAX_ITERATIONS`."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


def _iterations(tlv: Tlv) -> int:
    """An iteration count from the file, bounded by :data:`MAX_ITERATIONS`."""
    count = der.to_int(tlv)
    if count < 1:
        raise DerError(f"iteration count {count}")
    if count > MAX_ITERATIONS:
        raise _TooManyIterations(count)
    return count


# --------------------------------------------------------------------------- key derivation


def _bmp_password(password: str) -> bytes:
    # PKCS12 PBE and the MAC take the password as a NUL-terminated BMPString (RFC 7292 B.1), so
    # the empty password is the two bytes 00 00 (what OpenSSL and Java write).
    return password.encode("utf-16-be") + b"\x00\x00"


def _bmp_candidates(password: str) -> tuple[bytes, ...]:
    """The BMPString forms to try when reading: for "" also no bytes at all.

    Some writers (OpenSSL given a NULL password, earlier rdstrust versions) derive keys from
    an empty byte string instead of 00 00; OpenSSL's PKCS12_verify_mac callers and Java's
    PKCS12KeyStore (RetryWithZero) retry with the other form, so do the same.
    """
    return (_bmp_password(password), b"") if password == "" else (_bmp_password(password),)


def _pkcs12_kdf(
    password: bytes, salt: bytes, ident: int, iterations: int, size: int, hash_name: str
) -> bytes:
    """The PKCS12 key derivation function (RFC 7292 appendix B.2)."""
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
        for _ in range(iterations - 1):
            a = new_hash(a).digest()
        out += a
        b = int.from_bytes((a * (v // u + 1))[:v], "big") + 1
        for j in range(0, len(i), v):
            block = (int.from_bytes(i[j : j + v], "big") + b) % (1 << (v * 8))
            i[j : j + v] = block.to_bytes(v, "big")
    return out[:size]


# --------------------------------------------------------------------------- ciphers


def _cbc(cipher_name: str, key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    block = 8 if cipher_name in ("3des", "rc2") else 16
    if cipher_name == "rc2":
        # cryptography only offers 128-bit RC2; Java 8 encrypted certificates with 40-bit RC2
        # (PBEWithSHA1AndRC2_40), so use pycryptodomex (a dependency of pyjks) for it.
        from Cryptodome.Cipher import ARC2

        rc2 = ARC2.new(key, ARC2.MODE_CBC, iv=iv, effective_keylen=len(key) * 8)  # type: ignore[call-arg]  # noqa: S304
        if encrypt:
            raise _Undecryptable("rdstrust does not encrypt with RC2")
        plain = rc2.decrypt(data)
    else:
        if cipher_name == "3des":
            from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

            algo: algorithms.AES | TripleDES = TripleDES(key)
        else:
            algo = algorithms.AES(key)
        if encrypt:
            padder = padding.PKCS7(block * 8).padder()
            padded = padder.update(data) + padder.finalize()
            enc = Cipher(algo, modes.CBC(iv)).encryptor()
            return enc.update(padded) + enc.finalize()
        if len(data) % block:
            raise _Undecryptable("ciphertext is not a whole number of blocks")
        dec = Cipher(algo, modes.CBC(iv)).decryptor()
        plain = dec.update(data) + dec.finalize()
    unpadder = padding.PKCS7(block * 8).unpadder()
    try:
        return unpadder.update(plain) + unpadder.finalize()
    except ValueError:
        raise _Undecryptable("bad padding") from None


def _crypt(
    alg: Tlv, password: str, data: bytes, *, encrypt: bool, bmp: bytes | None = None
) -> bytes:
    """Encrypt or decrypt ``data`` with the PBE algorithm identifier ``alg``.

    ``bmp`` overrides the BMPString form of the password for PKCS12 PBE (see
    :func:`_bmp_candidates`). Raises :class:`_TooManyIterations` past :data:`MAX_ITERATIONS`.
    """
    try:
        parts = alg.expect(der.SEQUENCE).children()
        name = der.oid_str(parts[0])
        if name in _PBE_SHA1:
            cipher_name, key_len = _PBE_SHA1[name]
            params = parts[1].children()
            salt, iterations = params[0].expect(der.OCTET_STRING).content, _iterations(params[1])
            pw = _bmp_password(password) if bmp is None else bmp
            key = _pkcs12_kdf(pw, salt, 1, iterations, key_len, "sha1")
            iv = _pkcs12_kdf(pw, salt, 2, iterations, 8, "sha1")
            if cipher_name == "3des" and key_len == 16:
                key = key + key[:8]  # two-key 3DES
            return _cbc(cipher_name, key, iv, data, encrypt)
        if name == OID_PBES2:
            kdf, scheme = parts[1].children()
            kdf_parts = kdf.children()
            if der.oid_str(kdf_parts[0]) != OID_PBKDF2:
                raise _Undecryptable("unsupported PBES2 key derivation")
            kp = kdf_parts[1].children()
            salt, iterations = kp[0].expect(der.OCTET_STRING).content, _iterations(kp[1])
            prf: type[HashAlgorithm] = SHA1
            for extra in kp[2:]:
                if extra.tag == der.SEQUENCE:
                    prf_name = der.oid_str(extra.children()[0])
                    if prf_name not in _HMAC_PRF:
                        raise _Undecryptable("unsupported PBKDF2 PRF")
                    prf = _HMAC_PRF[prf_name]
            scheme_parts = scheme.children()
            enc_oid = der.oid_str(scheme_parts[0])
            if enc_oid not in _AES:
                raise _Undecryptable("unsupported PBES2 cipher")
            iv = scheme_parts[1].expect(der.OCTET_STRING).content
            # PBKDF2 takes the password as UTF-8 bytes (what Java and OpenSSL both do).
            key = PBKDF2HMAC(prf(), _AES[enc_oid], salt, iterations).derive(password.encode())
            return _cbc("aes", key, iv, data, encrypt)
    except (DerError, IndexError, ValueError, OverflowError):
        raise _Undecryptable("malformed algorithm parameters") from None
    raise _Undecryptable(f"unsupported algorithm {name}")


def _seed(label: bytes, password: str | None, content: bytes) -> bytes:
    """Deterministic salt material: HMAC-SHA256 keyed by the password over the content.

    Salts are usually random; here "same inputs, byte-identical store" is a requirement, so they
    are derived from the inputs. The trade-off: identical stores protected by the same password
    (say, on many hosts) share their salts, so one precomputation against that password serves
    them all; a store's entries are public CA certificates and the password only guards
    integrity, which keeps that acceptable. Keying by the password means stores with different
    passwords never share a salt.
    """
    key = (password or "").encode("utf-8", "surrogatepass")
    return hmac.new(key, label + b"\x00" + content, "sha256").digest()


def _profile_alg(profile: str, plaintext: bytes, password: str | None) -> bytes:
    """The algorithm identifier rdstrust encrypts new content with (deterministic salt/IV)."""
    seed = _seed(b"rdstrust-pkcs12", password, plaintext)
    salt, iv = seed[:16], hashlib.sha256(seed).digest()[:16]
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


def _resalted(alg_raw: bytes, plaintext: bytes, password: str | None) -> bytes | None:
    """``alg_raw`` with the same cipher, KDF and iterations but a salt and IV for ``plaintext``.

    A pruned envelope is re-encrypted with its original settings; reusing its salt and IV on
    different contents would repeat a key and IV across two plaintexts, so they are derived
    from the new content as for new certificates. ``None`` when the identifier has a shape this
    does not rebuild (the caller then uses the profile's).
    """
    seed = _seed(b"rdstrust-pkcs12", password, plaintext)
    salt, iv = seed, hashlib.sha256(seed).digest()
    try:
        parts = der.parse(alg_raw).children()
        name = der.oid_str(parts[0])
        if name in _PBE_SHA1:
            params = parts[1].children()
            old = params[0].expect(der.OCTET_STRING).content
            new_params = der.seq(der.octets(salt[: max(8, min(len(old), 32))]), params[1].raw)
            return der.seq(parts[0].raw, new_params)
        if name == OID_PBES2:
            kdf, scheme = parts[1].children()
            kdf_parts = kdf.children()
            kp = kdf_parts[1].children()
            old = kp[0].expect(der.OCTET_STRING).content
            new_kdf = der.seq(
                kdf_parts[0].raw,
                der.seq(
                    der.octets(salt[: max(8, min(len(old), 32))]),
                    *(p.raw for p in kp[1:]),
                ),
            )
            scheme_parts = scheme.children()
            old_iv = scheme_parts[1].expect(der.OCTET_STRING).content
            if len(old_iv) != 16:
                return None
            new_scheme = der.seq(scheme_parts[0].raw, der.octets(iv[:16]))
            return der.seq(parts[0].raw, der.seq(new_kdf, new_scheme))
    except (DerError, IndexError, ValueError):
        return None
    return None


def _alg_profile(alg_raw: bytes) -> str | None:
    """``legacy`` or ``modern`` for an encryption algorithm identifier, else ``None``."""
    try:
        name = der.oid_str(der.parse(alg_raw).children()[0])
    except (DerError, IndexError):
        return None
    if name in _PBE_SHA1:
        return "legacy"
    return "modern" if name == OID_PBES2 else None


# --------------------------------------------------------------------------- structure


@dataclass(frozen=True)
class _Bag:
    raw: bytes = field(repr=False)
    type_oid: str
    friendly_name: str | None
    local_key_id: bytes | None
    java_trusted: bool
    cert: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Safe:
    """One ContentInfo of the authenticated safe."""

    raw: bytes = field(repr=False)
    #: Encryption algorithm identifier (raw DER) for an encrypted envelope, else ``None``.
    alg: bytes | None = field(repr=False)
    #: The bags inside, or ``None`` when the envelope could not be opened (no password).
    bags: tuple[_Bag, ...] | None


@dataclass(frozen=True)
class _Mac:
    digest: str
    salt: bytes
    iterations: int


def _attrs(bag_parts: list[Tlv]) -> dict[str, list[Tlv]]:
    result: dict[str, list[Tlv]] = {}
    if len(bag_parts) > 2:
        for attr in bag_parts[2].expect(der.SET).children():
            a = attr.children()
            result[der.oid_str(a[0])] = a[1].expect(der.SET).children()
    return result


def _parse_bag(raw: Tlv) -> _Bag:
    parts = raw.expect(der.SEQUENCE).children()
    type_oid = der.oid_str(parts[0])
    attrs = _attrs(parts)
    name = None
    if attrs.get(OID_FRIENDLY_NAME):
        value = attrs[OID_FRIENDLY_NAME][0]
        name = (
            value.content.decode("utf-16-be", "replace")
            if value.tag == der.BMP_STRING
            else (value.content.decode("utf-8", "replace"))
        )
    key_id = attrs[OID_LOCAL_KEY_ID][0].content if attrs.get(OID_LOCAL_KEY_ID) else None
    cert = None
    if type_oid == OID_CERT_BAG:
        cert_bag = parts[1].expect(der.CONTEXT_0).children()[0].children()
        if der.oid_str(cert_bag[0]) == OID_X509_CERT:
            cert = cert_bag[1].expect(der.CONTEXT_0).children()[0].expect(der.OCTET_STRING).content
    return _Bag(
        raw=raw.raw,
        type_oid=type_oid,
        friendly_name=name,
        local_key_id=key_id,
        java_trusted=OID_JAVA_TRUSTED in attrs,
        cert=cert,
    )


def _parse_bags(safe_contents: bytes) -> tuple[_Bag, ...]:
    return tuple(_parse_bag(b) for b in der.parse(safe_contents).expect(der.SEQUENCE).children())


def _cert_bag(cert: NewCert) -> bytes:
    name = der.encode(der.BMP_STRING, cert.alias.encode("utf-16-be"))
    attrs = der.set_of(
        der.seq(der.oid(OID_FRIENDLY_NAME), der.set_of(name)),
        der.seq(der.oid(OID_JAVA_TRUSTED), der.set_of(der.oid(OID_ANY_EKU))),
    )
    value = der.seq(der.oid(OID_X509_CERT), der.explicit0(der.octets(cert.der)))
    return der.seq(der.oid(OID_CERT_BAG), der.explicit0(value), attrs)


def _envelope(bags: Sequence[bytes], alg: bytes | None, password: str | None) -> bytes:
    """A ContentInfo holding ``bags``: plain data, or encrypted with ``alg``."""
    contents = der.seq(*bags)
    if alg is None:
        return der.seq(der.oid(OID_DATA), der.explicit0(der.octets(contents)))
    assert password is not None
    encrypted = _crypt(der.parse(alg), password, contents, encrypt=True)
    eci = der.seq(der.oid(OID_DATA), alg, der.encode(der.CONTEXT_0_PRIMITIVE, encrypted))
    return der.seq(der.oid(OID_ENCRYPTED_DATA), der.explicit0(der.seq(der.integer(0), eci)))


def _mac_value(mac: _Mac, bmp: bytes, auth_safe: bytes) -> bytes:
    """The MAC over ``auth_safe`` keyed with the BMPString password ``bmp``."""
    size = hashlib.new(mac.digest).digest_size
    key = _pkcs12_kdf(bmp, mac.salt, 3, mac.iterations, size, mac.digest)
    return hmac.new(key, auth_safe, mac.digest).digest()


def _pfx(auth_safe: bytes, mac: _Mac | None, password: str | None) -> bytes:
    parts = [der.integer(3), der.seq(der.oid(OID_DATA), der.explicit0(der.octets(auth_safe)))]
    if mac is not None:
        assert password is not None
        digest_info = der.seq(
            der.seq(der.oid(_DIGEST_OIDS[mac.digest]), der.encode(der.NULL, b"")),
            der.octets(_mac_value(mac, _bmp_password(password), auth_safe)),
        )
        parts.append(der.seq(digest_info, der.octets(mac.salt), der.integer(mac.iterations)))
    return der.seq(*parts)


def _profile_mac(profile: str, auth_safe: bytes, password: str | None) -> _Mac:
    salt = _seed(b"rdstrust-pkcs12-mac", password, auth_safe)[:16]
    return _Mac("sha1" if profile == "legacy" else "sha256", salt, ITERATIONS)


# --------------------------------------------------------------------------- the store


class Pkcs12Store:
    """A parsed PKCS12 store whose envelopes and bags keep their original bytes."""

    def __init__(
        self,
        *,
        safes: Sequence[_Safe],
        mac: _Mac | None,
        entries: Sequence[StoreEntry],
        entry_bags: Sequence[tuple[int, int]],
        verified: bool,
        source: str,
    ) -> None:
        self._safes = tuple(safes)
        self.mac = mac
        self.entries: tuple[StoreEntry, ...] = tuple(entries)
        # For each trusted-certificate entry: (safe index, bag index) of its bag; (-1, -1) else.
        self._entry_bags = tuple(entry_bags)
        self.verified = verified
        self.source = source
        self.password_required = any(
            s.alg is not None and (s.bags is None or any(b.cert for b in s.bags)) for s in safes
        )

    @property
    def profile(self) -> str:
        """The profile that matches how this store is protected now."""
        algs = [_alg_profile(s.alg) for s in self._safes if s.alg is not None]
        if "legacy" in algs or (self.mac is not None and self.mac.digest == "sha1"):
            return "legacy"
        return "modern"

    @property
    def password_less(self) -> bool:
        """True for the JDK 18+ cacerts shape: no MAC and nothing encrypted."""
        return self.mac is None and all(s.alg is None for s in self._safes)

    def render(
        self,
        *,
        remove: frozenset[int],
        add: Sequence[NewCert],
        password: str | None,
        profile: str | None = None,
    ) -> bytes:
        """The store with entries at ``remove`` dropped and ``add`` appended as trusted certs."""
        check_password(password, self.source)
        if not self.password_less and (password is None or not self.verified):
            raise StoreError(
                f"{self.source} is a password-protected PKCS12 store: its password is needed "
                "to write it; give --storepass-env, --storepass-file or RDSTRUST_STOREPASS.",
                path=self.source,
            )
        if any(s.bags is None for s in self._safes):
            raise StoreError(
                f"{self.source} has a part rdstrust cannot decrypt; refusing to rewrite it.",
                path=self.source,
            )
        chosen = profile or self.profile
        drop: dict[int, set[int]] = {}
        for index in remove:
            si, bi = self._entry_bags[index]
            if si < 0:
                raise StoreError(
                    f"{self.source}: entry {self.entries[index].alias!r} cannot be removed.",
                    path=self.source,
                )
            drop.setdefault(si, set()).add(bi)
        envelopes: list[bytes] = []
        for si, safe in enumerate(self._safes):
            assert safe.bags is not None
            reencrypt = (
                profile is not None and safe.alg is not None and _alg_profile(safe.alg) != profile
            )
            if si not in drop and not reencrypt:
                envelopes.append(safe.raw)  # carried byte for byte
                continue
            bags = [b.raw for bi, b in enumerate(safe.bags) if bi not in drop.get(si, set())]
            if not bags:
                continue
            alg = safe.alg
            if alg is not None:
                contents = der.seq(*bags)
                kept = None
                if not (reencrypt or _alg_profile(alg) is None or _is_rc2(alg)):
                    kept = _resalted(alg, contents, password)
                alg = kept or _profile_alg(chosen, contents, password)
            envelopes.append(_envelope(bags, alg, password))
        if add:
            bags = [_cert_bag(c) for c in add]
            encrypt = any(s.alg is not None for s in self._safes) or (
                not self._safes and password is not None
            )
            alg = _profile_alg(chosen, der.seq(*bags), password) if encrypt else None
            envelopes.append(_envelope(bags, alg, password))
        auth_safe = der.seq(*envelopes)
        mac = self.mac
        if (
            mac is not None
            and profile is not None
            and (mac.digest == "sha1") != (profile == "legacy")
        ):
            mac = _profile_mac(profile, auth_safe, password)
        return _pfx(auth_safe, mac, password)


def _is_rc2(alg: bytes) -> bool:
    try:
        name = der.oid_str(der.parse(alg).children()[0])
    except (DerError, IndexError):
        return False
    return name in _PBE_SHA1 and _PBE_SHA1[name][0] == "rc2"


def create(add: Sequence[NewCert], *, password: str | None, profile: str | None = None) -> bytes:
    """A new PKCS12 truststore: password-less (JDK 18+ shape) when ``password`` is ``None``."""
    check_password(password, None)
    chosen = profile or "modern"
    bags = [_cert_bag(c) for c in add]
    if password is None:
        return _pfx(der.seq(_envelope(bags, None, None)), None, None)
    auth_safe = der.seq(_envelope(bags, _profile_alg(chosen, der.seq(*bags), password), password))
    return _pfx(auth_safe, _profile_mac(chosen, auth_safe, password), password)


def looks_like_pkcs12(data: bytes) -> bool:
    """Whether bytes are a PFX: SEQUENCE { INTEGER 3, ContentInfo (data or signedData), ... }."""
    try:
        first, _ = der.read_tlv(data)
        if first.tag != der.SEQUENCE or len(first.raw) != len(data):
            return False
        parts = first.children()
        return (
            len(parts) >= 2
            and der.to_int(parts[0]) == 3
            and parts[1].tag == der.SEQUENCE
            and der.oid_str(parts[1].children()[0]).startswith("1.2.840.113549.1.7.")
        )
    except (DerError, IndexError):
        return False


def looks_like_ber_pkcs12(data: bytes) -> bool:
    """Whether bytes are a PFX in BER with indefinite lengths (some Windows and IBM tools).

    rdstrust walks PKCS12 as DER and writes it back piece by piece, which BER's indefinite
    lengths (``30 80 ... 00 00``) do not allow; such a file is recognised so the user is told
    to re-export it rather than "not a trust store".
    """
    if data[:1] != b"\x30" or len(data) < 2:
        return False
    indefinite = data[1] == 0x80
    pos = 2 if data[1] <= 0x80 else 2 + (data[1] & 0x7F)
    if data[pos : pos + 3] != b"\x02\x01\x03":  # version 3
        return False
    pos += 3
    if data[pos : pos + 1] != b"\x30":
        return False
    indefinite = indefinite or data[pos + 1 : pos + 2] == b"\x80"
    # The ContentInfo's type: PKCS7 data or signedData (1.2.840.113549.1.7.x).
    length_byte = data[pos + 1] if len(data) > pos + 1 else 0
    pos += 2 if length_byte <= 0x80 else 2 + (length_byte & 0x7F)
    return indefinite and data[pos : pos + 10] == b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"


def load(data: bytes, *, source: str, password: str | None) -> Pkcs12Store:
    """Parse a PKCS12 store, checking its MAC and decrypting its envelopes with ``password``.

    Without a password, a store whose certificates are not encrypted is read with its MAC
    unchecked (as Java does); an encrypted one raises :class:`WrongPasswordError`.
    """
    check_password(password, source)
    try:
        return _load(data, source, password)
    except (DerError, IndexError, UnicodeDecodeError, OverflowError):
        raise StoreError(
            f"{source} is a damaged PKCS12 file (its structure cannot be parsed); restore it "
            "from a backup.",
            path=source,
        ) from None
    except UnicodeEncodeError:  # check_password already refuses these; never a traceback
        raise WrongPasswordError(
            f"The password given for {source} cannot be encoded for PKCS12; give the password "
            "as UTF-8 text.",
            path=source,
        ) from None
    except _TooManyIterations as exc:
        raise StoreError(
            f"{source} uses {exc.count:,} iterations, more than any real store (limit "
            f"{MAX_ITERATIONS:,}); it is damaged or hostile.",
            path=source,
        ) from None


def _load(data: bytes, source: str, password: str | None) -> Pkcs12Store:
    parts = der.parse(data).expect(der.SEQUENCE).children()
    auth = parts[1].children()
    if der.oid_str(auth[0]) != OID_DATA:
        raise StoreError(
            f"{source} is a PKCS12 file protected by a public-key signature, which rdstrust "
            "does not support; use a password-protected store.",
            path=source,
        )
    auth_safe = auth[1].expect(der.CONTEXT_0).children()[0].expect(der.OCTET_STRING).content
    mac = None
    if len(parts) > 2:
        mac_parts = parts[2].children()
        alg = mac_parts[0].children()[0].children()
        alg_oid = der.oid_str(alg[0])
        if alg_oid not in _DIGESTS:
            what = "PBMAC1 (RFC 9579)" if alg_oid == OID_PBMAC1 else alg_oid
            raise StoreError(
                f"{source} uses a MAC algorithm rdstrust does not support ({what}).", path=source
            )
        mac = _Mac(
            _DIGESTS[alg_oid],
            mac_parts[1].expect(der.OCTET_STRING).content,
            _iterations(mac_parts[2]) if len(mac_parts) > 2 else 1,
        )
        stored = mac_parts[0].children()[1].expect(der.OCTET_STRING).content
    mac_ok = mac is None
    if mac is not None and password is not None:
        mac_ok = any(
            hmac.compare_digest(_mac_value(mac, bmp, auth_safe), stored)
            for bmp in _bmp_candidates(password)
        )
    safes: list[_Safe] = []
    decrypted_any = False
    for info in der.parse(auth_safe).expect(der.SEQUENCE).children():
        ci = info.children()
        kind = der.oid_str(ci[0])
        if kind == OID_DATA:
            inner = ci[1].expect(der.CONTEXT_0).children()[0].expect(der.OCTET_STRING).content
            safes.append(_Safe(info.raw, None, _parse_bags(inner)))
        elif kind == OID_ENCRYPTED_DATA:
            eci = ci[1].expect(der.CONTEXT_0).children()[0].children()[1].children()
            alg_tlv = eci[1]
            if password is None:
                safes.append(_Safe(info.raw, alg_tlv.raw, None))
                continue
            if len(eci) < 3 or eci[2].tag != der.CONTEXT_0_PRIMITIVE:
                raise StoreError(
                    f"{source} uses a PKCS12 encoding rdstrust does not support (constructed "
                    "encrypted content).",
                    path=source,
                )
            opened = _decrypt_bags(alg_tlv, password, eci[2].content)
            if isinstance(opened, Exception):
                if mac_ok and mac is not None:
                    raise StoreError(
                        f"{source}: a part of the store cannot be decrypted ({opened}); "
                        "rdstrust cannot read or rewrite it.",
                        path=source,
                    ) from None
                raise _wrong_password(source, mac is not None) from None
            bags = opened
            decrypted_any = True
            safes.append(_Safe(info.raw, alg_tlv.raw, bags))
        else:
            raise StoreError(
                f"{source} holds a PKCS12 envelope of a kind rdstrust does not support ({kind}).",
                path=source,
            )
    if not mac_ok and password is not None:
        if decrypted_any:
            raise WrongPasswordError(
                f"{source} was modified: its PKCS12 MAC does not match although the password "
                "decrypts it; restore the file from a backup.",
                path=source,
            )
        raise _wrong_password(source, True)
    if password is None and any(s.bags is None for s in safes):
        raise WrongPasswordError(
            f"{source} is a password-protected PKCS12 store (its certificates are encrypted); "
            "give its password with --storepass-env, --storepass-file or RDSTRUST_STOREPASS.",
            path=source,
        )
    entries, entry_bags = _entries(safes)
    return Pkcs12Store(
        safes=safes,
        mac=mac,
        entries=entries,
        entry_bags=entry_bags,
        verified=mac is None or password is not None,
        source=source,
    )


def _decrypt_bags(alg: Tlv, password: str, data: bytes) -> tuple[_Bag, ...] | Exception:
    """The bags of an encrypted envelope, or the reason it cannot be opened.

    Each BMPString form of the password is tried in turn (see :func:`_bmp_candidates`); a wrong
    key can still end in valid-looking padding, so a form counts only if the bags parse too.
    """
    failure: Exception = _Undecryptable("no password form fits")
    for bmp in _bmp_candidates(password):
        try:
            return _parse_bags(_crypt(alg, password, data, encrypt=False, bmp=bmp))
        except (_Undecryptable, DerError, IndexError) as exc:
            failure = exc
    return failure


def _wrong_password(source: str, has_mac: bool) -> WrongPasswordError:
    check = "its PKCS12 MAC does not match" if has_mac else "it cannot be decrypted"
    return WrongPasswordError(
        f"{source}: wrong password, or the store was modified ({check}); check the password, "
        "and restore the file if it was tampered with.",
        path=source,
    )


def _entries(safes: Sequence[_Safe]) -> tuple[list[StoreEntry], list[tuple[int, int]]]:
    """Group bags into entries as Java's PKCS12KeyStore.engineLoad does."""
    located = [(si, bi, bag) for si, s in enumerate(safes) for bi, bag in enumerate(s.bags or ())]
    certs = [(si, bi, b) for si, bi, b in located if b.type_oid == OID_CERT_BAG and b.cert]
    parsed = {b.cert: describe_der(b.cert) for _, _, b in certs if b.cert}
    by_subject = {
        info.certificate.subject.public_bytes(): der_bytes
        for der_bytes, info in parsed.items()
        if info is not None
    }
    key_ids = {
        b.local_key_id
        for _, _, b in located
        if b.type_oid in (OID_KEY_BAG, OID_SHROUDED_KEY_BAG) and b.local_key_id
    }
    chain_members: set[bytes] = set()
    entries: list[StoreEntry] = []
    entry_bags: list[tuple[int, int]] = []
    for _si, _bi, bag in located:
        if bag.type_oid in (OID_KEY_BAG, OID_SHROUDED_KEY_BAG):
            chain = _chain(bag, certs, parsed, by_subject)
            chain_members.update(chain)
            entries.append(
                StoreEntry(
                    alias=bag.friendly_name or _unnamed(bag),
                    kind=EntryKind.PRIVATE_KEY,
                    sha256=hashlib.sha256(chain[0]).hexdigest() if chain else None,
                    info=parsed.get(chain[0]) if chain else None,
                    certificates=tuple(chain),
                )
            )
            entry_bags.append((-1, -1))
        elif bag.type_oid == OID_SECRET_BAG:
            entries.append(
                StoreEntry(
                    alias=bag.friendly_name or _unnamed(bag),
                    kind=EntryKind.SECRET_KEY,
                    sha256=None,
                    info=None,
                )
            )
            entry_bags.append((-1, -1))
    for si, bi, bag in certs:
        assert bag.cert is not None
        if bag.java_trusted or (bag.cert not in chain_members and bag.local_key_id not in key_ids):
            entries.append(
                StoreEntry(
                    alias=bag.friendly_name or _unnamed(bag),
                    kind=EntryKind.TRUSTED_CERT,
                    sha256=hashlib.sha256(bag.cert).hexdigest(),
                    info=parsed.get(bag.cert),
                    certificates=(bag.cert,),
                    java_trusted=bag.java_trusted,
                )
            )
            entry_bags.append((si, bi))
    return entries, entry_bags


def _unnamed(bag: _Bag) -> str:
    # Java names such entries itself; show something stable.
    return f"(no alias {hashlib.sha256(bag.raw).hexdigest()[:12]})"


def _chain(
    key: _Bag,
    certs: Sequence[tuple[int, int, _Bag]],
    parsed: Mapping[bytes, CertInfo | None],
    by_subject: dict[bytes, bytes],
) -> list[bytes]:
    leaf = next(
        (b.cert for _, _, b in certs if key.local_key_id and b.local_key_id == key.local_key_id),
        None,
    )
    if leaf is None:
        return []
    chain = [leaf]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while len(chain) < 10:
            info = parsed.get(chain[-1])
            cert = info.certificate if info is not None else None
            if cert is None or cert.issuer == cert.subject:
                break
            nxt = by_subject.get(cert.issuer.public_bytes())
            if nxt is None or nxt in chain:
                break
            chain.append(nxt)
    return chain
