"""PEM text read in one linear pass, block by block, the way OpenSSL reads it.

rdstrust must never see fewer certificates in a PEM file than libpq does, so the framing here
copies OpenSSL's, not a regular expression's idea of PEM. libpq's ``sslrootcert`` goes through
``SSL_CTX_load_verify_locations`` -> ``X509_load_cert_crl_file_ex`` (crypto/x509/by_file.c) ->
``PEM_X509_INFO_read_bio_ex`` (crypto/pem/pem_info.c) -> ``PEM_read_bio`` ->
``get_name`` / ``get_header_and_data`` (crypto/pem/pem_lib.c, OpenSSL 1.1.1 to 3.x):

* lines come from ``BIO_gets(bp, buf, 255)`` on a file BIO, i.e. ``fgets``: at most 254 bytes,
  so a longer line is read as several "lines" and a ``-----BEGIN`` 254 bytes into a line starts
  one; ``strlen`` then cuts a line at its first NUL, and a line that *starts* with a NUL reads as
  zero bytes, which ``PEM_read_bio`` takes for the end of the file: the blocks after it are
  silently not read, and a block it falls inside fails the whole file (:attr:`PemScan.stop`);
* ``sanitize_line`` strips trailing bytes ``<= ' '`` (``char`` is signed on x86, so bytes
  0x80-0xFF go too);
* a block starts at a line that begins with ``-----BEGIN `` and ends with ``-----``; text on
  other lines (even ``  -----BEGIN`` after a space) is skipped;
* after it, the first line beginning with ``-----END `` must be exactly ``-----END <label>-----``
  or the whole file fails to load (so do a block that never ends and an empty one).

``pem_info.c`` reads the labels ``CERTIFICATE``, ``X509 CERTIFICATE`` and ``TRUSTED
CERTIFICATE`` as certificates (:data:`CERTIFICATE_LABELS`; a trusted certificate is the
certificate followed by OpenSSL trust settings) and skips ``PKCS7``, which other OpenSSL tools
(``openssl storeutl``) do read. Bodies are decoded strictly (:func:`decode_body`): base64 lines
of at most 253 bytes, no RFC 1421 headers, no blank lines, so a body rdstrust accepts decodes
to the very bytes OpenSSL decodes; anything else is refused rather than guessed at.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

#: Labels OpenSSL's PEM_X509_INFO_read_bio (libpq's sslrootcert) loads as certificates.
CERTIFICATE_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"})
#: PKCS7 labels (PEM_STRING_PKCS7, PEM_STRING_PKCS7_SIGNED): certificates for some readers only.
PKCS7_LABELS = frozenset({"PKCS7", "PKCS #7 SIGNED DATA"})

# The labels a store repeats 50,000 times, as one string each.
_LABEL_TEXT = {label.encode("ascii"): label for label in CERTIFICATE_LABELS | PKCS7_LABELS}
#: fgets(buf, 255) reads at most this many bytes per "line".
_CHUNK = 254
#: With ``indented``, this much leading white space before a BEGIN/END line is tolerated.
_INDENT = 64
_BEGIN = b"-----BEGIN"
# OpenSSL 3's sanitize_line drops a UTF-8 byte-order mark from the first line each PEM read
# looks at: the file's first line, and the line right after each block's END line.
_BOM = b"\xef\xbb\xbf"
_END = b"-----END "
_TAIL = b"-----"
# sanitize_line with PEM_FLAG_EAY_COMPATIBLE: trailing (signed) chars <= ' ' are dropped.
_TRAILING = bytes(range(0x21)) + bytes(range(0x80, 0x100))
# One body line: base64 with spaces, tabs or CRs, at most 253 bytes before its LF (so OpenSSL's
# 254-byte reads see the same lines), at least one base64 character (no blank line, which
# OpenSSL takes as the end of RFC 1421 headers).
_BODY = re.compile(rb"(?:(?=[^\n]{1,253}\n)[ \t\r]*[A-Za-z0-9+/=][A-Za-z0-9+/= \t\r]*\n)+")


# The common, well-formed block in one C-level match: a BEGIN line of a plain label, a body up to
# the first '-', the matching END line right after a LF. The exact path frames such a block the
# same way whatever the body holds (it looks for the first "-----END " after the BEGIN line, and
# a body without '-' has none before it); decode_body judges the body's lines afterwards. The
# body is one run of a single character class, which the regex engine scans in a tight loop
# (three times faster on a 50,000-certificate store than matching it line by line). Work stays
# linear: a failed attempt stops at the first '-' and backtracks over that run once, and the
# next attempt starts past it. Anything else takes the exact path.
_FAST = re.compile(
    rb"-----BEGIN ([A-Z0-9#][A-Z0-9# ]{0,62})-----[ \t\r]{0,16}\n"
    rb"([^-]*)(?<=\n)"
    rb"-----END \1-----[ \t\r]{0,16}(?:\n|\Z)"
)


class PemError(ValueError):
    """A PEM block whose body cannot be decoded the way OpenSSL would (message: a phrase)."""


class PemBlock(NamedTuple):
    """One ``-----BEGIN label-----`` ... ``-----END label-----`` block as OpenSSL frames it.

    A tuple rather than a frozen dataclass: a hostile file holds 150,000 empty blocks in 5 MB,
    and a tuple is several times cheaper to make.
    """

    #: 1-based position among the file's blocks.
    number: int
    label: str
    #: Offset of the BEGIN line; of the body; of the END line; just past the END line's LF.
    start: int
    body_start: int
    body_end: int
    end: int


@dataclass(frozen=True)
class PemScan:
    """The blocks of a PEM text, and what OpenSSL would ignore or refuse in it."""

    blocks: tuple[PemBlock, ...]
    #: Offsets of ``-----BEGIN`` text that OpenSSL does not take as a block start (not at the
    #: start of a line, or not a complete BEGIN line): harmless in a store, suspect in a bundle.
    strays: tuple[int, ...]
    #: Why OpenSSL would refuse the whole file (a phrase), or ``None``.
    problem: str | None = None
    #: Where OpenSSL stops reading: a line starting with a NUL byte (``None``: it reads to the
    #: end). Blocks after it are not in :attr:`blocks`; a reader that is not OpenSSL (Java's
    #: CertificateFactory) reads on, and text appended to the file would never be read.
    stop: int | None = None


class _Lines:
    """Where OpenSSL's 254-byte line reads start, for offsets asked in increasing order.

    Keeping the last line start and scanning each byte once for LFs keeps the pass linear, even
    on a multi-megabyte file without a single newline.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.cursor = 0
        self.line_start = 0

    def at_chunk_start(self, offset: int, *, indented: bool = False) -> bool:
        if offset == 0 or self.data[offset - 1] == 0x0A:  # the common case: right after a LF
            self.cursor = self.line_start = offset
            return True
        newline = self.data.rfind(b"\n", self.cursor, offset)
        if newline >= 0:
            self.line_start = newline + 1
        self.cursor = max(self.cursor, offset)
        if (offset - self.line_start) % _CHUNK == 0:
            return True
        indent = offset - self.line_start
        return indented and indent <= _INDENT and not self.data[self.line_start : offset].strip()

    def chunk(self, offset: int) -> tuple[bytes, int]:
        """The line OpenSSL reads at ``offset`` (cut at NUL, trailing junk dropped), its end."""
        newline = self.data.find(b"\n", offset, offset + _CHUNK)
        end = newline + 1 if newline >= 0 else min(offset + _CHUNK, len(self.data))
        line = self.data[offset:end]
        if b"\x00" in line:
            line = line[: line.index(b"\x00")]
        return line.rstrip(_TRAILING), end


