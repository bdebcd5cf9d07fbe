"""PKCS12 (RFC 7292) keystores, walked at the DER level so existing bags are never re-encoded.

cryptography can load and serialize PKCS12, but a load/serialize round trip re-encodes every
certificate, drops attributes it does not model and cannot re-emit a private key it did not
decrypt. Here the file is parsed only as far as needed: the authenticated safe is a list of
``ContentInfo`` envelopes (plain, or password-encrypted), each holding ``SafeBag``s. A merge keeps
every original envelope byte for byte and appends one new envelope with the new certificate bags
(with Java's trusted-certificate attribute, without which Java ignores a certificate). Private
key bags are already individually encrypted (``pkcs8ShroudedKeyBag``); they are carried as they
are and never decrypted. Only the MAC over the whole is recomputed. Encryption, key derivation
and the MAC live in :mod:`._pbe`.

Shapes. A truststore rdstrust creates holds public certificates, so they go in a plain envelope:
with a password, the file gets an integrity MAC only (what JDK 18+ keytool writes for a
certificate-only store), so Java sees every anchor whether or not ``trustStorePassword`` is set,
and checks the MAC when it is. Without a password: no MAC either (the JDK 18+ ``cacerts`` shape,
what keytool writes with ``-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE
-J-Dkeystore.pkcs12.macAlgorithm=NONE``). An existing store keeps its own shape: certificates
added to a store whose certificates are encrypted are encrypted too.

Profiles for what rdstrust itself protects: ``modern`` (Java 17's defaults: HMAC-SHA256 MAC and,
where certificates are encrypted, PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, 10000
iterations) and ``legacy`` (an HMAC-SHA1 MAC and PBE-SHA1-3DES, readable by Java 8 before 8u301,
which cannot decrypt PBES2: JDK-8153005). Salts and IVs of what rdstrust writes are derived from
the content (never the password), so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rdstrust.certs import CertInfo
from rdstrust.errors import PasswordNeededError, StoreError, WrongPasswordError
from rdstrust.stores import _der as der
from rdstrust.stores import _pbe as pbe
from rdstrust.stores._der import DerError, Tlv
from rdstrust.stores._pbe import (
    ITERATIONS,
    MAX_ITERATIONS,
    MAX_TOTAL_ITERATIONS,
    OID_PBES2,
    KeyDeriver,
    TooManyIterations,
    Undecryptable,
    WorkBudgetExceeded,
)
from rdstrust.stores._types import EntryKind, NewCert, StoreEntry, check_password, describe_der

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
OID_PBMAC1 = "1.2.840.113549.1.5.14"
_DIGESTS: dict[str, str] = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_DIGEST_OIDS = {name: oid for oid, name in _DIGESTS.items()}
#: The most bags (and envelopes) one store may hold. A full JDK cacerts has about 150 and the
#: benchmarks' largest store 50,000; every bag costs about 1.7 KB of memory once parsed, so a
#: 64 MiB file of tiny bags (millions) would take gigabytes before anything is written.
MAX_ENTRIES = der.MAX_ELEMENTS


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
    #: Its salt was derived from the password by rdstrust before issue 8: re-encrypt on write.
    rekey: bool = False


@dataclass(frozen=True)
class _Mac:
    digest: str
    salt: bytes
    iterations: int
    #: Its salt was derived from the password by rdstrust before issue 8: re-salt on write.
    rekey: bool = False


#: One element inside a bag: (tag, content start, content end), offsets into the bag's bytes.
_Span = tuple[int, int, int]


def _inside(data: bytes, span: _Span) -> list[_Span]:
    """The elements inside the constructed element ``span`` of ``data``; nothing is copied.

    A 50,000-bag store is 800,000 elements: walking them by offsets instead of copying each
    element's bytes at every level is most of what reading a large PKCS12 costs.
    """
    tag, pos, end = span
    if not tag & 0x20:
        raise DerError(f"element with tag 0x{tag:02x} is not constructed")
    found: list[_Span] = []
    while pos < end:
        if len(found) >= der.MAX_ELEMENTS:
            raise der.TooManyElements(der.MAX_ELEMENTS)
        header = der.read_header(data, pos)
        stop = header.end
        if stop is None or stop > end:
            raise DerError("element runs past its parent")
        found.append((header.tag, header.start, stop))
        pos = stop
    return found


def _expect(span: _Span, tag: int) -> _Span:
    if span[0] != tag:
        raise DerError(f"expected tag 0x{tag:02x}, found 0x{span[0]:02x}")
    return span


def _oid(data: bytes, span: _Span) -> str:
    return der.oid_str(der.Tlv(span[0], data[span[1] : span[2]], b""))


def _attrs(data: bytes, bag_parts: list[_Span]) -> dict[str, list[_Span]]:
    result: dict[str, list[_Span]] = {}
    if len(bag_parts) > 2:
        for attr in _inside(data, _expect(bag_parts[2], der.SET)):
            a = _inside(data, attr)
            result[_oid(data, a[0])] = _inside(data, _expect(a[1], der.SET))
    return result


def _parse_bag(raw: bytes) -> _Bag:
    header = der.read_header(raw)
    if header.end != len(raw):
        raise DerError("bag length does not match")
    parts = _inside(raw, _expect((header.tag, header.start, header.end), der.SEQUENCE))
    type_oid = _oid(raw, parts[0])
    attrs = _attrs(raw, parts)
    name = None
    if attrs.get(OID_FRIENDLY_NAME):
        tag, start, end = attrs[OID_FRIENDLY_NAME][0]
        name = raw[start:end].decode("utf-16-be" if tag == der.BMP_STRING else "utf-8", "replace")
    key_id = None
    if attrs.get(OID_LOCAL_KEY_ID):
        _, start, end = attrs[OID_LOCAL_KEY_ID][0]
        key_id = raw[start:end]
    cert = None
    if type_oid == OID_CERT_BAG:
        cert_bag = _inside(raw, _inside(raw, _expect(parts[1], der.CONTEXT_0))[0])
        if _oid(raw, cert_bag[0]) == OID_X509_CERT:
            value = _inside(raw, _expect(cert_bag[1], der.CONTEXT_0))[0]
            _, start, end = _expect(value, der.OCTET_STRING)
            cert = raw[start:end]
    return _Bag(
        raw=raw,
        type_oid=type_oid,
        friendly_name=name,
        local_key_id=key_id,
        java_trusted=OID_JAVA_TRUSTED in attrs,
        cert=cert,
    )


def _parse_bags(safe_contents: bytes, limit: int) -> tuple[_Bag, ...]:
    # Bag by bag: parsing the whole run first held a copy of every bag (twice) at once.
    outer = der.read_header(safe_contents)
    if outer.tag != der.SEQUENCE or outer.end != len(safe_contents):
        raise DerError("SafeContents is not one SEQUENCE")
    bags: list[_Bag] = []
    pos, limit = outer.start, max(limit, 0)
    while pos < len(safe_contents):
        if len(bags) >= limit:
            raise der.TooManyElements(limit)
        header = der.read_header(safe_contents, pos)
        stop = header.end
        if stop is None or stop > len(safe_contents):
            raise DerError("element runs past the end of the data")
        bags.append(_parse_bag(safe_contents[pos:stop]))
        pos = stop
    return tuple(bags)


def _cert_bag(cert: NewCert) -> bytes:
    name = der.encode(der.BMP_STRING, cert.alias.encode("utf-16-be"))
    attrs = der.set_of(
        der.seq(der.oid(OID_FRIENDLY_NAME), der.set_of(name)),
        der.seq(der.oid(OID_JAVA_TRUSTED), der.set_of(der.oid(OID_ANY_EKU))),
    )
    value = der.seq(der.oid(OID_X509_CERT), der.explicit0(der.octets(cert.der)))
    return der.seq(der.oid(OID_CERT_BAG), der.explicit0(value), attrs)


def _plain_envelope(bags: Sequence[bytes]) -> bytes:
    """A ContentInfo holding ``bags`` as plain data."""
    return der.seq(der.oid(OID_DATA), der.explicit0(der.octets(der.seq(*bags))))


def _encrypted_envelope(
    bags: Sequence[bytes], alg: bytes, password: str, keys: KeyDeriver
) -> bytes:
    """A ContentInfo holding ``bags`` encrypted with the identifier ``alg``."""
    encrypted = pbe.encrypt(alg, password, der.seq(*bags), keys=keys)
    eci = der.seq(der.oid(OID_DATA), alg, der.encode(der.CONTEXT_0_PRIMITIVE, encrypted))
    return der.seq(der.oid(OID_ENCRYPTED_DATA), der.explicit0(der.seq(der.integer(0), eci)))


def _pfx(auth_safe: bytes, mac: _Mac | None, password: str | None, keys: KeyDeriver) -> bytes:
    parts = [der.integer(3), der.seq(der.oid(OID_DATA), der.explicit0(der.octets(auth_safe)))]
    if mac is not None:
        assert password is not None
        value = pbe.mac_value(
            mac.digest, mac.salt, mac.iterations, pbe.bmp_password(password), auth_safe, keys=keys
        )
        digest_info = der.seq(
            der.seq(der.oid(_DIGEST_OIDS[mac.digest]), der.encode(der.NULL, b"")),
            der.octets(value),
        )
        parts.append(der.seq(digest_info, der.octets(mac.salt), der.integer(mac.iterations)))
    return der.seq(*parts)


def _profile_mac(profile: str, content: bytes, seed: bytes | None) -> _Mac:
    """The MAC rdstrust writes; ``content`` is the plaintext bags (never anything keyed)."""
    digest = "sha1" if profile == "legacy" else "sha256"
    return _Mac(digest, pbe.mac_salt(content, seed), ITERATIONS)


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
        keys: KeyDeriver | None = None,
    ) -> None:
        self._safes = tuple(safes)
        self.mac = mac
        self.entries: tuple[StoreEntry, ...] = tuple(entries)
        # For each trusted-certificate entry: (safe index, bag index) of its bag; (-1, -1) else.
        self._entry_bags = tuple(entry_bags)
        self.verified = verified
        self.source = source
        # The derivations of the load, reused by render (the MAC key of an unchanged salt).
        self._keys = keys or KeyDeriver()
        self.password_required = any(
            s.alg is not None and (s.bags is None or any(b.cert for b in s.bags)) for s in safes
        )

    @property
    def keys(self) -> KeyDeriver:
        """The key derivations of this store's load (cached; see :class:`KeyDeriver`)."""
        return self._keys

    @property
    def profile(self) -> str:
        """The profile that matches how this store is protected now."""
        algs = [pbe.alg_profile(s.alg) for s in self._safes if s.alg is not None]
        if "legacy" in algs or (self.mac is not None and self.mac.digest == "sha1"):
            return "legacy"
        return "modern"

    @property
    def password_less(self) -> bool:
        """True for the JDK 18+ cacerts shape: no MAC and nothing encrypted."""
        return self.mac is None and all(s.alg is None for s in self._safes)

    @property
    def password_keyed_salts(self) -> bool:
        """Whether an earlier rdstrust derived this store's salts from its password.

        Such a file lets a password guess be tested with one HMAC; any :meth:`render` replaces
        those salts, so a caller may want to rewrite the store even when nothing else changes.
        """
        return (self.mac is not None and self.mac.rekey) or any(s.rekey for s in self._safes)

    @property
    def certificates_encrypted(self) -> bool:
        """Whether any envelope is encrypted (new certificates are then encrypted too)."""
        return any(s.alg is not None for s in self._safes)

    def render(
        self,
        *,
        remove: frozenset[int],
        add: Sequence[NewCert],
        password: str | None,
        profile: str | None = None,
        seed: bytes | None = None,
    ) -> bytes:
        """The store with entries at ``remove`` dropped and ``add`` appended as trusted certs.

        ``seed`` (optional) goes into the salts and IVs of what is re-encrypted, beside the
        content; the password never does.
        """
        check_password(password, self.source)
        self._check_writable(password)
        keys = self._keys.fresh_budget()
        chosen = profile or self.profile
        drop = self._dropped(remove)
        envelopes = self._kept_envelopes(drop, profile, chosen, password, seed, keys)
        if add:
            bags = [_cert_bag(c) for c in add]
            if self.certificates_encrypted:
                assert password is not None
                alg = pbe.profile_alg(chosen, der.seq(*bags), seed)
                envelopes.append(_encrypted_envelope(bags, alg, password, keys))
            else:
                envelopes.append(_plain_envelope(bags))
        auth_safe = der.seq(*envelopes)
        # The MAC salt comes from the plaintext bags, not the auth_safe: encrypted envelopes
        # hold ciphertext, which changes with the password.
        content = der.seq(*self._kept_bags(drop), *(_cert_bag(c) for c in add))
        return _pfx(auth_safe, self._new_mac(profile, content, seed), password, keys)

    def _kept_bags(self, drop: dict[int, set[int]]) -> list[bytes]:
        return [
            bag.raw
            for si, safe in enumerate(self._safes)
            for bi, bag in enumerate(safe.bags or ())
            if bi not in drop.get(si, set())
        ]

    def _check_writable(self, password: str | None) -> None:
        if not self.password_less and password is None:
            raise PasswordNeededError(
                f"{self.source} is a password-protected PKCS12 store: its password is needed "
                "to write it; give --storepass-env, --storepass-file or RDSTRUST_STOREPASS.",
                path=self.source,
            )
        if not self.password_less and not self.verified:
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

    def _dropped(self, remove: frozenset[int]) -> dict[int, set[int]]:
        drop: dict[int, set[int]] = {}
        for index in remove:
            si, bi = self._entry_bags[index]
            if si < 0:
                raise StoreError(
                    f"{self.source}: entry {self.entries[index].alias!r} cannot be removed.",
                    path=self.source,
                )
            drop.setdefault(si, set()).add(bi)
        return drop

    def _kept_envelopes(
        self,
        drop: dict[int, set[int]],
        profile: str | None,
        chosen: str,
        password: str | None,
        seed: bytes | None,
        keys: KeyDeriver,
    ) -> list[bytes]:
        """Every existing envelope: byte for byte, or rebuilt when bags go or it is re-keyed."""
        envelopes: list[bytes] = []
        for si, safe in enumerate(self._safes):
            assert safe.bags is not None
            reencrypt = (
                profile is not None
                and safe.alg is not None
                and pbe.alg_profile(safe.alg) != profile
            )
            if si not in drop and not reencrypt and not safe.rekey:
                envelopes.append(safe.raw)  # carried byte for byte
                continue
            bags = [b.raw for bi, b in enumerate(safe.bags) if bi not in drop.get(si, set())]
            if not bags:
                continue
            if safe.alg is None:
                envelopes.append(_plain_envelope(bags))
                continue
            assert password is not None
            contents = der.seq(*bags)
            kept = None
            if not (reencrypt or pbe.alg_profile(safe.alg) is None or pbe.is_rc2(safe.alg)):
                kept = pbe.resalted(safe.alg, contents, seed)
            alg = kept or pbe.profile_alg(chosen, contents, seed)
            envelopes.append(_encrypted_envelope(bags, alg, password, keys))
        return envelopes

    def _new_mac(self, profile: str | None, content: bytes, seed: bytes | None) -> _Mac | None:
        """The MAC to write: the store's own settings, unless the profile or its salt changes.

        A salt from Java or OpenSSL (random) is kept, so its MAC key comes from the cache of
        the load; one that earlier rdstrust derived from the password is replaced.
        """
        mac = self.mac
        if mac is None:
            return None
        if profile is not None and (mac.digest == "sha1") != (profile == "legacy"):
            return _profile_mac(profile, content, seed)
        if mac.rekey:
            return _Mac(mac.digest, pbe.mac_salt(content, seed, len(mac.salt)), mac.iterations)
        return mac


