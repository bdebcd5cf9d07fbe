"""The little DER (X.690) rdstrust needs to walk PKCS12 files without re-encoding their parts.

The one DER reader of :mod:`rdstrust.stores`: :func:`read_header` is the only place that reads
an element's length; :func:`declared_size` answers "how long does this blob claim to be".

A general ASN.1 library would decode and re-encode; here every parsed element keeps the exact
bytes it came from (:attr:`Tlv.raw`), so a store can be rebuilt from its original pieces.

:class:`Span` is the same walk without the copies: where an element lies in a buffer. A 40 MB
PKCS12 store parsed as :class:`Tlv` is copied once per nesting level; :func:`parse_span` and
:func:`spans` answer exactly what :func:`parse` and :func:`parse_all` answer (same elements, same
errors, same messages) on the bytes between two offsets, and copy nothing.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
BMP_STRING = 0x1E
CONTEXT_0 = 0xA0  # [0] EXPLICIT (constructed)
CONTEXT_0_PRIMITIVE = 0x80  # [0] IMPLICIT OCTET STRING


#: Bytes or a view of them: what a store is written from (kept parts are views of the file read).
Bytes = bytes | memoryview


class DerError(ValueError):
    """The bytes are not the DER structure expected."""


class Tlv(NamedTuple):
    """One DER element: tag, content bytes, and the exact bytes of the whole element.

    A named tuple, not a dataclass: a 50,000-entry PKCS12 store is 1.6 million elements, and a
    frozen dataclass costs three times as much to make.
    """

    tag: int
    content: bytes
    raw: bytes

    def __repr__(self) -> str:
        return f"Tlv(tag=0x{self.tag:02x}, {len(self.raw)} bytes)"

    def children(self, limit: int | None = None) -> list[Tlv]:
        """The elements inside a constructed element, in order (at most ``limit``, else
        :data:`MAX_ELEMENTS`)."""
        if not self.tag & 0x20:
            raise DerError(f"element with tag 0x{self.tag:02x} is not constructed")
        return parse_all(self.content, MAX_ELEMENTS if limit is None else limit)

    def expect(self, tag: int) -> Tlv:
        """This element, after checking its tag."""
        if self.tag != tag:
            raise DerError(f"expected tag 0x{tag:02x}, found 0x{self.tag:02x}")
        return self


class Header(NamedTuple):
    """The identifier and length octets of one element (X.690 8.1.2-8.1.3)."""

    tag: int
    #: Offset of the first content byte.
    start: int
    #: Content length; ``None`` for BER's indefinite form (``0x80``), which DER forbids.
    length: int | None

    @property
    def end(self) -> int | None:
        """Offset just past the element as its header announces it (``None`` if indefinite)."""
        return None if self.length is None else self.start + self.length


def read_header(data: bytes, offset: int = 0) -> Header:
    """The header of the element at ``offset``; the only length reader of rdstrust's stores.

    Lengths of up to four octets are accepted (4 GiB, far past any store); the announced
    length is not checked against ``data`` here (see :func:`read_tlv`), so a caller can also
    ask how long a cut-off element claims to be (:func:`declared_size`).
    """
    if offset + 2 > len(data):
        raise DerError("truncated element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not used in PKCS12")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        return Header(tag, pos, first)
    count = first & 0x7F
    if count == 0:
        return Header(tag, pos, None)
    if count > 4 or pos + count > len(data):
        raise DerError("unsupported or truncated length")
    return Header(tag, pos + count, int.from_bytes(data[pos : pos + count], "big"))


def read_header_within(data: bytes, offset: int, end: int) -> Header:
    """:func:`read_header` of ``data[:end]`` at ``offset``, without the copy.

    Same header, same errors and messages: the element's header must lie before ``end``.
    """
    if offset + 2 > end:
        raise DerError("truncated element")
    header = read_header(data, offset)
    if header.start > end:  # its length octets run past ``end``
        raise DerError("unsupported or truncated length")
    return header


def declared_size(data: bytes, tag: int = SEQUENCE) -> int | None:
    """The total size the first element of ``data`` announces, or ``None``.

    ``None`` when ``data`` does not start with a definite-length element of ``tag``: what
    bundle.py needs to tell "cut off" from "not a certificate" for a damaged DER blob.
    """
    try:
        header = read_header(data)
    except DerError:
        return None
    return header.end if header.tag == tag else None


def read_tlv(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Parse the element at ``offset``; return it and the offset just past it."""
    header = read_header(data, offset)
    # 0x80 is BER's indefinite length: not DER, and not written by Java or OpenSSL.
    end = header.end
    if end is None:
        raise DerError("unsupported or truncated length")
    if end > len(data):
        raise DerError("element runs past the end of the data")
    return Tlv(header.tag, data[header.start : end], data[offset:end]), end