def line_number(data: bytes, offset: int) -> int:
    """The 1-based line of ``offset`` (for messages only: it scans from the start)."""
    return data.count(b"\n", 0, offset) + 1


def scan(data: bytes, *, indented: bool = False, exact_only: bool = False) -> PemScan:
    """Find every PEM block of ``data`` in one pass, framed as OpenSSL frames it.

    ``indented`` also takes BEGIN and END lines with a little leading white space, as some
    published bundles have (AWS's us-east-1 bundle of 2024-10 starts with four spaces): right
    for a bundle, whose certificates rdstrust re-encodes, wrong for a store, which libpq reads
    as it is (OpenSSL skips such a block). ``exact_only`` turns the fast path for well-formed
    blocks off (tests compare both paths).
    """
    strays: list[int] = []
    problems: list[str] = []
    stop = openssl_stop(data)
    blocks = tuple(
        _walk(data, strays, problems, indented=indented, exact_only=exact_only, stop=stop)
    )
    return PemScan(blocks, tuple(strays), problems[0] if problems else None, stop)


def openssl_stop(data: bytes) -> int | None:
    """Where OpenSSL's PEM reading of ``data`` ends early, or ``None`` when it reads to the end.

    That is the first of OpenSSL's line reads (``fgets`` of at most 254 bytes: each line, and a
    longer line every 254 bytes) that starts with a NUL byte: the file BIO returns its
    ``strlen``, 0, and ``PEM_read_bio`` reports no start line, which ends
    ``PEM_X509_INFO_read_bio`` without an error (crypto/bio/bss_file.c ``file_gets``,
    crypto/pem/pem_lib.c ``get_name``). One forward pass over the NUL bytes.
    """
    nul = data.find(b"\x00")
    line_start = cursor = 0
    while nul >= 0:
        newline = data.rfind(b"\n", cursor, nul)  # only bytes not looked at yet: linear
        if newline >= 0:
            line_start = newline + 1
        if (nul - line_start) % _CHUNK == 0:
            return nul
        cursor = nul
        nul = data.find(b"\x00", nul + 1)
    return None


