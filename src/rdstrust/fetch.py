"""Downloading the Amazon RDS CA bundle safely, or taking it from a local file.

The bundle decides whom a fleet of database clients trusts, so the download is strict:

* HTTPS only, certificate verification always on. ``requests`` honours ``REQUESTS_CA_BUNDLE``
  (an internal mirror with a private CA) and the proxy variables, like any requests-based tool.
  Redirects are followed here, one hop at a time, so a redirect to ``http://`` is refused before
  any request goes there.
* Bounded: a timeout on connect and on every read, a size cap enforced while streaming (a
  runaway body is cut off, not buffered), a bounded number of redirects and retries.
* Retries with exponential backoff and jitter on connection errors, timeouts and 5xx answers;
  never on 4xx (a wrong region or URL does not fix itself).
* The bytes are validated as a bundle (:func:`rdstrust.bundle.parse_bundle`) and checked against
  ``expect_sha256`` before anything is cached or written. AWS publishes no checksum or
  signature for the bundle, so a pinned digest is the only integrity check beyond TLS.
* A per-URL cache (:mod:`rdstrust.cache`) revalidated with ``If-None-Match`` /
  ``If-Modified-Since``: an unchanged bundle costs one ``304 Not Modified``.
"""

from __future__ import annotations

import http.client
import math
import os
import random
import re
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from rdstrust.atomic import write_bytes_atomic
from rdstrust.bundle import Bundle, parse_bundle, read_bundle
from rdstrust.cache import BundleCache, CacheEntry, redact_url
from rdstrust.certs import Generation
from rdstrust.errors import FetchError, RdsTrustError, StoreError, UsageError

#: Seconds to wait for a connection and for each read.
DEFAULT_TIMEOUT = 30.0
#: Extra attempts after the first one fails with a connection error, a timeout or a 5xx answer.
DEFAULT_RETRIES = 3
#: First backoff delay in seconds; it doubles per retry (0.5 s, 1 s, 2 s) plus up to 25 % jitter.
DEFAULT_BACKOFF = 0.5
#: Refuse bodies larger than this; the global bundle is about 170 KB.
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
#: Redirect hops followed before giving up.
MAX_REDIRECTS = 5
#: Longest accepted timeout in seconds (a huge one overflows the socket's deadline).
MAX_TIMEOUT = 3600.0

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
# A region code as AWS spells it: us-east-1, ap-southeast-2, us-gov-west-1, cn-northwest-1.
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_SHA256 = re.compile(r"[0-9a-f]{64}")

#: Called while downloading with (bytes received so far, total bytes if the server said).
ProgressCallback = Callable[[int, int | None], None]


class Partition(str, Enum):
    """The AWS partition whose trust store host serves the bundle."""

    AWS = "aws"
    AWS_US_GOV = "aws-us-gov"
    AWS_CN = "aws-cn"

    def __str__(self) -> str:
        return self.value


class BundleFormat(str, Enum):
    """The file format AWS publishes the bundle in."""

    PEM = "pem"
    P7B = "p7b"

    def __str__(self) -> str:
        return self.value


# The official trust store hosts (AWS RDS user guide, "Certificate bundles by AWS Region").
# GovCloud serves both us-gov regions from the us-gov-west-1 host; China serves both cn regions
# from an S3 bucket in cn-north-1.
_HOSTS = {
    Partition.AWS: "https://truststore.pki.rds.amazonaws.com",
    Partition.AWS_US_GOV: "https://truststore.pki.us-gov-west-1.rds.amazonaws.com",
    Partition.AWS_CN: "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn",
}
_PREFIXES = {Partition.AWS_US_GOV: "us-gov-", Partition.AWS_CN: "cn-"}


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
    bundle: Bundle = field(repr=False, compare=False)
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


