"""Crash-safe file replacement: a file on disk is either the old one or the complete new one.

Writes go to a temporary file in the target's own directory (so the final ``rename`` is atomic on
one file system), are flushed with ``fsync``, take the old file's mode and owner, and replace the
*real* file behind a symlink, never the link itself: the JDK's ``lib/security/cacerts`` is a
symlink to ``/etc/ssl/certs/java/cacerts`` on Debian and must stay one.

Symlinks are followed the way Linux's ``fs.protected_symlinks`` would follow them, whatever that
setting is: rdstrust resolves the path itself (to write the real file), which would otherwise
bypass the kernel's protection. A link in a world-writable sticky directory (``/tmp``) is
followed only when it belongs to the caller or to the directory's owner, and a store is never
created through a dangling link (a planted ``/tmp/x -> /root/.ssh/...`` must not make root
create a file of the attacker's choosing).

Temporary files are named ``.<name>.rdstrust-<origin>-<pid>-<random>.tmp``: a run killed with
``kill -9`` leaves one behind, and the next write into that directory removes those whose
process is gone (see :func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rdstrust.errors import StoreError

BACKUP_SUFFIX = ".bak"

#: As many symlinks as Linux follows in one path (``MAXSYMLINKS``) before giving ``ELOOP``.
MAX_SYMLINKS = 40

#: A temporary whose process still runs is left alone unless it is older than this (a process
#: id reused by an unrelated long-running process must not keep an orphan forever).
STALE_AFTER_SECONDS = 24 * 3600

#: A temporary from another boot, PID namespace or host (a shared file system) cannot be matched
#: to a process; it is removed only once it is older than this, far longer than any write takes.
FOREIGN_STALE_AFTER_SECONDS = 3600


@dataclass(frozen=True)
class ResolvedPath:
    """Where a path leads: the real file, and the link that dangles when the file is missing."""

    #: The real path, every symlink resolved (the file itself may not exist).
    real: Path
    #: The symlink named (directly or through further links) by the path's last component whose
    #: target does not exist; ``None`` when the file exists or no link leads to it.
    dangling_link: Path | None


def resolve_path(path: str | Path) -> ResolvedPath:
    """Resolve ``path`` like the kernel with ``fs.protected_symlinks=1``, or raise StoreError.

    Refuses (with one sentence) a symlink in a world-writable sticky directory owned by neither
    the caller nor that directory's owner, and more than :data:`MAX_SYMLINKS` links (a loop).
    """
    shown = str(path)
    given = Path(path)
    # Component by component, as the kernel walks a path: each link is checked in the directory
    # that holds it, before it is followed (os.path.realpath would follow it blindly).
    resolved = Path("/") if given.is_absolute() else Path.cwd()
    pending = [part for part in shown.split("/") if part not in ("", ".")]
    followed = 0
    final_link: Path | None = None
    missing = False
    while pending:
        name = pending.pop(0)
        if name == "..":
            resolved = resolved.parent
            continue
        candidate = resolved / name
        if missing:
            resolved = candidate
            continue
        try:
            info = candidate.lstat()
        except OSError:
            # Missing (or not reachable): the rest is joined as written, as realpath does;
            # the write that follows reports the real reason.
            missing = True
            resolved = candidate
            continue
        if not stat.S_ISLNK(info.st_mode):
            resolved = candidate
            continue
        followed += 1
        if followed > MAX_SYMLINKS:
            raise StoreError(
                f"Cannot use {shown}: too many levels of symbolic links (a loop?).", path=shown
            )
        _check_protected_link(candidate, info, resolved, given)
        if not pending:
            final_link = candidate
        target = str(candidate.readlink())
        if target.startswith("/"):
            resolved = Path("/")
        pending[:0] = [part for part in target.split("/") if part not in ("", ".")]
    dangling = None
    if final_link is not None and not os.path.lexists(resolved):
        dangling = final_link
    return ResolvedPath(real=resolved, dangling_link=dangling)


def _check_protected_link(link: Path, info: os.stat_result, directory: Path, given: Path) -> None:
    """The kernel's ``protected_symlinks`` rule (fs/namei.c ``may_follow_link``)."""
    try:
        parent = directory.lstat()
    except OSError:
        return
    sticky_world_writable = stat.S_ISVTX | stat.S_IWOTH
    if parent.st_mode & sticky_world_writable != sticky_world_writable:
        return
    if info.st_uid in (parent.st_uid, os.geteuid()):
        return
    where = "" if given.absolute() == link else f" (on the way to {printable(given)})"
    raise StoreError(
        f"Refusing to follow the symbolic link {printable(link)}{where}: it sits in the "
        f"world-writable sticky directory {printable(directory)} and belongs to another user "
        f"(uid {info.st_uid}), who may "
        "have planted it; give the real path of the file instead.",
        path=str(given),
    )


def printable(path: str | Path) -> str:
    """``path`` for a message: control, format (bidi) and undecodable characters escaped.

    A link's target is text another user chose; it must not reach a terminal raw.
    """
    return "".join(
        c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        for c in str(path)
    )


