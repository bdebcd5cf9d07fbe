"""Getting a validated RDS CA bundle: from the official URL, a mirror, or a local file.

The bundle decides whom a fleet of database clients trusts, so it is validated before anything
is cached or written: parsed strictly (:func:`rdstrust.bundle.parse_bundle`) and checked against
``expect_sha256`` (AWS publishes no checksum or signature for the bundle, so a pinned digest is
the only integrity check beyond TLS). Downloads go through :mod:`rdstrust.transport`; a per-URL
cache (:mod:`rdstrust.cache`) is revalidated with ``If-None-Match`` / ``If-Modified-Since``, so
an unchanged bundle costs one ``304 Not Modified``. Where AWS publishes what is
:mod:`rdstrust.catalogue`'s business.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rdstrust.amazon_roots import AmazonRootsSource, load_amazon_roots, with_amazon_roots
from rdstrust.atomic import write_bytes_atomic
from rdstrust.bundle import Bundle, parse_bundle, read_bundle
from rdstrust.cache import BundleCache, CacheEntry, redact_url
from rdstrust.catalogue import (
    BundleFormat,
    Partition,
    bundle_url,
    check_region,
    check_region_code,
    format_of,
    output_name,
    partition_of,
)
from rdstrust.certs import Generation
from rdstrust.endpoints import check_timeout
from rdstrust.errors import FetchError, RdsTrustError, StoreError, UsageError
from rdstrust.known_cas import UnknownRdsCaError
from rdstrust.staleness import older_than

if TYPE_CHECKING:
    from rdstrust.transport import Download, ProgressCallback

#: Seconds to wait for a connection and for each read.
DEFAULT_TIMEOUT = 30.0
#: Seconds the whole download may take, retries and backoff included.
DEFAULT_MAX_TIME = 300.0
#: Extra attempts after the first one fails with a connection error, a timeout or a 5xx answer.
DEFAULT_RETRIES = 3
#: Most retries accepted (with exponential backoff, more would outlast any deadline).
MAX_RETRIES = 10
#: First backoff delay in seconds; it doubles per retry (0.5 s, 1 s, 2 s) plus up to 25 % jitter.
DEFAULT_BACKOFF = 0.5
#: Refuse bodies larger than this; the global bundle is about 170 KB.
DEFAULT_MAX_BYTES = 5 * 1024 * 1024

_SHA256 = re.compile(r"[0-9a-f]{64}")

__all__ = [
    "DEFAULT_MAX_TIME",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "BundleFormat",
    "FetchResult",
    "Partition",
    "SourceOptions",
    "bundle_url",
    "check_output_path",
    "check_region",
    "check_region_code",
    "fetch_bundle",
    "normalize_sha256",
    "output_name",
    "save_bundle",
]


@dataclass(frozen=True)
class SourceOptions:
    """Where the bundle comes from, and how it is fetched; validated when built.

    Without ``url`` and ``file`` the official URL for ``region`` / ``partition`` / ``format``
    is used (see :func:`rdstrust.catalogue.bundle_url`). ``cache_dir`` defaults to
    :func:`rdstrust.cache.default_cache_dir`; ``use_cache=False`` neither reads nor writes the
    cache; ``offline_ok`` lets a failed download fall back to the validated cached copy of the
    same URL, with a warning. ``ca_bundle`` replaces the CA file used to verify the server (default:
    ``REQUESTS_CA_BUNDLE`` or requests' own bundle). ``timeout`` bounds the connection and each
    read, ``max_time`` the whole download; ``backoff`` is the first retry delay (0 retries at
    once, as tests do). ``amazon_roots`` (``--include amazon-roots``) adds the pinned Amazon
    Trust Services roots from that source to the bundle (see :mod:`rdstrust.amazon_roots`).
    Raises :class:`UsageError` for options that cannot work.
    """

    region: str = "global"
    partition: Partition = Partition.AWS
    format: BundleFormat = BundleFormat.PEM
    url: str | None = None
    file: Path | None = None
    expect_sha256: str | None = None
    cache_dir: Path | None = None
    use_cache: bool = True
    offline_ok: bool = False
    timeout: float = DEFAULT_TIMEOUT
    max_time: float = DEFAULT_MAX_TIME
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    max_bytes: int = DEFAULT_MAX_BYTES
    ca_bundle: Path | None = None
    allow_foreign: bool = False
    amazon_roots: AmazonRootsSource | None = None

    def __post_init__(self) -> None:
        if self.url is not None and self.file is not None:
            raise UsageError("Give either --url or --source, not both.")
        if self.amazon_roots is not None and format_of(self.format) is BundleFormat.P7B:
            # The roots are added as PEM blocks: a .p7b file holding PEM would mislead.
            raise UsageError("--include amazon-roots needs --format pem.")
        partition = partition_of(self.partition)
        object.__setattr__(self, "partition", partition)
        object.__setattr__(self, "format", format_of(self.format))
        object.__setattr__(self, "region", check_region(self.region, partition))
        object.__setattr__(self, "expect_sha256", normalize_sha256(self.expect_sha256))
        check_timeout(self.timeout, "--timeout")
        check_timeout(self.max_time, "--max-time")
        if isinstance(self.retries, bool) or not 0 <= self.retries <= MAX_RETRIES:
            raise UsageError(f"--retries {self.retries!r} is not a whole number from 0 to 10.")
        if self.max_bytes <= 0 or self.backoff < 0:
            raise UsageError("max_bytes must be positive and backoff 0 or more.")
        if self.url is not None:
            from rdstrust.transport import check_url  # HTTP machinery only when downloading

            check_url(self.url)
        if self.offline_ok and (self.file is not None or not self.use_cache):
            raise UsageError(
                "--offline-ok falls back to the cached download: it needs the cache (drop "
                "--no-cache) and a download (drop --source)."
            )

    @property
    def official(self) -> bool:
        """Whether the bundle comes from AWS's own URL (neither a mirror nor a file)."""
        return self.url is None and self.file is None

    @property
    def target(self) -> str:
        """The URL to download (``--url`` or the official one)."""
        return self.url or bundle_url(self.region, self.partition, self.format)


@dataclass(frozen=True)
class FetchResult:
    """Where a validated bundle came from, what it holds, and (after saving) where it went."""

    #: The URL (credentials removed) or the local file the bundle came from.
    source: str
    #: The requested URL, ``None`` for ``source=`` files.
    url: str | None
    #: The URL that finally answered, after redirects.
    final_url: str | None
    #: Detected format: ``pem``, ``pkcs7-der``, ``der``.
    format: str
    #: Size and SHA-256 of the raw bytes (what ``--expect-sha256`` pins).
    size: int
    sha256: str
    #: Distinct certificates, and how many per RDS CA generation (stable order).
    certificates: int
    generations: dict[str, int]
    #: The validated bundle (not part of JSON output).
    bundle: Bundle = field(repr=False, compare=False, metadata={"json": False})
    #: The body came from the cache because the server answered ``304 Not Modified``.
    from_cache: bool = False
    #: The bundle is the one the cache already held (a 304, or a 200 with identical bytes).
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    #: Download attempts made (1 when the first one succeeded; 0 for files).
    attempts: int = 0
    #: The cache file now holding the bundle, if the cache is in use.
    cache_file: str | None = None
    #: Set by :func:`save_bundle`: the file written and whether its content changed.
    output: str | None = None
    written: bool = False
    #: Things a user should know that did not stop the fetch (cache not writable, ...).
    notes: tuple[str, ...] = ()
    #: Stale input that did not stop the fetch: a bundle older than the cached one, or the
    #: cached copy used because the download failed (``offline_ok``).
    warnings: tuple[str, ...] = ()
    #: The download failed and the cached copy was used (``offline_ok``).
    offline: bool = False


def fetch_bundle(
    options: SourceOptions | None = None, *, progress: ProgressCallback | None = None
) -> FetchResult:
    """Get a validated bundle as ``options`` say: from a file, a mirror, or the official URL.

    Nothing is written except the cache entry of a validated bundle (a ``file`` source is
    cached too, so a later ``verify`` without ``--bundle`` finds it offline); write the output
    with :func:`save_bundle`. Raises :class:`UsageError` (bad options), :class:`FetchError`
    (network, TLS, HTTP status, size cap, deadline, digest mismatch) or
    :class:`rdstrust.errors.BundleError` (the bytes are not a bundle). With
    ``options.amazon_roots``, the pinned Amazon Trust Services roots are added to the bundle
    (:mod:`rdstrust.amazon_roots`); the cache keeps AWS's bytes only.
    """
    opts = options or SourceOptions()
    result = _fetch(opts, progress)
    return result if opts.amazon_roots is None else _add_amazon_roots(result, opts)


def _add_amazon_roots(result: FetchResult, opts: SourceOptions) -> FetchResult:
    assert opts.amazon_roots is not None
    from rdstrust.transport import DownloadPolicy, check_ca_bundle

    policy = DownloadPolicy(
        opts.timeout,
        opts.retries,
        opts.backoff,
        opts.max_bytes,
        opts.max_time,
        check_ca_bundle(opts.ca_bundle),
    )
    roots = load_amazon_roots(opts.amazon_roots, policy=policy)
    bundle = with_amazon_roots(result.bundle, roots, opts.amazon_roots.shown)
    added = len(bundle) - len(result.bundle)
    counts = {**result.generations, "amazon-roots": added} if added else result.generations
    # A PKCS7 or DER source became PEM: the saved file's name must follow (fetch's default -o).
    return replace(
        result, bundle=bundle, format=bundle.format, certificates=len(bundle), generations=counts
    )


def _fetch(opts: SourceOptions, progress: ProgressCallback | None) -> FetchResult:
    cache = BundleCache(opts.cache_dir) if opts.use_cache else None
    if opts.file is not None:
        return _from_file(opts, cache)
    # Imported here: a file source (update --source, the pipeline case) never loads the HTTP
    # stack (http.client, email, ssl: about 20 ms of a run).
    from rdstrust.transport import DownloadPolicy, check_ca_bundle, download

    verify = check_ca_bundle(opts.ca_bundle)
    policy = DownloadPolicy(
        opts.timeout, opts.retries, opts.backoff, opts.max_bytes, opts.max_time, verify
    )
    target = opts.target
    cached = cache.load(target) if cache is not None else None
    try:
        got = download(target, policy, cached=cached, progress=progress)
    except FetchError as exc:
        if not opts.offline_ok or cached is None:
            raise
        return _offline(opts, cached, exc)
    from_cache = got.status == 304 and cached is not None
    try:
        data = cached.data if from_cache and cached else got.data
        bundle = _validated(opts, data, from_cache=from_cache)
    except UnknownRdsCaError:
        if not (from_cache and opts.official):
            raise
        # The cached copy of the official bundle holds a CA this rdstrust does not know (a new
        # region's, added since): fetch it afresh, which is the proof the list asks for.
        got, from_cache = download(target, policy, progress=progress), False
        bundle = _validated(opts, got.data, from_cache=False)
    # A refused cache entry is reported by the cache itself (a warning on stderr), once.
    result = _downloaded(opts, bundle, got, (cached, from_cache), cache)
    return replace(result, warnings=_older(bundle, cached))


def _offline(opts: SourceOptions, cached: CacheEntry, failure: FetchError) -> FetchResult:
    """The cached copy of ``opts.target`` after a failed download (``offline_ok``).

    The copy is validated as a download would be (parsed, pinned digest); if it fails, the
    download's own error is what the user sees.
    """
    try:
        bundle = _validated(opts, cached.data, from_cache=True)
    except RdsTrustError:
        raise failure from None
    shown = redact_url(opts.target)
    warning = (
        f"the download failed ({failure.message.rstrip('.')}); using the copy cached "
        f"{cached.fetched_at or 'earlier'} (--offline-ok), which may be out of date."
    )
    result = _result(
        bundle,
        source=shown,
        url=shown,
        from_cache=True,
        not_modified=True,
        etag=cached.etag,
        last_modified=cached.last_modified,
        cache_file=str(cached.path),
    )
    return replace(result, warnings=(warning,), offline=True)


def _older(bundle: Bundle, previous: CacheEntry | None) -> tuple[str, ...]:
    """A warning when ``bundle`` is older than the cached copy of the same source."""
    if previous is None or previous.sha256 == bundle.sha256:
        return ()
    try:
        earlier = parse_bundle(
            previous.data, source=str(previous.path), allow_foreign=True, accept_unknown_rds=True
        )
    except RdsTrustError:
        return ()
    warning = older_than(bundle, earlier, previous.fetched_at)
    return (warning,) if warning is not None else ()


def _default_trust(opts: SourceOptions) -> bool:
    """Whether the server was verified against the system's CAs only.

    A ``--ca-bundle`` or ``REQUESTS_CA_BUNDLE`` (a TLS-inspecting proxy's CA, say) lets whoever
    holds that CA answer for the official host name: its bytes are then no proof of origin.
    """
    if opts.ca_bundle is not None:
        return False
    return not any(os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"))


def _validated(opts: SourceOptions, data: bytes, *, from_cache: bool) -> Bundle:
    """Parse and check downloaded bytes.

    Only bytes fresh from the official URL (verified HTTPS) may bring a CA rdstrust's list does
    not know yet; a mirror (--url) or the disk cache (a 304) is no proof of where they came from.
    """
    shown = redact_url(opts.target)
    bundle = parse_bundle(
        data,
        source=shown,
        allow_foreign=opts.allow_foreign,
        from_official_url=opts.official and not from_cache and _default_trust(opts),
    )
    _check_digest(bundle.sha256, opts.expect_sha256, shown)
    return bundle


def _from_file(opts: SourceOptions, cache: BundleCache | None) -> FetchResult:
    assert opts.file is not None
    bundle = read_bundle(opts.file, allow_foreign=opts.allow_foreign)
    _check_digest(bundle.sha256, opts.expect_sha256, str(opts.file))
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    cache_file = None
    if cache is not None:
        key = f"file://{opts.file.resolve()}"
        previous = cache.load(key, parsed=bundle.raw)
        warnings = _older(bundle, previous)
        try:
            entry = cache.keep(key, bundle.raw, previous)
            cache_file = str(entry.path)
        except StoreError as exc:
            notes = (f"not cached: {exc.message}",)
    result = _result(bundle, source=str(opts.file), url=None, cache_file=cache_file, notes=notes)
    return replace(result, warnings=warnings)


def _downloaded(
    opts: SourceOptions,
    bundle: Bundle,
    got: Download,
    before: tuple[CacheEntry | None, bool],
    cache: BundleCache | None,
) -> FetchResult:
    """The result of a download, after caching it (a cache that cannot be written is a note).

    ``before`` is the cache entry found before downloading and whether the answer was a 304
    that served it.
    """
    previous, from_cache = before
    cached = previous if from_cache else None
    target = opts.target
    shown = redact_url(target)
    notes: list[str] = []
    cache_file: str | None = None
    if cache is not None:
        try:
            if cached is not None:
                cache.mark_last(target)
                cache_file = str(cached.path)
            else:
                entry = cache.store(
                    target, got.data, etag=got.etag, last_modified=got.last_modified
                )
                cache_file = str(entry.path)
        except StoreError as exc:
            # A read-only home directory must not break a build: the bundle itself is fine.
            notes.append(f"not cached: {exc.message}")
    return _result(
        bundle,
        source=shown,
        url=shown,
        final_url=redact_url(got.final_url),
        from_cache=from_cache,
        not_modified=from_cache or (previous is not None and previous.sha256 == bundle.sha256),
        etag=got.etag or (cached.etag if cached else None),
        last_modified=got.last_modified or (cached.last_modified if cached else None),
        attempts=got.attempts,
        cache_file=cache_file,
        notes=tuple(notes),
    )


def check_output_path(path: str | Path, option: str = "-o") -> None:
    """Fail early (before downloading) when ``path`` cannot be an output file.

    ``option`` names the command-line option that gave the path, for the message.
    """
    p = Path(path)
    if p.is_dir():
        raise StoreError(f"Output {p} is a directory; give a file name with {option}.", path=str(p))
    parent = p.parent if str(p.parent) else Path()
    if not parent.is_dir():
        raise StoreError(
            f"Cannot write {p}: directory {parent} does not exist; create it first.",
            path=str(p),
        )


def save_bundle(result: FetchResult, path: str | Path) -> FetchResult:
    """Write the bundle's bytes, exactly as received, to ``path`` atomically.

    A file that already holds these bytes is left alone (its modification time too). Returns
    ``result`` with ``output`` and ``written`` set. Raises :class:`StoreError`.
    """
    p = Path(path)
    check_output_path(p)
    data = result.bundle.raw
    try:
        if p.read_bytes() == data:
            return replace(result, output=str(p), written=False)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StoreError(f"Cannot read {p}: {exc.strerror or exc}.", path=str(p)) from None
    write_bytes_atomic(p, data, mode=0o644)
    return replace(result, output=str(p), written=True)


def normalize_sha256(value: str | None) -> str | None:
    """``value`` as 64 lowercase hex digits (``sha256:`` prefix and colons allowed), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    text = text.removeprefix("sha256:").replace(":", "")
    if not _SHA256.fullmatch(text):
        raise UsageError(
            f"--expect-sha256 {value!r} is not a SHA-256 digest (64 hexadecimal digits)."
        )
    return text


# --- internals ---------------------------------------------------------------------------------


def _check_digest(actual: str, expected: str | None, shown: str) -> None:
    if expected is not None and actual != expected:
        raise FetchError(
            f"{shown} has SHA-256 {actual}, not the expected {expected}; the bundle changed or "
            "was tampered with: check the new bundle, then update --expect-sha256.",
            url=shown,
        )


def _result(bundle: Bundle, **outcome: object) -> FetchResult:
    """The result for ``bundle``: its size, digest and counts, plus where it came from."""
    counts = Counter(c.generation for c in bundle.certificates)
    outcome.setdefault("final_url", None)
    return FetchResult(
        format=bundle.format,
        size=len(bundle.raw),
        sha256=bundle.sha256,
        certificates=len(bundle.certificates),
        generations={g.value: counts[g] for g in Generation if counts[g]},
        bundle=bundle,
        **outcome,  # type: ignore[arg-type]
    )