def create(
    add: Sequence[NewCert],
    *,
    password: str | None,
    profile: str | None = None,
    seed: bytes | None = None,
    encrypt_certificates: bool = False,
    keys: KeyDeriver | None = None,
) -> bytes:
    """A new PKCS12 truststore holding ``add`` as trusted certificates.

    Certificates are not encrypted: Java then sees every anchor with or without the store
    password (issue 11). With a ``password`` the file gets an integrity MAC (what JDK 18+
    keytool writes for certificate-only stores); without one neither (the JDK 18+ cacerts
    shape). ``encrypt_certificates`` writes the older shape that hides the certificates from a
    JVM not given the password (kept for tests and for callers who ask for it).
    """
    check_password(password, None)
    chosen = profile or "modern"
    bags = [_cert_bag(c) for c in add]
    keys = keys or KeyDeriver()
    if password is None:
        return _pfx(der.seq(_plain_envelope(bags)), None, None, keys)
    if encrypt_certificates:
        alg = pbe.profile_alg(chosen, der.seq(*bags), seed)
        envelope = _encrypted_envelope(bags, alg, password, keys)
    else:
        envelope = _plain_envelope(bags)
    auth_safe = der.seq(envelope)
    return _pfx(auth_safe, _profile_mac(chosen, der.seq(*bags), seed), password, keys)


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


