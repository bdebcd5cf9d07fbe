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
#: String types whose printable-ASCII content cryptography decodes to the same text.
_ASCII_STRINGS = frozenset({0x0C, 0x13, 0x16})  # UTF8String, PrintableString, IA5String
#: Characters RFC 4514 escapes anywhere (cryptography's _escape_dn_value).
_SPECIAL = frozenset('\\"+,;<>')


def _plain(value: bytes) -> str | None:
    """``value`` as text when RFC 4514 writes it unchanged, else ``None``."""
    if not value or not value.isascii():
        return None
    text = value.decode("ascii")
    if not text.isprintable() or text[0] in "# " or text[-1] == " ":
        return None
    return text if _SPECIAL.isdisjoint(text) else None


def _element(der: bytes, pos: int, tag: int, end: int) -> tuple[int, int]:
    """The content span of the element of ``tag`` at ``pos``, which must end by ``end``."""
    header = _der.read_header(der, pos)
    stop = header.end
    if header.tag != tag or stop is None or stop > end:
        raise _der.DerError("not the expected element")
    return header.start, stop


def _skip(der: bytes, pos: int, end: int) -> int:
    header = _der.read_header(der, pos)
    stop = header.end
    if stop is None or stop > end:
        raise _der.DerError("element runs past its parent")
    return stop


def _subject_span(der: bytes) -> tuple[int, int]:
    # Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    # signature, issuer, validity, subject, ... } ... }; walked by headers, nothing copied.
    cert_start, cert_end = _element(der, 0, _der.SEQUENCE, len(der))
    pos, tbs_end = _element(der, cert_start, _der.SEQUENCE, cert_end)
    if der[pos] == _der.CONTEXT_0:
        pos = _skip(der, pos, tbs_end)
    for _ in range(4):  # serialNumber, signature, issuer, validity
        pos = _skip(der, pos, tbs_end)
    return _element(der, pos, _der.SEQUENCE, tbs_end)


def fast_subject(der: bytes) -> tuple[str, str | None] | None:
    """``(subject, common name)`` as cryptography gives them, or ``None`` to ask cryptography."""
    try:
        pos, end = _subject_span(der)
        names: list[str] = []
        common_name = None
        while pos < end:
            rdn_start, rdn_end = _element(der, pos, _der.SET, end)
            attr_start, attr_end = _element(der, rdn_start, _der.SEQUENCE, rdn_end)
            if attr_end != rdn_end:
                return None  # multi-valued: cryptography's order rules apply
            oid_start, oid_end = _element(der, attr_start, _der.OID, attr_end)
            value = _der.read_header(der, oid_end)
            if value.end != attr_end:
                return None
            short = _SHORT_NAMES.get(der[oid_start:oid_end])
            content = der[value.start : value.end]
            text = _plain(content) if value.tag in _ASCII_STRINGS else None
            if short is None or text is None:
                return None
            if short == "C" and len(text) != 2:
                return None
            if short == "CN" and common_name is None:
                common_name = text
            names.append(f"{short}={text}")
            pos = rdn_end
    except (_der.DerError, IndexError):
        return None
    return ",".join(reversed(names)), common_name
