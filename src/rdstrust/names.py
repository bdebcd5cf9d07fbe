"""A certificate's subject and issuer as cryptography spells them (RFC 4514), read from the DER.

A PEM store names each certificate on the line before it (``# alias: subject``); reading such a
store checks every label against its certificate's subject. Asking cryptography for it means
building the whole ``Name`` in Python objects and formatting it (about 40 us a certificate, most
of the time it takes to read a 50,000-certificate PEM file). Real subjects are almost always
single-valued attributes of the well-known types holding plain printable ASCII, which RFC 4514
writes verbatim; those are read here straight from the DER. Anything else (escaping, other
string types, multi-valued RDNs, unknown attribute types, damaged DER) returns ``None`` and the
caller asks cryptography, so the result is always cryptography's own string (a property test
compares the two on every certificate it can find).

The walk is straight-line code over offsets (lengths read inline, the usual short-form RDN
recognised from one six-byte slice, anything else through the general reader), because a
50,000-certificate store is read twice per merge; tests/test_subject.py checks it against the
reader built on :func:`rdstrust.stores._der.read_header` on mutated certificates.
"""

from __future__ import annotations

# The DER tags the walk reads (X.690); this module stays outside rdstrust.stores so that
# rdstrust.certs can use it without importing the store formats.
_SEQUENCE, _SET, _OID, _CONTEXT_0 = 0x30, 0x31, 0x06, 0xA0

# DER of the attribute types cryptography names (x509.name._NAMEOID_TO_NAME), by OID content.
_SHORT_NAMES: dict[bytes, str] = {
    bytes.fromhex("550403"): "CN",
    bytes.fromhex("550407"): "L",
    bytes.fromhex("550408"): "ST",
    bytes.fromhex("55040a"): "O",
    bytes.fromhex("55040b"): "OU",
    bytes.fromhex("550406"): "C",
    bytes.fromhex("550409"): "STREET",
    bytes.fromhex("0992268993f22c640119"): "DC",
    bytes.fromhex("0992268993f22c640101"): "UID",
}
#: String types whose printable-ASCII content cryptography decodes to the same text.
_ASCII_STRINGS = frozenset({0x0C, 0x13, 0x16})  # UTF8String, PrintableString, IA5String
#: Characters RFC 4514 escapes anywhere (cryptography's _escape_dn_value).
_SPECIAL = '\\"+,;<>'
_SPECIAL_SET = frozenset(_SPECIAL)
#: Bytes a value may hold and still be written verbatim: printable ASCII but the specials.
_VERBATIM = bytes(c for c in range(0x20, 0x7F) if chr(c) not in _SPECIAL)
#: The specials as bytes: with them, a value may hold any printable ASCII (they are escaped).
_SPECIAL_BYTES = _SPECIAL.encode("ascii")
_LEADING = frozenset(b"# ")  # RFC 4514 escapes a leading '#' or space, and a trailing space


class _Unusual(Exception):
    """DER this reader leaves to cryptography (never escapes :func:`fast_subject`)."""


def _content(der: bytes, pos: int, limit: int) -> tuple[int, int]:
    """Where the content of the element at ``pos`` starts and ends; it must end by ``limit``.

    X.690 8.1.3 lengths, as :func:`rdstrust.stores._der.read_header` reads them (short form, or
    one to four length octets; not the indefinite form), inline: this runs ~25 times a
    certificate, and a 50,000-certificate store is read twice per merge.
    """
    length = der[pos + 1]
    start = pos + 2
    if length > 0x7F:
        count = length - 0x80
        if not 0 < count <= 4:
            raise _Unusual
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    end = start + length
    if end > limit:  # also a cut-off length: limit is never past the end of der
        raise _Unusual
    return start, end


def _skip(der: bytes, pos: int, end: int) -> int:
    """The offset just past the element at ``pos``, which must end by ``end``."""
    if der[pos] & 0x1F == 0x1F:  # a multi-byte tag: not in a certificate
        raise _Unusual
    length = der[pos + 1]
    if length < 0x80:  # the short form, as _content reads it
        pos += 2 + length
        if pos > end:
            raise _Unusual
        return pos
    return _content(der, pos, end)[1]


def _name_spans(der: bytes) -> tuple[tuple[int, int], tuple[int, int]]:
    """The content spans of the issuer's and the subject's Name."""
    # Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    # signature, issuer, validity, subject, ... } ... }; walked by headers, nothing copied.
    if der[0] != _SEQUENCE:
        raise _Unusual
    pos, cert_end = _content(der, 0, len(der))
    if der[pos] != _SEQUENCE:
        raise _Unusual
    pos, tbs_end = _content(der, pos, cert_end)
    for _ in range(3 if der[pos] == _CONTEXT_0 else 2):  # version, serial, signature
        pos = _skip(der, pos, tbs_end)
    # The issuer's tag is checked by fast_names only: the subject reader skips the issuer as any
    # element, as it always has (tests/test_subject.py holds it to that on damaged DER).
    issuer_tag = der[pos]
    if issuer_tag & 0x1F == 0x1F:  # a multi-byte tag: not in a certificate
        raise _Unusual
    issuer = _content(der, pos, tbs_end)
    pos = _skip(der, issuer[1], tbs_end)  # validity
    if der[pos] != _SEQUENCE:
        raise _Unusual
    if issuer_tag != _SEQUENCE:
        issuer = (-1, -1)
    return issuer, _content(der, pos, tbs_end)


