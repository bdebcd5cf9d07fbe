"""``rdstrust.fetch``: URL building, and real HTTPS downloads from a local test server.

Every download here goes to :class:`tls_server.HTTPSServer` on 127.0.0.1 with a fixture
certificate; nothing touches the real network. Retry backoff is 0 so retries cost no time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import FIXTURES, shared_bundle
from tls_server import HTTPSServer, Reply, SeenRequest, endless

from rdstrust.bundle import read_bundle
from rdstrust.cache import BundleCache, default_cache_dir, last_cached_bundle
from rdstrust.errors import BundleError, FetchError, UsageError
from rdstrust.fetch import (
    BundleFormat,
    FetchResult,
    Partition,
    SourceOptions,
    bundle_url,
    check_region,
    check_region_code,
    fetch_bundle,
    normalize_sha256,
    output_name,
    save_bundle,
)
from rdstrust.transport import ProgressCallback, check_ca_bundle, check_url

G1_PEM = FIXTURES / "bundles" / "g1.pem"
OLD_PEM = FIXTURES / "bundles" / "old-2019.pem"
PATH = "/global/global-bundle.pem"
_ENV = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy, no CA override, and a private cache: tests see only their own server."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def server() -> HTTPSServer:
    with HTTPSServer("rsa2048-g1-us-east-1") as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def real_bundle() -> bytes:
    return shared_bundle("global-2026-03.pem").read_bytes()


def fetch(
    server: HTTPSServer,
    path: str = PATH,
    progress: ProgressCallback | None = None,
    **kwargs: object,
) -> FetchResult:
    options: dict[str, object] = {"ca_bundle": server.ca_file, "backoff": 0, "retries": 2}
    options.update(kwargs)
    return fetch_bundle(SourceOptions(url=server.url(path), **options), progress=progress)  # type: ignore[arg-type]


def conditional(body: bytes, etag: str, last_modified: str) -> object:
    """A handler that answers 304 when the client presents the current validators."""

    def handle(request: SeenRequest) -> Reply:
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return Reply(200, body, {"ETag": etag, "Last-Modified": last_modified})

    return handle


# --- URL builder and option checks -------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "partition", "fmt", "url"),
    [
        (
            "global",
            "aws",
            "pem",
            "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
        ),
        (
            "global",
            "aws",
            "p7b",
            "https://truststore.pki.rds.amazonaws.com/global/global-bundle.p7b",
        ),
        (
            "eu-west-1",
            "aws",
            "pem",
            "https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem",
        ),
        (
            "ap-southeast-2",
            "aws",
            "p7b",
            "https://truststore.pki.rds.amazonaws.com/ap-southeast-2/ap-southeast-2-bundle.p7b",
        ),
        (
            "global",
            "aws-us-gov",
            "pem",
            "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.pem",
        ),
        (
            "global",
            "aws-us-gov",
            "p7b",
            "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.p7b",
        ),
        (
            "us-gov-east-1",
            "aws-us-gov",
            "pem",
            "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/us-gov-east-1/"
            "us-gov-east-1-bundle.pem",
        ),
        (
            "us-gov-west-1",
            "aws-us-gov",
            "p7b",
            "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/us-gov-west-1/"
            "us-gov-west-1-bundle.p7b",
        ),
        (
            "global",
            "aws-cn",
            "pem",
            "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.pem",
        ),
        (
            "global",
            "aws-cn",
            "p7b",
            "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.p7b",
        ),
        (
            "cn-northwest-1",
            "aws-cn",
            "pem",
            "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/cn-northwest-1/"
            "cn-northwest-1-bundle.pem",
        ),
    ],
)
def test_bundle_url(region: str, partition: str, fmt: str, url: str) -> None:
    assert bundle_url(region, partition, fmt) == url


def test_bundle_url_defaults_and_enums() -> None:
    assert bundle_url() == "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
    assert bundle_url("US-East-1", Partition.AWS, BundleFormat.P7B).endswith(
        "/us-east-1/us-east-1-bundle.p7b"
    )
    assert output_name() == "global-bundle.pem"
    assert output_name("eu-west-1", "p7b") == "eu-west-1-bundle.p7b"


@pytest.mark.parametrize(
    ("region", "partition", "words"),
    [
        ("useast1", "aws", "not a region code"),
        ("us-east-1/../x", "aws", "not a region code"),
        ("", "aws", "not a region code"),
        ("us-gov-west-1", "aws", "add --partition aws-us-gov"),
        ("cn-north-1", "aws", "add --partition aws-cn"),
        ("cn-north-1", "aws-us-gov", "add --partition aws-cn"),
        ("us-east-1", "aws-us-gov", "not in the aws-us-gov partition"),
        ("eu-west-1", "aws-cn", "not in the aws-cn partition"),
        ("us-iso-east-1", "aws", "isolated partition"),
        ("global", "aws-eu", "unknown"),
    ],
)
def test_region_must_fit_partition(region: str, partition: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        check_region(region, partition)


@pytest.mark.parametrize("format_", ["der", "crt"])
def test_unknown_format_is_a_usage_error(format_: str) -> None:
    with pytest.raises(UsageError, match="pem or p7b"):
        bundle_url(fmt=format_)


def test_expect_sha256_forms() -> None:
    digest = "AB" * 32
    assert normalize_sha256(digest) == "ab" * 32
    assert normalize_sha256("sha256:" + ":".join(["ab"] * 32)) == "ab" * 32
    assert normalize_sha256(None) is None
    with pytest.raises(UsageError, match="not a SHA-256"):
        normalize_sha256("abc")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://[::1", "not a valid URL (Invalid IPv6 URL)"),
        ("https://127.0.0.1:99999/x", "not a valid URL (Port out of range"),
        ("https://127.0.0.1:port/x", "not a valid URL"),
        ("https://127.0.0.1:0/x", "has port 0"),
        ("https://a b/x", "does not name a valid host"),
        ("https://a..b/x", "does not name a valid host"),
        ("https:///x", "only fetched over HTTPS"),
        ("ftp://example.com/x", "only fetched over HTTPS"),
        ("https://user:s3cret@[::1", "'https://***@[::1'"),
    ],
)
def test_malformed_urls_are_usage_errors(url: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        check_url(url)
    assert words in info.value.message
    assert "s3cret" not in info.value.message
    with pytest.raises(UsageError):
        fetch_bundle(SourceOptions(url=url))


def test_good_urls_pass() -> None:
    for url in ("https://127.0.0.1:8443/x.pem", "https://[::1]:443/x", "https://mirror.corp/a"):
        assert check_url(url) == url


def test_region_code_syntax_without_partition_rules() -> None:
    assert check_region_code(" US-GOV-West-1 ") == "us-gov-west-1"
    assert check_region_code("global") == "global"
    with pytest.raises(UsageError, match="not a region code"):
        check_region_code("mars-1")


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), 1e10])
def test_timeout_must_be_finite_and_positive(server: HTTPSServer, timeout: float) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        fetch(server, timeout=timeout)
    assert server.requests == []


def test_ca_bundle_is_checked_before_any_request(server: HTTPSServer, tmp_path: Path) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))
    not_pem = tmp_path / "not-a-ca.pem"
    not_pem.write_text("hello\n")
    cases = [
        (tmp_path / "missing.pem", "--ca-bundle file .*missing.pem does not exist"),
        (not_pem, "holds no PEM CA certificate"),
        (Path("/dev/null"), "is not a regular file"),
    ]
    for path, words in cases:
        with pytest.raises(UsageError, match=words):
            fetch(server, ca_bundle=path)
    assert server.requests == []
    # Control: the server's real CA file works, and so does a directory.
    assert check_ca_bundle(server.ca_file) == str(server.ca_file)
    assert check_ca_bundle(tmp_path) == str(tmp_path)
    assert fetch(server).certificates == 9


def test_a_missing_requests_ca_bundle_is_a_usage_error(
    server: HTTPSServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "gone.pem"))
    with pytest.raises(UsageError, match=r"REQUESTS_CA_BUNDLE file .*gone\.pem does not exist"):
        fetch(server, ca_bundle=None)
    assert server.requests == []
    assert check_ca_bundle(server.ca_file) == str(server.ca_file)  # an explicit one wins


def test_http_url_is_refused_before_any_request() -> None:
    with HTTPSServer(chain=None) as plain:
        plain.route(PATH, Reply(body=G1_PEM.read_bytes()))
        with pytest.raises(UsageError, match="only fetched over HTTPS"):
            fetch_bundle(SourceOptions(url=plain.url(PATH)))
        assert plain.requests == []


def test_cache_dir_default_follows_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "a"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("RDSTRUST_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "rdstrust"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "rdstrust"


# --- downloads ---------------------------------------------------------------------------------


def test_fetch_real_bundle_validates_and_caches(server: HTTPSServer, real_bundle: bytes) -> None:
    server.route(PATH, Reply(body=real_bundle, headers={"ETag": '"v1"'}))
    seen: list[tuple[int, int | None]] = []
    result = fetch(server, progress=lambda done, total: seen.append((done, total)))
    assert result.certificates == 102
    assert result.generations == {
        "rds-ca-rsa2048-g1": 34,
        "rds-ca-rsa4096-g1": 34,
        "rds-ca-ecc384-g1": 34,
    }
    assert result.sha256 == hashlib.sha256(real_bundle).hexdigest()
    assert result.size == len(real_bundle)
    assert (result.from_cache, result.not_modified, result.attempts) == (False, False, 1)
    assert result.etag == '"v1"'
    assert result.bundle.raw == real_bundle
    assert seen and seen[-1] == (len(real_bundle), len(real_bundle))
    # Only a validated bundle is cached, byte for byte, and it is what verify will pick up.
    cached = last_cached_bundle()
    assert cached is not None and str(cached) == result.cache_file
    assert cached.read_bytes() == real_bundle
    assert read_bundle(cached).sha256 == result.sha256


def test_fetch_p7b(server: HTTPSServer) -> None:
    data = (FIXTURES / "bundles" / "g1.p7b").read_bytes()
    server.route("/global/global-bundle.p7b", Reply(body=data))
    result = fetch(server, "/global/global-bundle.p7b")
    assert (result.format, result.certificates) == ("pkcs7-der", 9)


def test_unchanged_bundle_is_served_from_cache_after_304(
    server: HTTPSServer, real_bundle: bytes, tmp_path: Path
) -> None:
    lm = "Tue, 03 Mar 2026 10:00:00 GMT"
    server.route(PATH, conditional(real_bundle, '"v1"', lm))
    first = fetch(server)
    assert not first.from_cache
    assert "if-none-match" not in server.requests[0].headers
    progress: list[int] = []
    second = fetch(server, progress=lambda done, _total: progress.append(done))
    # The server saw the validators from the first answer and answered 304 without a body.
    request = server.requests[1].headers
    assert request["if-none-match"] == '"v1"'
    assert request["if-modified-since"] == lm
    assert (second.from_cache, second.not_modified) == (True, True)
    assert progress == []  # nothing downloaded
    assert second.bundle.raw == real_bundle
    assert (second.sha256, second.certificates, second.etag) == (first.sha256, 102, '"v1"')
    out = tmp_path / "out.pem"
    assert save_bundle(second, out).written
    assert out.read_bytes() == real_bundle


def test_changed_bundle_replaces_the_cache(server: HTTPSServer, real_bundle: bytes) -> None:
    server.route(PATH, conditional(G1_PEM.read_bytes(), '"old"', "x"))
    assert fetch(server).certificates == 9
    server.route(PATH, conditional(real_bundle, '"new"', "y"))
    result = fetch(server)
    assert server.requests[-1].headers["if-none-match"] == '"old"'
    assert (result.from_cache, result.not_modified, result.certificates) == (False, False, 102)
    cached = last_cached_bundle()
    assert cached is not None and cached.read_bytes() == real_bundle


def test_same_bytes_without_validators_count_as_not_modified(server: HTTPSServer) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))
    fetch(server)
    result = fetch(server)
    assert (result.from_cache, result.not_modified) == (False, True)


def test_damaged_cache_entry_is_ignored(server: HTTPSServer) -> None:
    server.route(PATH, conditional(G1_PEM.read_bytes(), '"v1"', "x"))
    first = fetch(server)
    assert first.cache_file is not None
    Path(first.cache_file).write_bytes(b"tampered")
    second = fetch(server)
    assert "if-none-match" not in server.requests[-1].headers
    assert not second.from_cache
    assert Path(first.cache_file).read_bytes() == G1_PEM.read_bytes()


def test_no_cache_neither_reads_nor_writes(server: HTTPSServer, tmp_path: Path) -> None:
    server.route(PATH, conditional(G1_PEM.read_bytes(), '"v1"', "x"))
    fetch(server)
    result = fetch(server, use_cache=False, cache_dir=tmp_path / "other")
    assert "if-none-match" not in server.requests[-1].headers
    assert result.cache_file is None
    assert not (tmp_path / "other").exists()


def test_unwritable_cache_is_a_note_not_a_failure(server: HTTPSServer, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))
    result = fetch(server, cache_dir=blocker / "cache")
    assert result.certificates == 9
    assert result.cache_file is None
    assert result.notes and result.notes[0].startswith("not cached: Cannot create cache")


def test_5xx_is_retried_then_succeeds(server: HTTPSServer) -> None:
    server.route(
        PATH,
        [Reply(503, b"busy"), Reply(500, b"oops"), Reply(body=G1_PEM.read_bytes())],
    )
    result = fetch(server, retries=3)
    assert (result.certificates, result.attempts) == (9, 3)
    assert len(server.seen(PATH)) == 3


def test_5xx_gives_up_after_the_retries(server: HTTPSServer) -> None:
    server.route(PATH, Reply(502, b"bad gateway"))
    with pytest.raises(FetchError, match=r"HTTP 502 .* \(gave up after 3 attempts\)"):
        fetch(server, retries=2)
    assert len(server.seen(PATH)) == 3
    assert last_cached_bundle() is None


def test_404_is_not_retried(server: HTTPSServer) -> None:
    with pytest.raises(FetchError, match="HTTP 404 Not Found: there is no bundle"):
        fetch(server, "/nowhere/nowhere-bundle.pem", retries=3)
    assert len(server.seen("/nowhere/nowhere-bundle.pem")) == 1


def test_declared_oversize_is_refused_without_reading(server: HTTPSServer) -> None:
    server.route(PATH, Reply(body=endless(), headers={"Content-Length": str(50 * 1024 * 1024)}))
    with pytest.raises(FetchError, match="sends more than 1048576 bytes"):
        fetch(server, max_bytes=1024 * 1024)
    assert len(server.seen(PATH)) == 1  # a size problem is not retried


def test_endless_body_is_cut_off_at_the_cap(server: HTTPSServer) -> None:
    # No Content-Length and a body that never ends: returning at all proves the client stopped
    # reading at the cap instead of buffering the stream.
    server.route(PATH, Reply(body=endless()))
    with pytest.raises(FetchError, match="sends more than 262144 bytes"):
        fetch(server, max_bytes=256 * 1024)


def test_slow_server_times_out_and_is_retried(server: HTTPSServer) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes(), delay=30))
    with pytest.raises(FetchError, match=r"did not answer within 0.3 s.*gave up after 2 attempts"):
        fetch(server, timeout=0.3, retries=1)
    assert len(server.seen(PATH)) == 2


def test_a_trickling_server_is_cut_off_at_the_overall_deadline(server: HTTPSServer) -> None:
    """A server that sends a byte every 0.1 s never trips the per-read timeout; --max-time
    bounds the whole download (before this bound, such a fetch could run for hours)."""

    def trickle() -> Iterator[bytes]:
        for byte in G1_PEM.read_bytes():
            time.sleep(0.1)
            yield bytes([byte])

    server.route(PATH, Reply(body=trickle()))
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"did not finish within 1\.5 s \(--max-time\)"):
        fetch(server, timeout=5, max_time=1.5, retries=3)
    # The deadline holds within a read too: well under one more --timeout (5 s) past it.
    assert time.monotonic() - started < 4
    assert len(server.seen(PATH)) == 1  # a deadline is not retried


def test_https_redirect_is_followed(server: HTTPSServer) -> None:
    server.route(PATH, Reply(302, b"", {"Location": "/mirror/bundle.pem"}))
    server.route("/mirror/bundle.pem", Reply(body=G1_PEM.read_bytes()))
    result = fetch(server)
    assert result.final_url == server.url("/mirror/bundle.pem")
    assert result.url == server.url(PATH)


def test_redirect_loop_is_bounded(server: HTTPSServer) -> None:
    server.route(PATH, Reply(301, b"", {"Location": PATH}))
    with pytest.raises(FetchError, match="redirects more than 5 times"):
        fetch(server)
    assert len(server.seen(PATH)) == 6


def test_redirect_to_http_is_refused_before_following(server: HTTPSServer) -> None:
    with HTTPSServer(chain=None) as plain:
        plain.route(PATH, Reply(body=G1_PEM.read_bytes()))
        server.route(PATH, Reply(302, b"", {"Location": plain.url(PATH)}))
        with pytest.raises(FetchError, match="which is not HTTPS; refusing"):
            fetch(server)
        assert plain.requests == []


def test_html_body_is_not_a_bundle(server: HTTPSServer) -> None:
    page = b"<!DOCTYPE html><html><body>-----BEGIN CERTIFICATE-----</body></html>"
    server.route(PATH, Reply(body=page, headers={"Content-Type": "text/html"}))
    with pytest.raises(BundleError, match="is a web page"):
        fetch(server)
    assert last_cached_bundle() is None


def test_foreign_bundle_needs_allow_foreign(server: HTTPSServer) -> None:
    server.route(PATH, Reply(body=(FIXTURES / "bundles" / "foreign.pem").read_bytes()))
    with pytest.raises(BundleError, match="--allow-foreign"):
        fetch(server)
    assert fetch(server, allow_foreign=True).certificates == 1


def test_expect_sha256(server: HTTPSServer) -> None:
    data = G1_PEM.read_bytes()
    server.route(PATH, Reply(body=data))
    right = hashlib.sha256(data).hexdigest()
    with pytest.raises(FetchError, match=f"not the expected {'0' * 64}"):
        fetch(server, expect_sha256="0" * 64)
    assert last_cached_bundle() is None  # a bundle that fails the pin is not cached
    assert fetch(server, expect_sha256=right.upper()).sha256 == right


def test_expect_sha256_also_checks_the_cached_copy(server: HTTPSServer) -> None:
    server.route(PATH, conditional(G1_PEM.read_bytes(), '"v1"', "x"))
    fetch(server)
    with pytest.raises(FetchError, match="not the expected"):
        fetch(server, expect_sha256="1" * 64)


def test_untrusted_server_fails_tls_verification() -> None:
    with HTTPSServer("unrelated") as other:
        other.route(PATH, Reply(body=G1_PEM.read_bytes()))
        trusted_root = HTTPSServer("rsa2048-g1-us-east-1").ca_file
        with pytest.raises(FetchError, match=r"TLS verification of 127\.0\.0\.1:\d+ failed"):
            fetch(other, ca_bundle=trusted_root, retries=3)
        # Verification failures are not retried; the handshake never got to a request.
        assert other.requests == []
        # Control: trusting the server's own root makes the same download work.
        assert fetch(other, ca_bundle=other.ca_file).certificates == 9


def test_default_trust_does_not_accept_the_fixture_ca(server: HTTPSServer) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))
    with pytest.raises(FetchError, match="REQUESTS_CA_BUNDLE"):
        fetch(server, ca_bundle=None)


def test_requests_ca_bundle_is_honoured(
    server: HTTPSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_file))
    assert fetch(server, ca_bundle=None).certificates == 9


def test_connection_refused_is_retried_then_reported() -> None:
    with HTTPSServer() as gone:
        url = gone.url(PATH)
    with pytest.raises(FetchError, match=r"Could not connect to 127\.0\.0\.1:\d+ \(connection"):
        fetch_bundle(SourceOptions(url=url, backoff=0, retries=1))


def test_url_credentials_never_show(server: HTTPSServer) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))
    url = server.url(PATH).replace("https://", "https://user:s3cret@")
    result = fetch_bundle(SourceOptions(url=url, ca_bundle=server.ca_file))
    assert "s3cret" not in repr(result)
    assert result.url is not None and "***@127.0.0.1" in result.url
    assert server.requests[0].headers["authorization"].startswith("Basic ")
    assert "s3cret" not in (BundleCache().directory / "last.json").read_text()


# --- local files -------------------------------------------------------------------------------


def test_source_file_is_validated(tmp_path: Path) -> None:
    result = fetch_bundle(SourceOptions(file=G1_PEM))
    assert (result.url, result.source, result.certificates) == (None, str(G1_PEM), 9)
    out = save_bundle(result, tmp_path / "global-bundle.pem")
    assert out.written and out.output == str(tmp_path / "global-bundle.pem")
    assert (tmp_path / "global-bundle.pem").read_bytes() == G1_PEM.read_bytes()
    again = save_bundle(result, tmp_path / "global-bundle.pem")
    assert not again.written
    # A validated file is cached too, so a later verify without --bundle works offline.
    cached = last_cached_bundle()
    assert cached is not None and cached.read_bytes() == G1_PEM.read_bytes()


def test_an_unchanged_source_file_rewrites_nothing_in_the_cache(tmp_path: Path) -> None:
    # A pipeline runs `update --source` with the same file every time: the first run caches it,
    # the next ones find the same bytes and write nothing (no file, no fsync).
    source = tmp_path / "bundle.pem"
    source.write_bytes(G1_PEM.read_bytes())
    first = fetch_bundle(SourceOptions(file=source))
    assert first.cache_file is not None
    cache_dir = BundleCache().directory
    files = sorted(p for p in cache_dir.rglob("*") if p.is_file())
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}
    again = fetch_bundle(SourceOptions(file=source))
    assert again.cache_file == first.cache_file and not again.warnings
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files} == before
    assert sorted(p for p in cache_dir.rglob("*") if p.is_file()) == files
    # Another bundle in the same file is cached (the body replaced), and is the last one again.
    source.write_bytes(OLD_PEM.read_bytes())
    changed = fetch_bundle(SourceOptions(file=source))
    assert changed.cache_file == first.cache_file
    cached = last_cached_bundle()
    assert cached is not None and cached.read_bytes() == OLD_PEM.read_bytes()
    # Another source marks itself last; going back to the first re-points without rewriting it.
    fetch_bundle(SourceOptions(file=G1_PEM))
    body = Path(changed.cache_file or "")
    stamp = body.stat().st_mtime_ns
    fetch_bundle(SourceOptions(file=source))
    assert body.stat().st_mtime_ns == stamp
    cached = last_cached_bundle()
    assert cached is not None and cached == body


def test_a_tampered_cache_copy_of_an_unchanged_source_is_replaced(tmp_path: Path) -> None:
    # The shortcut compares bytes: a cached body that no longer equals the source (or its
    # metadata digest) is not "the same" and is written afresh.
    source = tmp_path / "bundle.pem"
    source.write_bytes(G1_PEM.read_bytes())
    body = Path(fetch_bundle(SourceOptions(file=source)).cache_file or "")
    body.write_bytes(body.read_bytes().replace(b"MII", b"MIJ", 1))
    fetch_bundle(SourceOptions(file=source))
    assert body.read_bytes() == G1_PEM.read_bytes()


def test_source_real_bundle_and_pin() -> None:
    path = shared_bundle("us-east-1-2024-10.pem")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert fetch_bundle(SourceOptions(file=path, expect_sha256=digest)).certificates == 3
    with pytest.raises(FetchError, match="not the expected"):
        fetch_bundle(SourceOptions(file=path, expect_sha256="2" * 64))


def test_source_that_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        fetch_bundle(SourceOptions(file=tmp_path / "x.pem"))
    (tmp_path / "x.pem").write_text("hello")
    with pytest.raises(BundleError, match="no PEM certificate blocks"):
        fetch_bundle(SourceOptions(file=tmp_path / "x.pem"))


def test_url_and_source_together_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="either --url or --source"):
        fetch_bundle(SourceOptions(url="https://example.invalid/x.pem", file=G1_PEM))


def test_a_server_trickling_its_headers_is_cut_off_at_the_overall_deadline(
    tmp_path: Path,
) -> None:
    """Headers sent a byte at a time stay within every read timeout; --max-time still ends the
    download (before the watchdog, this ran until the server gave up)."""
    import socket
    import ssl
    import threading

    chain = FIXTURES / "chains" / "rsa2048-g1-us-east-1"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain / "server.pem", chain / "leaf.key")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(4096)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                if stop.is_set():
                    return
                try:
                    tls.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.2)

    threading.Thread(target=serve, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match=r"did not finish within 1\.5 s \(--max-time\)"):
            fetch_bundle(
                SourceOptions(
                    url=f"https://127.0.0.1:{port}/b.pem",
                    ca_bundle=chain / "root.pem",
                    timeout=3,
                    max_time=1.5,
                    retries=2,
                    use_cache=False,
                )
            )
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 4
