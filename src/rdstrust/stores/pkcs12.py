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

import array
import codecs
import hashlib
import hmac
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from rdstrust.certs import CertInfo
from rdstrust.errors import PasswordNeededError, StoreError, WrongPasswordError
from rdstrust.runcache import gc_paused
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

#: What a bag parser finds in one SafeBag: type OID (dotted), friendly name, local key id,
#: whether it has Java's trusted-certificate attribute, and the certificate of a cert bag.
_BagFields = tuple[str, str | None, bytes | None, bool, bytes | None]


class _Bag(NamedTuple):
    """One SafeBag: where it lies (``buf[start:end]``, no copy) and what it holds.

    ``buf`` is the file itself for a plain envelope or the decrypted plaintext of an encrypted
    one: 50,000 bags each holding a copy of their bytes were 80 MB on top of the file.
    """

    buf: bytes
    start: int
    end: int
    type_oid: str
    friendly_name: str | None
    local_key_id: bytes | None
    java_trusted: bool
    cert: bytes | None

    def __repr__(self) -> str:
        return f"_Bag({self.type_oid}, {self.friendly_name!r}, {self.end - self.start} bytes)"

    @property
    def raw(self) -> memoryview:
        """The bag's exact bytes (a view: joined into a new store without another copy)."""
        return memoryview(self.buf)[self.start : self.end]


# A NamedTuple rather than a frozen dataclass, as the private records here are: every update
# imports this module, and Python 3.11 takes about 0.5 ms to create a dataclass.
class _Safe(NamedTuple):
    """One ContentInfo of the authenticated safe."""

    #: Its exact bytes (a view of the file read).
    raw: bytes | memoryview
    #: Encryption algorithm identifier (raw DER) for an encrypted envelope, else ``None``.
    alg: bytes | None
    #: The bags inside, or ``None`` when the envelope could not be opened (no password).
    bags: tuple[_Bag, ...] | None
    #: Its salt was derived from the password by rdstrust before issue 8: re-encrypt on write.
    rekey: bool = False


class _Mac(NamedTuple):
    digest: str
    salt: bytes
    iterations: int
    #: Its salt was derived from the password by rdstrust before issue 8: re-salt on write.
    rekey: bool = False


#: One element inside a bag: (tag, content start, content end), offsets into the bag's bytes.
_Span = tuple[int, int, int]


def _inside(data: bytes, span: _Span) -> list[_Span]:
    """The elements inside the constructed element ``span`` of ``data``; nothing is copied."""
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


def _parse_bag(raw: bytes) -> _BagFields:
    """The careful bag parser: any shape RFC 7292 allows, every element checked.

    :func:`_fast_bag` reads the usual shapes in one pass and hands everything else here.
    """
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
    return type_oid, name, key_id, OID_JAVA_TRUSTED in attrs, cert


# The fast path. A 50,000-bag store is 800,000 elements; walking them with the careful parser
# (a header object, a list and a dotted OID per element) was most of what a merge cost. The
# shapes Java, OpenSSL and rdstrust write are read here in one pass, with OIDs compared as
# their exact DER bytes; whatever is not exactly such a shape (another bag type, an unknown or
# oddly encoded OID, an extra element, a long-form length past two octets, anything damaged)
# makes it answer ``None`` and the careful parser decides. It never raises and never accepts a
# bag the careful parser refuses; tests/test_pkcs12_fast.py holds it to both.

#: The DER (tag, length, content) of each bag type read here -> its dotted form. A type
#: not here (a CRL bag, nested SafeContents, an odd encoding) goes to the careful parser.
_BAG_TYPES = {
    der.oid(name): name
    for name in (OID_CERT_BAG, OID_SHROUDED_KEY_BAG, OID_KEY_BAG, OID_SECRET_BAG)
}
_X509_CERT_TLV = der.oid(OID_X509_CERT)
#: Attribute OID (DER) -> its slot in :func:`_fast_attrs`: 1 name, 2 key id, 3 Java's trust.
_ATTR_SLOTS = {
    der.oid(OID_FRIENDLY_NAME): 1,
    der.oid(OID_LOCAL_KEY_ID): 2,
    der.oid(OID_JAVA_TRUSTED): 3,
}
_ATTR_NAMES = frozenset((OID_FRIENDLY_NAME, OID_LOCAL_KEY_ID, OID_JAVA_TRUSTED))
#: More attributes (or values of one) than this go to the careful parser (Java writes two).
_FAST_MAX_ITEMS = 64


