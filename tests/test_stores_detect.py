"""Store type detection and reading: bytes in, StoreType / StoreContents out.

Everything runs without a JVM except the property tests over keytool-made stores (private keys,
secret keys), whose stores keytool makes once per session.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import FIXTURES, require_tool

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
        # Certificates of a new store are never encrypted: Java sees them without the
        # password (issue 11); the password only keys the MAC.
        assert not contents.password_required


def test_output_is_deterministic() -> None:
    for store_type in CREATABLE_TYPES:
        a = create_store(store_type, _g1(), password="changeit")
        b = create_store(store_type, _g1(), password="changeit")
        assert a == b


def _jks_timestamps(data: bytes) -> dict[str, int]:
    """Alias -> entry timestamp (ms since the epoch) of a JKS store's trusted-cert entries."""
    magic, version, count = struct.unpack(">III", data[:12])
    assert (magic, version) == (0xFEEDFEED, 2)
    pos, stamps = 12, {}
    for _ in range(count):
        tag, alias_len = struct.unpack(">IH", data[pos : pos + 6])
        assert tag == 2  # trusted certificate
        alias = data[pos + 6 : pos + 6 + alias_len].decode()
        pos += 6 + alias_len
        (stamps[alias],) = struct.unpack(">Q", data[pos : pos + 8])
        pos += 8
        type_len = struct.unpack(">H", data[pos : pos + 2])[0]
        pos += 2 + type_len
        pos += 4 + struct.unpack(">I", data[pos : pos + 4])[0]
    assert pos == len(data) - 20  # then only the digest
    return stamps


def test_jks_entry_date_is_the_certificate_not_before() -> None:
    certs = _g1()
    stamps = _jks_timestamps(create_store(StoreType.JKS, certs, password="changeit"))
    assert stamps == {c.alias: int(c.not_before.timestamp() * 1000) for c in certs}
    first = read_bundle(FIXTURES / "bundles" / "g1.pem").certificates[0]
    expected = first.certificate.not_valid_before_utc
    assert dt.datetime.fromtimestamp(stamps[first.alias] / 1000, dt.timezone.utc) == expected


@contextlib.contextmanager
def _time_zone(name: str) -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_naive_not_before_is_utc_whatever_the_local_time_zone() -> None:
    first = _g1()[0]
    naive = first.not_before.replace(tzinfo=None)
    paris = first.not_before.astimezone(dt.timezone(dt.timedelta(hours=1)))
    expected = create_store(StoreType.JKS, [first], password="changeit")
    for zone in ("America/New_York", "Asia/Kolkata", "UTC"):
        with _time_zone(zone):
            for when in (naive, paris):
                cert = NewCert(first.alias, first.der, first.subject, when)
                assert cert.not_before == first.not_before
                assert cert.not_before.tzinfo == dt.timezone.utc
                assert create_store(StoreType.JKS, [cert], password="changeit") == expected


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
def test_pkcs12_salts_are_deterministic_and_never_from_the_password(profile: str) -> None:
    """Salts keyed by the password let a guess cost one HMAC instead of the KDF (issue 8)."""
    from rdstrust.stores import pkcs12

    for make in (
        lambda pw: create_store(StoreType.PKCS12, _g1(), password=pw, profile=profile),
        lambda pw: pkcs12.create(_g1(), password=pw, profile=profile, encrypt_certificates=True),
    ):
        a, again, b = make("first"), make("first"), make("second")
        assert a == again  # same inputs, byte-identical store
        assert a != b  # negative control: the password still keys the MAC
        assert _pkcs12_salts(a) == _pkcs12_salts(b)  # ... and nothing else


# --------------------------------------------------------------------------- keytool-made stores

KEYTOOL_PW = "changeit"


@dataclass(frozen=True)
class KeytoolStores:
    """Stores keytool made, once per session: the shapes rdstrust never writes itself."""

    jks_key: bytes
    p12_key: bytes
    jceks_secret: bytes


@pytest.fixture(scope="session")
def keytool_stores(tmp_path_factory: pytest.TempPathFactory) -> KeytoolStores:
    tool = require_tool("keytool")
    d = tmp_path_factory.mktemp("keytool-detect")
    pw = ["-storepass", KEYTOOL_PW, "-keypass", KEYTOOL_PW]
    gen = ["-genkeypair", "-alias", "mykey", "-dname", "CN=app", "-keyalg", "EC", "-validity", "30"]
    runs = [
        [*gen, "-keystore", str(d / "key.jks"), "-storetype", "jks", *pw],
        [*gen, "-keystore", str(d / "key.p12"), "-storetype", "pkcs12", *pw],
        ["-genseckey", "-alias", "aeskey", "-keyalg", "AES", "-keysize", "128",
         "-keystore", str(d / "secret.jceks"), "-storetype", "jceks", *pw],
    ]  # fmt: skip
    for args in runs:
        proc = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return KeytoolStores(
        (d / "key.jks").read_bytes(),
        (d / "key.p12").read_bytes(),
        (d / "secret.jceks").read_bytes(),
    )