def check_region(region: str, partition: Partition | str = Partition.AWS) -> str:
    """Return the normalized region code, or raise :class:`UsageError` if it does not fit.

    ``region`` is ``global`` or a region code (``us-east-1``); ``us-gov-*`` regions belong to
    ``aws-us-gov`` only, ``cn-*`` regions to ``aws-cn`` only.
    """
    part = _partition(partition)
    code = check_region_code(region)
    if code == "global":
        return code
    for other, prefix in _PREFIXES.items():
        if code.startswith(prefix) and part is not other:
            raise UsageError(
                f"Region {code} belongs to the {other.value} partition, not {part.value}; "
                f"add --partition {other.value}."
            )
    own = _PREFIXES.get(part)
    if own is not None and not code.startswith(own):
        raise UsageError(
            f"Region {code} is not in the {part.value} partition (only {own}* regions and "
            "'global' are); pick one of those or drop --partition."
        )
    if code.startswith("us-iso"):
        raise UsageError(
            f"Region {code} is in an isolated partition whose bundle is not published on the "
            "internet; download it inside that partition and pass --source FILE."
        )
    return code


def check_region_code(region: str) -> str:
    """The normalized ``region`` (``global`` or a code such as ``us-east-1``), whatever its
    partition; raises :class:`UsageError` when it is not spelled like a region code.

    :func:`check_region` adds the partition rules; ``verify --region`` only needs this.
    """
    code = region.strip().lower()
    if code != "global" and not _REGION.fullmatch(code):
        raise UsageError(
            f"--region {region!r} is not a region code; give one such as us-east-1, or 'global' "
            "for the bundle of every region."
        )
    return code


def bundle_url(
    region: str = "global",
    partition: Partition | str = Partition.AWS,
    fmt: BundleFormat | str = BundleFormat.PEM,
) -> str:
    """The official download URL of the bundle for ``region`` in ``partition``, as ``fmt``.

    >>> bundle_url()
    'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem'
    >>> bundle_url("us-gov-east-1", "aws-us-gov")
    'https://truststore.pki.us-gov-west-1.rds.amazonaws.com/us-gov-east-1/us-gov-east-1-bundle.pem'
    """
    code = check_region(region, partition)
    return f"{_HOSTS[_partition(partition)]}/{code}/{code}-bundle.{_format(fmt).value}"


def output_name(region: str = "global", fmt: BundleFormat | str = BundleFormat.PEM) -> str:
    """The file name AWS gives the bundle, used as the default output: ``global-bundle.pem``."""
    return f"{region.strip().lower()}-bundle.{_format(fmt).value}"


