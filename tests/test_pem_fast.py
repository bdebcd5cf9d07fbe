"""The PEM shortcuts give exactly what the careful code gives, or leave the answer to it.

* :func:`rdstrust.pemscan.decode_body` decodes the usual body (LF-ended lines of base64) with
  a few C-level calls and leaves every other body to the per-line regex: compared with the
  careful decoder (kept here as ``_careful``) on a table of odd and hostile bodies and on
  random ones, and the shortcut alone never accepts a body the careful decoder refuses;
* :func:`rdstrust.pemscan.holds_certificate` (the store sniff) stops at the first certificate
  block: the same answer as scanning everything;
* a merge reads a rendered PEM store back from the parse render made of that very text:
  the same store as a fresh parse, handed over once, only for those bytes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import random
from pathlib import Path

import pytest
from hostile import ca
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import FIXTURES

from rdstrust.bundle import read_bundle
from rdstrust.errors import StoreError
from rdstrust.merge import merge_store
from rdstrust.options import MergeOptions
from rdstrust.pemscan import (
    _BODY,
    CERTIFICATE_LABELS,
    PemBlock,
    PemError,
    _decode_plain_lines,
    decode_body,
    holds_certificate,
    scan,
)
from rdstrust.stores import NewCert, _der, parse_store, pem, read_back_of, read_store
from rdstrust.text import safe

CERT = ca("Fast Path Test CA")
OTHER = ca("Fast Path Other CA")
B64 = base64.b64encode(CERT.der)


def _careful(body: bytes) -> bytes:
    """decode_body as it was before the shortcut (rdstrust 2cfc8a2): the specification."""
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


def _outcome(decode: object, body: bytes) -> tuple[str, bytes | str]:
    try:
        return "der", decode(body)  # type: ignore[operator]
    except PemError as exc:
        return "refused", str(exc)


def _decode(body: bytes) -> bytes:
    data = b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
    start = 28
    return decode_body(data, PemBlock(1, "CERTIFICATE", 0, start, start + len(body), len(data)))


def _lines(text: bytes, width: int, end: bytes = b"\n") -> bytes:
    return b"".join(text[i : i + width] + end for i in range(0, len(text), width))


BODIES: dict[str, bytes] = {
    "64 columns": _lines(B64, 64),
    "76 columns": _lines(B64, 76),
    "one 253-byte line": _lines(B64[:252], 253),
    "one 254-byte line": _lines(B64[:256], 254),
    "a 300-byte line": _lines(B64, 300),
    "253 and 254": _lines(B64[:253], 253) + _lines(B64[253:507], 254),
    "crlf": _lines(B64, 64, b"\r\n"),
    "no final LF": _lines(B64, 64)[:-1],
    "blank line first": b"\n" + _lines(B64, 64),
    "blank line inside": _lines(B64[:128], 64) + b"\n" + _lines(B64[128:], 64),
    "blank line last": _lines(B64, 64) + b"\n",
    "empty": b"",
    "only a LF": b"\n",
    "two LFs": b"\n\n",
    "spaces": b"  " + _lines(B64, 64),
    "space inside a line": _lines(B64[:60] + b" " + B64[60:], 64),
    "tab": _lines(B64, 64).replace(b"\n", b"\t\n", 1),
    "vertical tab": _lines(B64, 64).replace(b"\n", b"\x0b\n", 1),
    "form feed": _lines(B64, 64).replace(b"\n", b"\x0c\n", 1),
    "NUL": _lines(B64, 64).replace(b"A", b"\x00", 1),
    "dash": _lines(B64, 64).replace(b"A", b"-", 1),
    "high byte": _lines(B64, 64).replace(b"A", b"\xc3\xa9", 1),
    "padding inside": _lines(B64[:8] + b"==" + B64[10:], 64),
    "only padding": b"====\n",
    "cut off": _lines(B64[:-3], 64),
    "one character": b"A\n",
    "empty der": b"====\n",
    "placeholder": b"xxxx\n",
    "header": b"Proc-Type: 4,ENCRYPTED\n\n" + _lines(B64, 64),
    "url-safe alphabet": _lines(B64.replace(b"+", b"-").replace(b"/", b"_"), 64),
    "bare CR ends": _lines(B64, 64).replace(b"\n", b"\r"),
    "CR in a line": _lines(B64[:30] + b"\r" + B64[30:], 64),
}


@pytest.mark.parametrize("name", list(BODIES))
def test_odd_bodies_decode_exactly_as_the_careful_decoder(name: str) -> None:
    body = BODIES[name]
    assert _outcome(_decode, body) == _outcome(_careful, body)


def test_the_usual_body_takes_the_shortcut() -> None:
    # Otherwise the comparisons above would only exercise the careful path.
    assert _decode_plain_lines(BODIES["64 columns"]) == CERT.der
    assert _decode_plain_lines(BODIES["one 253-byte line"]) is not None
    for name in ("one 254-byte line", "crlf", "blank line inside", "empty", "spaces", "NUL"):
        assert _decode_plain_lines(BODIES[name]) is None, name


def _assert_shortcut_is_sound(body: bytes) -> None:
    """Fails if the shortcut accepts a body the careful decoder refuses (or reads it apart)."""
    der = _decode_plain_lines(body)
    if der is not None:
        assert _BODY.fullmatch(body), body
        assert der == _careful(body)
    assert _outcome(_decode, body) == _outcome(_careful, body)


@pytest.mark.parametrize("name", list(BODIES))
def test_the_shortcut_accepts_nothing_the_careful_decoder_refuses(name: str) -> None:
    _assert_shortcut_is_sound(BODIES[name])


_ATOMS = [b"A", b"QUJD", b"=", b"==", b"\n", b"\r\n", b" ", b"\t", b"\x0b", b"\x00", b"-", b"+/"]


def test_random_bodies_decode_exactly_as_the_careful_decoder() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        body = b"".join(rng.choice(_ATOMS) for _ in range(rng.randrange(12)))
        if rng.random() < 0.3:
            body = _lines(B64[: rng.randrange(1, len(B64))], rng.choice([4, 64, 253, 254]))
            at = rng.randrange(len(body))
            body = body[:at] + rng.choice(_ATOMS) + body[at + rng.randrange(2) :]
        _assert_shortcut_is_sound(body)


def test_random_line_layouts_decode_exactly_as_the_careful_decoder() -> None:
    # Lines of one width with a shorter (or empty, or longer) last line, one odd line inside,
    # widths around the 253-byte limit: the shapes the shortcut's layout arithmetic judges.
    rng = random.Random(12)
    text = B64 * 3
    taken = 0
    for _ in range(20_000):
        width = rng.choice([1, 2, 3, 4, 63, 64, 65, 76, 252, 253, 254, rng.randrange(1, 300)])
        widths = [width] * rng.randrange(0, 6) + [rng.choice([0, 1, width - 1, width, width + 1])]
        if rng.random() < 0.3:
            widths.insert(rng.randrange(len(widths)), rng.randrange(0, 300))
        body = b"".join(text[:w] + b"\n" for w in widths)
        if rng.random() < 0.1:
            body = body[:-1]
        taken += _decode_plain_lines(body) is not None
        _assert_shortcut_is_sound(body)
    assert taken > 1000


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.sampled_from(_ATOMS), st.binary(max_size=6), st.just(b"A" * 250)),
        max_size=20,
    )
)
def test_any_body_decodes_exactly_as_the_careful_decoder(parts: list[bytes]) -> None:
    _assert_shortcut_is_sound(b"".join(parts))


# --------------------------------------------------------------------------- the sniff

_PIECES = st.sampled_from(
    [
        CERT.pem,
        CERT.pem.replace(b"CERTIFICATE", b"PKCS7"),
        CERT.pem.replace(b"CERTIFICATE", b"TRUSTED CERTIFICATE"),
        b"-----BEGIN CERTIFICATE-----\n",
        b"-----END CERTIFICATE-----\n",
        b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n",
        b"-----BEGIN ",
        b"\xef\xbb\xbf",
        b"\n",
        b"\r",
        b"\x00",
        b" ",
        b"#" * 253,
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=20), _PIECES), max_size=10))
def test_the_sniff_answers_as_a_full_scan(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert holds_certificate(data) == any(b.label in CERTIFICATE_LABELS for b in scan(data).blocks)


def test_the_sniff_stops_at_a_block_that_never_ends_as_the_scan_does() -> None:
    pkcs7 = CERT.pem.replace(b"CERTIFICATE", b"PKCS7")
    # OpenSSL refuses the file at the PKCS7 block that another block's END line closes.
    refused = b"-----BEGIN PKCS7-----\nAAAA\n" + CERT.pem
    assert scan(refused).problem and not scan(refused).blocks
    assert not holds_certificate(refused)
    assert holds_certificate(CERT.pem + b"-----BEGIN CERTIFICATE-----\nAAAA\n")
    assert not pem.looks_like_pem(pkcs7) and pem.looks_like_pem(pkcs7 + CERT.pem)


# --------------------------------------------------------------------------- the read-back


def _new(alias: str, der: bytes, subject: str) -> NewCert:
    return NewCert(alias, der, subject, dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))


ADD = [_new("other", OTHER.der, "CN=Fast Path Other CA")]


def _store() -> pem.PemStore:
    text = b"# header\n" + CERT.pem + b"\n# notes\n"
    return pem.load(text, source="s.pem")


def test_the_read_back_is_the_parse_of_the_rendered_text() -> None:
    store = _store()
    text = store.render(remove=frozenset(), add=ADD)
    fresh = pem._parse(bytes(bytearray(text)), "s.pem", None)
    read_back = store.take_read_back(text, "s.pem")
    assert read_back is not None and read_back.text is text
    assert read_back.entries == fresh.entries and read_back._spans == fresh._spans
    assert [e.sha256 for e in read_back.entries] == [
        hashlib.sha256(d).hexdigest() for d in (CERT.der, OTHER.der)
    ]
    # The kept certificate is the very bytes object the first store holds (no second copy).
    assert read_back.entries[0].certificates[0] is store.entries[0].certificates[0]
    # Handed over once: asked again, there is none (the caller parses).
    assert store.take_read_back(text, "s.pem") is None
    again = pem.load(text, source="s.pem")
    assert again is not read_back and again.entries == read_back.entries


def test_the_read_back_is_only_for_those_bytes_and_that_source() -> None:
    store = _store()
    text = store.render(remove=frozenset(), add=ADD)
    assert store.take_read_back(bytes(bytearray(text)), "s.pem") is None  # equal is not enough
    store = _store()
    text = store.render(remove=frozenset(), add=ADD)
    assert store.take_read_back(text, "other.pem") is None
    # Through parse_store: detection and checks run, the load is the one handed over.
    store = _store()
    text = store.render(remove=frozenset(), add=ADD)
    handed = read_back_of(store, text, "s.pem")
    assert handed is not None
    assert parse_store(text, source="s.pem", password=None, parsed=handed)[1] is handed
    assert read_back_of(store, text, "s.pem") is None


def test_a_refused_render_leaves_nothing_to_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store()
    hidden = _new("x", OTHER.der, "CN=x")
    # A text that hides a block: render refuses it, so nothing is kept for a read-back.
    monkeypatch.setattr(pem, "_append", lambda text, add: text + CERT.pem + OTHER.pem + OTHER.pem)
    with pytest.raises(StoreError, match="hidden PEM block"):
        store.render(remove=frozenset(), add=[hidden])
    assert store._read_back is None


def test_removing_a_block_reads_back_as_a_fresh_parse() -> None:
    text = b"# a: CN=Fast Path Test CA\n" + CERT.pem + b"# b: CN=Fast Path Other CA\n" + OTHER.pem
    store = pem.load(text, source="s.pem")
    rendered = store.render(remove=frozenset({0}), add=[])
    assert rendered == b"# b: CN=Fast Path Other CA\n" + OTHER.pem
    read_back = store.take_read_back(rendered, "s.pem")
    assert read_back is not None
    fresh = pem._parse(bytes(bytearray(rendered)), "s.pem", None)
    assert read_back.entries == fresh.entries and read_back._spans == fresh._spans
    assert [e.alias for e in read_back.entries] == ["b"]


def _flip(text: bytes, block: int, at: int) -> bytes:
    """``text`` with one base64 character of block ``block``'s body changed (same length)."""
    found = scan(text).blocks[block]
    pos = found.body_start + at
    new = b"B" if text[pos : pos + 1] != b"B" else b"C"
    return text[:pos] + new + text[pos + 1 :]


