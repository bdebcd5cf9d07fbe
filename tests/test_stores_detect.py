"""Store type detection and reading without a JVM: bytes in, StoreType / StoreContents out."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from rdstrust.bundle import read_bundle
from rdstrust.errors import StoreError, UsageError, WrongPasswordError
from rdstrust.stores import (
    CREATABLE_TYPES,
    EntryKind,
    NewCert,
    StoreType,
    create_store,
    detect_type,
    read_store,
)


def _g1() -> list[NewCert]:
    return [NewCert.from_info(c) for c in read_bundle(FIXTURES / "bundles" / "g1.pem")]


@pytest.mark.parametrize(
    ("store_type", "password"),
    [
        (StoreType.JKS, "changeit"),
        (StoreType.PKCS12, "changeit"),
        (StoreType.PKCS12, None),
        (StoreType.PEM, None),
    ],
)
def test_created_store_is_detected_and_read_back(
    tmp_path: Path, store_type: StoreType, password: str | None
) -> None:
    certs = _g1()
    data = create_store(store_type, certs, password=password)
    assert detect_type(data) is store_type
    path = tmp_path / "store"
    path.write_bytes(data)
    contents = read_store(path, password)
    assert contents.type is store_type
    assert [e.alias for e in contents.entries] == [c.alias for c in certs]
    assert all(e.kind is EntryKind.TRUSTED_CERT for e in contents.entries)
    assert len(contents.fingerprints()) == len(certs)
    if store_type is StoreType.PKCS12:
        assert all(e.java_trusted for e in contents.entries)
        assert contents.password_required is (password is not None)


def test_output_is_deterministic() -> None:
    for store_type in CREATABLE_TYPES:
        a = create_store(store_type, _g1(), password="changeit")
        b = create_store(store_type, _g1(), password="changeit")
        assert a == b


def test_wrong_password_and_tampering(tmp_path: Path) -> None:
    for store_type in (StoreType.JKS, StoreType.PKCS12):
        path = tmp_path / f"s.{store_type.value}"
        data = create_store(store_type, _g1(), password="right")
        path.write_bytes(data)
        with pytest.raises(WrongPasswordError, match="wrong password"):
            read_store(path, "wrong")
        tampered = bytearray(data)
        tampered[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(tampered))
        with pytest.raises(StoreError):
            read_store(path, "right")


def test_pkcs12_tamper_is_told_apart_from_a_wrong_password(tmp_path: Path) -> None:
    data = bytearray(create_store(StoreType.PKCS12, _g1(), password="right"))
    # Flip a byte of the MAC value itself (near the end): the content still decrypts.
    data[-40] ^= 0x01
    path = tmp_path / "s.p12"
    path.write_bytes(bytes(data))
    with pytest.raises(WrongPasswordError, match="was modified"):
        read_store(path, "right")


def test_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "x.jks"
    path.write_bytes(b"<html>hello</html>")
    with pytest.raises(StoreError, match="not a JKS, JCEKS, PKCS12 or PEM trust store"):
        read_store(path, None)
    with pytest.raises(StoreError, match="does not exist"):
        read_store(tmp_path / "missing.jks", None)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_detect_or_none(data: bytes) -> None:
    assert detect_type(data) in (None, *StoreType)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=255))
def test_corrupted_stores_raise_store_error(position: int, value: int) -> None:
    from rdstrust.stores import parse_store

    for store_type in (StoreType.JKS, StoreType.PKCS12):
        data = bytearray(create_store(store_type, _g1()[:2], password="pw"))
        data[position % len(data)] = value
        with contextlib.suppress(StoreError):
            parse_store(bytes(data), source="s", password="pw")


def test_devices_fifos_directories_and_huge_files_are_refused(tmp_path: Path) -> None:
    from rdstrust.stores import MAX_STORE_BYTES

    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)  # no writer: opening it must not hang
    link = tmp_path / "zero.jks"
    link.symlink_to("/dev/zero")  # the type is checked after following symlinks
    for path in (Path("/dev/zero"), Path("/dev/full"), fifo, link):
        with pytest.raises(StoreError, match="not a regular file"):
            read_store(path, None)
    with pytest.raises(StoreError, match="is a directory"):
        read_store(tmp_path, None)
    huge = tmp_path / "huge.pem"
    with huge.open("wb") as handle:
        handle.truncate(MAX_STORE_BYTES + 1)  # sparse: costs no disk space
    with pytest.raises(StoreError, match="is larger than"):
        read_store(huge, None)


def _jceks(password: str) -> bytes:
    # The JKS layout under JCEKS's magic number, as keytool -storetype JCEKS writes it.
    from rdstrust.stores import jks

    return jks._assemble(
        jks.MAGIC_JCEKS, 2, [jks._trusted_entry(c, 2) for c in _g1()[:2]], password
    )


def test_jceks_is_detected_and_reported_as_jceks(tmp_path: Path) -> None:
    data = _jceks("changeit")
    assert detect_type(data) is StoreType.JCEKS
    path = tmp_path / "s.jceks"
    path.write_bytes(data)
    contents = read_store(path, "changeit")
    assert contents.type is StoreType.JCEKS and str(contents.type) == "jceks"
    assert len(contents.entries) == 2
    with pytest.raises(WrongPasswordError):
        read_store(path, "wrong")
    with pytest.raises(StoreError, match="is a JCEKS store, not JKS as requested"):
        read_store(path, "changeit", StoreType.JKS)


def test_jceks_is_not_created() -> None:
    with pytest.raises(UsageError) as caught:
        create_store(StoreType.JCEKS, _g1(), password="changeit")
    assert caught.value.message.startswith("rdstrust creates jks, pkcs12 or pem stores")


def _pkcs12_salts(data: bytes) -> set[bytes]:
    """The MAC salt and every envelope's encryption salt of a PKCS12 file rdstrust wrote."""
    from rdstrust.stores import _der as der

    pfx = der.parse(data).children()
    salts = {pfx[2].children()[1].content}
    auth_safe = pfx[1].children()[1].children()[0].content
    for info in der.parse(auth_safe).children():
        ci = info.children()
        if der.oid_str(ci[0]) != "1.2.840.113549.1.7.6":  # encryptedData
            continue
        alg = ci[1].children()[0].children()[1].children()[1].children()
        params = alg[1].children()
        if der.oid_str(alg[0]) == "1.2.840.113549.1.5.13":  # PBES2: the salt is PBKDF2's
            salts.add(params[0].children()[1].children()[0].content)
        else:
            salts.add(params[0].content)
    return salts


@pytest.mark.parametrize("profile", ["modern", "legacy"])
def test_pkcs12_salts_are_deterministic_but_differ_by_password(profile: str) -> None:
    a = create_store(StoreType.PKCS12, _g1(), password="first", profile=profile)
    again = create_store(StoreType.PKCS12, _g1(), password="first", profile=profile)
    b = create_store(StoreType.PKCS12, _g1(), password="second", profile=profile)
    assert a == again  # same inputs, byte-identical store
    salts_a, salts_b = _pkcs12_salts(a), _pkcs12_salts(b)
    assert len(salts_a) == 2 and len(salts_b) == 2  # MAC salt and encryption salt
    assert not salts_a & salts_b