def real_path(path: str | Path) -> Path:
    """The file a path finally names, following every symlink (even to a missing target).

    Links are followed only where :func:`resolve_path` allows it; raises :class:`StoreError`
    otherwise.
    """
    return resolve_path(path).real


def _refuse_dangling(resolved: ResolvedPath, shown: str) -> None:
    link = resolved.dangling_link
    if link is None:
        return
    raise StoreError(
        f"{printable(link)} is a symbolic link to {printable(resolved.real)}, which does not "
        "exist; create the target first or remove the link (rdstrust never creates a store "
        "through a dangling link).",
        path=shown,
    )


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

    Symlinks are followed as :func:`resolve_path` allows, and a file is never created through a
    dangling link. Stale temporaries of killed runs in the directory are removed first.
    """
    shown = str(path)
    resolved = resolve_path(path)
    target = resolved.real
    try:
        old = target.stat()
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise StoreError(f"Cannot write {shown}: {_reason(exc)}.", path=shown) from None
    if old is None:
        _refuse_dangling(resolved, shown)
    remove_stale_temporaries(target.parent)
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
    aside = bak.with_name(_temp_name(bak.name, ".old"))
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
    name = target.with_name(_temp_name(target.name, ".tmp"))
    # O_EXCL | O_NOFOLLOW: never reuse or follow anything already at that name (what mkstemp
    # does, with a name we choose so that a later run can tell an orphan from a live write).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600)
    temps.append(name)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fchmod(handle.fileno(), mode)
        if old is not None:
            with contextlib.suppress(PermissionError):
                # Only root may give a file away; an ordinary user keeps ownership anyway.
                os.fchown(handle.fileno(), old.st_uid, old.st_gid)
        os.fsync(handle.fileno())
    return name


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
    resolved = resolve_path(path)
    target = resolved.real
    # The lock is taken to write: a store about to be created through a dangling link is
    # refused here, before the caller reads, renders or writes anything.
    _refuse_dangling(resolved, str(path))
    try:
        fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
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
        remove_stale_temporaries(target.parent)
        yield target
    finally:
        os.close(fd)  # closing the descriptor releases the flock


# --- temporaries of killed runs ------------------------------------------------------------------

_TEMP_RE = re.compile(
    r"\.(?P<name>.+)\.rdstrust-(?P<origin>[0-9a-f]{8})-(?P<pid>[0-9]{1,10})-[0-9a-f]{12}"
    r"(?P<kind>\.tmp|\.old)"
)


def _origin() -> str:
    """Eight hex digits naming this boot and PID namespace.

    A process id means something only on the boot and in the PID namespace that issued it; a
    temporary from elsewhere (another container sharing the directory, another host on NFS, a
    previous boot) cannot be matched to a process, so only its age can make it stale.
    """
    parts = []
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            where = Path(source)
            parts.append(str(where.readlink()) if where.name == "pid" else where.read_text())
        except OSError:
            parts.append("?")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:8]


_ORIGIN = _origin()


def _temp_name(name: str, kind: str) -> str:
    return f".{name}.rdstrust-{_ORIGIN}-{os.getpid()}-{secrets.token_hex(6)}{kind}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, it belongs to someone else
    except (OverflowError, OSError):
        return True
    # A killed process nobody has reaped yet is a zombie: it writes nothing any more.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def _is_stale(match: re.Match[str], info: os.stat_result, now: float) -> bool:
    age = now - info.st_mtime
    if match["origin"] != _ORIGIN:
        return age > FOREIGN_STALE_AFTER_SECONDS
    pid = int(match["pid"])
    if pid == os.getpid():
        return False  # one of ours, still being written by this very process
    return _process_gone(pid) or age > STALE_AFTER_SECONDS


def remove_stale_temporaries(directory: str | Path) -> tuple[Path, ...]:
    """Remove the temporaries that killed rdstrust runs left in ``directory``; return them.

    Only files named as :func:`write_bytes_atomic` names them, regular files (``lstat``), owned
    by the caller, whose writing process is gone (or that are very old) are touched; a backup
    that a killed run had moved aside while ``<name>.bak`` is missing is put back instead of
    removed. A live concurrent write is never disturbed. Errors are ignored: cleaning up is a
    courtesy, never a reason to fail a write.
    """
    folder = Path(directory)
    try:
        names = [entry.name for entry in folder.iterdir()]
    except OSError:
        return ()
    removed: list[Path] = []
    now = time.time()
    uid = os.geteuid()
    for name in names:
        match = _TEMP_RE.fullmatch(name)
        if match is None:
            continue
        path = folder / name
        try:
            info = path.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or info.st_uid != uid or not _is_stale(match, info, now):
            continue
        with contextlib.suppress(OSError):
            original = folder / match["name"]
            if match["kind"] == ".old" and not os.path.lexists(original):
                path.replace(original)  # the only copy of the previous backup: restore it
            else:
                path.unlink()
            removed.append(path)
    return tuple(removed)
