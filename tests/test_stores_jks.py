"""The JKS codec's fast paths give exactly what its careful paths give.

* Reading: :func:`rdstrust.stores.jks._read_entries` takes well-formed trusted-certificate
  entries in a few slices and hands everything else to ``_read_entry``, the field-by-field
  reader. Over valid and damaged stores (version 1 and 2, JKS and JCEKS, private keys), the
  result (entries, entry bytes, or the error and its message) is the careful reader's alone.
* Writing: the digest is fed piece by piece and the file joined once; the bytes are those of
  the format's definition, and an untouched store renders to its own bytes.
* The file is not kept: each certificate is held once, by its entry.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import FIXTURES

from rdstrust.bundle import read_bundle
from rdstrust.errors import RdsTrustError
from rdstrust.stores import NewCert, jks

PW = "changeit"


def _certs() -> list[NewCert]:
    return [
        NewCert.from_info(c)
        for c in read_bundle(FIXTURES / "bundles" / "g1.pem", accept_unknown_rds=True)
    ][:3]


def _utf(text: bytes) -> bytes:
    return struct.pack(">H", len(text)) + text


def _key_entry(alias: bytes, chain: list[bytes], version: int) -> bytes:
    """A private-key entry as Java writes it (the key blob is opaque to rdstrust)."""
    body = struct.pack(">I", 1) + _utf(alias) + struct.pack(">Q", 1_700_000_000_000)
    body += struct.pack(">I", 7) + b"\x30\x05opaqu"  # encrypted key: carried, never opened
    body += struct.pack(">I", len(chain))
    for der in chain:
        body += (_utf(b"X.509") if version == 2 else b"") + struct.pack(">I", len(der)) + der
    return body


def _store(magic: int, version: int, with_key: bool) -> bytes:
    certs = _certs()
    entries = [jks._trusted_entry(c, version) for c in certs]
    if with_key:
        entries.insert(1, _key_entry(b"app-key", [c.der for c in certs[:2]], version))
    # The format's own definition of the file, independent of rdstrust's assembler.
    body = struct.pack(">III", magic, version, len(entries)) + b"".join(entries)
    return body + hashlib.sha1(PW.encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()


SHAPES = {
    "jks-v2": (jks.MAGIC_JKS, 2, False),
    "jks-v2-key": (jks.MAGIC_JKS, 2, True),
    "jks-v1-key": (jks.MAGIC_JKS, 1, True),
    "jceks-v2-key": (jks.MAGIC_JCEKS, 2, True),
}


def _named(name: str) -> bytes:
    magic, version, with_key = SHAPES[name]
    return _store(magic, version, with_key=with_key)


def _careful_entries(
    reader: jks._Reader, version: int, magic: int, count: int
) -> tuple[list[jks.StoreEntry], list[bytes]]:
    pairs = [jks._read_entry(reader, version, magic, reader.source) for _ in range(count)]
    return [e for e, _ in pairs], [h for _, h in pairs]


def _outcome(data: bytes, password: str | None) -> object:
    """Everything a load gives: entries, each entry's bytes and flags, or the error's words."""
    try:
        store = jks.load(data, source="s", password=password)
    except RdsTrustError as exc:
        return (type(exc), exc.message)
    raw = [store.raw_entry(i) for i in range(len(store.entries))]
    return (store.magic, store.version, store.verified, store.entries, raw)


def _both(data: bytes, password: str | None) -> tuple[object, object]:
    fast = _outcome(data, password)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jks, "_read_entries", _careful_entries)
        careful = _outcome(data, password)
    return fast, careful


@pytest.mark.parametrize("name", list(SHAPES))
def test_fast_reader_gives_the_careful_readers_entries(name: str) -> None:
    data = _named(name)
    fast, careful = _both(data, PW)
    assert fast == careful
    assert not isinstance(fast[0], type)  # a store, not an error  # type: ignore[index]


@pytest.mark.parametrize("name", list(SHAPES))
def test_damaged_stores_give_the_careful_readers_result(name: str) -> None:
    data = _named(name)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        position=st.integers(min_value=0, max_value=len(data) - 1),
        value=st.integers(min_value=0, max_value=255),
        cut=st.integers(min_value=0, max_value=40),
        rekey=st.booleans(),
    )
    def check(position: int, value: int, cut: int, rekey: bool) -> None:
        mutated = bytearray(data)
        mutated[position] = value
        del mutated[position + 1 : position + 1 + cut]
        password: str | None = None
        if rekey and len(mutated) > 20:
            # A correct digest over damaged entries, so the entries themselves are read.
            body = bytes(mutated[:-20])
            mutated = bytearray(body + jks._digest(PW, body))
            password = PW
        fast, careful = _both(bytes(mutated), password)
        assert fast == careful

    check()


def test_lengths_reaching_into_the_digest_are_refused_as_before() -> None:
    # A certificate length that ends inside the 20-byte digest: the body is read in place, so
    # the bytes are there, yet the entry runs past the body's end and is refused.
    data = bytearray(_named("jks-v2"))
    body_end = len(data) - 20
    last = jks.load(bytes(data), source="s", password=PW)
    der_len = len(last.entries[-1].certificates[0])
    at = body_end - der_len - 4
    assert struct.unpack(">I", data[at : at + 4])[0] == der_len
    data[at : at + 4] = struct.pack(">I", der_len + 10)
    body = bytes(data[:-20])
    damaged = body + jks._digest(PW, body)
    fast, careful = _both(damaged, PW)
    assert fast == careful
    assert "runs past the end of the file" in fast[1]  # type: ignore[index]


@pytest.mark.parametrize("name", list(SHAPES))
def test_untouched_store_renders_to_its_own_bytes(name: str) -> None:
    data = _named(name)
    store = jks.load(data, source="s", password=PW)
    assert store.render(remove=frozenset(), add=(), password=PW) == data


def test_rendered_store_is_the_formats_definition() -> None:
    data = _named("jks-v2-key")
    store = jks.load(data, source="s", password=PW)
    when = datetime(2030, 1, 2, tzinfo=timezone.utc)
    new = NewCert("added", _certs()[2].der, "CN=x", when)
    out = store.render(remove=frozenset({0, 99}), add=[new], password=PW)
    entries = [store.raw_entry(i) for i in (1, 2, 3)] + [jks._trusted_entry(new, 2)]
    body = struct.pack(">III", jks.MAGIC_JKS, 2, len(entries)) + b"".join(entries)
    assert out == body + hashlib.sha1(PW.encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()
    assert [e.alias for e in jks.load(out, source="s", password=PW).entries][-1] == "added"


def test_each_certificate_is_held_once_and_the_file_is_not_kept() -> None:
    data = bytes(_named("jks-v2-key"))
    owners = sys.getrefcount(data)
    store = jks.load(data, source="s", password=PW)
    assert sys.getrefcount(data) == owners  # nothing in the store refers to the file's bytes
    trusted = store.entries[0]
    head = store._heads[0]
    assert store.raw_entry(0) == head + trusted.certificates[0]
    assert trusted.certificates[0] not in head


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_damaged_entry_header_gives_the_careful_readers_result(name: str) -> None:
    # Every byte before each entry's certificate (tag, alias length, alias, timestamp, type,
    # certificate length), each set to a few values: the fields the fast reader decides on.
    data = _named(name)
    store = jks.load(data, source="s", password=PW)
    start = 12
    for index in range(len(store.entries)):
        head = len(store._heads[index])
        for position in range(start, start + head):
            for value in {0, 1, 0x7F, 0xFF, data[position] ^ 1}:
                mutated = bytearray(data)
                mutated[position] = value
                body = bytes(mutated[:-20])
                fast, careful = _both(body + jks._digest(PW, body), PW)
                assert fast == careful, (index, position, value)
        start += len(store.raw_entry(index))
