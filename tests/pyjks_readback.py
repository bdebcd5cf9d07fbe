"""pytest plugin: pyjks reads back every JKS / JCEKS store rdstrust writes during the suite.

rdstrust reads and writes JKS with its own codec (byte-exact entries, see stores/jks.py); pyjks
is an independent implementation of the same format, so it is the second reader: each store
rdstrust produces must load in pyjks with the same password, and show the same aliases, the
same certificates and the same private-key blobs as rdstrust's own reader sees.

How: every JKS/JCEKS byte string rdstrust produces passes through ``jks._assemble_parts``
together with its password, so a spy around that one function records (bytes, password) without
guessing passwords and without changing what is written. After each test the recorded stores
are read by both readers and compared; a difference fails that test. The totals are printed at
the end of the run, and a run that recorded stores but checked none fails, so the check cannot
silently do nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from rdstrust.stores import EntryKind
from rdstrust.stores import jks as rd_jks


@dataclass
class Readback:
    """What the plugin has seen in this run."""

    pending: list[tuple[bytes, str]] = field(default_factory=list)
    recorded: int = 0
    checked: int = 0
    #: Version 1 JKS (JDK 1.1 era): pyjks reads version 2 only; counted, not compared.
    skipped_v1: int = 0


STATE = Readback()


def compare(data: bytes, password: str) -> bool:
    """Fail (AssertionError) unless pyjks and rdstrust read ``data`` the same way.

    False when the store cannot be compared (version 1, which pyjks does not read).
    """
    import jks as pyjks  # test-only dependency: the independent reader

    ours = rd_jks.load(data, source="rdstrust-output", password=password)
    if ours.version == 1:
        return False
    theirs = pyjks.KeyStore.loads(data, password, try_decrypt_keys=False)
    assert theirs.store_type == ours.variant.lower()
    assert sorted(theirs.entries) == sorted(e.alias for e in ours.entries), "aliases differ"
    for index, entry in enumerate(ours.entries):
        other = theirs.entries[entry.alias]
        if entry.kind is EntryKind.TRUSTED_CERT:
            assert isinstance(other, pyjks.TrustedCertEntry), entry.alias
            assert other.type == "X.509" and other.cert == entry.certificates[0], entry.alias
        elif entry.kind is EntryKind.PRIVATE_KEY:
            assert isinstance(other, pyjks.PrivateKeyEntry), entry.alias
            assert [c for _, c in other.cert_chain] == list(entry.certificates), entry.alias
            # The encrypted key blob, which rdstrust carries byte for byte and never opens.
            assert other._encrypted in ours.raw_entry(index), entry.alias
        else:
            assert isinstance(other, pyjks.SecretKeyEntry), entry.alias
    return True


def check_pending() -> None:
    """Compare every store recorded since the last call."""
    pending, STATE.pending = STATE.pending, []
    for data, password in pending:
        if compare(data, password):
            STATE.checked += 1
        else:
            STATE.skipped_v1 += 1


@pytest.fixture(autouse=True)
def _pyjks_reads_back_what_rdstrust_wrote(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = rd_jks._assemble_parts

    def recording(magic: int, version: int, count: int, parts: object, password: str) -> bytes:
        data = real(magic, version, count, parts, password)  # type: ignore[arg-type]
        STATE.pending.append((data, password))
        STATE.recorded += 1
        return data

    monkeypatch.setattr(rd_jks, "_assemble_parts", recording)
    STATE.pending = []
    yield
    check_pending()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many stores pyjks read back, so a silent no-op shows."""
    terminalreporter.write_line(
        f"pyjks read-back: {STATE.checked} JKS/JCEKS stores written by rdstrust compared "
        f"({STATE.recorded} recorded, {STATE.skipped_v1} version-1 stores not comparable)"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that recorded stores but compared none fails: the check must not do nothing."""
    if exitstatus == 0 and STATE.recorded and not (STATE.checked + STATE.skipped_v1):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