def _hdr(buf: bytes, pos: int, end: int) -> tuple[int, int, int] | None:
    """(tag, content start, content end) of the element at ``pos`` if it lies within ``end``
    and has a one-byte tag and a definite length of at most two octets; else ``None``."""
    if pos + 2 > end:
        return None
    tag = buf[pos]
    n = buf[pos + 1]
    if n < 0x80:
        start = pos + 2
    elif n == 0x81 and pos + 3 <= end:
        n, start = buf[pos + 2], pos + 3
    elif n == 0x82 and pos + 4 <= end:
        n, start = (buf[pos + 2] << 8) | buf[pos + 3], pos + 4
    else:
        return None
    if tag & 0x1F == 0x1F or start + n > end:
        return None
    return tag, start, start + n


def _fast_bag(buf: bytes, pos: int, end: int) -> _BagFields | None:
    """What :func:`_parse_bag` finds in the SEQUENCE ``buf[pos:end]`` (content from ``pos``),
    or ``None`` when the bag is not of a shape this reads (never a different answer)."""
    if pos + 2 > end:
        return None
    # An OID element with a short length is its own DER: one slice and one lookup say
    # whether it is exactly one of the known types (a long-form length never matches).
    oid_end = pos + 2 + buf[pos + 1]
    type_oid = _BAG_TYPES.get(buf[pos:oid_end])
    if type_oid is None:
        return None
    value = _hdr(buf, oid_end, end)
    if value is None:
        return None
    cert = None
    if type_oid == OID_CERT_BAG:
        if value[0] != der.CONTEXT_0:
            return None
        cert = _fast_cert(buf, value[1], value[2])
        if cert is None:
            return None
    pos = value[2]
    if pos == end:
        return type_oid, None, None, False, cert
    attrs = _hdr(buf, pos, end)
    if attrs is None or attrs[0] != der.SET or attrs[2] != end:
        return None
    name = _fast_name_and_trust(buf, attrs[1], end)
    if name is not None:
        return type_oid, name, None, True, cert
    found = _fast_attrs(buf, attrs[1], end)
    if found is None:
        return None
    return type_oid, found[0], found[1], found[2], cert


def _fast_cert(buf: bytes, pos: int, end: int) -> bytes | None:
    """The certificate of a CertBag value ``[0] { SEQUENCE { x509Certificate, [0] OCTETS } }``."""
    wrapper = _CERT_WRAPPERS.get(end - pos)
    if wrapper is None:
        wrapper = _wrapper(_CERT_LAYERS, end - pos, _CERT_WRAPPERS)
    if wrapper and buf.startswith(wrapper, pos, end):
        return buf[pos + len(wrapper) : end]
    cert_bag = _hdr(buf, pos, end)
    if cert_bag is None or cert_bag[0] != der.SEQUENCE or cert_bag[2] != end:
        return None
    pos = cert_bag[1]
    if not buf.startswith(_X509_CERT_TLV, pos, end):
        return None
    explicit = _hdr(buf, pos + len(_X509_CERT_TLV), end)
    if explicit is None or explicit[0] != der.CONTEXT_0 or explicit[2] != end:
        return None
    octets = _hdr(buf, explicit[1], end)
    if octets is None or octets[0] != der.OCTET_STRING or octets[2] != end:
        return None
    return buf[octets[1] : end]


# Around a payload of a given size, nested elements with minimal lengths (what everyone
# writes) are always the same bytes: one comparison instead of a header read per level.
#: ``SEQUENCE { x509Certificate, [0] { OCTET STRING { certificate } } }``
_CERT_LAYERS = ((der.SEQUENCE, _X509_CERT_TLV), (der.CONTEXT_0, b""), (der.OCTET_STRING, b""))
#: ``SEQUENCE { friendlyName, SET { BMPString { name } } }``
_NAME_LAYERS = ((der.SEQUENCE, der.oid(OID_FRIENDLY_NAME)), (der.SET, b""), (der.BMP_STRING, b""))
#: Java's trusted-certificate attribute as rdstrust and keytool write it (anyExtendedKeyUsage).
_TRUSTED_ATTR = der.seq(der.oid(OID_JAVA_TRUSTED), der.set_of(der.oid(OID_ANY_EKU)))
#: The "final" flag of :func:`codecs.utf_16_be_decode`: the bytes given are the whole text.
_WHOLE = True
#: Size -> :func:`_wrapper` of the layers above, for the sizes seen (bounded).
_CERT_WRAPPERS: dict[int, bytes] = {}
_NAME_WRAPPERS: dict[int, bytes] = {}


