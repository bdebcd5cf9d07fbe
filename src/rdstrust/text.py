"""One escaping function for every value that comes from a certificate, a store or the network.

A subject, an alias or a server's error text is attacker-controlled: printed raw it can clear
the screen (``ESC [2J``), plant a hyperlink (OSC 8), ring the bell, overwrite a line with ``CR``,
reorder what a reader sees with a bidi override (U+202E), or, written into a PEM file, start a
new line that OpenSSL reads as a certificate. :func:`safe` renders any such value as one line
of printable text, with every character that is not printable shown as a visible escape.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe(value: object, *, ascii: bool = False) -> str:
    r"""``value`` as one line of printable text: what may reach a terminal or a file.

    Every character Unicode does not call printable is escaped: C0 controls (NUL, BEL, ESC,
    CR, LF, TAB), DEL, C1 controls (U+0080-U+009F, so CSI U+009B too), bidi controls and
    overrides (U+200E/F, U+061C, U+202A-U+202E, U+2066-U+2069, all "format" characters), line
    and paragraph separators. ``"\x1b[2J"`` becomes ``"\\x1b[2J"``. Backslashes are kept as
    they are (subjects use them for RFC 4514 escapes), so the result is for reading, not for
    parsing back. With ``ascii``, every non-ASCII character is escaped too: for text written
    into files that other programs parse line by line (PEM comment lines).
    """
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and text.isprintable():
        return text  # the common case, checked in C
    return "".join(
        char if char.isprintable() and (char.isascii() or not ascii) else _escape(char)
        for char in text
    )


__all__ = ["safe"]