#: The DER of OBJECT IDENTIFIER 1.2.840.113549.1.7 (PKCS7 content types), without its last arc.
_PKCS7_OID_PREFIX = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"


def looks_like_ber_pkcs12(data: bytes) -> bool:
    """Whether bytes are a PFX in BER with indefinite lengths (some Windows and IBM tools).

    rdstrust walks PKCS12 as DER and writes it back piece by piece, which BER's indefinite
    lengths (``30 80 ... 00 00``) do not allow; such a file is recognised so the user is told
    to re-export it rather than "not a trust store".
    """
    try:
        outer = der.read_header(data)
        if outer.tag != der.SEQUENCE or data[outer.start : outer.start + 3] != b"\x02\x01\x03":
            return False
        info = der.read_header(data, outer.start + 3)  # the ContentInfo after version 3
    except DerError:
        return False
    indefinite = outer.length is None or info.length is None
    return (
        info.tag == der.SEQUENCE
        and indefinite
        and data[info.start : info.start + 10] == _PKCS7_OID_PREFIX
    )


def load(
    data: bytes, *, source: str, password: str | None, keys: KeyDeriver | None = None
) -> Pkcs12Store:
    """Parse a PKCS12 store, checking its MAC and decrypting its envelopes with ``password``.

    Without a password, a store whose certificates are not encrypted is read with its MAC
    unchecked (as Java does); an encrypted one raises :class:`WrongPasswordError`. ``keys``
    shares key derivations with other loads of the same store in one run (the caller's choice);
    each load gets a fresh work budget either way.
    """
    check_password(password, source)
    deriver = keys.fresh_budget() if keys is not None else KeyDeriver()
    try:
        return _load(data, source, password, deriver)
    except der.TooManyElements:
        raise StoreError(
            f"{source} holds more than {MAX_ENTRIES:,} PKCS12 bags (or elements in one place), "
            "more than any real store; it is damaged or hostile.",
            path=source,
        ) from None
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
    except TooManyIterations as exc:
        raise StoreError(
            f"{source} uses {exc.count:,} iterations, more than any real store (limit "
            f"{MAX_ITERATIONS:,}); it is damaged or hostile.",
            path=source,
        ) from None
    except WorkBudgetExceeded as exc:
        raise StoreError(
            f"{source} asks for {exc.total:,} key-derivation iterations in all, more than any "
            f"real store (limit {exc.budget:,} per store); it is damaged or hostile.",
            path=source,
        ) from None