def _subject_span(der: bytes) -> tuple[int, int]:
    # As _name_spans, without the issuer's span, and with the skips inline: this runs for every
    # certificate of a PEM store, twice per merge.
    if der[0] != _SEQUENCE:
        raise _Unusual
    pos, cert_end = _content(der, 0, len(der))
    if der[pos] != _SEQUENCE:
        raise _Unusual
    pos, tbs_end = _content(der, pos, cert_end)
    skip = 5 if der[pos] == _CONTEXT_0 else 4  # serialNumber, signature, issuer, validity
    for _ in range(skip):
        if der[pos] & 0x1F == 0x1F:  # a multi-byte tag: not in a certificate
            raise _Unusual
        length = der[pos + 1]
        if length < 0x80:  # the short form, as _content reads it
            pos += 2 + length
            if pos > tbs_end:
                raise _Unusual
        else:
            pos = _content(der, pos, tbs_end)[1]
    if der[pos] != _SEQUENCE:
        raise _Unusual
    return _content(der, pos, tbs_end)


def _attribute(der: bytes, pos: int, end: int) -> tuple[int, int, int, int]:
    """An RDN of one attribute at ``pos``: where its OID starts, its string value's tag
    offset, start and end (which is the RDN's end); :class:`_Unusual` for any other shape."""
    # RelativeDistinguishedName ::= SET { AttributeTypeAndValue SEQUENCE { type, value } }
    if der[pos] != _SET:
        raise _Unusual
    attr, rdn_end = _content(der, pos, end)
    if der[attr] != _SEQUENCE:
        raise _Unusual
    oid, attr_end = _content(der, attr, rdn_end)
    if attr_end != rdn_end or der[oid] != _OID:
        raise _Unusual  # multi-valued: cryptography's order rules apply
    oid_start, value = _content(der, oid, attr_end)
    value_start, value_end = _content(der, value, attr_end)
    if value_end != attr_end:
        raise _Unusual
    return oid_start, value, value_start, value_end


def _read_name(
    der: bytes, pos: int, end: int, *, specials: bool = False
) -> tuple[list[str], dict[str, str]]:
    """The Name whose content is ``der[pos:end]``: its attributes as RFC 4514 writes them
    (``CN=...``, in DER order) and the first value of each type, unescaped.

    :class:`_Unusual` for anything RFC 4514 would not write verbatim, except (with ``specials``)
    the characters it escapes anywhere, which are escaped as cryptography does.
    """
    names: list[str] = []
    firsts: dict[str, str] = {}
    while pos < end:
        # The usual RDN, all lengths short: 31 L+4+n 30 L+2+n 06 L <oid> <tag> n <value>.
        set_tag, rdn_len, seq_tag, attr_len, oid_tag, oid_len = der[pos : pos + 6]
        value = pos + 6 + oid_len
        value_end = pos + 2 + rdn_len
        if (
            set_tag == 0x31  # SET
            and seq_tag == 0x30  # SEQUENCE
            and oid_tag == 0x06  # OBJECT IDENTIFIER
            and rdn_len == attr_len + 2
            and rdn_len < 0x80
            and oid_len < 0x80
            and value_end <= end
            and value + 2 + der[value + 1] == value_end
            and der[value + 1] < 0x80
        ):
            oid_start, value_start = pos + 6, value + 2
        else:
            oid_start, value, value_start, value_end = _attribute(der, pos, end)
        short = _SHORT_NAMES.get(der[oid_start:value])
        content = der[value_start:value_end]
        # What is not written verbatim: nothing, usually (one C call, and no escaping to do).
        odd = content.translate(None, _VERBATIM)
        if (
            short is None
            or der[value] not in _ASCII_STRINGS
            or not content
            or (odd and (not specials or odd.translate(None, _SPECIAL_BYTES)))
            or content[0] in _LEADING
            or content[-1] == 0x20
        ):
            raise _Unusual  # a type cryptography names otherwise, or a value RFC 4514 escapes
        text = content.decode("ascii")
        if short == "C" and len(text) != 2:
            raise _Unusual
        if short not in firsts:
            firsts[short] = text
        names.append(f"{short}={_escaped(text)}" if odd else f"{short}={text}")
        pos = value_end
    return names, firsts


def _escaped(text: str) -> str:
    # cryptography's _escape_dn_value for the characters escaped anywhere in a value (a leading
    # '#' or space and a trailing space never get here: their rules differ between versions).
    if _SPECIAL_SET.isdisjoint(text):
        return text
    for char in _SPECIAL:  # the backslash first, as cryptography does
        text = text.replace(char, "\\" + char)
    return text


#: A Name read from the DER: its RFC 4514 parts in DER order, and the first value of each type.
Name = tuple[list[str], dict[str, str]]


def rfc4514(name: Name) -> str:
    """The RFC 4514 string of a Name read by :func:`fast_names`, as cryptography writes it."""
    return ",".join(reversed(name[0]))


def fast_subject(der: bytes, *, specials: bool = False) -> tuple[str, str | None] | None:
    """``(subject, common name)`` as cryptography gives them, or ``None`` to ask cryptography.

    With ``specials``, values holding the characters RFC 4514 escapes anywhere (``,`` ``+``
    ``"`` ``\\`` ``<`` ``>`` ``;``) are read too, escaped as cryptography escapes them.
    """
    try:
        names, firsts = _read_name(der, *_subject_span(der), specials=specials)
    except (_Unusual, IndexError, ValueError):  # ValueError: fewer than six bytes left
        return None
    return ",".join(reversed(names)), firsts.get("CN")


def fast_names(der: bytes) -> tuple[Name, Name] | None:
    """The issuer's and the subject's Name (see :func:`_read_name`), or ``None`` when either is
    not a plain name (the caller then asks cryptography)."""
    try:
        issuer, subject = _name_spans(der)
        if issuer[0] < 0:
            return None  # not a Name where the issuer should be
        return (
            _read_name(der, *issuer, specials=True),
            _read_name(der, *subject, specials=True),
        )
    except (_Unusual, IndexError, ValueError):
        return None
