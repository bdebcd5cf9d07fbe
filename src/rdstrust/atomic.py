"""Crash-safe file replacement: a file on disk is either the old one or the complete new one.

Writes go to a temporary file in the target's own directory (so the final ``rename`` is atomic on
one file system), are flushed with ``fsync``, take the old file's mode and owner, and replace the
*real* file behind a symlink, never the link itself: the JDK's ``lib/security/cacerts`` is a
symlink to ``/etc/ssl/certs/java/cacerts`` on Debian and must stay one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from rdstrust.errors import StoreError

BACKUP_SUFFIX = ".bak"


def real_path(path: str | Path) -> Path:
    """The file a path finally names, following every symlink (even to a missing target)."""
    return Path(os.path.realpath(path))


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    return exc.strerror or str(exc)


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask, read without changing it where the kernel allows."""
    # os.umask() can only be read by setting it, which races with other threads creating
    # files; Linux (4.7+) shows it in /proc/self/status.
    try:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        current = os.umask(0o022)
        os.umask(current)
    return current


def write_bytes_atomic(
    path: str | Path,
    data: bytes,
    *,
    mode: int | None = None,
    backup: bool = False,
) -> Path:
    """Atomically replace the file at ``path`` (through symlinks) with ``data``.

    An existing file keeps its permission bits and owner; a new file gets ``mode`` (default
    0644) less the process umask, as ``open`` would. With ``backup``, the previous content is
    saved next to the real file as ``<name>.bak`` (same mode and owner) once the new file is in
    place. Returns the real path written. Raises :class:`StoreError` with the reason; on any
    failure the file and an existing ``.bak`` are untouched and no temporary file is left.
    """
    target = real_path(path)
    shown = str(path)
    try:
        old = target.stat()
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise StoreError(f"Cannot write {shown}: {_reason(exc)}.", path=shown) from None
    bak = target.with_name(target.name + BACKUP_SUFFIX) if backup and old is not None else None
    previous = b""
    if bak is not None:
        _check_backup_path(bak, shown)
        try:
            previous = target.read_bytes()
        except OSError as exc:
            raise StoreError(
                f"Cannot back up {target}: {_reason(exc)}; nothing was changed.", path=shown
            ) from None
    new_mode = old.st_mode & 0o7777 if old is not None else (0o644 if mode is None else mode)
    if old is None:
        new_mode &= ~_umask()
    temps: list[Path] = []
    try:
        # Both files are complete on disk before anything is renamed: a failure up to the
        # store's own rename leaves the store and its old backup exactly as they were.
        store_tmp = _temp_file(target, data, new_mode, old, temps)
        bak_tmp = _temp_file(bak, previous, new_mode, old, temps) if bak is not None else None
    except OSError as exc:
        _remove(temps)
        raise StoreError(
            f"Cannot write {shown}: {_reason(exc)}; the file was left unchanged.", path=shown
        ) from None
    # Move an existing backup aside first: this is the step that fails when the .bak cannot be
    # replaced (immutable, append-only, owned by someone else in a sticky directory), and it
    # can be undone if the store's rename then fails.
    aside = _move_aside(bak, shown, temps) if bak is not None else None
    try:
        store_tmp.replace(target)
    except OSError as exc:
        if aside is not None and bak is not None:
            with contextlib.suppress(OSError):
                aside.replace(bak)
        _remove(temps)
        raise StoreError(
            f"Cannot write {shown}: {_reason(exc)}; the file was left unchanged.", path=shown
        ) from None
    if bak is not None and bak_tmp is not None:
        try:
            bak_tmp.replace(bak)
        except OSError as exc:
            if aside is not None:
                with contextlib.suppress(OSError):
                    aside.replace(bak)
            _fsync_dir(target.parent)
            raise StoreError(
                f"{shown} was written, but its previous content could not be saved as {bak} "
                f"({_reason(exc)}); it is in {bak_tmp}.",
                path=shown,
            ) from None
    if aside is not None:
        with contextlib.suppress(OSError):
            aside.unlink()
    _fsync_dir(target.parent)
    return target


def _check_backup_path(bak: Path, shown: str) -> None:
    """Refuse before writing anything when ``bak`` exists but is not a plain file."""
    try:
        info = bak.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(
            f"Cannot use the backup file {bak}: {_reason(exc)}; nothing was changed.", path=shown
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(
            f"The backup path {bak} exists and is not a regular file; move it away or use "
            "--no-backup (nothing was changed).",
            path=shown,
        )


def _move_aside(bak: Path, shown: str, temps: list[Path]) -> Path | None:
    if not bak.exists():
        return None
    aside = bak.with_name(f".{bak.name}.{secrets.token_hex(6)}.old")
    try:
        bak.replace(aside)
    except OSError as exc:
        _remove(temps)
        raise StoreError(
            f"Cannot replace the backup file {bak}: {_reason(exc)}; nothing was changed (move "
            "it away or use --no-backup).",
            path=shown,
        ) from None
    return aside


def _temp_file(
    target: Path, data: bytes, mode: int, old: os.stat_result | None, temps: list[Path]
) -> Path:
    """A complete, fsynced copy of ``data`` next to ``target``, with its final mode and owner."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    temps.append(Path(name))
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fchmod(handle.fileno(), mode)
        if old is not None:
            with contextlib.suppress(PermissionError):
                # Only root may give a file away; an ordinary user keeps ownership anyway.
                os.fchown(handle.fileno(), old.st_uid, old.st_gid)
        os.fsync(handle.fileno())
    return Path(name)


def _remove(paths: list[Path]) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            p.unlink()


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry itself reaches the disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def exclusive_lock(path: str | Path, *, timeout: float = 60.0) -> Iterator[Path]:
    """Hold an exclusive lock for read-modify-write of the store at ``path``.

    The lock is taken on the real file's directory (``flock``), not on the file: the file's inode
    changes on every atomic replace, and a lock file would litter directories such as
    ``/etc/ssl/certs/java``. Two rdstrust processes merging into one store therefore run one after
    the other and both land. Yields the real path of the store.
    """
    import time

    target = real_path(path)
    try:
        fd = os.open(target.parent, os.O_RDONLY)
    except OSError as exc:
        raise StoreError(
            f"Cannot open the directory of {path}: {_reason(exc)}.", path=str(path)
        ) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"{path} is locked by another process (waited {timeout:.0f} s); "
                        "try again when it has finished.",
                        path=str(path),
                    ) from None
                time.sleep(0.05)
        yield target
    finally:
        os.close(fd)  # closing the descriptor releases the flock