@dataclass(frozen=True)
class _Envelope:
    """One ContentInfo as found, before decryption."""

    raw: bytes = field(repr=False)
    #: The encryption algorithm identifier, or ``None`` for plain data.
    alg: Tlv | None = field(repr=False)
    #: The plain SafeContents, or the ciphertext.
    payload: bytes = field(repr=False)


def _envelopes(auth_safe: bytes, source: str) -> list[_Envelope]:
    found = []
    for info in der.parse(auth_safe).expect(der.SEQUENCE).children(MAX_ENTRIES):
        ci = info.children()
        kind = der.oid_str(ci[0])
        if kind == OID_DATA:
            inner = ci[1].expect(der.CONTEXT_0).children()[0].expect(der.OCTET_STRING).content
            found.append(_Envelope(info.raw, None, inner))
        elif kind == OID_ENCRYPTED_DATA:
            eci = ci[1].expect(der.CONTEXT_0).children()[0].children()[1].children()
            if len(eci) < 3 or eci[2].tag != der.CONTEXT_0_PRIMITIVE:
                raise StoreError(
                    f"{source} uses a PKCS12 encoding rdstrust does not support (constructed "
                    "encrypted content).",
                    path=source,
                )
            found.append(_Envelope(info.raw, eci[1], eci[2].content))
        else:
            raise StoreError(
                f"{source} holds a PKCS12 envelope of a kind rdstrust does not support ({kind}).",
                path=source,
            )
    return found