def holds_certificate(data: bytes) -> bool:
    """Whether :func:`scan` finds a block with a certificate label; stops at the first one.

    Exactly ``any(b.label in CERTIFICATE_LABELS for b in scan(data).blocks)``, without reading
    the rest of a 50 MB store only to tell that it is PEM.
    """
    blocks = _walk(data, [], [], indented=False, stop=openssl_stop(data))
    return any(b.label in CERTIFICATE_LABELS for b in blocks)


def _walk(
    data: bytes,
    strays: list[int],
    problems: list[str],
    *,
    indented: bool,
    exact_only: bool = False,
    stop: int | None = None,
) -> Iterator[PemBlock]:
    """The blocks of :func:`scan`, one at a time; stray offsets go to ``strays``, and why
    OpenSSL would refuse the whole file to ``problems`` (then the blocks end there). OpenSSL
    reads nothing from ``stop`` on (see :func:`openssl_stop`)."""
    lines = _Lines(data)
    count = 0
    pos = 0
    fast = _FAST.match
    after_end = 0  # where OpenSSL's next PEM read starts (the file's start, or after an END)
    limit = len(data) if stop is None else stop
    while (start := data.find(_BEGIN, pos, limit)) >= 0:
        bom = start - len(_BOM) == after_end and data[after_end:start] == _BOM
        if not exact_only and (start == 0 or data[start - 1] == 0x0A or bom):
            found = fast(data, start)
            if found is not None and found.end() <= limit:
                label_bytes = found.group(1)
                if label_bytes[-1:] != b" ":  # OpenSSL would keep a trailing space in the name
                    lines.at_chunk_start(start)
                    body_start, body_end = found.span(2)
                    count += 1
                    pos = after_end = found.end()
                    label = _LABEL_TEXT.get(label_bytes) or label_bytes.decode("ascii")
                    yield PemBlock(count, label, start, body_start, body_end, pos)
                    continue
        head, body_start = (b"", start + 1)
        if bom or lines.at_chunk_start(start, indented=indented):
            head, body_start = lines.chunk(start)
        if not (head.startswith(_BEGIN + b" ") and head.endswith(_TAIL) and len(head) >= 16):
            strays.append(start)
            pos = start + 1
            continue
        label = head[len(_BEGIN) + 1 : -len(_TAIL)]
        name = label.decode("latin-1")
        end_at = data.find(_END, body_start)
        problem = None
        if stop is not None and not 0 <= end_at < stop:
            # OpenSSL meets the NUL-led line before any END line (none can span it: the line
            # starts at a read, and a BEGIN line holds no NUL).
            problem = "is cut short by a line starting with a NUL byte, where OpenSSL stops"
        elif end_at < 0:
            problem = "never ends (no END line)"
        elif not lines.at_chunk_start(end_at, indented=indented):
            problem = "is cut off: its END marker does not start a line"
        else:
            tail, end = lines.chunk(end_at)
            if tail != _END + label + _TAIL:
                problem = "ends with another block's END line"
        if problem is not None:
            # The line number is counted only here: once per file, so the pass stays linear.
            where = f"PEM block {count + 1} ({_shown(name)}, line {line_number(data, start)})"
            problems.append(f"{where} {problem}")
            return
        count += 1
        yield PemBlock(count, name, start, body_start, end_at, end)
        pos = after_end = end


