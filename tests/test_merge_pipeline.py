"""The merge pipeline's memory and time savings change nothing it does.

* the old store is let go before the safety read-back builds the new one (they never fill
  memory together), and the read-back is still a full parse whose entries are checked;
* the check compares (alias, kind, sha256) lists first and as multisets when the order differs;
* the cycle collector is paused while a merge or verify runs, and always switched back on;
* :class:`StoreEntry` is slotted and describes its certificate once;
* the shadowed-alias refusal answers as before, with or without a repeated alias.
"""

from __future__ import annotations

import dataclasses
import gc
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from support import FIXTURES

import rdstrust.merge
import rdstrust.stores
from rdstrust.bundle import read_bundle
from rdstrust.errors import StoreError
from rdstrust.merge import merge_store
from rdstrust.options import MergeOptions
from rdstrust.output import to_jsonable
from rdstrust.runcache import gc_paused
from rdstrust.stores import (
    CREATABLE_TYPES,
    EntryKind,
    LoadedStore,
    NewCert,
    StoreEntry,
    StoreType,
    create_store,
    jks,
    parse_store,
    read_store,
)
from rdstrust.stores import _types as store_types
from rdstrust.verify import verify_store

PW = "changeit"
G1 = FIXTURES / "bundles" / "g1.pem"
OLD = FIXTURES / "bundles" / "old-2019.pem"
SUFFIX = {StoreType.JKS: "jks", StoreType.PKCS12: "p12", StoreType.PEM: "pem"}


def _store(tmp_path: Path, store_type: StoreType) -> Path:
    path = tmp_path / f"s.{SUFFIX[store_type]}"
    certs = [NewCert.from_info(c) for c in read_bundle(OLD)]
    path.write_bytes(create_store(store_type, certs, password=PW))
    return path


@pytest.mark.parametrize("store_type", CREATABLE_TYPES)
def test_the_old_store_is_freed_before_the_read_back(
    tmp_path: Path, store_type: StoreType, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path, store_type)
    original = store.read_bytes()
    seen: list[tuple[bytes, weakref.ref[Any]]] = []
    alive_at_read_back: list[bool] = []

    def watching(data: bytes, **kwargs: Any) -> tuple[StoreType, LoadedStore]:
        if seen:  # the read-back: is the store read from disk still in memory?
            alive_at_read_back.append(seen[0][1]() is not None)
        kind, loaded = parse_store(data, **kwargs)
        seen.append((data, weakref.ref(loaded)))
        return kind, loaded

    monkeypatch.setattr(rdstrust.merge, "parse_store", watching)
    result = merge_store(store, read_bundle(G1), password=PW)
    assert [data == original for data, _ in seen] == [True, False]  # read, then read back
    assert alive_at_read_back == [False]
    # What the merge returns is the read-back: every old entry and every new one.
    assert result.written and result.contents is not None
    assert result.contents.entries == read_store(store, PW).entries
    assert len(result.contents.entries) == result.kept + len(result.added)


def test_a_dry_run_still_checks_and_reports_the_store_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path, StoreType.JKS)
    original = store.read_bytes()
    parsed: list[bytes] = []

    def counting(data: bytes, **kwargs: Any) -> tuple[StoreType, LoadedStore]:
        parsed.append(data)
        return parse_store(data, **kwargs)

    monkeypatch.setattr(rdstrust.merge, "parse_store", counting)
    result = merge_store(store, read_bundle(G1), password=PW, options=MergeOptions(dry_run=True))
    assert len(parsed) == 2 and parsed[0] == original  # read, and the new bytes read back
    assert result.contents is not None
    assert result.contents.entries == read_store(store, PW).entries
    assert store.read_bytes() == original


class ReorderingStore:
    """A JKS store whose render writes the right entries in reverse order."""

    def __init__(self, real: jks.JksStore) -> None:
        self.real = real
        self.entries = real.entries
        self.password_required = real.password_required
        self.verified = real.verified
        self.password_less = real.password_less
        self.profile = real.profile

    def render(
        self,
        *,
        remove: frozenset[int],
        add: Sequence[NewCert],
        password: str | None,
        profile: str | None = None,
    ) -> bytes:
        data = self.real.render(remove=remove, add=add, password=password, profile=profile)
        new = jks.load(data, source="s", password=password)
        entries = [new.raw_entry(i) for i in reversed(range(len(new.entries)))]
        assert password is not None
        return jks._assemble(new.magic, new.version, entries, password)


