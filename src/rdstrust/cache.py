"""The download cache: the last validated bundle per URL, with the validators to revalidate it.

A pipeline that runs ``rdstrust fetch`` on every build should not download an unchanged
170 KB bundle every time: the cache keeps, per URL, the body and the server's ``ETag`` /
``Last-Modified`` so the next fetch sends ``If-None-Match`` / ``If-Modified-Since`` and an
unchanged bundle costs one ``304 Not Modified``. Only bundles that passed validation are cached,
and every cached body carries its SHA-256, checked on read: a damaged or edited cache entry is
ignored (the bundle is downloaded again), never trusted.

The cache decides what a root ``update`` merges and what ``verify`` compares against, so another
local user must not be able to change it. Directories are created 0700 and files 0600 whatever
the umask. On every read the cache directory, its ``bundles`` directory and their parents must
belong to the caller or root and not be writable by group or others (a parent may be a sticky
directory such as ``/tmp``), and each file must be a regular file (no symlink, one hard link) of
the caller or root, not writable by others; the bundle is then parsed again and its SHA-256
compared with the metadata. Anything that fails is not used: the reason is logged (one sentence,
on stderr when logging is not configured) and kept in :attr:`BundleCache.problems`, and the
bundle is downloaded again.

Layout of the cache directory (``$RDSTRUST_CACHE_DIR``, else ``$XDG_CACHE_HOME/rdstrust``, else
``~/.cache/rdstrust``)::

    bundles/<key>.bundle   the raw bytes as downloaded (key = SHA-256 of the URL, 32 hex)
    bundles/<key>.json     url, etag, last_modified, sha256, size, fetched_at
    last.json              which entry the most recent fetch stored or revalidated
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rdstrust.atomic import resolve_path, write_bytes_atomic
from rdstrust.bundle import parse_bundle
from rdstrust.certs import sha256_hex, utcnow
from rdstrust.errors import BundleError, StoreError
from rdstrust.text import safe

CACHE_ENV = "RDSTRUST_CACHE_DIR"
_LAST = "last.json"
_BUNDLES = "bundles"
#: Far above any real bundle (the global one is about 170 KB); a bigger cache file is damaged.
MAX_CACHED_BYTES = 64 * 1024 * 1024
_MAX_META_BYTES = 64 * 1024
_DIR_MODE = 0o700
_FILE_MODE = 0o600
_GROUP_OTHER_WRITE = stat.S_IWGRP | stat.S_IWOTH


def default_cache_dir() -> Path:
    """Where the cache lives unless told otherwise (see the module docstring)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "rdstrust"
    return Path.home() / ".cache" / "rdstrust"


@dataclass(frozen=True)
class CacheEntry:
    """A cached bundle: its bytes and the HTTP validators the server sent with them."""

    url: str
    path: Path
    sha256: str
    size: int
    etag: str | None
    last_modified: str | None
    fetched_at: str
    data: bytes