def _wrapper(layers: tuple[tuple[int, bytes], ...], size: int, cache: dict[int, bytes]) -> bytes:
    """The bytes before the payload when ``layers`` (outermost first: tag, the bytes inside it
    before the next layer) wrap a payload to ``size`` bytes in all; ``b""`` if none fits.

    Remembered in ``cache``, up to a bound: a hostile store of every size gains nothing."""
    found = b""
    fixed = sum(len(before) for _, before in layers)
    # Each header is 2 to 5 bytes (lengths below 2**24), so few payload sizes can fit.
    for overhead in range(fixed + 2 * len(layers), fixed + 5 * len(layers) + 1):
        payload, prefix = size - overhead, b""
        if payload < 0:
            break
        for tag, before in reversed(layers):
            prefix = der.encode_header(tag, len(before) + len(prefix) + payload) + before + prefix
        if len(prefix) + payload == size:
            found = prefix
            break
    if len(cache) < 8192:
        cache[size] = found
    return found


def _fast_name_and_trust(buf: bytes, pos: int, end: int) -> str | None:
    """The name in an attribute SET's content that is exactly ``{ friendlyName (BMPString),
    Java's trust }`` in either order (rdstrust's and keytool's shape), else ``None``."""
    if buf.startswith(_TRUSTED_ATTR, pos, end):
        pos += len(_TRUSTED_ATTR)
    elif buf.endswith(_TRUSTED_ATTR, pos, end):
        end -= len(_TRUSTED_ATTR)
    else:
        return None
    prefix = _NAME_WRAPPERS.get(end - pos)
    if prefix is None:
        prefix = _wrapper(_NAME_LAYERS, end - pos, _NAME_WRAPPERS)
    if not prefix or not buf.startswith(prefix, pos, end):
        return None
    # What bytes.decode("utf-16-be", "replace") calls, without the codec lookup per bag.
    return codecs.utf_16_be_decode(buf[pos + len(prefix) : end], "replace", _WHOLE)[0]


def _fast_attrs(buf: bytes, pos: int, end: int) -> tuple[str | None, bytes | None, bool] | None:
    """Friendly name, local key id and Java's trust flag from the attribute SET's content."""
    firsts: list[tuple[int, int, int] | None] = [None, None, None, None]
    trusted = False
    count = 0
    while pos < end:
        count += 1
        attr = _hdr(buf, pos, end)
        if attr is None or attr[0] != der.SEQUENCE or count > _FAST_MAX_ITEMS:
            return None
        pos, stop = attr[1], attr[2]
        oid_end = pos + 2 + buf[pos + 1] if pos + 2 <= stop else stop + 1
        slot = _ATTR_SLOTS.get(buf[pos:oid_end], 0)
        if slot:
            pos = oid_end
        else:  # an attribute read by nobody; unless it is one of ours in another encoding
            oid = _hdr(buf, pos, stop)
            if oid is None or oid[0] != der.OID or oid[1] == oid[2]:
                return None
            if der.oid_str(der.Tlv(der.OID, buf[oid[1] : oid[2]], b"")) in _ATTR_NAMES:
                return None
            pos = oid[2]
        values = _hdr(buf, pos, stop)
        if values is None or values[0] != der.SET or values[2] != stop:
            return None
        first = None
        pos, n = values[1], 0
        while pos < stop:
            value = _hdr(buf, pos, stop)
            n += 1
            if value is None or n > _FAST_MAX_ITEMS:
                return None
            first = first or value
            pos = value[2]
        firsts[slot] = first  # a later attribute of the same type wins, as in _attrs' dict
        trusted = trusted or slot == 3
    name = key_id = None
    if firsts[1] is not None:
        tag, start, stop = firsts[1]
        name = buf[start:stop].decode("utf-16-be" if tag == der.BMP_STRING else "utf-8", "replace")
    if firsts[2] is not None:
        key_id = buf[firsts[2][1] : firsts[2][2]]
    return name, key_id, trusted


