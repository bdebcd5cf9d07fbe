"""PEM trust stores (what libpq's ``sslrootcert``, OpenSSL and most non-Java clients read).

A store is read the way libpq reads it (:mod:`rdstrust.pemscan`): every block OpenSSL loads as
a certificate is a trusted-certificate entry, whatever its label (``CERTIFICATE``, ``X509
CERTIFICATE``, ``TRUSTED CERTIFICATE``) and wherever its BEGIN line falls. A ``TRUSTED
CERTIFICATE`` is reported as its certificate (OpenSSL loads it as a trust anchor; the trust
settings after it may still narrow what OpenSSL accepts it for). A file OpenSSL would refuse as a
whole (a block that never ends) is refused, and so is a file in which Java's
``CertificateFactory`` (pgjdbc's ``sslrootcert``) would find certificates libpq does not: under
another label (Java reads any label, and PKCS7) or after a bare carriage return.

The existing text is kept exactly as it is (comments, ordering, line ends, other blocks); new
certificates are appended, each after a ``# alias: subject`` comment line naming it. That line
is built from :func:`rdstrust.text.safe` (one line of printable ASCII): a subject is
attacker-controlled and, written raw, its newlines could plant a block only OpenSSL reads.

Removing a certificate (``--prune-expired``) cuts out just its block and, when the line right
before it is that rdstrust label for this very certificate, the label; any other text (a file
header, someone's notes) is never removed.

Rendering reads the new text back in full before returning it (:func:`_checked`: OpenSSL must
load exactly the intended certificates), and that parse is the one a merge's read-back gets
(:meth:`PemStore.take_read_back`, which :func:`rdstrust.stores.parse_store` is given as
``parsed``). In it, a block whose label line and body are byte for byte a kept
entry's takes that entry instead of decoding the same bytes again (:class:`_Decoded`); every
block is still framed by the full scan.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import warnings
from array import array
from collections import Counter
from collections.abc import Sequence

from rdstrust.certs import der_to_pem
from rdstrust.errors import StoreError
from rdstrust.names import fast_subject
from rdstrust.pemscan import (
    CERTIFICATE_LABELS,
    PemBlock,
    PemError,
    PemScan,
    decode_body,
    holds_certificate,
    line_number,
    scan,
    shown_label,
)
from rdstrust.stores import _der
from rdstrust.stores._types import EntryKind, NewCert, StoreEntry, describe_der
from rdstrust.stores.jks import MAX_ENTRIES
from rdstrust.text import safe

#: Five offsets per entry, flat: where its text starts (its label line included), where its
#: block starts, where the block's body starts and ends, and where the block ends. An array
#: rather than tuples of ints: a 50,000-entry store would hold 12 MB of them, and a merge
#: holds two stores.
_SPAN = 5


def _first_element(data: bytes) -> bytes:
    """The first DER element of ``data`` (``data`` itself when it is one, or not DER)."""
    # An OpenSSL "TRUSTED CERTIFICATE" is the certificate followed by trust settings. Read as
    # _der.read_tlv reads it, without copying the usual certificate, which is all of data.
    if data[:2] == b"\x30\x82" and len(data) == 4 + int.from_bytes(data[2:4], "big"):
        return data  # the usual certificate: a SEQUENCE with a two-octet length, and no more
    try:
        end = _der.read_header(data).end
    except _der.DerError:
        return data
    if end is None or end >= len(data):
        return data  # indefinite or cut off (read_tlv refuses both), or exactly one element
    return data[:end]


class PemStore:
    """A PEM file: its exact text and the certificate blocks found in it."""

    def __init__(
        self,
        *,
        text: bytes,
        entries: Sequence[StoreEntry],
        spans: array[int],
        labelled: bytearray,
        source: str,
    ) -> None:
        self.text = text
        self.entries: tuple[StoreEntry, ...] = tuple(entries)
        self._spans = spans
        self._labelled = labelled  # 1 where an entry's alias is its label line's
        self.password_required = False
        self.verified = True
        self.source = source
        # The full parse of the text the last render returned (see take_read_back).
        self._read_back: PemStore | None = None

    @property
    def password_less(self) -> bool:
        """Always True: a PEM file has no password."""
        return True

    @property
    def profile(self) -> str | None:
        """``None``: profiles are a PKCS12 notion."""
        return None

    def render(
        self,
        *,
        remove: frozenset[int],
        add: Sequence[NewCert],
        password: str | None = None,
        profile: str | None = None,
    ) -> bytes:
        """The text with blocks at ``remove`` cut out and ``add`` appended."""
        del password, profile
        pieces, pos = [], 0
        for index in sorted(remove):  # one join, not one copy of the file per removed block
            start, _, _, _, end = self._spans[_SPAN * index : _SPAN * index + _SPAN]
            pieces.append(self.text[pos:start])
            pos = end
        text = b"".join([*pieces, self.text[pos:]])
        kept = [i for i in range(len(self.entries)) if i not in remove]
        decoded = _Decoded(self, kept)
        reread = _checked(_append(text, add), [self.entries[i].sha256 for i in kept], add, decoded)
        self._read_back = reread
        return reread.text

    def take_read_back(self, text: bytes, source: str) -> PemStore | None:
        """The full parse :meth:`render` made of ``text``, the bytes object it returned, for a
        read-back from ``source``; given once (``None`` for any other text or source).

        A merge reads every store it renders back before writing it and compares it with what
        it meant to write. Rendering has just parsed that very text in full to count its
        certificates the way libpq does, so the read-back takes that parse (through
        :func:`rdstrust.stores.parse_store`'s ``parsed``) instead of repeating it.
        """
        found, self._read_back = self._read_back, None
        if found is not None and found.text is text and found.source == source:
            return found
        return None


class _Decoded:
    """The kept entries of a store, offered to the parse of the text rendered from it.

    Rendering copies every kept entry's text byte for byte, so reading the new text back would
    decode the same bodies and read the same label lines again. Each block the read-back finds
    is still framed by the full scan (so a block gained, lost or cut is seen), and compared
    byte for byte with the kept entry at the same place in order: from the start of the line
    before it to the end of its body, with the block and body at the same offsets, it takes
    that entry (its certificate, fingerprint and alias, all functions of those bytes); with
    only the body identical, its certificate. Anything else is decoded and labelled afresh.
    """

    def __init__(self, store: PemStore | None, kept: Sequence[int]) -> None:
        self.source = store.source if store is not None else "the new store"
        self._store = store
        self._kept = kept if store is not None else ()
        self._next = 0

    def entry(self, data: bytes, block: PemBlock) -> tuple[StoreEntry, int | None] | None:
        """The kept entry whose body is byte for byte this block's, or ``None``; with where
        the block's span starts when its label line is byte for byte the entry's too."""
        store = self._store
        if store is None or self._next >= len(self._kept):
            return None
        index = self._kept[self._next]
        self._next += 1
        offset = _SPAN * index
        span_start, block_start, body_start, body_end = store._spans[offset : offset + 4]
        if body_end - body_start != block.body_end - block.body_start:
            return None
        if store.text[body_start:body_end] != data[block.body_start : block.body_end]:
            return None
        entry = store.entries[index]
        line_start = _line_start(data, block.start)
        old_line_start = _line_start(store.text, block_start)
        if (
            store._labelled[index]
            and block.start - line_start == block_start - old_line_start
            and block.body_start - line_start == body_start - old_line_start
            and store.text[old_line_start:body_start] == data[line_start : block.body_start]
        ):
            return entry, line_start + span_start - old_line_start
        return entry, None


def _checked(
    text: bytes,
    kept: Sequence[str | None],
    add: Sequence[NewCert],
    decoded: _Decoded,
) -> PemStore:
    """``text`` parsed, after checking that OpenSSL would load exactly the intended certificates.

    The certificates are counted the way libpq reads the file, so text that smuggles a block
    in (or cuts one off) is refused here, with its own sentence, before anything is written.
    """
    source = decoded.source
    intended = Counter([*kept, *(hashlib.sha256(c.der).hexdigest() for c in add)])
    try:
        reread = _parse(text, source, decoded)
        seen = Counter(e.sha256 for e in reread.entries)
    except StoreError:
        seen = Counter()
    if seen != intended:
        raise StoreError(
            f"Refusing to write {safe(source)}: OpenSSL would read {sum(seen.values())} "
            f"certificate(s) from the new file where rdstrust means to write "
            f"{sum(intended.values())}; the store or a certificate holds text that reads as "
            "a hidden PEM block, so nothing was written.",
            path=source,
        )
    return reread


def _comment(cert: NewCert) -> bytes:
    # One line of printable ASCII whatever the alias and subject hold: a newline in a subject
    # written raw would start a line of its own, and OpenSSL reads any line as PEM.
    return f"# {safe(cert.alias, ascii=True)}: {safe(cert.subject, ascii=True)}".encode("ascii")


def _append(text: bytes, add: Sequence[NewCert]) -> bytes:
    if not add:
        return text
    newline = b"\r\n" if b"\r\n" in text else b"\n"
    if text and not text.endswith(b"\n"):
        text += newline
    parts = [text]
    for cert in add:
        comment = _comment(cert)
        block = der_to_pem(cert.der)
        if newline != b"\n":
            block = block.replace(b"\n", newline)
        parts.append(comment + newline + block)
    return b"".join(parts)


def create(
    add: Sequence[NewCert], *, password: str | None = None, profile: str | None = None
) -> bytes:
    """A new PEM bundle holding ``add``."""
    del password, profile
    return _checked(_append(b"", add), [], add, _Decoded(None, ())).text


def looks_like_pem(data: bytes) -> bool:
    """Whether bytes are text holding at least one block OpenSSL reads as a certificate."""
    if b"\x00" in data[:65536]:
        return False
    return holds_certificate(data)


def nul_in_pem(data: bytes) -> int | None:
    """Where the first NUL byte is in a file :func:`looks_like_pem` refuses for one, although
    OpenSSL reads certificates from it; ``None`` for anything else (a binary file, say).

    For the message only: such a file is still refused, by name of what is wrong with it.
    """
    nul = data.find(b"\x00", 0, 65536)
    if nul < 0 or not holds_certificate(data):
        return None
    return nul


def _certificate_blocks(data: bytes, found: PemScan, source: str) -> list[PemBlock]:
    """The blocks libpq loads as certificates; refuse a file other readers read differently."""
    if found.problem is not None:
        raise StoreError(
            f"{safe(source)}: {found.problem}, so OpenSSL (libpq) cannot load this file at all; "
            "repair or replace it.",
            path=source,
        )
    if found.stop is not None:
        # OpenSSL reads nothing after it (not even what rdstrust would append) and Java reads on.
        raise StoreError(
            f"{safe(source)}: line {line_number(data, found.stop)} starts with a NUL byte, where "
            "OpenSSL (libpq) stops reading the file, so it ignores every certificate after it; "
            "remove the NUL bytes.",
            path=source,
        )
    certificates = sum(1 for b in found.blocks if b.label in CERTIFICATE_LABELS)
    if certificates > MAX_ENTRIES:
        # The same bound as JKS and PKCS12: decoding and hashing each block is the cost a
        # hostile 64 MiB file of tiny certificates would otherwise multiply.
        raise StoreError(
            f"{safe(source)} holds {certificates:,} certificate blocks, more than any trust "
            f"store has (at most {MAX_ENTRIES:,}); it is damaged or hostile.",
            path=source,
        )
    for stray in found.strays:
        if data[stray - 1 : stray] == b"\r":
            # A bare CR ends a line for Java's CertificateFactory (pgjdbc) but not for OpenSSL.
            raise StoreError(
                f"{safe(source)} has a PEM block after a bare carriage return (line "
                f"{line_number(data, stray)}) that Java reads and OpenSSL skips; fix the line "
                "ends so every reader trusts the same certificates.",
                path=source,
            )
    for block in found.blocks:
        if block.label not in CERTIFICATE_LABELS and _holds_certificates(data, block):
            # OpenSSL skips other labels; Java's CertificateFactory reads any label, PKCS7 too.
            raise StoreError(
                f"{safe(source)} holds certificates in a {shown_label(block.label)} block (block "
                f"{block.number}), which libpq skips but Java (pgjdbc) trusts; rewrite them as "
                "CERTIFICATE blocks (openssl pkcs7 -print_certs) or remove the block.",
                path=source,
            )
    return [b for b in found.blocks if b.label in CERTIFICATE_LABELS]


def _holds_certificates(data: bytes, block: PemBlock) -> bool:
    """Whether a block's body, decoded as leniently as Java does, is a certificate or PKCS7."""
    # Java's MIME base64 decoder ignores every character outside the alphabet.
    text = re.sub(rb"[^A-Za-z0-9+/]", b"", data[block.body_start : block.body_end])
    try:
        der = base64.b64decode(text + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return False
    if der[:1] != b"\x30":
        return False
    if describe_der(_first_element(der)) is not None:
        return True
    from cryptography.hazmat.primitives.serialization import pkcs7

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return bool(pkcs7.load_der_pkcs7_certificates(der))
        except ValueError:
            return False


def _certificate_der(data: bytes, block: PemBlock, n: int, source: str) -> bytes:
    try:
        return _first_element(decode_body(data, block))
    except PemError as exc:
        raise StoreError(
            f"{safe(source)}: certificate block {n} {exc}; the file is damaged.", path=source
        ) from None


def fingerprints(data: bytes, *, source: str) -> list[str]:
    """SHA-256 of every certificate libpq loads from PEM text, in order (nothing parsed).

    Raises :class:`StoreError` as :func:`load` does.
    """
    blocks = _certificate_blocks(data, scan(data), source)
    return [
        hashlib.sha256(_certificate_der(data, block, n, source)).hexdigest()
        for n, block in enumerate(blocks, start=1)
    ]


def load(data: bytes, *, source: str, password: str | None = None) -> PemStore:
    """Parse a PEM store as libpq reads it; see the module docstring.

    Raises :class:`StoreError` for a certificate block whose body is not plain base64, a block
    that never ends, and certificates only Java would read.
    """
    del password
    return _parse(data, source, None)


def _parse(data: bytes, source: str, decoded: _Decoded | None) -> PemStore:
    """:func:`load`, taking what ``decoded`` already holds for identical bytes."""
    entries: list[StoreEntry] = []
    spans = array("q")
    labelled = bytearray()
    for n, block in enumerate(_certificate_blocks(data, scan(data), source), start=1):
        known = decoded.entry(data, block) if decoded is not None else None
        if known is not None and (same_text := known[1]) is not None:
            entry, start = known[0], same_text
            label: str | None = entry.alias
        else:
            if known is not None:
                der, sha256 = known[0].certificates[0], known[0].sha256
            else:
                der = _certificate_der(data, block, n, source)
                sha256 = hashlib.sha256(der).hexdigest()
            label, start = _label(data, block.start, der)
            alias = label
            if alias is None:
                # No label: the alias rdstrust proposes, which takes describing the certificate.
                info = describe_der(der)
                alias = info.alias if info is not None else f"certificate-{n}"
            entry = StoreEntry(
                alias=alias, kind=EntryKind.TRUSTED_CERT, sha256=sha256, certificates=(der,)
            )
            if known is not None and known[0] == entry:
                entry = known[0]  # the same entry: one object, not two
        entries.append(entry)
        labelled.append(label is not None)
        spans.extend((start, block.start, block.body_start, block.body_end, block.end))
    return PemStore(text=data, entries=entries, spans=spans, labelled=labelled, source=source)


def _names(der: bytes) -> tuple[str, str | None] | None:
    """The certificate's subject and common name, or ``None`` when it cannot be decoded.

    Not kept for the run: the read-back after a write takes each kept entry's label with the
    entry (see :class:`_Decoded`), and a cache would hold 15 MB for a 50,000-entry store.
    """
    names = fast_subject(der, specials=True)
    if names is None:
        info = describe_der(der)  # described once per run (rdstrust.runcache)
        names = (info.subject, info.common_name) if info is not None else None
    return names


def _label(data: bytes, block_start: int, der: bytes) -> tuple[str | None, int]:
    """The alias a line right before a block gives it, and where the block's span starts.

    Only a line that names this very certificate counts: rdstrust's own ``# alias: subject``
    comment (the span then starts at that line, so pruning removes it with the block), or a
    line that is exactly the certificate's common name (an alias only: it is not rdstrust's,
    so pruning leaves it). Anything else (``# Corporate trust bundle - do not edit``) is text
    of the file, neither a label nor part of the block.
    """
    line_start = _line_start(data, block_start)
    if line_start == block_start:
        return None, block_start
    try:
        line = data[line_start:block_start].decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, block_start
    names = _names(der) if line else None
    if names is None:
        return None, block_start
    subject, common_name = names
    if line.startswith("# "):
        # rdstrust writes the subject escaped (safe(..., ascii=True)); stores written before
        # that carry it raw, which still matches when it was one line.
        escaped = safe(subject, ascii=True)
        for own in (escaped,) if escaped == subject else (escaped, subject):
            suffix = ": " + own
            if line.endswith(suffix):
                alias = line[2 : -len(suffix)].strip()
                if alias:
                    return alias, line_start
    name = line.lstrip("#").strip()
    if common_name and name == common_name:
        return name, block_start
    return None, block_start


def _line_start(data: bytes, block_start: int) -> int:
    """Where the line right before a block starts; the block's start when no LF precedes it."""
    if block_start == 0 or data[block_start - 1] != 0x0A:
        return block_start
    return data.rfind(b"\n", 0, block_start - 1) + 1