def _read_mac(parts: list[Tlv], source: str) -> tuple[_Mac | None, bytes]:
    """The MAC settings and the stored MAC value (``None, b""`` when the file has none)."""
    if len(parts) <= 2:
        return None, b""
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
        pbe.iterations(mac_parts[2]) if len(mac_parts) > 2 else 1,
    )
    return mac, mac_parts[0].children()[1].expect(der.OCTET_STRING).content


def _check_mac(
    mac: _Mac, stored: bytes, password: str, auth_safe: bytes, keys: KeyDeriver
) -> _Mac | None:
    """``mac`` (marked when its salt is password-keyed) if it matches, else ``None``."""
    for bmp in pbe.bmp_candidates(password):
        value = pbe.mac_value(mac.digest, mac.salt, mac.iterations, bmp, auth_safe, keys=keys)
        if hmac.compare_digest(value, stored):
            old = pbe.password_keyed_salt(password, b"rdstrust-pkcs12-mac", auth_safe)
            return _Mac(mac.digest, mac.salt, mac.iterations, rekey=old[:16] == mac.salt)
    return None


def _outer(data: bytes, source: str) -> tuple[bytes, _Mac | None, bytes]:
    """The authenticated safe, the MAC settings and the stored MAC of a PFX.

    A function of its own so that the parsed outer layers (copies of the whole file) are gone
    once it returns: a 40 MB store must not be held five times over.
    """
    parts = der.parse(data).expect(der.SEQUENCE).children()
    auth = parts[1].children()
    if der.oid_str(auth[0]) != OID_DATA:
        raise StoreError(
            f"{source} is a PKCS12 file protected by a public-key signature, which rdstrust "
            "does not support; use a password-protected store.",
            path=source,
        )
    auth_safe = auth[1].expect(der.CONTEXT_0).children()[0].expect(der.OCTET_STRING).content
    mac, stored = _read_mac(parts, source)
    return auth_safe, mac, stored