def redact_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages, results and cache metadata."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: still hide whatever precedes an '@'
        return re.sub(r"(?<=//)[^/@]*@", "***@", url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def cache_key(url: str) -> str:
    """The file name stem of ``url``'s entry (a URL may hold any character, a file name not)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


class BundleCache:
    """One cache directory.

    Reading (:meth:`load`, :meth:`last`) never fails: a missing, damaged or unsafe entry is
    ``None`` (an unsafe one is also named in :attr:`problems`). Writing (:meth:`store`,
    :meth:`mark_last`) raises :class:`rdstrust.errors.StoreError`, also when the cache directory
    is not safe to use.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self._problems: list[str] = []

    @property
    def problems(self) -> tuple[str, ...]:
        """One sentence per cache part refused as unsafe so far (for a caller's notes)."""
        return tuple(self._problems)

    def _refuse(self, sentence: str) -> None:
        if sentence not in self._problems:
            self._problems.append(sentence)
            # Paths here may hold another user's bytes: escaped, since without a configured
            # handler Python writes warnings to stderr as they are.
            import logging  # a refusal is rare: the module is not loaded for every run

            logging.getLogger(__name__).warning("%s", safe(sentence))

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self.directory / _BUNDLES / key
        return base.with_suffix(".bundle"), base.with_suffix(".json")

    def _safe_directories(self) -> bool:
        """Whether the cache directory and everything above it may be trusted (refusing if not).

        A missing cache directory is safe (there is nothing to trust yet).
        """
        problem = _directory_problem(self.directory)
        if problem is not None:
            self._refuse(problem)
        return problem is None

    def _read(self, path: Path, limit: int) -> bytes | None:
        """The bytes of a cache file that is safe to trust, else ``None`` (refused if unsafe)."""
        data, problem = _read_private(path, limit)
        if problem is not None:
            self._refuse(problem)
        return data

    def load(self, url: str, *, parsed: bytes | None = None) -> CacheEntry | None:
        """The intact entry for ``url``, or ``None`` (missing, unreadable, damaged or unsafe).

        ``parsed``: bytes the caller has just validated as a bundle itself; a cached copy equal
        to them is not parsed a second time (every other check still applies).
        """
        if not self._safe_directories():
            return None
        entry = self._load_key(cache_key(url), parsed)
        return entry if entry is not None and entry.url == redact_url(url) else None

    def _load_key(self, key: str, parsed: bytes | None = None) -> CacheEntry | None:
        body_path, meta_path = self._paths(key)
        raw_meta = self._read(meta_path, _MAX_META_BYTES)
        data = self._read(body_path, MAX_CACHED_BYTES)
        if raw_meta is None or data is None:
            return None
        try:
            meta = json.loads(raw_meta.decode("utf-8"))
        except ValueError:
            return None
        if not isinstance(meta, dict) or not isinstance(meta.get("url"), str):
            return None
        # The body and its metadata are two files; a concurrent writer or a hand edit can leave
        # them disagreeing. The digest decides, and a disagreeing entry is simply not used.
        if meta.get("sha256") != sha256_hex(data):
            return None
        try:
            # Validated again on every use: the bytes must still be a bundle of CA certificates.
            # Only "is this a well-formed bundle" is checked here: which CAs to accept is the
            # caller's policy, applied when it parses the bytes it gets.
            if data != parsed:
                parse_bundle(
                    data, source=str(body_path), allow_foreign=True, accept_unknown_rds=True
                )
        except BundleError:
            return None
        return CacheEntry(
            url=meta["url"],
            path=body_path,
            sha256=meta["sha256"],
            size=len(data),
            etag=_opt_str(meta.get("etag")),
            last_modified=_opt_str(meta.get("last_modified")),
            fetched_at=str(meta.get("fetched_at", "")),
            data=data,
        )

    def store(
        self, url: str, data: bytes, *, etag: str | None, last_modified: str | None
    ) -> CacheEntry:
        """Save a validated bundle for ``url`` (atomically) and mark it as the last fetched.

        Raises :class:`rdstrust.errors.StoreError` when the cache cannot be written or is not
        safe to use.
        """
        body_path, meta_path = self._paths(cache_key(url))
        self._prepare_directories()
        digest = sha256_hex(data)
        fetched_at = utcnow().isoformat().replace("+00:00", "Z")
        meta: dict[str, Any] = {
            "url": redact_url(url),
            "etag": etag,
            "last_modified": last_modified,
            "sha256": digest,
            "size": len(data),
            "fetched_at": fetched_at,
        }
        _write_private(body_path, data)
        _write_private(meta_path, _json_bytes(meta))
        self.mark_last(url)
        return CacheEntry(
            redact_url(url), body_path, digest, len(data), etag, last_modified, fetched_at, data
        )

    def _prepare_directories(self) -> None:
        """Create the cache directories (0700) and refuse to write into unsafe ones."""
        _mkdir_private(self.directory / _BUNDLES)
        problem = _directory_problem(self.directory)
        if problem is not None:
            self._refuse(problem)
            raise StoreError(problem, path=str(self.directory))

    def mark_last(self, url: str) -> None:
        """Record ``url``'s entry as the bundle the most recent fetch produced."""
        self._prepare_directories()
        pointer = _json_bytes({"key": cache_key(url), "url": redact_url(url)})
        path = self.directory / _LAST
        # Already so (a pipeline re-running the same source): no write, no fsync.
        if self._read(path, _MAX_META_BYTES) != pointer:
            _write_private(path, pointer)

    def keep(self, url: str, data: bytes, previous: CacheEntry | None) -> CacheEntry:
        """:meth:`store` for a source without HTTP validators (a file), unless ``previous`` (the
        intact entry for ``url``) holds ``data`` already.

        Then the entry is only marked as the last fetched: re-running with an unchanged source
        rewrites nothing (two files and their fsyncs per run otherwise).
        """
        if previous is not None and previous.data == data:
            self.mark_last(url)
            return previous
        return self.store(url, data, etag=None, last_modified=None)

    def last(self) -> CacheEntry | None:
        """The entry the most recent fetch stored or revalidated, if it is still intact and safe."""
        if not self._safe_directories():
            return None
        raw = self._read(self.directory / _LAST, _MAX_META_BYTES)
        if raw is None:
            return None
        try:
            pointer = json.loads(raw.decode("utf-8"))
        except ValueError:
            return None
        key = pointer.get("key") if isinstance(pointer, dict) else None
        if not isinstance(key, str) or not re.fullmatch(r"[0-9a-f]{32}", key):
            return None
        return self._load_key(key)


def last_cached_bundle(cache_dir: str | Path | None = None) -> Path | None:
    """Path of the bundle the last ``rdstrust fetch`` cached (``None`` when there is none).

    The file holds the bytes exactly as downloaded; it is returned only when it passes every
    check of :meth:`BundleCache.last` (safe owner and mode, digest, parses as a bundle). Read it
    with :func:`rdstrust.bundle.read_bundle`.
    """
    entry = BundleCache(cache_dir).last()
    return entry.path if entry is not None else None


# --- what makes a cache file or directory safe to trust -------------------------------------------


def _owner_problem(info: os.stat_result) -> str | None:
    if info.st_uid not in (os.geteuid(), 0):
        return f"it belongs to another user (uid {info.st_uid})"
    return None


def _write_problem(info: os.stat_result, *, sticky_ok: bool) -> str | None:
    mode = info.st_mode
    if not mode & _GROUP_OTHER_WRITE or (sticky_ok and mode & stat.S_ISVTX):
        return None
    who = {stat.S_IWGRP: "its group", stat.S_IWOTH: "all users"}.get(
        mode & _GROUP_OTHER_WRITE, "its group and all users"
    )
    return f"it is writable by {who} (mode {stat.S_IMODE(mode):04o})"


def _sentence(what: str, path: Path, reason: str, fix: str) -> str:
    return (
        f"Ignoring the {what} {path}: {reason}, so another local user could have replaced what "
        f"rdstrust cached; {fix} (the bundle is downloaded again meanwhile)."
    )


def _directory_problem(directory: Path) -> str | None:
    """Why ``directory`` (the cache root) cannot be trusted, as a sentence, or ``None``."""
    try:
        real = resolve_path(directory).real
    except StoreError as exc:
        return exc.message
    try:
        info = real.lstat()
    except FileNotFoundError:
        return None
    except OSError:
        return None  # unreadable: nothing will be read from it either
    # Every parent must belong to the caller or root and not let others rename the cache away;
    # a sticky directory (/tmp) lets nobody move what is not theirs.
    for parent in reversed(real.parents):
        try:
            above = parent.lstat()
        except OSError:
            continue
        reason = _owner_problem(above) or _write_problem(above, sticky_ok=True)
        if reason is not None:
            fix = f"fix {parent} or set {CACHE_ENV} to a private directory"
            return _sentence("download cache in", parent, reason, fix)
    for path, path_info in ((real, info), (real / _BUNDLES, None)):
        try:
            path_info = path_info or path.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(path_info.st_mode):
            return _sentence("download cache", path, "it is not a directory", "remove it")
        reason = _owner_problem(path_info) or _write_problem(path_info, sticky_ok=False)
        if reason is not None:
            mine = path_info.st_uid == os.geteuid()
            fix = f"run 'chmod 700 {path}'" if mine else "remove it"
            return _sentence("download cache", path, reason, fix)
    return None


def _file_problem(path: Path, info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        reason: str | None = "it is not a regular file"
    elif info.st_nlink != 1:
        # A hard link to a file of the caller's (or root's) is another name for content that
        # someone else chose; rdstrust's own cache files always have exactly one name.
        reason = f"it has {info.st_nlink} hard links"
    else:
        reason = _owner_problem(info) or _write_problem(info, sticky_ok=False)
    return None if reason is None else _sentence("cached file", path, reason, "remove it")


def _read_private(path: Path, limit: int) -> tuple[bytes | None, str | None]:
    """``(data, None)``; ``(None, None)`` when missing, unreadable or too big; or the problem."""
    try:
        # O_NOFOLLOW: a cache file is never a symlink; O_NONBLOCK: a FIFO must not hang us.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, _sentence("cached file", path, "it is a symbolic link", "remove it")
        return None, None
    try:
        info = os.fstat(fd)
        problem = _file_problem(path, info)
        if problem is not None:
            return None, problem
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError:
        return None, None
    finally:
        os.close(fd)
    return (data, None) if len(data) <= limit else (None, None)


def _mkdir_private(directory: Path) -> None:
    """Create ``directory`` and any missing parent with mode 0700, whatever the umask."""
    missing: list[Path] = []
    for path in (directory, *directory.parents):
        if os.path.lexists(path):
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir(mode=_DIR_MODE)
            # mkdir's mode is filtered through the umask (0777 under umask 000 would be the
            # old behaviour's hole); chmod sets exactly what is meant.
            path.chmod(_DIR_MODE)
        except FileExistsError:
            continue  # a concurrent fetch made it; its mode is checked like any other
        except OSError as exc:
            raise StoreError(
                f"Cannot create cache directory {path}: {exc.strerror or exc}.", path=str(path)
            ) from None


def _write_private(path: Path, data: bytes) -> None:
    """Replace a cache file with ``data``, mode 0600, as a fresh file of the caller's."""
    # An existing file that is not rdstrust's own (a symlink, a hard link, someone else's, too
    # open) is removed first: writing through it would keep its owner, mode or other name.
    with contextlib.suppress(OSError):
        info = path.lstat()
        if _file_problem(path, info) is not None or info.st_uid != os.geteuid():
            path.unlink()
    write_bytes_atomic(path, data, mode=_FILE_MODE)


def _json_bytes(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def clear_cache(cache_dir: str | Path | None = None) -> None:
    """Delete every cached bundle (used by tests and by users who want a clean slate)."""
    cache = BundleCache(cache_dir)
    for path in sorted((cache.directory / _BUNDLES).glob("*")):
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):
        (cache.directory / _LAST).unlink()
