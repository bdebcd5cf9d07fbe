"""HTTPS downloads for the bundle: strict, bounded, retried, with one-sentence errors.

* HTTPS only, certificate verification always on. ``requests`` honours ``REQUESTS_CA_BUNDLE``
  (an internal mirror with a private CA) and the proxy variables, like any requests-based tool.
  Redirects are followed here, one hop at a time, so a redirect to ``http://`` is refused before
  any request goes there.
* Bounded: a timeout on connect and on every read, an overall deadline for the whole download
  (a server that sends a byte a second cannot keep a build waiting for hours), a size cap
  enforced while streaming (a runaway body is cut off, not buffered), a bounded number of
  redirects and retries.
* Retries with exponential backoff and jitter on connection errors, timeouts and 5xx answers;
  never on 4xx (a wrong region or URL does not fix itself).

urllib3 wraps the useful message (a refused connection, a certificate error) several levels
deep; :func:`_reason` and friends unwrap it into a sentence.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from rdstrust.cache import CacheEntry, redact_url
from rdstrust.endpoints import is_host
from rdstrust.errors import FetchError, RdsTrustError, UsageError

if TYPE_CHECKING:
    # requests (and urllib3) are imported only when a download runs: about 50 ms that a
    # --source run never needs.
    import requests

#: Redirect hops followed before giving up.
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024

#: Called while downloading with (bytes received so far, total bytes if the server said).
ProgressCallback = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class DownloadPolicy:
    """How patient and how trusting a download is (validated by the caller's options).

    ``timeout`` bounds the connection and each read; ``max_time`` the whole download, retries
    and backoff included. ``verify`` is what requests verifies the server with (see
    :func:`check_ca_bundle`).
    """

    timeout: float
    retries: int
    backoff: float
    max_bytes: int
    max_time: float
    verify: str | bool = True


@dataclass(frozen=True)
class Download:
    """What the server answered: 200 with the body, or 304 (the cached entry is current)."""

    status: int
    data: bytes
    final_url: str
    etag: str | None
    last_modified: str | None
    attempts: int


class _Deadline:
    """The overall time budget of one download, enforced even inside a blocked read.

    ``requests`` bounds each read, not the whole response: a server that sends its headers a
    byte at a time stays within every read timeout forever. So the sockets this download opens
    are recorded (see :class:`_TrackedConnection`) and a watchdog shuts them down when the
    budget is spent, which wakes any read that is waiting on them.
    """

    def __init__(self, seconds: float, url: str) -> None:
        self.seconds = seconds
        self.url = url
        self.end = time.monotonic() + seconds
        self.sockets: list[socket.socket] = []
        self.expired = False
        self._lock = threading.Lock()
        self._watchdog = threading.Timer(seconds, self._expire)
        self._watchdog.daemon = True

    def __enter__(self) -> _Deadline:
        self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watchdog.cancel()

    def track(self, sock: socket.socket) -> None:
        """Record a socket of this download (shut down at once if the budget is already gone)."""
        with self._lock:
            self.sockets.append(sock)
            late = self.expired
        if late:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self.sockets)
        for sock in sockets:
            _shut(sock)

    def remaining(self) -> float:
        """Seconds left; raises :class:`FetchError` when none are."""
        left = self.end - time.monotonic()
        if left <= 0 or self.expired:
            raise FetchError(
                f"The download from {_host(self.url)} did not finish within {self.seconds:g} s "
                "(--max-time); the server is too slow or stalls: try again later, raise "
                "--max-time, or download the bundle elsewhere and pass --source FILE.",
                url=redact_url(self.url),
            )
        return left


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


#: The deadline of the download running in this thread, for the connections it opens.
_ACTIVE = threading.local()


@cache
def _adapter_class() -> type[Any]:
    """requests' adapter whose HTTPS pools (direct or through a proxy) track their sockets.

    Defined on first use, so importing this module does not import requests or urllib3.
    """
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPSConnection
    from urllib3.connectionpool import HTTPSConnectionPool

    class TrackedConnection(HTTPSConnection):
        """An HTTPS connection that reports its socket to the running download's deadline."""

        def connect(self) -> None:
            super().connect()
            deadline = getattr(_ACTIVE, "deadline", None)
            if deadline is not None and self.sock is not None:
                deadline.track(self.sock)

    class TrackedPool(HTTPSConnectionPool):
        ConnectionCls = TrackedConnection

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                **self.poolmanager.pool_classes_by_scheme,
                "https": TrackedPool,
            }

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            manager.pool_classes_by_scheme = {
                **manager.pool_classes_by_scheme,
                "https": TrackedPool,
            }
            return manager

    return Adapter


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
    if not is_host(host):
        raise UsageError(
            f"--url {shown!r} does not name a valid host ({host!r}); check it for spaces or "
            "other characters a host name cannot hold."
        )
    return url


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


class _RetryableError(Exception):
    """An attempt failed in a way another attempt may fix (connection, timeout, 5xx)."""

    def __init__(self, what: str, advice: str) -> None:
        super().__init__(what)
        self.what = what
        self.advice = advice


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("rdstrust")
    except PackageNotFoundError:
        mine = "0"
    import requests

    return f"rdstrust/{mine} python-requests/{requests.__version__}"


