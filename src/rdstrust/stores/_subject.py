"""A certificate's subject as cryptography spells it (RFC 4514), read from the DER directly.

A PEM store names each certificate on the line before it (``# alias: subject``); reading such a
store checks every label against its certificate's subject. Asking cryptography for it means
building the whole ``Name`` in Python objects and formatting it (about 40 us a certificate, most
of the time it takes to read a 50,000-certificate PEM file). Real subjects are almost always
single-valued attributes of the well-known types holding plain printable ASCII, which RFC 4514
writes verbatim; those are read here straight from the DER. Anything else (escaping, other
string types, multi-valued RDNs, unknown attribute types, damaged DER) returns ``None`` and the
caller asks cryptography, so the result is always cryptography's own string (a property test
compares the two on every certificate it can find).
"""

from __future__ import annotations

from rdstrust.stores import _der

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
_COMMON_NAME = bytes.fromhex("550403")
_COUNTRY = bytes.fromhex("550406")
#: String types whose printable-ASCII content cryptography decodes to the same text.
_ASCII_STRINGS = frozenset({0x0C, 0x13, 0x16})  # UTF8String, PrintableString, IA5String
#: Characters RFC 4514 escapes anywhere (cryptography's _escape_dn_value).
_SPECIAL = frozenset('\\"+,;<>')


def _plain(value: bytes) -> str | None:
    """``value`` as text when RFC 4514 writes it unchanged, else ``None``."""
    if not value or any(b < 0x20 or b > 0x7E for b in value):
        return None
    text = value.decode("ascii")
    if text[0] in "# " or text[-1] == " " or not _SPECIAL.isdisjoint(text):
        return None
    return text


def _subject_tlv(der: bytes) -> _der.Tlv:
    tbs = _der.parse(der).expect(_der.SEQUENCE).children(3)[0].expect(_der.SEQUENCE)
    parts = tbs.children(8)
    if parts and parts[0].tag == _der.CONTEXT_0:  # the optional [0] version
        parts = parts[1:]
    # serialNumber, signature, issuer, validity, subject
    return parts[4].expect(_der.SEQUENCE)


def fast_subject(der: bytes) -> tuple[str, str | None] | None:
    """``(subject, common name)`` as cryptography gives them, or ``None`` to ask cryptography."""
    try:
        rdns = _subject_tlv(der).children(64)
        names: list[str] = []
        common_name = None
        for rdn in rdns:
            attributes = rdn.expect(_der.SET).children(2)
            if len(attributes) != 1:
                return None  # multi-valued: cryptography's order rules apply
            oid, value = attributes[0].expect(_der.SEQUENCE).children(3)
            short = _SHORT_NAMES.get(oid.expect(_der.OID).content)
            text = _plain(value.content) if value.tag in _ASCII_STRINGS else None
            if short is None or text is None:
                return None
            if oid.content == _COUNTRY and len(text) != 2:
                return None
            if oid.content == _COMMON_NAME and common_name is None:
                common_name = text
            names.append(f"{short}={text}")
    except (_der.DerError, ValueError, IndexError):
        return None
    return ",".join(reversed(names)), common_name
