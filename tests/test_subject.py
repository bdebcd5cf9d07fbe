"""The straight-line subject reader gives exactly what the header-by-header reader gave.

:func:`rdstrust.names.fast_subject` walks the DER with inline length reads and a
six-byte shortcut for the usual RDN. ``_reference`` below is the reader it replaced, built on
:func:`rdstrust.stores._der.read_header` (the one length reader of the stores): on real
certificates, on every truncation of them and on many thousand mutated ones (long-form and
indefinite lengths, multi-byte tags, wrong tags, flipped bits), both give the same answer, and
whatever the fast reader names agrees with cryptography.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from support import FIXTURES, der_certificate

from rdstrust.certs import DECODE_ERRORS
from rdstrust.names import _SHORT_NAMES, fast_subject
from rdstrust.stores import _der, read_store

SYSTEM_PEM = Path("/etc/ssl/certs/ca-certificates.crt")
_ASCII_STRINGS = frozenset({0x0C, 0x13, 0x16})


def _plain(value: bytes) -> str | None:
    if not value or not value.isascii():
        return None
    text = value.decode("ascii")
    if not text.isprintable() or text[0] in "# " or text[-1] == " ":
        return None
    return text if set('\\"+,;<>').isdisjoint(text) else None


def _element(der: bytes, pos: int, tag: int, end: int) -> tuple[int, int]:
    header = _der.read_header(der, pos)
    stop = header.end
    if header.tag != tag or stop is None or stop > end:
        raise _der.DerError("not the expected element")
    return header.start, stop


def _skip(der: bytes, pos: int, end: int) -> int:
    stop = _der.read_header(der, pos).end
    if stop is None or stop > end:
        raise _der.DerError("element runs past its parent")
    return stop


def _reference(der: bytes) -> tuple[str, str | None] | None:
    """The reader fast_subject replaced (rdstrust 2cfc8a2), kept as the specification."""
    try:
        cert_start, cert_end = _element(der, 0, _der.SEQUENCE, len(der))
        pos, tbs_end = _element(der, cert_start, _der.SEQUENCE, cert_end)
        if der[pos] == _der.CONTEXT_0:
            pos = _skip(der, pos, tbs_end)
        for _ in range(4):
            pos = _skip(der, pos, tbs_end)
        pos, end = _element(der, pos, _der.SEQUENCE, tbs_end)
        names: list[str] = []
        common_name = None
        while pos < end:
            rdn_start, rdn_end = _element(der, pos, _der.SET, end)
            attr_start, attr_end = _element(der, rdn_start, _der.SEQUENCE, rdn_end)
            if attr_end != rdn_end:
                return None
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


def _cryptography(der: bytes) -> tuple[str, str | None] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            subject = x509.load_der_x509_certificate(der).subject
            cns = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            return subject.rfc4514_string(), str(cns[0].value) if cns else None
        except (*DECODE_ERRORS, x509.InvalidVersion):
            return None


def _cert(attributes: list[x509.NameAttribute]) -> bytes:
    return der_certificate(x509.Name(attributes))


def _unchecked(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute:
    # Longer than X.520's upper bound for the type: cryptography warns, and writes it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.NameAttribute(oid, value, _validate=False)


def _crafted() -> list[bytes]:
    cn, o = NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME
    return [
        _cert([x509.NameAttribute(cn, "Bench Root CA 000001")]),
        # Values of 120-200 bytes: RDN lengths in the long form (0x81 ..), the general path.
        _cert([x509.NameAttribute(o, "x" * 118), _unchecked(cn, "y" * 121)]),
        _cert([x509.NameAttribute(o, "O" * 200), x509.NameAttribute(cn, "c")]),
        _cert([x509.NameAttribute(cn, "p" * 62, _type=_ASN1Type.PrintableString)]),
        _cert([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"), x509.NameAttribute(cn, "a,b")]),
        _cert([x509.NameAttribute(cn, "ia5", _type=_ASN1Type.IA5String)]),
        _cert([x509.NameAttribute(cn, "bmp", _type=_ASN1Type.BMPString)]),
        _cert([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example")]),
        _cert([x509.NameAttribute(NameOID.SERIAL_NUMBER, "42")]),
        _cert([]),
        _cert([x509.NameAttribute(cn, "first"), x509.NameAttribute(cn, "second")]),
    ]


def _pool() -> list[bytes]:
    ders = _crafted()
    ders += [
        e.certificates[0] for e in read_store(FIXTURES / "bundles" / "mixed.pem", None).entries
    ]
    if SYSTEM_PEM.exists():
        ders += [e.certificates[0] for e in read_store(SYSTEM_PEM, None).entries][:60]
    return ders


POOL = _pool()


def test_real_and_crafted_certificates_read_as_before_and_as_cryptography() -> None:
    named = 0
    for der in POOL:
        fast = fast_subject(der)
        assert fast == _reference(der)
        if fast is not None:
            assert fast == _cryptography(der)
            named += 1
    assert named > 10


def test_the_long_form_names_take_the_general_path_and_still_agree() -> None:
    long_o, long_cn = _crafted()[1:3]
    assert fast_subject(long_o) == ("CN=" + "y" * 121 + ",O=" + "x" * 118, "y" * 121)
    assert fast_subject(long_cn) == ("CN=c,O=" + "O" * 200, "c")


@pytest.mark.parametrize("index", range(len(_crafted())))
def test_every_truncation_reads_as_before(index: int) -> None:
    der = _crafted()[index]
    for cut in range(len(der) + 1):
        assert fast_subject(der[:cut]) == _reference(der[:cut]), cut


# Bytes that steer a DER reader into its odd corners: long-form and indefinite lengths,
# five-octet lengths, multi-byte tags, the tags of a name's parts.
_SPICE = [0x00, 0x01, 0x02, 0x7F, 0x80, 0x81, 0x82, 0x84, 0x85, 0x1F, 0xBF, 0x30, 0x31, 0x06]
_SPICE += [0x0C, 0x13, 0x16, 0x1E, 0xA0, 0x20, 0x23, 0x2C, 0x5C, 0xFF]


def _subject_offset(der: bytes) -> int:
    # Mutations are aimed at the subject and what precedes it, where the walk reads.
    return min(len(der), 420)


def test_mutated_certificates_read_as_before() -> None:
    rng = random.Random(20261130)
    named = 0
    for round_ in range(30_000):
        der = bytearray(POOL[round_ % len(POOL)])
        if rng.random() < 0.25:
            del der[rng.randrange(1, len(der)) :]
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(_subject_offset(bytes(der)))
            der[at] = rng.choice(_SPICE) if rng.random() < 0.7 else rng.randrange(256)
        data = bytes(der)
        fast = fast_subject(data)
        assert fast == _reference(data), data.hex()
        if fast is not None:
            named += 1
            known = _cryptography(data)
            # A certificate cryptography refuses (a mutation past the name) still has the
            # subject the DER spells; one it reads has exactly cryptography's name.
            assert known is None or known == fast, data.hex()
    assert named > 1000


def test_with_specials_the_subject_is_cryptographys_escaped_one() -> None:
    escaped = 0
    for der in POOL:
        fast = fast_subject(der, specials=True)
        plain = fast_subject(der)
        if plain is not None:
            assert fast == plain  # nothing to escape: the same answer
        if fast is not None:
            assert fast == _cryptography(der)
            escaped += plain is None
    assert escaped >= 1
    comma = _crafted()[4]
    assert fast_subject(comma) is None
    assert fast_subject(comma, specials=True) == ("CN=a\\,b,C=US", "a,b")


def test_with_specials_mutated_certificates_read_as_cryptography() -> None:
    rng = random.Random(20261201)
    named = 0
    for round_ in range(20_000):
        der = bytearray(POOL[round_ % len(POOL)])
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(_subject_offset(bytes(der)))
            der[at] = rng.choice(_SPICE) if rng.random() < 0.7 else rng.randrange(256)
        data = bytes(der)
        fast = fast_subject(data, specials=True)
        if fast is not None:
            named += 1
            known = _cryptography(data)
            assert known is None or known == fast, data.hex()
    assert named > 1000