def _parse_bags(buf: bytes, start: int, end: int, limit: int) -> tuple[_Bag, ...]:
    """The bags of the SafeContents ``buf[start:end]``, at most ``limit`` of them.

    Bag by bag, each by :func:`_fast_bag` or else :func:`_parse_bag`; every bag is a view of
    ``buf`` (nothing is copied but the certificates).
    """
    outer = der.read_header_within(buf, start, end)
    if outer.tag != der.SEQUENCE or outer.end != end:
        raise DerError("SafeContents is not one SEQUENCE")
    bags: list[_Bag] = []
    pos, limit = outer.start, max(limit, 0)
    while pos < end:
        if len(bags) >= limit:
            raise der.TooManyElements(limit)
        found = _hdr(buf, pos, end)
        if found is None:  # the careful reader says why (or reads a long-form length)
            header = der.read_header_within(buf, pos, end)
            if header.end is None or header.end > end:
                raise DerError("element runs past the end of the data")
            found = header.tag, header.start, header.end
        tag, start, stop = found
        fields = _fast_bag(buf, start, stop) if tag == der.SEQUENCE else None
        bags.append(_Bag(buf, pos, stop, *(fields or _parse_bag(buf[pos:stop]))))
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


def _plain_envelope(bags: Sequence[der.Bytes]) -> bytes:
    """A ContentInfo holding ``bags`` as plain data."""
    return der.seq(der.oid(OID_DATA), der.explicit0(der.octets(der.seq(*bags))))


def _encrypted_envelope(
    bags: Sequence[der.Bytes], alg: bytes, password: str, keys: KeyDeriver
) -> bytes:
    """A ContentInfo holding ``bags`` encrypted with the identifier ``alg``."""
    encrypted = pbe.encrypt(alg, password, der.seq(*bags), keys=keys)
    eci = der.seq(der.oid(OID_DATA), alg, der.encode(der.CONTEXT_0_PRIMITIVE, encrypted))
    return der.seq(der.oid(OID_ENCRYPTED_DATA), der.explicit0(der.seq(der.integer(0), eci)))


def _pfx(auth_safe: bytes, mac: _Mac | None, password: str | None, keys: KeyDeriver) -> bytes:
    return b"".join(_pfx_pieces([auth_safe], mac, password, keys))