def test_the_read_back_decodes_every_body_that_is_not_byte_for_byte_a_kept_one() -> None:
    text = b"# a: CN=Fast Path Test CA\n" + CERT.pem + b"# b: CN=Fast Path Other CA\n" + OTHER.pem
    store = pem.load(text, source="s.pem")
    # Same length, one character apart, late in the body (the signature): still a valid
    # certificate, with another fingerprint, which the read-back must see.
    changed = _flip(text, 1, 300)
    read_back = pem._parse(changed, "s.pem", pem._Decoded(store, [0, 1]))
    fresh = pem._parse(bytes(bytearray(changed)), "s.pem", None)
    assert read_back.entries == fresh.entries and read_back._spans == fresh._spans
    assert read_back.entries[0] is store.entries[0]  # an identical body: the kept entry
    assert read_back.entries[1].sha256 != store.entries[1].sha256
    # A body that no longer decodes is refused as a fresh parse refuses it.
    broken = text.replace(OTHER.pem.splitlines()[1], b"!" * 64)
    with pytest.raises(StoreError, match="certificate block 2"):
        pem._parse(broken, "s.pem", pem._Decoded(store, [0, 1]))
    # A certificate swapped for another in the same place is read as what it is.
    swapped = text.replace(CERT.pem, OTHER.pem)
    read_back = pem._parse(swapped, "s.pem", pem._Decoded(store, [0, 1]))
    assert [e.sha256 for e in read_back.entries] == [store.entries[1].sha256] * 2


