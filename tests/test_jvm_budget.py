"""The JVM's budget: a heap cap and a wall-clock limit, each ending in JvmGaveUpError (exit 8).

A hostile store of many distinct certificates makes the real JVM exceed a small budget: its time
(1 s) or its heap (-Xmx). The same heap cap with an ordinary store gives a verdict (the control).
A ``java`` that is missing stays exit 7 (ToolMissingError); a JVM killed by a signal, or a chain
longer than the JVM is given, is exit 8.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from support import FIXTURES, missing

from rdstrust.bundle import read_bundle
from rdstrust.errors import ExitCode, JvmGaveUpError, ToolMissingError
from rdstrust.jvm import MAX_CHAIN_CERTIFICATES, JvmBudget, find_java, java_trust_check
from rdstrust.pathcheck import parse_chain, read_chain
from rdstrust.stores import NewCert, StoreType, create_store

CHAIN_DIR = FIXTURES / "chains" / "rsa2048-g1-us-east-1"
PASSWORD = "changeit"
#: Distinct certificates in the hostile store: enough to exhaust a 32 MiB heap.
HOSTILE_ENTRIES = 20_000


@pytest.fixture(scope="module")
def java() -> str:
    found = find_java()
    if found is None:
        missing("the 'java' program")
    assert found is not None
    return found


def chain():  # type: ignore[no-untyped-def]
    return read_chain(CHAIN_DIR / "chain.pem")


def small_store(directory: Path) -> Path:
    path = directory / "small.jks"
    entries = [NewCert.from_info(c) for c in read_bundle(FIXTURES / "bundles" / "g1.pem")]
    path.write_bytes(create_store(StoreType.JKS, entries, password=PASSWORD))
    return path


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JKS store of many distinct certificates, made cheaply: one real certificate whose serial
    number bytes are rewritten per entry (Java parses every entry when loading a store and checks
    no signature, and its certificate cache cannot share distinct encodings)."""
    template = x509.load_pem_x509_certificate((CHAIN_DIR / "root.pem").read_bytes())
    der = template.public_bytes(Encoding.DER)
    serial = template.serial_number.to_bytes((template.serial_number.bit_length() + 7) // 8, "big")
    assert der.count(serial) == 1 and len(serial) >= 4
    entries = []
    for i in range(HOSTILE_ENTRIES):
        fake = serial[:-4] + (int.from_bytes(serial[-4:], "big") ^ (i + 1)).to_bytes(4, "big")
        entries.append(
            NewCert(
                f"filler-{i}", der.replace(serial, fake), "CN=filler", template.not_valid_before_utc
            )
        )
    path = tmp_path_factory.mktemp("hostile") / "hostile.jks"
    path.write_bytes(create_store(StoreType.JKS, entries, password=PASSWORD))
    return path


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (to prove a killed JVM left nothing behind)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if text.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.jvm
def test_time_budget_stops_the_jvm_with_exit_8(java: str, hostile_store: Path) -> None:
    start = time.monotonic()
    with pytest.raises(JvmGaveUpError, match="1-second budget") as caught:
        java_trust_check(
            hostile_store,
            StoreType.JKS,
            chain(),
            java=java,
            password=PASSWORD,
            hostname="localhost",
            budget=JvmBudget(timeout=1.0),
        )
    assert time.monotonic() - start < 15
    assert caught.value.exit_code is ExitCode.JVM_GAVE_UP
    assert processes_mentioning(str(hostile_store)) == []


@pytest.mark.jvm
def test_heap_budget_ends_in_exit_8_and_the_same_cap_serves_a_normal_store(
    java: str, hostile_store: Path, tmp_path: Path
) -> None:
    budget = JvmBudget(timeout=300.0, heap_mb=32)
    with pytest.raises(JvmGaveUpError, match="32 MiB heap") as caught:
        java_trust_check(
            hostile_store, StoreType.JKS, chain(), java=java, password=PASSWORD, budget=budget
        )
    assert caught.value.exit_code == 8
    # Control: the same heap cap is plenty for an ordinary store, whose verdict is reached.
    verdict = java_trust_check(
        small_store(tmp_path), StoreType.JKS, chain(), java=java, password=PASSWORD, budget=budget
    )
    assert verdict.ok and verdict.anchors == 9


def test_missing_java_is_still_exit_7(tmp_path: Path) -> None:
    with pytest.raises(ToolMissingError, match="no such program") as caught:
        java_trust_check(
            small_store(tmp_path), StoreType.JKS, chain(), java=str(tmp_path / "no-java")
        )
    assert caught.value.exit_code == 7


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """A 'java' that starts a child and hangs: on timeout, the child dies with it."""
    pid_file = tmp_path / "child.pid"
    fake = tmp_path / "java"
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\nsleep 300\n")
    fake.chmod(0o755)
    with pytest.raises(JvmGaveUpError, match="budget"):
        java_trust_check(
            small_store(tmp_path),
            StoreType.JKS,
            chain(),
            java=str(fake),
            budget=JvmBudget(timeout=1.0),
        )
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except OSError:
        return False
    return state != "Z"


def test_a_jvm_killed_by_a_signal_gave_up(tmp_path: Path) -> None:
    """The kernel's OOM killer ends a JVM with SIGKILL: exit 8, not 'java missing'."""
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\nkill -9 $$\n")
    fake.chmod(0o755)
    with pytest.raises(JvmGaveUpError, match="SIGKILL"):
        java_trust_check(small_store(tmp_path), StoreType.JKS, chain(), java=str(fake))
    # Control: a program that is not a JVM at all is still "cannot run" (exit 7).
    fake.write_text("#!/bin/sh\necho 'Error: no JVM here' >&2\nexit 1\n")
    with pytest.raises(ToolMissingError, match="no JVM here"):
        java_trust_check(small_store(tmp_path), StoreType.JKS, chain(), java=str(fake))


def test_a_chain_longer_than_the_jvm_is_given_is_refused_before_starting_it(
    tmp_path: Path,
) -> None:
    record = tmp_path / "ran"
    fake = tmp_path / "java"
    fake.write_text(f"#!/bin/sh\ntouch {record}\n")
    fake.chmod(0o755)
    leaf = (CHAIN_DIR / "leaf.pem").read_bytes()
    inter = (CHAIN_DIR / "intermediate.pem").read_bytes()
    long_chain = parse_chain(leaf + inter * MAX_CHAIN_CERTIFICATES)
    with pytest.raises(JvmGaveUpError, match=f"{MAX_CHAIN_CERTIFICATES + 1} certificates"):
        java_trust_check(small_store(tmp_path), StoreType.JKS, long_chain, java=str(fake))
    assert not record.exists()


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError):
        JvmBudget(timeout=0)
    with pytest.raises(ValueError):
        JvmBudget(heap_mb=0)