def _pfx_pieces(
    auth_safe: Sequence[der.Bytes], mac: _Mac | None, password: str | None, keys: KeyDeriver
) -> list[der.Bytes]:
    """The PFX around the authenticated safe given in pieces, as pieces to join once.

    ``SEQUENCE { 3, ContentInfo { data, [0] OCTETS { auth_safe } }, MacData }``: built with
    :func:`der.seq` the 40 MB safe was copied at each of the four levels.
    """
    size = sum(map(len, auth_safe))
    octets = der.encode_header(der.OCTET_STRING, size)
    explicit = der.encode_header(der.CONTEXT_0, len(octets) + size)
    data_oid = der.oid(OID_DATA)
    info_size = len(data_oid) + len(explicit) + len(octets) + size
    info = der.encode_header(der.SEQUENCE, info_size)
    version = der.integer(3)
    mac_data = b""
    if mac is not None:
        assert password is not None
        bmp = pbe.bmp_password(password)
        value = pbe.mac_of_pieces(mac.digest, mac.salt, mac.iterations, bmp, auth_safe, keys=keys)
        digest_info = der.seq(
            der.seq(der.oid(_DIGEST_OIDS[mac.digest]), der.encode(der.NULL, b"")),
            der.octets(value),
        )
        mac_data = der.seq(digest_info, der.octets(mac.salt), der.integer(mac.iterations))
    total = len(version) + len(info) + info_size + len(mac_data)
    head = [der.encode_header(der.SEQUENCE, total), version, info, data_oid, explicit, octets]
    return [*head, *auth_safe, mac_data]


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
        # Two flat arrays rather than 50,000 tuples (5 MB per store).
        self._entry_safe = array.array("i", (si for si, _ in entry_bags))
        self._entry_bag = array.array("i", (bi for _, bi in entry_bags))
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
        bags = [_cert_bag(c) for c in add]
        if bags:
            if self.certificates_encrypted:
                assert password is not None
                alg = pbe.profile_alg(chosen, der.seq(*bags), seed)
                envelopes.append(_encrypted_envelope(bags, alg, password, keys))
            else:
                envelopes.append(_plain_envelope(bags))
        # The MAC salt comes from the plaintext bags, not the auth_safe: encrypted envelopes
        # hold ciphertext, which changes with the password. Built only when a salt is made.
        mac = self._new_mac(profile, lambda: der.seq(*self._kept_bags(drop), *bags), seed)
        # Kept envelopes are views of the file read: the new file is joined once from them.
        auth_safe = [der.encode_header(der.SEQUENCE, sum(map(len, envelopes))), *envelopes]
        return b"".join(_pfx_pieces(auth_safe, mac, password, keys))

    def _kept_bags(self, drop: dict[int, set[int]]) -> list[der.Bytes]:
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
            si, bi = self._entry_safe[index], self._entry_bag[index]
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
    ) -> list[der.Bytes]:
        """Every existing envelope: byte for byte, or rebuilt when bags go or it is re-keyed."""
        envelopes: list[der.Bytes] = []
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

    def _new_mac(
        self, profile: str | None, content: Callable[[], bytes], seed: bytes | None
    ) -> _Mac | None:
        """The MAC to write: the store's own settings, unless the profile or its salt changes.

        A salt from Java or OpenSSL (random) is kept, so its MAC key comes from the cache of
        the load; one that earlier rdstrust derived from the password is replaced.
        """
        mac = self.mac
        if mac is None:
            return None
        if profile is not None and (mac.digest == "sha1") != (profile == "legacy"):
            return _profile_mac(profile, content(), seed)
        if mac.rekey:
            return _Mac(mac.digest, pbe.mac_salt(content(), seed, len(mac.salt)), mac.iterations)
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
        # Offsets, not copies: this runs on every store read, a 40 MB file included.
        first = der.read_span(data, 0, len(data))
        if first.tag != der.SEQUENCE or first.end != len(data):
            return False
        parts = _children(data, first)
        return (
            len(parts) >= 2
            and der.to_int(_tlv(data, parts[0])) == 3
            and parts[1].tag == der.SEQUENCE
            and _oid_at(data, _children(data, parts[1])[0]).startswith("1.2.840.113549.1.7.")
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
        # Reading makes no cycles: the collector's passes over 100,000 new objects found
        # nothing (see runcache.gc_paused; nested pauses are left as they are).
        with gc_paused():
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


class _Envelope(NamedTuple):
    """One ContentInfo as found, before decryption: where it lies in the file."""

    #: The whole ContentInfo: ``data[raw[0]:raw[1]]``.
    raw: tuple[int, int]
    #: The encryption algorithm identifier, or ``None`` for plain data.
    alg: Tlv | None
    #: Where the plain SafeContents, or the ciphertext, lies.
    payload: tuple[int, int]


def _children(data: bytes, span: der.Span, limit: int | None = None) -> list[der.Span]:
    """:meth:`Tlv.children` of the element at ``span``, as spans (same checks, no copy)."""
    if not span.tag & 0x20:
        raise DerError(f"element with tag 0x{span.tag:02x} is not constructed")
    return der.spans(data, span.start, span.end, der.MAX_ELEMENTS if limit is None else limit)


def _want(span: der.Span, tag: int) -> der.Span:
    """:meth:`Tlv.expect` for a span."""
    if span.tag != tag:
        raise DerError(f"expected tag 0x{tag:02x}, found 0x{span.tag:02x}")
    return span


def _tlv(data: bytes, span: der.Span) -> Tlv:
    """The element at ``span`` as a :class:`Tlv` (a copy: for small elements only)."""
    return Tlv(span.tag, data[span.start : span.end], data[span.offset : span.end])


def _oid_at(data: bytes, span: der.Span) -> str:
    return der.oid_str(Tlv(span.tag, data[span.start : span.end], b""))


def _envelopes(data: bytes, auth_safe: tuple[int, int], source: str) -> list[_Envelope]:
    """The ContentInfos of the authenticated safe ``data[auth_safe[0]:auth_safe[1]]``."""
    found = []
    top = _want(der.parse_span(data, *auth_safe), der.SEQUENCE)
    for info in _children(data, top, MAX_ENTRIES):
        ci = _children(data, info)
        kind = _oid_at(data, ci[0])
        if kind == OID_DATA:
            inner = _want(_children(data, _want(ci[1], der.CONTEXT_0))[0], der.OCTET_STRING)
            found.append(_Envelope((info.offset, info.end), None, (inner.start, inner.end)))
        elif kind == OID_ENCRYPTED_DATA:
            encrypted = _children(data, _want(ci[1], der.CONTEXT_0))[0]
            eci = _children(data, _children(data, encrypted)[1])
            if len(eci) < 3 or eci[2].tag != der.CONTEXT_0_PRIMITIVE:
                raise StoreError(
                    f"{source} uses a PKCS12 encoding rdstrust does not support (constructed "
                    "encrypted content).",
                    path=source,
                )
            alg = _tlv(data, eci[1])
            found.append(_Envelope((info.offset, info.end), alg, (eci[2].start, eci[2].end)))
        else:
            raise StoreError(
                f"{source} holds a PKCS12 envelope of a kind rdstrust does not support ({kind}).",
                path=source,
            )
    return found


def _read_mac(mac_data: Tlv | None, source: str) -> tuple[_Mac | None, bytes]:
    """The MAC settings and the stored MAC value (``None, b""`` when the file has none)."""
    if mac_data is None:
        return None, b""
    mac_parts = mac_data.children()
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
    mac: _Mac, stored: bytes, password: str, auth_safe: memoryview, keys: KeyDeriver
) -> _Mac | None:
    """``mac`` (marked when its salt is password-keyed) if it matches, else ``None``."""
    for bmp in pbe.bmp_candidates(password):
        value = pbe.mac_value(mac.digest, mac.salt, mac.iterations, bmp, auth_safe, keys=keys)
        if hmac.compare_digest(value, stored):
            old = pbe.password_keyed_salt(password, b"rdstrust-pkcs12-mac", auth_safe)
            return _Mac(mac.digest, mac.salt, mac.iterations, rekey=old[:16] == mac.salt)
    return None