def test_a_render_that_changed_a_kept_body_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    text = b"# a: CN=Fast Path Test CA\n" + CERT.pem
    store = pem.load(text, source="s.pem")
    # A render bug that alters a kept certificate: the read-back decodes it and the count of
    # fingerprints no longer matches what rdstrust meant to write.
    monkeypatch.setattr(pem, "_append", lambda text, add: _flip(text, 0, 300))
    with pytest.raises(StoreError, match="Refusing to write"):
        store.render(remove=frozenset(), add=[])


# --------------------------------------------------------------------------- labels


def _old_label(line: str, names: tuple[str, str | None]) -> tuple[str | None, bool]:
    """pem._label's reading of a stripped line as it was (rdstrust 2cfc8a2): alias, own line."""
    subject, common_name = names
    for own_suffix in dict.fromkeys((f": {safe(subject, ascii=True)}", f": {subject}")):
        if line.startswith("# ") and line.endswith(own_suffix):
            alias = line[2 : -len(own_suffix)].strip()
            if alias:
                return alias, True
    name = line.lstrip("#").strip()
    if common_name and name == common_name:
        return name, False
    return None, False


_SUBJECTS = [
    ("CN=Fast Path Test CA", "Fast Path Test CA"),
    ("CN=caf\u00e9,O=x", "caf\u00e9"),
    ("CN=a\nb", "a\nb"),
    ("", None),
    ("O=only", None),
    ("CN=: x", ": x"),
]
_LINES = [
    "# a: {s}",
    "# {s}",
    "#: {s}",
    "# : {s}",
    "# a: b: {s}",
    "# a:{s}",
    "#  a : {s}",
    "{c}",
    "# {c}",
    "## {c}",
    "# a: {e}",
    "# {e}: {s}",
    "# a: {s} ",
    "x: {s}",
]