def _secret_entry_start(data: bytes) -> int:
    """Offset of the serialized SealedObject in a one-entry JCEKS store."""
    alias_len = struct.unpack(">H", data[16:18])[0]
    return 18 + alias_len + 8


def _javaobj_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    # pytest's own log capture stands in for Python's last-resort handler, which would print
    # these on stderr when rdstrust runs outside pytest.
    return [r.getMessage() for r in caplog.records if r.name.startswith("javaobj")]


@pytest.mark.jvm
def test_damaged_jceks_secret_key_is_one_sentence_and_nothing_on_stderr(
    keytool_stores: KeytoolStores,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    import sys

    from rdstrust.stores import parse_store

    data = keytool_stores.jceks_secret
    start = _secret_entry_start(data)
    assert data[start : start + 2] == b"\xac\xed"  # Java serialization magic
    # Cut 20 bytes out of the SealedObject: javaobj logs an "Oops state dump" on such streams.
    damaged = data[: start + 40] + data[start + 60 :]
    with pytest.raises(StoreError) as caught:
        parse_store(damaged, source="s.jceks", password=None)
    assert caught.value.message == (
        "s.jceks has a JCEKS secret key entry that cannot be parsed; the store is damaged."
    )
    out, err = capfd.readouterr()
    assert (out, err) == ("", "") and _javaobj_records(caplog) == []
    # Negative control: the undamaged store parses.
    assert len(parse_store(data, source="s.jceks", password=KEYTOOL_PW)[1].entries) == 1
    # And as a user runs it (no pytest logging in between): one line on stderr.
    store = tmp_path / "s.jceks"
    store.write_bytes(damaged)
    proc = subprocess.run(
        [sys.executable, "-m", "rdstrust", "inspect", str(store)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "RDSTRUST_STOREPASS": ""},
    )
    assert proc.returncode == 5
    assert proc.stderr == (
        f"rdstrust: error: {store} has a JCEKS secret key entry that cannot be parsed; the "
        "store is damaged.\n"
    )


@pytest.mark.jvm
@pytest.mark.parametrize("which", ["jks_key", "p12_key", "jceks_secret"])
def test_mutated_keytool_stores_parse_or_raise_store_error_quietly(
    keytool_stores: KeytoolStores,
    which: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from rdstrust.stores import jks, parse_store

    data: bytes = getattr(keytool_stores, which)
    java_keystore = which != "p12_key"

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        position=st.integers(min_value=0, max_value=len(data) - 1),
        value=st.integers(min_value=0, max_value=255),
        cut=st.integers(min_value=0, max_value=64),
        password=st.sampled_from([None, "", KEYTOOL_PW, "wrong"]),
        fix_digest=st.booleans(),
    )
    def check(position: int, value: int, cut: int, password: str | None, fix_digest: bool) -> None:
        mutated = bytearray(data)
        mutated[position] = value
        del mutated[position + 1 : position + 1 + cut]
        if java_keystore and fix_digest and len(mutated) > 20:
            # Re-key the digest so the damaged entries are parsed, not just refused.
            body = bytes(mutated[:-20])
            mutated = bytearray(body + jks._digest(KEYTOOL_PW, body))
        with contextlib.suppress(StoreError):
            parse_store(bytes(mutated), source="s", password=password)
        out, err = capfd.readouterr()
        assert (out, err) == ("", "") and _javaobj_records(caplog) == []

    check()


@pytest.mark.parametrize(
    ("store_type", "password", "profile", "expected"),
    [
        (StoreType.JKS, "changeit", None, (False, None, True)),
        (StoreType.PKCS12, "changeit", "modern", (False, "modern", True)),
        (StoreType.PKCS12, "changeit", "legacy", (False, "legacy", True)),
        (StoreType.PKCS12, None, None, (True, "modern", True)),
        (StoreType.PEM, None, None, (True, None, True)),
    ],
)
def test_every_format_answers_the_loaded_store_protocol(
    store_type: StoreType,
    password: str | None,
    profile: str | None,
    expected: tuple[bool, str | None, bool],
) -> None:
    from rdstrust.stores import parse_store

    data = create_store(store_type, _g1(), password=password, profile=profile)
    _, loaded = parse_store(data, source="s", password=password)
    assert (loaded.password_less, loaded.profile, loaded.verified) == expected
    if store_type is StoreType.JKS:
        assert not parse_store(data, source="s", password=None)[1].verified