def _outer(data: bytes, source: str) -> tuple[tuple[int, int], _Mac | None, bytes]:
    """Where the authenticated safe lies, the MAC settings and the stored MAC of a PFX.

    Offsets into ``data``, never copies: a 40 MB store used to be copied five times here.
    """
    top = _want(der.parse_span(data), der.SEQUENCE)
    parts = _children(data, top)
    auth = _children(data, parts[1])
    if _oid_at(data, auth[0]) != OID_DATA:
        raise StoreError(
            f"{source} is a PKCS12 file protected by a public-key signature, which rdstrust "
            "does not support; use a password-protected store.",
            path=source,
        )
    content = _want(_children(data, _want(auth[1], der.CONTEXT_0))[0], der.OCTET_STRING)
    mac, stored = _read_mac(_tlv(data, parts[2]) if len(parts) > 2 else None, source)
    return (content.start, content.end), mac, stored


def _load(data: bytes, source: str, password: str | None, keys: KeyDeriver) -> Pkcs12Store:
    auth_safe, mac, stored = _outer(data, source)
    envelopes = _envelopes(data, auth_safe, source)
    if password is not None:
        # Refuse before hashing anything: the sum of what the file asks for, at face value.
        declared = sum(pbe.declared_work(e.alg) for e in envelopes if e.alg is not None)
        keys.check_declared(declared + (mac.iterations if mac is not None else 0))
    mac_ok = mac is None
    if mac is not None and password is not None:
        view = memoryview(data)[auth_safe[0] : auth_safe[1]]
        checked = _check_mac(mac, stored, password, view, keys)
        mac, mac_ok = checked or mac, checked is not None
    safes = _open_safes(data, envelopes, source, password, mac, mac_ok=mac_ok, keys=keys)
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
    data: bytes,
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
    view = memoryview(data)
    for env in envelopes:
        raw = view[env.raw[0] : env.raw[1]]
        if env.alg is None:
            bags = _parse_bags(data, *env.payload, room)
            safes.append(_Safe(raw, None, bags))
        elif password is None:
            safes.append(_Safe(raw, env.alg.raw, None))
            continue
        else:
            ciphertext = view[env.payload[0] : env.payload[1]]  # decrypted without a copy
            opened = _decrypt_bags(env.alg, password, ciphertext, keys, room)
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
            safes.append(_Safe(raw, env.alg.raw, bags, rekey=rekey))
        room -= len(bags)
    return safes