def parse(data: bytes) -> Tlv:
    """Parse bytes that hold exactly one element."""
    tlv, end = read_tlv(data)
    if end != len(data):
        raise DerError("trailing bytes after the element")
    return tlv


class TooManyElements(DerError):
    """A run of elements is longer than the caller's limit (a hostile file of tiny elements)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} elements")
        self.limit = limit


#: The most elements :func:`parse_all` returns unless told otherwise: no structure rdstrust walks
#: holds more in one place than a store has bags (see ``pkcs12.MAX_ENTRIES``), and without a
#: bound a 64 MiB run of two-byte elements would become millions of objects (gigabytes).
MAX_ELEMENTS = 100_000


def parse_all(data: bytes, limit: int = MAX_ELEMENTS) -> list[Tlv]:
    """Parse a run of consecutive elements; at most ``limit`` of them (:class:`TooManyElements`)."""
    items: list[Tlv] = []
    offset = 0
    while offset < len(data):
        if len(items) >= limit:
            raise TooManyElements(limit)
        tlv, offset = read_tlv(data, offset)
        items.append(tlv)
    return items


class Span(NamedTuple):
    """Where one element lies in a buffer: its tag, first byte, and content ``[start, end)``."""

    tag: int
    #: Offset of the element's first (tag) byte: the element is ``data[offset:end]``.
    offset: int
    #: Offset of its first content byte.
    start: int
    #: Offset just past it.
    end: int


def read_span(data: bytes, offset: int, end: int) -> Span:
    """:func:`read_tlv` of ``data[:end]`` at ``offset``, as offsets into ``data`` (no copy)."""
    header = read_header_within(data, offset, end)
    stop = header.end
    if stop is None:
        raise DerError("unsupported or truncated length")
    if stop > end:
        raise DerError("element runs past the end of the data")
    return Span(header.tag, offset, header.start, stop)


def parse_span(data: bytes, start: int = 0, end: int | None = None) -> Span:
    """:func:`parse` of ``data[start:end]`` (exactly one element), as offsets into ``data``."""
    end = len(data) if end is None else end
    span = read_span(data, start, end)
    if span.end != end:
        raise DerError("trailing bytes after the element")
    return span


def spans(data: bytes, start: int, end: int, limit: int = MAX_ELEMENTS) -> list[Span]:
    """:func:`parse_all` of ``data[start:end]``, as offsets into ``data`` (no copy)."""
    items: list[Span] = []
    offset = start
    while offset < end:
        if len(items) >= limit:
            raise TooManyElements(limit)
        span = read_span(data, offset, end)
        items.append(span)
        offset = span.end
    return items


def encode_header(tag: int, length: int) -> bytes:
    """The identifier and (definite, minimal) length octets of an element of ``length`` bytes.

    What :func:`encode` puts in front of the content; alone, it lets a large element be written
    as a list of pieces joined once (see ``pkcs12``), instead of copied at every nesting level.
    """
    if length < 0x80:
        return bytes([tag, length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size


def encode(tag: int, content: bytes) -> bytes:
    """Encode one element with a definite, minimal length."""
    return encode_header(tag, len(content)) + content


def seq(*items: Bytes) -> bytes:
    """A SEQUENCE of already-encoded elements."""
    return encode(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    """A SET OF already-encoded elements, sorted as DER requires (X.690 11.6)."""
    return encode(SET, b"".join(sorted(items)))


def integer(value: int) -> bytes:
    """A non-negative INTEGER."""
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return encode(INTEGER, body)


def octets(value: bytes) -> bytes:
    """An OCTET STRING."""
    return encode(OCTET_STRING, value)


def explicit0(inner: bytes) -> bytes:
    """``[0] EXPLICIT`` around an encoded element."""
    return encode(CONTEXT_0, inner)


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form."""
    arcs = [int(p) for p in dotted.split(".")]
    body = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return encode(OID, bytes(body))


def oid_str(tlv: Tlv) -> str:
    """The dotted form of an OBJECT IDENTIFIER element."""
    tlv.expect(OID)
    return _dotted(tlv.content)


@functools.lru_cache(maxsize=512)
def _dotted(data: bytes) -> str:
    # A store repeats a handful of OIDs hundreds of thousands of times.
    if not data:
        raise DerError("empty object identifier")
    arcs = [min(data[0] // 40, 2), data[0] - 40 * min(data[0] // 40, 2)]
    value = 0
    for byte in data[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(str(a) for a in arcs)


def to_int(tlv: Tlv) -> int:
    """The value of a (non-negative) INTEGER element."""
    tlv.expect(INTEGER)
    return int.from_bytes(tlv.content, "big", signed=True)