def fetch_bundle(
    url: str | None = None,
    *,
    region: str = "global",
    partition: Partition | str = Partition.AWS,
    fmt: BundleFormat | str = BundleFormat.PEM,
    source: str | Path | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    expect_sha256: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_foreign: bool = False,
    ca_bundle: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> FetchResult:
    """Get a validated bundle: from ``source`` (a local file), ``url``, or the official URL.

    Without ``url`` and ``source`` the official URL for ``region`` / ``partition`` / ``fmt``
    is used (see :func:`bundle_url`). ``cache_dir`` defaults to
    :func:`rdstrust.cache.default_cache_dir`; ``use_cache=False`` neither reads nor writes the
    cache. ``ca_bundle`` replaces the CA file used to verify the server (default:
    ``REQUESTS_CA_BUNDLE`` or requests' own bundle; checked up front, see
    :func:`check_ca_bundle`). ``backoff`` is the first retry delay in
    seconds (0 retries at once, as tests do).

    Nothing is written except the cache entry of a validated bundle; write the output with
    :func:`save_bundle`. Raises :class:`UsageError` (bad options), :class:`FetchError`
    (network, TLS, HTTP status, size cap, digest mismatch) or
    :class:`rdstrust.errors.BundleError` (the bytes are not a bundle).
    """
    if url is not None and source is not None:
        raise UsageError("Give either --url or --source, not both.")
    region_code = check_region(region, partition)
    expected = normalize_sha256(expect_sha256)
    if source is not None:
        bundle = read_bundle(source, allow_foreign=allow_foreign)
        _check_digest(bundle.sha256, expected, str(source))
        return _result(bundle, source=str(source), url=None)
    target = url if url is not None else bundle_url(region_code, partition, fmt)
    check_url(target)
    if retries < 0 or max_bytes <= 0:
        raise UsageError("--retries must be 0 or more, and max_bytes positive.")
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout)) or not (
        0 < timeout <= MAX_TIMEOUT
    ):
        raise UsageError(
            f"--timeout {timeout!r} is not a number of seconds greater than 0 and at most "
            f"{MAX_TIMEOUT:g}."
        )
    verify = check_ca_bundle(ca_bundle)
    cache = BundleCache(cache_dir) if use_cache else None
    cached = cache.load(target) if cache is not None else None
    download = _download_with_retries(
        target,
        cached=cached,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        max_bytes=max_bytes,
        verify=verify,
        progress=progress,
    )
    from_cache = download.status == 304
    data = cached.data if from_cache and cached is not None else download.data
    shown = redact_url(target)
    # Only bytes fresh from the official URL (verified HTTPS) may bring a CA rdstrust's list does
    # not know yet; a mirror (--url) or the disk cache (a 304) is no proof of where they came from.
    official = url is None and not from_cache
    bundle = parse_bundle(
        data, source=shown, allow_foreign=allow_foreign, from_official_url=official
    )
    _check_digest(bundle.sha256, expected, shown)
    notes: list[str] = []
    cache_file: str | None = None
    if cache is not None:
        try:
            if from_cache:
                cache.mark_last(target)
                cache_file = str(cached.path) if cached is not None else None
            else:
                entry = cache.store(
                    target, data, etag=download.etag, last_modified=download.last_modified
                )
                cache_file = str(entry.path)
        except StoreError as exc:
            # A read-only home directory must not break a build: the bundle itself is fine.
            notes.append(f"not cached: {exc.message}")
    return _result(
        bundle,
        source=shown,
        url=shown,
        final_url=redact_url(download.final_url),
        from_cache=from_cache,
        not_modified=from_cache or (cached is not None and cached.sha256 == bundle.sha256),
        etag=download.etag or (cached.etag if from_cache and cached else None),
        last_modified=download.last_modified
        or (cached.last_modified if from_cache and cached else None),
        attempts=download.attempts,
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


@dataclass(frozen=True)
class _Download:
    status: int  # 200, or 304 when the cached entry is still current
    data: bytes
    final_url: str
    etag: str | None
    last_modified: str | None
    attempts: int


class _RetryableError(Exception):
    """An attempt failed in a way another attempt may fix (connection, timeout, 5xx)."""

    def __init__(self, what: str, advice: str) -> None:
        super().__init__(what)
        self.what = what
        self.advice = advice


def _partition(value: Partition | str) -> Partition:
    try:
        return Partition(value)
    except ValueError:
        names = ", ".join(p.value for p in Partition)
        raise UsageError(f"--partition {value!r} is unknown; use one of {names}.") from None


def _format(value: BundleFormat | str) -> BundleFormat:
    try:
        return BundleFormat(value)
    except ValueError:
        raise UsageError(f"--format {value!r} is unknown; use pem or p7b.") from None


def check_url(url: str) -> str:
    """Return ``url`` if it is a well-formed ``https://`` URL; raises :class:`UsageError`.

    Catches what would otherwise surface as ``ValueError`` deep inside urllib / requests: an
    unclosed IPv6 bracket, a port outside 1-65535, a host name with spaces.
    """
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
        host = parts.hostname
    except ValueError as exc:
        raise UsageError(f"--url {shown!r} is not a valid URL ({exc}); check it.") from None
    if parts.scheme.lower() != "https" or not host:
        raise UsageError(
            f"Refusing {shown!r}: the bundle is only fetched over HTTPS with "
            "certificate verification; give an https:// URL."
        )
    if port == 0:
        raise UsageError(f"--url {shown!r} has port 0; give a port from 1 to 65535.")
    if not _is_host(host):
        raise UsageError(
            f"--url {shown!r} does not name a valid host ({host!r}); check it for spaces or "
            "other characters a host name cannot hold."
        )
    return url


def _is_host(host: str) -> bool:
    from rdstrust.probe import check_host

    try:
        check_host(host)
    except UsageError:
        return False
    return True


def check_ca_bundle(path: str | Path | None) -> str | bool:
    """What to verify the server with: ``path`` (a readable CA file or directory) or, for
    ``None``, ``True`` (requests' default after ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``).

    Raises :class:`UsageError` when ``path``, or the file one of those variables names, is
    missing, unreadable or holds no certificate: requests would raise a bare ``OSError`` for
    that in the middle of the download.
    """
    if path is not None:
        return _check_ca_file(Path(path), "--ca-bundle")
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(var)
        if value:
            # requests uses the first one set (sessions.py merge_environment_settings).
            _check_ca_file(Path(value), var)
            break
    return True


def _check_ca_file(p: Path, what: str) -> str:
    if p.is_dir():
        if not os.access(p, os.R_OK | os.X_OK):
            raise UsageError(f"{what} directory {p} is not readable; check its permissions.")
        return str(p)
    if not p.exists():
        raise UsageError(f"{what} file {p} does not exist; give the path of a PEM CA file.")
    if not p.is_file():
        raise UsageError(f"{what} {p} is not a regular file; give the path of a PEM CA file.")
    try:
        ssl.create_default_context(cafile=str(p))
    except ssl.SSLError:
        raise UsageError(
            f"{what} file {p} holds no PEM CA certificate; give the CA file of your mirror."
        ) from None
    except OSError as exc:
        raise UsageError(f"{what} file {p} cannot be read: {exc.strerror or exc}.") from None
    return str(p)


def _check_digest(actual: str, expected: str | None, shown: str) -> None:
    if expected is not None and actual != expected:
        raise FetchError(
            f"{shown} has SHA-256 {actual}, not the expected {expected}; the bundle changed or "
            "was tampered with: check the new bundle, then update --expect-sha256.",
            url=shown,
        )


def _result(
    bundle: Bundle,
    *,
    source: str,
    url: str | None,
    final_url: str | None = None,
    from_cache: bool = False,
    not_modified: bool = False,
    etag: str | None = None,
    last_modified: str | None = None,
    attempts: int = 0,
    cache_file: str | None = None,
    notes: tuple[str, ...] = (),
) -> FetchResult:
    counts = Counter(c.generation for c in bundle.certificates)
    return FetchResult(
        source=source,
        url=url,
        final_url=final_url,
        format=bundle.format,
        size=len(bundle.raw),
        sha256=bundle.sha256,
        certificates=len(bundle.certificates),
        generations={g.value: counts[g] for g in Generation if counts[g]},
        bundle=bundle,
        from_cache=from_cache,
        not_modified=not_modified,
        etag=etag,
        last_modified=last_modified,
        attempts=attempts,
        cache_file=cache_file,
        notes=notes,
    )


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("rdstrust")
    except PackageNotFoundError:
        mine = "0"
    return f"rdstrust/{mine} python-requests/{requests.__version__}"


def _download_with_retries(
    url: str,
    *,
    cached: CacheEntry | None,
    timeout: float,
    retries: int,
    backoff: float,
    max_bytes: int,
    verify: str | bool,
    progress: ProgressCallback | None,
) -> _Download:
    headers = {"User-Agent": _user_agent(), "Accept": "*/*"}
    if cached is not None:
        if cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
    conditional = "If-None-Match" in headers or "If-Modified-Since" in headers
    with requests.Session() as session:
        # trust_env (the default) makes requests read REQUESTS_CA_BUNDLE, the proxy variables
        # and .netrc exactly as every other requests-based tool does.
        attempt = 0
        while True:
            attempt += 1
            try:
                download = _attempt(
                    session, url, headers, conditional, timeout, max_bytes, verify, progress
                )
                return replace(download, attempts=attempt)
            except _RetryableError as exc:
                if attempt > retries:
                    tries = f" (gave up after {attempt} attempts)" if attempt > 1 else ""
                    raise FetchError(
                        f"{exc.what}{tries}; {exc.advice}.", url=redact_url(url)
                    ) from None
            if backoff > 0:
                delay = backoff * 2 ** (attempt - 1)
                # Jitter spreads out a fleet of build agents that all failed at the same moment.
                time.sleep(delay + random.uniform(0, delay / 4))  # noqa: S311


def _attempt(
    session: requests.Session,
    url: str,
    headers: dict[str, str],
    conditional: bool,
    timeout: float,
    max_bytes: int,
    verify: str | bool,
    progress: ProgressCallback | None,
) -> _Download:
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        response = _get(session, current, headers, timeout, verify)
        with response:
            status = response.status_code
            if status in _REDIRECTS:
                current = _redirect_target(current, response)
                continue
            etag = response.headers.get("ETag")
            last_modified = response.headers.get("Last-Modified")
            if status == 304 and conditional:
                return _Download(304, b"", current, etag, last_modified, 0)
            if status >= 500:
                what = f"HTTP {status} {response.reason or ''}".rstrip()
                raise _RetryableError(
                    f"{redact_url(current)} answered {what}",
                    "the server has a problem, try again later",
                )
            if status != 200:
                raise FetchError(_status_message(current, status, response.reason))
            data = _read_capped(response, current, timeout, max_bytes, progress)
            return _Download(200, data, current, etag, last_modified, 0)
    raise FetchError(
        f"{redact_url(url)} redirects more than {MAX_REDIRECTS} times; check the URL.",
        url=redact_url(url),
    )


def _get(
    session: requests.Session,
    url: str,
    headers: dict[str, str],
    timeout: float,
    verify: str | bool,
) -> requests.Response:
    host = _host(url)
    try:
        return session.get(
            url,
            headers=headers,
            stream=True,
            timeout=(timeout, timeout),
            allow_redirects=False,
            verify=verify,
        )
    except requests.exceptions.SSLError as exc:
        raise FetchError(_tls_message(host, exc), url=redact_url(url)) from None
    except requests.exceptions.ProxyError as exc:
        raise _RetryableError(
            f"Could not connect to {host} through the proxy ({_reason(exc)})",
            "check HTTPS_PROXY / NO_PROXY, or download the bundle elsewhere and pass --source FILE",
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise _connect_error(host, exc, timeout) from None
    except requests.exceptions.RequestException as exc:
        raise FetchError(
            f"Cannot request {redact_url(url)}: {_reason(exc)}.", url=redact_url(url)
        ) from None
    except (OSError, ValueError) as exc:
        # requests raises a bare OSError for an unusable CA file and ValueError for some
        # malformed URLs; both were checked up front, this keeps any leftover from a traceback.
        raise FetchError(
            f"Cannot request {redact_url(url)}: {_reason(exc)}.", url=redact_url(url)
        ) from None


def _redirect_target(current: str, response: requests.Response) -> str:
    location = response.headers.get("Location")
    if not location:
        raise FetchError(
            f"{redact_url(current)} answered HTTP {response.status_code} without a Location.",
            url=redact_url(current),
        )
    target = urljoin(current, location)
    if urlsplit(target).scheme.lower() != "https":
        # Checked before following: a downgrade would hand the bundle to anyone on the path.
        raise FetchError(
            f"{redact_url(current)} redirects to {redact_url(target)}, which is not HTTPS; "
            "refusing to fetch the bundle without TLS.",
            url=redact_url(current),
        )
    return target


def _read_capped(
    response: requests.Response,
    url: str,
    timeout: float,
    max_bytes: int,
    progress: ProgressCallback | None,
) -> bytes:
    declared = _content_length(response)
    too_big = (
        f"{redact_url(url)} sends more than {max_bytes} bytes, far more than any RDS CA bundle; "
        "check the URL (a bundle is about 170 KB)."
    )
    if declared is not None and declared > max_bytes:
        raise FetchError(too_big, url=redact_url(url))
    received = bytearray()
    chunks: Iterator[bytes] = response.iter_content(_CHUNK)
    try:
        for chunk in chunks:
            received += chunk
            if len(received) > max_bytes:
                # Stop reading here: closing the response drops the connection.
                raise FetchError(too_big, url=redact_url(url))
            if progress is not None:
                progress(len(received), declared)
    except RdsTrustError:
        raise
    except (requests.exceptions.RequestException, OSError) as exc:
        raise _RetryableError(
            f"The download from {_host(url)} broke off ({_connect_reason(exc, timeout)})",
            "try again later",
        ) from None
    return bytes(received)


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.strip().isdigit() else None


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def _status_message(url: str, status: int, reason: str | None) -> str:
    shown = redact_url(url)
    what = f"HTTP {status} {reason or ''}".rstrip()
    if status == 404:
        return (
            f"{shown} answered {what}: there is no bundle at this address; check --region, "
            "--partition and --format (or --url)."
        )
    if status in (401, 403):
        return (
            f"{shown} answered {what}: access denied; for the official bundle check --region "
            "(an unknown region is refused like this), for a mirror its credentials."
        )
    if status == 304:
        return f"{shown} answered {what} to a request that was not conditional."
    return f"{shown} answered {what}; the bundle was not downloaded."


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (urllib3 hides the ssl error several levels down)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend(a for a in item.args if isinstance(a, BaseException))
        for attr in ("reason", "__cause__", "__context__"):
            inner = getattr(item, attr, None)
            if isinstance(inner, BaseException):
                stack.append(inner)


def _tls_message(host: str, exc: BaseException) -> str:
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or "certificate verify failed"
            return (
                f"TLS verification of {host} failed ({reason}); if you use an internal mirror "
                "with a private CA, set REQUESTS_CA_BUNDLE (or --ca-bundle) to its CA file."
            )
    return (
        f"TLS connection to {host} failed ({_reason(exc)}); check that the URL is an HTTPS "
        "server and that no proxy intercepts TLS (else set REQUESTS_CA_BUNDLE to its CA)."
    )


def _connect_error(host: str, exc: BaseException, timeout: float) -> _RetryableError:
    if isinstance(exc, requests.exceptions.Timeout) and not isinstance(
        exc, requests.exceptions.ConnectTimeout
    ):
        return _RetryableError(
            f"{host} did not answer within {timeout:g} s", "try again later or raise --timeout"
        )
    return _RetryableError(
        f"Could not connect to {host} ({_connect_reason(exc, timeout)})",
        "check the network and proxy settings (HTTPS_PROXY), or download the bundle elsewhere "
        "and pass --source FILE",
    )


def _connect_reason(exc: BaseException, timeout: float) -> str:
    import socket

    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, (TimeoutError, socket.timeout)) or "timed out" in str(cause):
            return f"no answer within {timeout:g} s"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        if isinstance(cause, http.client.IncompleteRead):
            return "the connection closed before the whole body arrived"
    return _reason(exc)


def _reason(exc: BaseException) -> str:
    # The innermost message is the useful one; urllib3 wraps it in pool and retry boilerplate.
    innermost = exc
    for cause in _causes(exc):
        innermost = cause
    text = str(innermost).strip() or type(innermost).__name__
    text = re.sub(r"<urllib3[^>]*>:\s*", "", text)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    return text.splitlines()[0].rstrip(".")