def _decrypt_bags(
    alg: Tlv, password: str, data: der.Bytes, keys: KeyDeriver, limit: int
) -> tuple[tuple[_Bag, ...], bytes] | Exception:
    """The bags of an encrypted envelope and its plaintext, or the reason it cannot be opened.

    Each BMPString form of the password is tried in turn (see :func:`pbe.bmp_candidates`); a
    wrong key can still end in valid-looking padding, so a form counts only if the bags parse.
    """
    failure: Exception = Undecryptable("no password form fits")
    for bmp in pbe.bmp_candidates(password):
        try:
            plaintext = pbe.decrypt(alg, password, data, keys=keys, bmp=bmp)
            return _parse_bags(plaintext, 0, len(plaintext), limit), plaintext
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
    certs, others = _sorted_bags(safes)
    key_ids = {
        b.local_key_id
        for b in others
        if b.type_oid in (OID_KEY_BAG, OID_SHROUDED_KEY_BAG) and b.local_key_id
    }
    # Chains are built by subject and issuer, so certificates are parsed only when the store
    # holds private keys; a truststore's entries are described when a report asks.
    parsed: dict[bytes, CertInfo | None] = {}
    by_subject: dict[bytes, bytes] = {}
    if any(b.type_oid in (OID_KEY_BAG, OID_SHROUDED_KEY_BAG) for b in others):
        parsed = {b.cert: describe_der(b.cert) for _, _, b in certs if b.cert}
        by_subject = {
            info.certificate.subject.public_bytes(): der_bytes
            for der_bytes, info in parsed.items()
            if info is not None
        }
    chain_members: set[bytes] = set()
    entries: list[StoreEntry] = []
    entry_bags: list[tuple[int, int]] = []
    for bag in others:
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
    _trusted_entries(certs, chain_members, key_ids, entries, entry_bags)
    return entries, entry_bags


def _trusted_entries(
    certs: Sequence[tuple[int, int, _Bag]],
    chain_members: set[bytes],
    key_ids: set[bytes],
    entries: list[StoreEntry],
    entry_bags: list[tuple[int, int]],
) -> None:
    """Append the trusted-certificate entries (and where their bags are) of ``certs``.

    Once per certificate of a 50,000-entry store, so written with local names and positional
    arguments: ``StoreEntry(alias, kind, sha256, certificates, java_trusted)``.
    """
    sha256, kind = hashlib.sha256, EntryKind.TRUSTED_CERT
    add_entry, add_place = entries.append, entry_bags.append
    for si, bi, bag in certs:
        cert = bag.cert
        assert cert is not None
        trusted = bag.java_trusted
        if trusted or (cert not in chain_members and bag.local_key_id not in key_ids):
            alias = bag.friendly_name or _unnamed(bag)
            add_entry(StoreEntry(alias, kind, sha256(cert).hexdigest(), (cert,), trusted))
            add_place((si, bi))


def _sorted_bags(safes: Sequence[_Safe]) -> tuple[list[tuple[int, int, _Bag]], list[_Bag]]:
    """In file order: the certificate bags that hold one (with their safe and bag index), and
    the key and secret bags; in one pass (a 50,000-bag store was walked five times)."""
    certs: list[tuple[int, int, _Bag]] = []
    others: list[_Bag] = []
    for si, safe in enumerate(safes):
        for bi, bag in enumerate(safe.bags or ()):
            kind = bag.type_oid
            if kind == OID_CERT_BAG:
                if bag.cert:
                    certs.append((si, bi, bag))
            elif kind in (OID_KEY_BAG, OID_SHROUDED_KEY_BAG, OID_SECRET_BAG):
                others.append(bag)
    return certs, others


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
