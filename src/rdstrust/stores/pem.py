"""PEM trust stores (what libpq's ``sslrootcert``, OpenSSL and most non-Java clients read).

Every ``CERTIFICATE`` block is a trusted certificate. The existing text is kept exactly as it
is (comments, ordering, line ends, other blocks); new certificates are appended, each after a
``# alias: subject`` comment line naming it. Removing a certificate (``--prune-expired``) cuts
out just its block and, when the line right before it is that rdstrust label for this very
certificate, the label; any other text (a file header, someone's notes) is never removed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rdstrust.certs import CertInfo, der_to_pem
from rdstrust.errors import StoreError
from rdstrust.stores import EntryKind, NewCert, StoreEntry, describe_der

_BLOCK = re.compile(
    rb"-----BEGIN (?P<label>(?:TRUSTED )?CERTIFICATE)-----(?P<body>.*?)"
    rb"-----END (?P=label)-----[ \t]*(?:\r?\n)?",
    re.DOTALL,
)


@dataclass(frozen=True)
class _Span:
    start: int  # including the label/comment line before the block
    end: int


def _first_element(data: bytes) -> bytes:
    # An OpenSSL "TRUSTED CERTIFICATE" is the certificate followed by trust settings.
    from rdstrust.stores import _der

    try:
        tlv, _ = _der.read_tlv(data)
    except _der.DerError:
        return data
    return tlv.raw


class PemStore:
    """A PEM file: its exact text and the certificate blocks found in it."""

    def __init__(
        self, *, text: bytes, entries: Sequence[StoreEntry], spans: Sequence[_Span], source: str
    ) -> None:
        self.text = text
        self.entries: tuple[StoreEntry, ...] = tuple(entries)
        self._spans = tuple(spans)
        self.password_required = False
        self.verified = True
        self.source = source

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
        text = self.text
        for index in sorted(remove, reverse=True):
            span = self._spans[index]
            text = text[: span.start] + text[span.end :]
        return _append(text, add)


def _append(text: bytes, add: Sequence[NewCert]) -> bytes:
    if not add:
        return text
    newline = b"\r\n" if b"\r\n" in text else b"\n"
    if text and not text.endswith(b"\n"):
        text += newline
    parts = [text]
    for cert in add:
        comment = f"# {cert.alias}: {cert.subject}".encode("utf-8", "replace")
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
    return _append(b"", add)


def looks_like_pem(data: bytes) -> bool:
    """Whether bytes are text holding at least one certificate block."""
    return b"\x00" not in data[:65536] and _BLOCK.search(data) is not None


def load(data: bytes, *, source: str, password: str | None = None) -> PemStore:
    """Parse a PEM store. Raises :class:`StoreError` for a block that is not valid base64."""
    del password
    entries: list[StoreEntry] = []
    spans: list[_Span] = []
    for n, match in enumerate(_BLOCK.finditer(data), start=1):
        body = b"".join(match.group("body").split())
        try:
            der_bytes = _first_element(base64.b64decode(body, validate=True))
        except (binascii.Error, ValueError):
            raise StoreError(
                f"{source}: certificate block {n} is not valid base64; the file is damaged.",
                path=source,
            ) from None
        info = describe_der(der_bytes)
        label, start = _label(data, match.start(), info)
        alias = label or (info.alias if info is not None else f"certificate-{n}")
        entries.append(
            StoreEntry(
                alias=alias,
                kind=EntryKind.TRUSTED_CERT,
                sha256=hashlib.sha256(der_bytes).hexdigest(),
                info=info,
                certificates=(der_bytes,),
            )
        )
        spans.append(_Span(start, match.end()))
    return PemStore(text=data, entries=entries, spans=spans, source=source)


def _label(data: bytes, block_start: int, info: CertInfo | None) -> tuple[str | None, int]:
    """The alias a line right before a block gives it, and where the block's span starts.

    Only a line that names this very certificate counts: rdstrust's own ``# alias: subject``
    comment (the span then starts at that line, so pruning removes it with the block), or a
    line that is exactly the certificate's common name (an alias only: it is not rdstrust's,
    so pruning leaves it). Anything else (``# Corporate trust bundle - do not edit``) is text
    of the file, neither a label nor part of the block.
    """
    if block_start == 0 or info is None or data[block_start - 1 : block_start] != b"\n":
        return None, block_start
    line_start = data.rfind(b"\n", 0, block_start - 1) + 1
    try:
        line = data[line_start:block_start].decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, block_start
    own_suffix = f": {info.subject}"
    if line.startswith("# ") and line.endswith(own_suffix):
        alias = line[2 : -len(own_suffix)].strip()
        if alias:
            return alias, line_start
    name = line.lstrip("#").strip()
    if info.common_name and name == info.common_name:
        return name, block_start
    return None, block_start