def download(
    url: str,
    policy: DownloadPolicy,
    *,
    cached: CacheEntry | None = None,
    progress: ProgressCallback | None = None,
) -> Download:
    """GET ``url`` under ``policy``, conditionally when ``cached`` has validators.

    Raises :class:`FetchError` with one sentence for every way the download can fail.
    """
    headers = {"User-Agent": _user_agent(), "Accept": "*/*"}
    if cached is not None:
        if cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
    deadline = _Deadline(policy.max_time, url)
    request = _Request(url, headers, policy, deadline, progress)
    # trust_env (the default) makes requests read REQUESTS_CA_BUNDLE, the proxy variables and
    # .netrc exactly as every other requests-based tool does.
    import requests

    with requests.Session() as session, deadline:
        session.mount("https://", _adapter_class()())
        _ACTIVE.deadline = deadline
        try:
            return _retrying(session, request)
        finally:
            _ACTIVE.deadline = None


def _retrying(session: requests.Session, request: _Request) -> Download:
    """Attempts with exponential backoff (and jitter), within the deadline."""
    policy, deadline, url = request.policy, request.deadline, request.url
    attempt = 0
    while True:
        attempt += 1
        try:
            return replace(_attempt(session, request), attempts=attempt)
        except _RetryableError as exc:
            deadline.remaining()  # a failure caused by the watchdog is the deadline's
            if attempt > policy.retries:
                tries = f" (gave up after {attempt} attempts)" if attempt > 1 else ""
                raise FetchError(f"{exc.what}{tries}; {exc.advice}.", url=redact_url(url)) from None
        if policy.backoff > 0:
            delay = policy.backoff * 2 ** (attempt - 1)
            # Jitter spreads out a fleet of build agents that all failed at the same moment.
            pause = delay + random.uniform(0, delay / 4)  # noqa: S311
            time.sleep(min(pause, deadline.remaining()))


@dataclass(frozen=True)
class _Request:
    url: str
    headers: dict[str, str]
    policy: DownloadPolicy
    deadline: _Deadline
    progress: ProgressCallback | None

    @property
    def conditional(self) -> bool:
        return "If-None-Match" in self.headers or "If-Modified-Since" in self.headers


def _attempt(session: requests.Session, request: _Request) -> Download:
    current = request.url
    for _hop in range(MAX_REDIRECTS + 1):
        response = _get(session, current, request)
        with response:
            status = response.status_code
            if status in _REDIRECTS:
                current = _redirect_target(current, response)
                continue
            etag = response.headers.get("ETag")
            last_modified = response.headers.get("Last-Modified")
            if status == 304 and request.conditional:
                return Download(304, b"", current, etag, last_modified, 0)
            if status >= 500:
                what = f"HTTP {status} {response.reason or ''}".rstrip()
                raise _RetryableError(
                    f"{redact_url(current)} answered {what}",
                    "the server has a problem, try again later",
                )
            if status != 200:
                raise FetchError(_status_message(current, status, response.reason))
            data = _read_capped(response, current, request)
            return Download(200, data, current, etag, last_modified, 0)
    raise FetchError(
        f"{redact_url(request.url)} redirects more than {MAX_REDIRECTS} times; check the URL.",
        url=redact_url(request.url),
    )


def _get(session: requests.Session, url: str, request: _Request) -> requests.Response:
    import requests

    host = _host(url)
    timeout = request.policy.timeout
    wait = min(timeout, request.deadline.remaining())
    try:
        return session.get(
            url,
            headers=request.headers,
            stream=True,
            timeout=(wait, wait),
            allow_redirects=False,
            verify=request.policy.verify,
        )
    except requests.exceptions.SSLError as exc:
        request.deadline.remaining()  # the watchdog cut a slow handshake short
        raise FetchError(_tls_message(host, exc), url=redact_url(url)) from None
    except requests.exceptions.ProxyError as exc:
        raise _RetryableError(
            f"Could not connect to {host} through the proxy ({_reason(exc)})",
            "check HTTPS_PROXY / NO_PROXY, or download the bundle elsewhere and pass --source FILE",
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise _connect_error(host, exc, timeout) from None
    except requests.exceptions.RequestException as exc:
        request.deadline.remaining()
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


def _read_capped(response: requests.Response, url: str, request: _Request) -> bytes:
    import requests
    from urllib3.exceptions import HTTPError

    max_bytes = request.policy.max_bytes
    declared = _content_length(response)
    too_big = (
        f"{redact_url(url)} sends more than {max_bytes} bytes, far more than any RDS CA bundle; "
        "check the URL (a bundle is about 170 KB)."
    )
    if declared is not None and declared > max_bytes:
        raise FetchError(too_big, url=redact_url(url))
    received = bytearray()
    try:
        for chunk in _chunks(response, request):
            received += chunk
            if len(received) > max_bytes:
                # Stop reading here: closing the response drops the connection.
                raise FetchError(too_big, url=redact_url(url))
            if request.progress is not None:
                request.progress(len(received), declared)
    except RdsTrustError:
        raise
    except (requests.exceptions.RequestException, HTTPError, OSError, ValueError) as exc:
        request.deadline.remaining()  # a read cut short by the deadline says so
        reason = _connect_reason(exc, request.policy.timeout)
        raise _RetryableError(
            f"The download from {_host(url)} broke off ({reason})", "try again later"
        ) from None
    return bytes(received)


def _chunks(response: requests.Response, request: _Request) -> Iterator[bytes]:
    """The decoded body as it arrives, each read bounded by what is left of the deadline.

    ``read1`` returns whatever has arrived (``iter_content`` would block until a whole chunk
    is in, which a server sending one byte at a time stretches to days); before each read the
    socket's timeout is cut to the time left, so the deadline holds within a read too.
    """
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    while True:
        left = request.deadline.remaining()
        if sock is not None:
            sock.settimeout(min(request.policy.timeout, left))
        chunk = raw.read1(_CHUNK, decode_content=True)
        if not chunk:
            # An end of stream caused by the watchdog's shutdown is the deadline, not the body.
            request.deadline.remaining()
            return
        yield chunk


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
    import requests

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
