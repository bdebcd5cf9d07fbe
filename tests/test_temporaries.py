"""Temporaries of killed runs: the next write removes rdstrust's own orphans, and nothing else.

The orphan here comes from a real ``merge`` process killed with a real ``SIGKILL`` while its
temporary store file is on disk; a hook in that child only makes the moment deterministic (it
sleeps right after the temporary is fsynced, where an unlucky ``kill -9`` would land).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import FIXTURES

from rdstrust import atomic
from rdstrust.atomic import remove_stale_temporaries, write_bytes_atomic
from rdstrust.bundle import read_bundle
from rdstrust.stores import read_store

G1 = FIXTURES / "bundles" / "g1.pem"
OLD = FIXTURES / "bundles" / "old-2019.pem"
NOBODY = 65534
ORPHAN_RE = re.compile(r"\.store\.pem\.rdstrust-[0-9a-f]{8}-(\d+)-[0-9a-f]{12}\.tmp")

_SLOW_CHILD = """
import os, runpy, sys, time
real_fsync = os.fsync
def fsync_then_hang(fd):
    real_fsync(fd)
    if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).endswith(".tmp"):
        print("TEMPORARY-ON-DISK", file=sys.stderr, flush=True)
        time.sleep(120)
os.fsync = fsync_then_hang
sys.argv = ["rdstrust", *sys.argv[1:]]
runpy.run_module("rdstrust", run_name="__main__")
"""


def merge_args(bundle: Path, store: Path) -> list[str]:
    return ["merge", "-b", str(bundle), "-s", str(store)]


def kill_merge_mid_write(bundle: Path, store: Path) -> int:
    """Start a real merge, SIGKILL it while its temporary file is on disk; return its pid."""
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CHILD, *merge_args(bundle, store)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    line = child.stderr.readline()
    assert line.strip() == "TEMPORARY-ON-DISK", line + child.stderr.read()
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    child.stderr.close()
    return child.pid


def planted(directory: Path, name: str, *, pid: int, origin: str | None = None) -> Path:
    """A file named exactly as rdstrust names its temporaries."""
    path = directory / f".{name}.rdstrust-{origin or atomic._ORIGIN}-{pid}-{'ab' * 6}.tmp"
    path.write_bytes(b"half a store")
    return path


def test_a_kill_9_orphan_is_removed_by_the_next_run_and_nothing_else(tmp_path: Path) -> None:
    store = tmp_path / "store.pem"
    store.write_bytes(read_bundle(OLD).to_pem())
    before = store.read_bytes()
    pid = kill_merge_mid_write(G1, store)
    orphans = [p for p in tmp_path.iterdir() if ORPHAN_RE.fullmatch(p.name)]
    assert [int(ORPHAN_RE.fullmatch(p.name)[1]) for p in orphans] == [pid]  # type: ignore[index]
    assert store.read_bytes() == before  # the kill tore nothing
    # Things the cleanup must leave alone: another tool's temporary, rdstrust's pattern on a
    # directory, and a temporary of a process that is still running.
    other_tool = tmp_path / ".store.pem.abc123.tmp"
    other_tool.write_bytes(b"not ours")
    (tmp_path / f".x.rdstrust-{atomic._ORIGIN}-{pid}-{'cd' * 6}.tmp").mkdir()
    with subprocess.Popen(["sleep", "60"]) as live:
        in_use = planted(tmp_path, "store.pem", pid=live.pid)
        keep = {p.name for p in tmp_path.iterdir()} - {o.name for o in orphans}
        proc = subprocess.run(
            [sys.executable, "-m", "rdstrust", *merge_args(G1, store)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        live.kill()
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in tmp_path.iterdir()} == keep | {"store.pem.bak"}
    assert in_use.read_bytes() == b"half a store"
    assert len(read_store(store, None).entries) == 13


def test_stale_means_dead_process_or_very_old(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = planted(tmp_path, "a.jks", pid=dead.pid)
    mine = planted(tmp_path, "b.jks", pid=os.getpid())  # this process may be writing it now
    foreign_young = planted(tmp_path, "c.jks", pid=dead.pid, origin="0" * 8)
    foreign_old = planted(tmp_path, "d.jks", pid=dead.pid, origin="0" * 8)
    two_hours_ago = time.time() - 2 * 3600
    os.utime(foreign_old, (two_hours_ago, two_hours_ago))
    assert set(remove_stale_temporaries(tmp_path)) == {orphan, foreign_old}
    assert {p.name for p in tmp_path.iterdir()} == {mine.name, foreign_young.name}


def test_only_the_callers_regular_files_are_removed(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a file of another user (os.chown) needs root")
    dead = subprocess.Popen(["true"])
    dead.wait()
    theirs = planted(tmp_path, "a.p12", pid=dead.pid)
    os.chown(theirs, NOBODY, NOBODY)
    link = tmp_path / f".b.p12.rdstrust-{atomic._ORIGIN}-{dead.pid}-{'ef' * 6}.tmp"
    link.symlink_to(tmp_path / "elsewhere")
    assert remove_stale_temporaries(tmp_path) == ()
    assert theirs.exists() and link.is_symlink()


def test_a_backup_a_killed_run_moved_aside_is_put_back(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    aside = tmp_path / f".s.jks.bak.rdstrust-{atomic._ORIGIN}-{dead.pid}-{'01' * 6}.old"
    aside.write_bytes(b"the previous backup")
    (tmp_path / "s.jks").write_bytes(b"store")
    write_bytes_atomic(tmp_path / "other.pem", b"x")  # any write in the directory cleans up
    assert (tmp_path / "s.jks.bak").read_bytes() == b"the previous backup"
    assert not aside.exists()


def test_eight_concurrent_merges_land_every_certificate_once(tmp_path: Path) -> None:
    pems = [c.pem() for c in (*read_bundle(G1), *read_bundle(OLD))]
    bundles = []
    for index in range(8):
        bundle = tmp_path / f"part{index}.pem"
        bundle.write_bytes(b"".join(pems[index::8]))
        bundles.append(bundle)
    store = tmp_path / "store.pem"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rdstrust", *merge_args(b, store), "--no-backup"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for b in bundles
    ]
    for proc in procs:
        _out, errors = proc.communicate(timeout=300)
        assert proc.returncode == 0, errors
    entries = read_store(store, None).entries
    assert len(entries) == len(pems) == 13
    assert len({e.sha256 for e in entries}) == 13
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [b.name for b in bundles] + ["store.pem"]
    )
