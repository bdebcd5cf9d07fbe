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
import tempfile
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


def write_bytes_atomic(
    path: str | Path,
    data: bytes,
    *,
    mode: int | None = None,
    backup: bool = False,
) -> Path:
    """Atomically replace the file at ``path`` (through symlinks) with ``data``.

    An existing file keeps its permission bits and owner; a new file gets ``mode`` (default
    0644). With ``backup``, the previous content is first saved (atomically, same mode) next to
    the real file as ``<name>.bak``. Returns the real path written. Raises :class:`StoreError`
    with the reason; on any failure the original file is untouched and no temporary is left.
    """
    target = real_path(path)
    try:
        old = target.stat()
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise StoreError(f"Cannot write {path}: {_reason(exc)}.", path=str(path)) from None
    if backup and old is not None:
        try:
            previous = target.read_bytes()
        except OSError as exc:
            raise StoreError(
                f"Cannot back up {target}: {_reason(exc)}; nothing was changed.", path=str(path)
            ) from None
        _replace(target.with_name(target.name + BACKUP_SUFFIX), previous, old, mode, str(path))
    _replace(target, data, old, mode, str(path))
    return target


def _replace(
    target: Path, data: bytes, old: os.stat_result | None, mode: int | None, shown: str
) -> None:
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            if old is not None:
                os.fchmod(handle.fileno(), old.st_mode & 0o7777)
                with contextlib.suppress(PermissionError):
                    # Only root may give a file away; an ordinary user keeps ownership anyway.
                    os.fchown(handle.fileno(), old.st_uid, old.st_gid)
            else:
                os.fchmod(handle.fileno(), 0o644 if mode is None else mode)
        Path(tmp_name).replace(target)
        tmp_name = None
        _fsync_dir(target.parent)
    except OSError as exc:
        raise StoreError(
            f"Cannot write {shown}: {_reason(exc)}; the file was left unchanged.", path=shown
        ) from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                Path(tmp_name).unlink()


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
