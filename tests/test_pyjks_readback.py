"""The pyjks read-back plugin (tests/pyjks_readback.py) checks what it claims to check."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pyjks_readback
import pytest
from support import FIXTURES, require_tool

from rdstrust.bundle import read_bundle
from rdstrust.merge import merge_store
from rdstrust.options import MergeOptions
from rdstrust.stores import EntryKind, NewCert, StoreType, create_store, jks

PW = "changeit"
G1 = FIXTURES / "bundles" / "g1.pem"


def _certs() -> list[NewCert]:
    return [NewCert.from_info(c) for c in read_bundle(G1)]


def test_every_store_rdstrust_writes_is_recorded_and_compared() -> None:
    before = pyjks_readback.STATE.checked
    data = create_store(StoreType.JKS, _certs(), password=PW)
    assert pyjks_readback.STATE.pending[-1] == (data, PW)
    pyjks_readback.check_pending()
    assert pyjks_readback.STATE.checked == before + 1
    assert not pyjks_readback.STATE.pending


def test_a_store_the_two_readers_disagree_on_fails_the_check() -> None:
    # An alias that is not valid (modified) UTF-8: rdstrust shows it with U+FFFD, pyjks does
    # not read it the same way; the comparison must notice.
    entry = struct.pack(">IH", 2, 2) + b"\xc3\x28" + struct.pack(">QH", 0, 5) + b"X.509"
    cert = _certs()[0].der
    entry += struct.pack(">I", len(cert)) + cert
    body = struct.pack(">III", jks.MAGIC_JKS, 2, 1) + entry
    data = body + jks._digest(PW, body)
    assert jks.load(data, source="x", password=PW).entries[0].alias == "\ufffd("
    with pytest.raises(Exception):  # noqa: B017  # pyjks raises its own or we assert
        pyjks_readback.compare(data, PW)
    # Negative control: the same store with a plain alias passes.
    good = _certs()[:1]
    pyjks_readback.compare(create_store(StoreType.JKS, good, password=PW), PW)


@pytest.mark.jvm
@pytest.mark.parametrize("store_type", ["JKS", "JCEKS"])
def test_private_key_blobs_and_jceks_are_compared(tmp_path: Path, store_type: str) -> None:
    keytool = require_tool("keytool")
    store = tmp_path / f"key.{store_type.lower()}"
    subprocess.run(
        [keytool, "-genkeypair", "-alias", "app", "-keyalg", "EC", "-dname", "CN=app",
         "-keystore", str(store), "-storetype", store_type, "-storepass", PW, "-keypass", PW],
        check=True,
        capture_output=True,
    )  # fmt: skip
    merge_store(store, read_bundle(G1), password=PW, options=MergeOptions(backup=False))
    data, password = pyjks_readback.STATE.pending[-1]
    assert data == store.read_bytes() and password == PW
    kinds = [e.kind for e in jks.load(data, source="k", password=PW).entries]
    assert kinds.count(EntryKind.PRIVATE_KEY) == 1 and kinds.count(EntryKind.TRUSTED_CERT) == 9
    before = pyjks_readback.STATE.checked
    pyjks_readback.check_pending()
    assert pyjks_readback.STATE.checked == before + 1
