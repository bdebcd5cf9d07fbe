"""Symlinks planted by other users: the kernel's ``protected_symlinks`` rule, applied by rdstrust.

rdstrust resolves a store's path itself (to replace the real file behind a link), so the kernel's
own protection never sees the link; this container even runs with ``fs.protected_symlinks=0``.
Every link here is a real symlink given to another uid with ``os.lchown`` in a real 1777
directory made by the test, and the merges run the real CLI in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import FIXTURES

from rdstrust.atomic import real_path, resolve_path, write_bytes_atomic
from rdstrust.bundle import read_bundle
from rdstrust.errors import BundleError, StoreError
from rdstrust.stores import read_store

G1 = FIXTURES / "bundles" / "g1.pem"
NOBODY = 65534


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a symlink to another user (os.lchown) needs root")


def merge_cli(store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "rdstrust",
            "merge",
            "-b",
            str(G1),
            "-s",
            str(store),
            "--storepass",
            "changeit",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def sticky(tmp_path: Path) -> Path:
    """A world-writable sticky directory like /tmp, owned by the caller (root)."""
    path = tmp_path / "sticky"
    path.mkdir()
    path.chmod(0o1777)
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A directory only root may enter: where a planted link wants root to write."""
    path = tmp_path / "secret"
    path.mkdir()
    path.chmod(0o700)
    return path


def test_cli_merge_through_a_link_planted_by_another_user_is_refused(
    sticky: Path, secret: Path
) -> None:
    _needs_root()
    link = sticky / "truststore.pem"
    link.symlink_to(secret / "created-by-root.pem")  # dangling: merge would create the target
    os.lchown(link, NOBODY, NOBODY)
    proc = merge_cli(link)
    assert proc.returncode == 5, proc.stderr
    assert (
        f"Refusing to follow the symbolic link {link}: it sits in the world-writable sticky "
        f"directory {sticky} and belongs to another user (uid {NOBODY}), who may have planted "
        "it; give the real path of the file instead."
    ) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(secret.iterdir()) == [] and sorted(sticky.iterdir()) == [link]


def test_a_planted_link_to_an_existing_store_is_refused_and_the_store_unchanged(
    sticky: Path, secret: Path
) -> None:
    _needs_root()
    store = secret / "cacerts.pem"
    store.write_bytes(b"")
    link = sticky / "cacerts.pem"
    link.symlink_to(store)
    os.lchown(link, NOBODY, NOBODY)
    assert merge_cli(link).returncode == 5
    assert store.read_bytes() == b"" and sorted(secret.iterdir()) == [store]
    # The same rule holds for a planted link to a directory part-way along the path.
    dir_link = sticky / "etc"
    dir_link.symlink_to(secret)
    os.lchown(dir_link, NOBODY, NOBODY)
    with pytest.raises(StoreError, match=r"symbolic link .*/sticky/etc \(on the way to "):
        write_bytes_atomic(dir_link / "new.pem", b"x")
    assert sorted(secret.iterdir()) == [store]


def test_a_link_of_the_caller_or_of_the_directory_owner_is_followed(
    sticky: Path, secret: Path, tmp_path: Path
) -> None:
    _needs_root()
    store = secret / "cacerts.pem"
    store.write_bytes(b"")
    link = sticky / "mine.pem"
    link.symlink_to(store)  # the caller's own link, in the same sticky directory
    proc = merge_cli(link)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and len(read_store(store, None).entries) == 9
    # A link owned by the sticky directory's owner is followed too (the kernel's rule).
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    theirs.chmod(0o1777)
    os.chown(theirs, NOBODY, NOBODY)
    by_owner = theirs / "cacerts.pem"
    by_owner.symlink_to(store)
    os.lchown(by_owner, NOBODY, NOBODY)
    assert real_path(by_owner) == store
    # Outside a sticky directory the rule does not apply, as in the kernel.
    plain = tmp_path / "plain"
    plain.mkdir()
    elsewhere = plain / "cacerts.pem"
    elsewhere.symlink_to(store)
    os.lchown(elsewhere, NOBODY, NOBODY)
    assert real_path(elsewhere) == store


def test_a_store_is_never_created_through_a_dangling_link(tmp_path: Path) -> None:
    target = tmp_path / "store.pem"
    link = tmp_path / "link.pem"
    link.symlink_to(target)  # the caller's own link, outside any sticky directory
    expected = (
        f"{link} is a symbolic link to {target}, which does not exist; create the target first "
        "or remove the link (rdstrust never creates a store through a dangling link)."
    )
    with pytest.raises(StoreError) as caught:
        write_bytes_atomic(link, b"x")
    assert caught.value.message == expected
    proc = merge_cli(link)
    assert proc.returncode == 5 and expected in proc.stderr
    assert sorted(tmp_path.iterdir()) == [link]
    # Once the target exists (even empty), the link is an ordinary way to the store.
    target.write_bytes(b"")
    assert merge_cli(link).returncode == 0
    assert link.is_symlink() and len(read_store(target, None).entries) == 9


def test_a_chain_of_links_ending_nowhere_names_the_dangling_one(tmp_path: Path) -> None:
    last = tmp_path / "last.pem"
    last.symlink_to(tmp_path / "nowhere.pem")
    first = tmp_path / "first.pem"
    first.symlink_to(last)
    resolved = resolve_path(first)
    assert resolved.real == tmp_path / "nowhere.pem" and resolved.dangling_link == last
    with pytest.raises(StoreError, match=r"is a symbolic link to .*nowhere\.pem, which does not"):
        write_bytes_atomic(first, b"x")
    # A new file in a real directory reached through a link is no dangling link.
    (tmp_path / "real").mkdir()
    (tmp_path / "dir").symlink_to(tmp_path / "real")
    assert write_bytes_atomic(tmp_path / "dir" / "new.pem", b"x") == tmp_path / "real" / "new.pem"


def test_symlink_loops_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(StoreError, match="too many levels of symbolic links"):
        write_bytes_atomic(a, b"x")
    assert sorted(tmp_path.iterdir()) == [a, b]


def test_relative_paths_and_dot_dot_resolve_like_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    monkeypatch.chdir(tmp_path)
    # "link/.." is the parent of the link's target (real), not tmp_path: as the kernel walks it.
    assert real_path("link/../x.pem") == tmp_path / "real" / "x.pem"
    assert real_path("./link//y.pem") == tmp_path / "real" / "sub" / "y.pem"
    assert real_path(Path("link/../x.pem")) == Path(os.path.realpath("link/../x.pem"))


def test_inputs_are_not_read_through_a_planted_link(sticky: Path, secret: Path) -> None:
    _needs_root()
    private = secret / "bundle.pem"
    private.write_bytes(G1.read_bytes())
    link = sticky / "bundle.pem"
    link.symlink_to(private)
    assert len(read_bundle(link)) == 9  # the caller's own link is fine
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(BundleError, match=r"Refusing to follow the symbolic link .*uid 65534"):
        read_bundle(link)


def test_a_link_target_never_reaches_the_terminal_raw(tmp_path: Path) -> None:
    link = tmp_path / "store.pem"
    link.symlink_to(tmp_path / "\x1b]0;owned\x07\u202egnp.pem")
    with pytest.raises(StoreError) as caught:
        write_bytes_atomic(link, b"x")
    message = caught.value.message
    assert "\\x1b]0;owned\\x07\\u202egnp.pem, which does not exist" in message
    assert not any(c in message for c in "\x1b\x07\u202e")