@pytest.mark.parametrize("subject,common_name", _SUBJECTS)
def test_label_lines_read_as_before(
    subject: str, common_name: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pem, "_names", lambda der: (subject, common_name))
    for shape in _LINES:
        line = shape.format(s=subject, c=common_name or "", e=safe(subject, ascii=True))
        for text in (line, line.replace("\n", "\\n")):
            body = text.encode("utf-8") + b"\n" + CERT.pem
            stripped = text.strip()
            if "\n" in stripped or not stripped:
                continue
            label, start = pem._label(body, len(body) - len(CERT.pem), CERT.der)
            expected, own = _old_label(stripped, (subject, common_name))
            assert (label, start == 0) == (expected, own and expected is not None), text


# --------------------------------------------------------------------------- first element


def _old_first_element(data: bytes) -> bytes:
    """pem._first_element as it was (rdstrust 2cfc8a2)."""
    try:
        tlv, _ = _der.read_tlv(data)
    except _der.DerError:
        return data
    return tlv.raw


def test_the_first_element_is_read_as_before() -> None:
    der = CERT.der
    cases = [
        der,
        der + b"\x30\x03\x02\x01\x05",  # a TRUSTED CERTIFICATE: the certificate, then trust
        der[:-1],
        der[:3],
        der[:1],
        b"",
        b"\x30\x80" + der[2:],  # indefinite
        b"\x30\x82\xff\xff" + der[4:],
        b"\x30\x81\x05abcde",
        b"\x30\x81\x05abcdefg",
        b"\x30\x82\x00\x03abc",
        b"\x31\x82" + der[2:],
        b"\x1f\x82" + der[2:],  # a multi-byte tag
        b"\x30\x85\x00\x00\x00\x00\x01a",
        b"\x30\x03abc",
    ]
    rng = random.Random(3)
    for _ in range(3000):
        mutated = bytearray(rng.choice(cases) or der)
        for _ in range(rng.randrange(1, 3)):
            if mutated:
                mutated[rng.randrange(min(len(mutated), 6))] = rng.randrange(256)
        cases.append(bytes(mutated[: rng.choice([len(mutated), rng.randrange(len(mutated) + 1)])]))
    for data in cases:
        assert pem._first_element(data) == _old_first_element(data), data[:8].hex()