def test_the_check_compares_as_multisets_when_the_order_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path, StoreType.JKS)
    original = store.read_bytes()

    def reordering(data: bytes, **kwargs: Any) -> tuple[StoreType, LoadedStore]:
        kind, loaded = parse_store(data, **kwargs)
        if data == original:
            assert isinstance(loaded, jks.JksStore)
            return kind, ReorderingStore(loaded)
        return kind, loaded

    monkeypatch.setattr(rdstrust.merge, "parse_store", reordering)
    result = merge_store(store, read_bundle(G1), password=PW)
    assert result.written
    entries = read_store(store, PW).entries
    assert [e.alias for e in entries] == [e.alias for e in result.contents.entries]  # type: ignore[union-attr]
    assert entries[-1].alias == read_bundle(OLD).certificates[0].alias  # really reordered


def test_the_collector_is_paused_during_a_merge_and_a_verify_and_switched_back_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path, StoreType.JKS)
    states: list[bool] = []
    real_load = jks.load

    def load(data: bytes, **kwargs: Any) -> jks.JksStore:
        states.append(gc.isenabled())
        return real_load(data, **kwargs)

    jks_format = rdstrust.stores._BY_TYPE[StoreType.JKS]
    monkeypatch.setitem(
        rdstrust.stores._BY_TYPE, StoreType.JKS, dataclasses.replace(jks_format, load=load)
    )
    assert gc.isenabled()
    merge_store(store, read_bundle(G1), password=PW)
    verify_store(store, read_bundle(G1).certificates, password=PW)
    assert states == [False, False, False] and gc.isenabled()
    # A failing merge switches it back on too.
    with pytest.raises(StoreError):
        merge_store(store, read_bundle(G1), password="wrong")
    assert gc.isenabled()


def test_gc_paused_leaves_a_collector_already_off_as_it_was() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block does not switch it back on early
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_store_entry_is_slotted_and_describes_once(monkeypatch: pytest.MonkeyPatch) -> None:
    der = read_bundle(G1).certificates[0].der
    calls: list[bytes] = []
    real = store_types.describe_der

    def counting(data: bytes) -> Any:
        calls.append(data)
        return real(data)

    monkeypatch.setattr(store_types, "describe_der", counting)
    entry = StoreEntry("a", EntryKind.TRUSTED_CERT, "f" * 64, (der,))
    assert not hasattr(entry, "__dict__")
    twin = StoreEntry("a", EntryKind.TRUSTED_CERT, "f" * 64, (der,))
    info = entry.info
    assert info is not None and entry.info is info and calls == [der]
    # The description is no part of the entry's value, nor of its JSON.
    assert entry == twin and hash(entry) == hash(twin)
    assert list(to_jsonable(entry)) == ["alias", "kind", "sha256", "java_trusted"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.alias = "b"  # type: ignore[misc]
    odd = StoreEntry("odd", EntryKind.TRUSTED_CERT, None, (b"not a certificate",))
    assert odd.info is None and odd.info is None and calls == [der, b"not a certificate"]
    assert StoreEntry("k", EntryKind.SECRET_KEY, None).info is None


def test_a_repeated_alias_is_refused_only_for_two_different_certificates(tmp_path: Path) -> None:
    certs = [NewCert.from_info(c) for c in read_bundle(G1)][:2]
    same = [certs[0], dataclasses.replace(certs[0], alias=certs[0].alias.upper())]
    data = create_store(StoreType.JKS, same, password=PW)
    assert len(parse_store(data, source="s", password=PW)[1].entries) == 2
    different = [certs[0], dataclasses.replace(certs[1], alias=certs[0].alias.upper())]
    data = create_store(StoreType.JKS, different, password=PW)
    with pytest.raises(StoreError, match="two different entries named"):
        parse_store(data, source="s", password=PW)


def test_unparseable_counts_the_same_inside_and_outside_a_run() -> None:
    from rdstrust.runcache import describe_once
    from rdstrust.stores import describe_der, unparseable

    good = [c.der for c in read_bundle(G1)]
    ders = [*good, b"not a certificate", good[0][:-1], good[1]]
    assert unparseable(ders) == 2
    with describe_once():
        assert unparseable(ders) == 2
        assert describe_der(good[0]) is not None and describe_der(b"\x30\x00") is None
        assert unparseable(ders) == 2  # described ones are skipped, the rest still loaded
        assert unparseable([b"\x30\x00", good[0]]) == 1  # known undecodable: still counted
