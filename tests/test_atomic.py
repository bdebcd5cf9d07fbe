"""Atomic replacement: the file and its ``.bak`` are either untouched or completely replaced."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import missing

from rdstrust.atomic import write_bytes_atomic
from rdstrust.errors import StoreError


def chattr_immutable(path: Path) -> str:
    """``chattr +i`` on ``path``; returns the chattr program to undo it with.

    A missing chattr program is a missing tool (:func:`support.missing`: fails under CI). Not
    being root, or chattr failing although it exists (a container without
    CAP_LINUX_IMMUTABLE, a file system without the flag), is a property of the machine that CI
    cannot install away: the test is skipped with the reason.
    """
    chattr = shutil.which("chattr")
    if chattr is None:
        missing("the 'chattr' program (to make a file immutable)")
    assert chattr is not None
    if os.geteuid() != 0:
        pytest.skip("chattr +i needs root")
    proc = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode:
        reason = (proc.stderr or proc.stdout).strip() or f"exit status {proc.returncode}"
        pytest.skip(f"chattr +i failed on {path}: {reason}")
    return chattr


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``chattr +i`` on ``path`` (nobody, not even root, may replace it), undone afterwards."""
    chattr = chattr_immutable(path)
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_backup_holds_the_previous_content_and_the_mode_is_kept(tmp_path: Path) -> None:
    store = tmp_path / "s.p12"
    store.write_bytes(b"old")
    store.chmod(0o640)
    (tmp_path / "s.p12.bak").write_bytes(b"OLDBACKUP\n")
    assert write_bytes_atomic(store, b"new", backup=True) == store
    assert store.read_bytes() == b"new" and (tmp_path / "s.p12.bak").read_bytes() == b"old"
    assert store.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "s.p12.bak").stat().st_mode & 0o777 == 0o640
    assert _names(tmp_path) == ["s.p12", "s.p12.bak"]  # no temporary or set-aside file left


def test_unreplaceable_store_leaves_the_old_backup_untouched(tmp_path: Path) -> None:
    store = tmp_path / "imm.p12"
    store.write_bytes(b"store")
    bak = tmp_path / "imm.p12.bak"
    bak.write_bytes(b"OLDBACKUP\n")
    with immutable(store), pytest.raises(StoreError) as caught:
        write_bytes_atomic(store, b"new", backup=True)
    assert caught.value.message == (
        f"Cannot write {store}: permission denied; the file was left unchanged."
    )
    assert store.read_bytes() == b"store" and bak.read_bytes() == b"OLDBACKUP\n"
    assert _names(tmp_path) == ["imm.p12", "imm.p12.bak"]


def test_unreplaceable_store_leaves_no_new_backup(tmp_path: Path) -> None:
    store = tmp_path / "imm.p12"
    store.write_bytes(b"store")
    with immutable(store), pytest.raises(StoreError, match="left unchanged"):
        write_bytes_atomic(store, b"new", backup=True)
    assert store.read_bytes() == b"store" and _names(tmp_path) == ["imm.p12"]


def test_unreplaceable_backup_is_named_and_nothing_changes(tmp_path: Path) -> None:
    store = tmp_path / "s.jks"
    store.write_bytes(b"store")
    bak = tmp_path / "s.jks.bak"
    bak.write_bytes(b"OLDBACKUP\n")
    with immutable(bak), pytest.raises(StoreError) as caught:
        write_bytes_atomic(store, b"new", backup=True)
    assert caught.value.message.startswith(f"Cannot replace the backup file {bak}: permission")
    assert "nothing was changed" in caught.value.message
    assert store.read_bytes() == b"store" and bak.read_bytes() == b"OLDBACKUP\n"
    assert _names(tmp_path) == ["s.jks", "s.jks.bak"]


def test_backup_path_that_is_a_directory_is_named_and_nothing_changes(tmp_path: Path) -> None:
    store = tmp_path / "s.pem"
    store.write_bytes(b"store")
    (tmp_path / "s.pem.bak").mkdir()
    with pytest.raises(StoreError) as caught:
        write_bytes_atomic(store, b"new", backup=True)
    assert caught.value.message == (
        f"The backup path {tmp_path / 's.pem.bak'} exists and is not a regular file; move it "
        "away or use --no-backup (nothing was changed)."
    )
    assert store.read_bytes() == b"store" and _names(tmp_path) == ["s.pem", "s.pem.bak"]
    # Without a backup the same write goes ahead.
    write_bytes_atomic(store, b"new", backup=False)
    assert store.read_bytes() == b"new"


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)])
def test_new_files_honour_the_umask(tmp_path: Path, mask: int, expected: int) -> None:
    with umask(mask):
        write_bytes_atomic(tmp_path / "new.pem", b"x")
        write_bytes_atomic(tmp_path / "cache.json", b"x", mode=0o644)
    assert (tmp_path / "new.pem").stat().st_mode & 0o777 == expected
    assert (tmp_path / "cache.json").stat().st_mode & 0o777 == expected


def test_existing_files_keep_their_mode_whatever_the_umask(tmp_path: Path) -> None:
    store = tmp_path / "s.pem"
    store.write_bytes(b"old")
    store.chmod(0o664)
    with umask(0o077):
        write_bytes_atomic(store, b"new")
    assert store.stat().st_mode & 0o777 == 0o664


def test_chattr_failing_is_a_skip_with_the_reason_even_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("needs root with chattr")
    monkeypatch.setattr("support.IN_CI", True)  # missing() would fail the test under CI
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")  # chattr cannot set flags on a symlink
    with pytest.raises(pytest.skip.Exception, match=r"chattr \+i failed on .*link: \S"):
        chattr_immutable(link)