# --------------------------------------------------------------------------- read-back reuse

THIRD = ca("Fast Path Third CA")
_JUNK = base64.b64encode(b"\x30\x03\x02\x01\x05")  # decodes, but is no certificate


def _block(der_b64: bytes, label: str = "CERTIFICATE") -> bytes:
    return (
        f"-----BEGIN {label}-----\n".encode()
        + _lines(der_b64, 64)
        + (f"-----END {label}-----\n".encode())
    )


_PIECES_OF_A_STORE = [
    lambda: b"# a: CN=Fast Path Test CA\n" + CERT.pem,
    lambda: b"# b: CN=Fast Path Other CA\n" + OTHER.pem,
    lambda: b"Fast Path Third CA\n" + THIRD.pem,  # a common-name line
    lambda: b"Fast Path Other CA\n",
    lambda: b"# a: CN=Fast Path Test CA\n",
    lambda: CERT.pem,
    lambda: OTHER.pem,
    lambda: _block(_JUNK),  # certificate-<n>: its alias depends on its place
    lambda: _block(base64.b64encode(THIRD.der), "TRUSTED CERTIFICATE"),
    lambda: b"\n",
    lambda: b"# notes\n",
    lambda: b"\r\n",
]


def test_the_read_back_after_any_removal_is_a_fresh_parse() -> None:
    rng = random.Random(11)
    for _ in range(300):
        text = b"".join(rng.choice(_PIECES_OF_A_STORE)() for _ in range(rng.randrange(1, 9)))
        if not holds_certificate(text):
            continue
        store = pem.load(text, source="s.pem")
        count = len(store.entries)
        remove = frozenset(i for i in range(count) if rng.random() < 0.3)
        add = ADD if rng.random() < 0.5 else []
        rendered = store.render(remove=remove, add=add)
        read_back = store.take_read_back(rendered, "s.pem")
        assert read_back is not None
        fresh = pem._parse(bytes(bytearray(rendered)), "s.pem", None)
        assert read_back.entries == fresh.entries, (text, remove)
        assert read_back._spans == fresh._spans and read_back._labelled == fresh._labelled


def test_a_label_line_changed_after_rendering_is_read_afresh() -> None:
    text = b"# a: CN=Fast Path Test CA\n" + CERT.pem + b"Fast Path Other CA\n" + OTHER.pem
    store = pem.load(text, source="s.pem")
    assert [e.alias for e in store.entries] == ["a", "Fast Path Other CA"]
    changed = text.replace(b"# a: ", b"# z: ").replace(b"Fast Path Other CA\n", b"# other\n")
    read_back = pem._parse(changed, "s.pem", pem._Decoded(store, [0, 1]))
    assert [e.alias for e in read_back.entries] == [
        "z",
        pem._parse(OTHER.pem, "x", None).entries[0].alias,
    ]
    assert read_back.entries[0].certificates[0] is store.entries[0].certificates[0]


def test_a_merge_parses_the_new_pem_text_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading the store, then the rendered text once: render's parse is the merge's read-back.
    store = tmp_path / "s.pem"
    store.write_bytes(b"# a: CN=Fast Path Test CA\n" + CERT.pem)
    parsed: list[bytes] = []
    parse = pem._parse

    def counted(data: bytes, source: str, decoded: pem._Decoded | None) -> pem.PemStore:
        parsed.append(data)
        return parse(data, source, decoded)

    monkeypatch.setattr(pem, "_parse", counted)
    bundle = read_bundle(FIXTURES / "bundles" / "g1.pem")
    result = merge_store(store, bundle, password=None, options=MergeOptions(backup=False))
    assert result.written and result.added
    assert len(parsed) == 2 and parsed[1] == store.read_bytes()
    assert read_store(store, None).entries[0].alias == "a"