def _shown(label: str) -> str:
    # A label is text from the file: keep it printable and short in a message.
    from rdstrust.text import safe

    text = safe(label, ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def decode_body(data: bytes, block: PemBlock) -> bytes:
    """The bytes a block's base64 body holds; :class:`PemError` when OpenSSL could differ."""
    body = data[block.body_start : block.body_end]
    der = _decode_plain_lines(body)
    if der is None:
        if not _BODY.fullmatch(body):
            if not body.strip():
                raise PemError("is empty")
            raise PemError(
                "does not hold plain base64 lines (placeholder text such as 'xxxx', headers, "
                "blank or over-long lines, or a cut-off body)"
            )
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise PemError(
                "does not hold valid base64 (misplaced '=' padding or a cut-off body)"
            ) from None
    if not der:
        raise PemError("is empty")
    return der


def _decode_plain_lines(body: bytes) -> bytes | None:
    """What the usual body decodes to, or ``None``: then :data:`_BODY` decides.

    The usual body is lines of one width (1 to 253 bytes; the last line may be shorter, not
    empty), each ended by a LF, that decode as strict base64 once joined, so every other byte
    is of the base64 alphabet (``validate=True`` refuses any other): one of the shapes
    :data:`_BODY` matches, and the lines joined are exactly what ``b"".join(body.split())``
    gives. A few C-level calls instead of the per-line regex; any other body, valid or not,
    takes the careful path, which gives the answer and the message.
    """
    width = body.find(b"\n")
    if not 0 < width < _CHUNK:
        return None
    step = width + 1
    full, rest = divmod(len(body), step)
    # The LFs are exactly at width, width + step, ... (one per full line) and, after a
    # shorter last line of rest - 1 bytes, at the very end; rest == 1 is a blank last line.
    marks = body[width::step]
    if rest == 1 or body[-1] != 0x0A or marks.strip(b"\n"):
        return None
    if body.count(b"\n") != full + (rest > 0):
        return None
    try:
        return base64.b64decode(body.replace(b"\n", b""), validate=True)
    except (binascii.Error, ValueError):
        return None


def shown_label(label: str) -> str:
    """A block label as it may appear in a message."""
    return _shown(label)


__all__ = [
    "CERTIFICATE_LABELS",
    "PKCS7_LABELS",
    "PemBlock",
    "PemError",
    "PemScan",
    "decode_body",
    "holds_certificate",
    "line_number",
    "openssl_stop",
    "scan",
    "shown_label",
]