def _load(data: bytes, source: str, password: str | None, keys: KeyDeriver) -> Pkcs12Store:
    auth_safe, mac, stored = _outer(data, source)
    envelopes = _envelopes(auth_safe, source)
    if password is not None:
        # Refuse before hashing anything: the sum of what the file asks for, at face value.
        declared = sum(pbe.declared_work(e.alg) for e in envelopes if e.alg is not None)
        keys.check_declared(declared + (mac.iterations if mac is not None else 0))
    mac_ok = mac is None
    if mac is not None and password is not None:
        checked = _check_mac(mac, stored, password, auth_safe, keys)
        mac, mac_ok = checked or mac, checked is not None
    safes = _open_safes(envelopes, source, password, mac, mac_ok=mac_ok, keys=keys)
    decrypted_any = any(s.alg is not None and s.bags is not None for s in safes)
    if not mac_ok and password is not None:
        if decrypted_any:
            raise WrongPasswordError(
                f"{source} was modified: its PKCS12 MAC does not match although the password "
                "decrypts it; restore the file from a backup.",
                path=source,
            )
        raise _wrong_password(source, has_mac=True)
    if password is None and any(s.bags is None for s in safes):
        raise PasswordNeededError(
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
        keys=keys,
    )


def _open_safes(
    envelopes: Sequence[_Envelope],
    source: str,
    password: str | None,
    mac: _Mac | None,
    *,
    mac_ok: bool,
    keys: KeyDeriver,
) -> list[_Safe]:
    """Each envelope's bags (decrypted with ``password``), at most :data:`MAX_ENTRIES` in all."""
    safes: list[_Safe] = []
    room = MAX_ENTRIES
    for env in envelopes:
        if env.alg is None:
            bags = _parse_bags(env.payload, room)
            safes.append(_Safe(env.raw, None, bags))
        elif password is None:
            safes.append(_Safe(env.raw, env.alg.raw, None))
            continue
        else:
            opened = _decrypt_bags(env.alg, password, env.payload, keys, room)
            if isinstance(opened, Exception):
                if mac_ok and mac is not None:
                    raise StoreError(
                        f"{source}: a part of the store cannot be decrypted ({opened}); "
                        "rdstrust cannot read or rewrite it.",
                        path=source,
                    ) from None
                raise _wrong_password(source, has_mac=mac is not None) from None
            bags, plaintext = opened
            old = pbe.password_keyed_salt(password, b"rdstrust-pkcs12", plaintext)
            salt = pbe.salt_of(env.alg)
            rekey = salt is not None and old[: len(salt)] == salt
            safes.append(_Safe(env.raw, env.alg.raw, bags, rekey=rekey))
        room -= len(bags)
    return safes


