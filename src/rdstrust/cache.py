"""The download cache: the last validated bundle per URL, with the validators to revalidate it.

A pipeline that runs ``rdstrust fetch`` on every build should not download an unchanged
170 KB bundle every time: the cache keeps, per URL, the body and the server's ``ETag`` /
``Last-Modified`` so the next fetch sends ``If-None-Match`` / ``If-Modified-Since`` and an
unchanged bundle costs one ``304 Not Modified``. Only bundles that passed validation are cached,
and every cached body carries its SHA-256, checked on read: a damaged or edited cache entry is
ignored (the bundle is downloaded again), never trusted.

Layout of the cache directory (``$RDSTRUST_CACHE_DIR``, else ``$XDG_CACHE_HOME/rdstrust``, else
``~/.cache/rdstrust``)::

    bundles/<key>.bundle   the raw bytes as downloaded (key = SHA-256 of the URL, 32 hex)
    bundles/<key>.json     url, etag, last_modified, sha256, size, fetched_at
    last.json              which entry the most recent fetch stored or revalidated
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rdstrust.atomic import write_bytes_atomic
from rdstrust.certs import sha256_hex, utcnow
from rdstrust.errors import StoreError

CACHE_ENV = "RDSTRUST_CACHE_DIR"
_LAST = "last.json"
_BUNDLES = "bundles"


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

    Reading (:meth:`load`, :meth:`last`) never fails: a missing or damaged entry is ``None``.
    Writing (:meth:`store`, :meth:`mark_last`) raises :class:`rdstrust.errors.StoreError`.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self.directory / _BUNDLES / key
        return base.with_suffix(".bundle"), base.with_suffix(".json")

    def load(self, url: str) -> CacheEntry | None:
        """The intact entry for ``url``, or ``None`` (missing, unreadable or damaged)."""
        entry = self._load_key(cache_key(url))
        return entry if entry is not None and entry.url == redact_url(url) else None

    def _load_key(self, key: str) -> CacheEntry | None:
        body_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            data = body_path.read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or not isinstance(meta.get("url"), str):
            return None
        # The body and its metadata are two files; a concurrent writer or a hand edit can leave
        # them disagreeing. The digest decides, and a disagreeing entry is simply not used.
        if meta.get("sha256") != sha256_hex(data):
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

        Raises :class:`rdstrust.errors.StoreError` when the cache cannot be written.
        """
        body_path, meta_path = self._paths(cache_key(url))
        _mkdir(body_path.parent)
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
        write_bytes_atomic(body_path, data, mode=0o644)
        write_bytes_atomic(meta_path, _json_bytes(meta), mode=0o644)
        self.mark_last(url)
        return CacheEntry(
            redact_url(url), body_path, digest, len(data), etag, last_modified, fetched_at, data
        )

    def mark_last(self, url: str) -> None:
        """Record ``url``'s entry as the bundle the most recent fetch produced."""
        _mkdir(self.directory)
        pointer = {"key": cache_key(url), "url": redact_url(url)}
        write_bytes_atomic(self.directory / _LAST, _json_bytes(pointer), mode=0o644)

    def last(self) -> CacheEntry | None:
        """The entry the most recent fetch stored or revalidated, if it is still intact."""
        try:
            pointer = json.loads((self.directory / _LAST).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        key = pointer.get("key") if isinstance(pointer, dict) else None
        if not isinstance(key, str) or not re.fullmatch(r"[0-9a-f]{32}", key):
            return None
        return self._load_key(key)


def last_cached_bundle(cache_dir: str | Path | None = None) -> Path | None:
    """Path of the bundle the last ``rdstrust fetch`` cached (``None`` when there is none).

    The file holds the bytes exactly as downloaded and already validated; read it with
    :func:`rdstrust.bundle.read_bundle`.
    """
    entry = BundleCache(cache_dir).last()
    return entry.path if entry is not None else None


def _mkdir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"Cannot create cache directory {directory}: {exc.strerror or exc}.",
            path=str(directory),
        ) from None


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