def _decrypt_bags(
    alg: Tlv, password: str, data: bytes, keys: KeyDeriver, limit: int
) -> tuple[tuple[_Bag, ...], bytes] | Exception:
    """The bags of an encrypted envelope and its plaintext, or the reason it cannot be opened.

    Each BMPString form of the password is tried in turn (see :func:`pbe.bmp_candidates`); a
    wrong key can still end in valid-looking padding, so a form counts only if the bags parse.
    """
    failure: Exception = Undecryptable("no password form fits")
    for bmp in pbe.bmp_candidates(password):
        try:
            plaintext = pbe.decrypt(alg, password, data, keys=keys, bmp=bmp)
            return _parse_bags(plaintext, limit), plaintext
        except der.TooManyElements:
            raise
        except (Undecryptable, DerError, IndexError) as exc:
            failure = exc
    return failure


def _wrong_password(source: str, *, has_mac: bool) -> WrongPasswordError:
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
    key_ids = {
        b.local_key_id
        for _, _, b in located
        if b.type_oid in (OID_KEY_BAG, OID_SHROUDED_KEY_BAG) and b.local_key_id
    }
    # Chains are built by subject and issuer, so certificates are parsed only when the store
    # holds private keys; a truststore's entries are described when a report asks.
    parsed: dict[bytes, CertInfo | None] = {}
    by_subject: dict[bytes, bytes] = {}
    if any(b.type_oid in (OID_KEY_BAG, OID_SHROUDED_KEY_BAG) for _, _, b in located):
        parsed = {b.cert: describe_der(b.cert) for _, _, b in certs if b.cert}
        by_subject = {
            info.certificate.subject.public_bytes(): der_bytes
            for der_bytes, info in parsed.items()
            if info is not None
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


__all__ = [
    "ITERATIONS",
    "MAX_ENTRIES",
    "MAX_ITERATIONS",
    "MAX_TOTAL_ITERATIONS",
    "OID_PBES2",
    "KeyDeriver",
    "Pkcs12Store",
    "create",
    "load",
    "looks_like_ber_pkcs12",
    "looks_like_pkcs12",
]
