"""``rdstrust fetch`` on the command line, against a real HTTPS server on 127.0.0.1.

Every failure must exit with its documented code and one line on stderr, and leave the output
file exactly as it was (absent, or with its old bytes). The client trusts the test server through
``REQUESTS_CA_BUNDLE``, as a user with an internal mirror would.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import FIXTURES, shared_bundle
from tls_server import HTTPSServer, Reply, SeenRequest, endless
from typer.testing import CliRunner

from rdstrust.cli import app
from rdstrust.cli._source import TerminalProgress

runner = CliRunner()
G1_PEM = FIXTURES / "bundles" / "g1.pem"
PATH = "/global/global-bundle.pem"
TRUSTED = "rsa2048-g1-us-east-1"
_ENV = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "CURL_CA_BUNDLE",
    "RDSTRUST_REGION",
    "RDSTRUST_PARTITION",
    "RDSTRUST_BUNDLE_URL",
    "RDSTRUST_EXPECT_SHA256",
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(HTTPSServer(TRUSTED).ca_file))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def server() -> HTTPSServer:
    with HTTPSServer(TRUSTED) as srv:
        yield srv  # type: ignore[misc]


def rdstrust(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["fetch", *args])
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("rdstrust: error: "), stderr
    return lines[0]


# --- success -------------------------------------------------------------------------------------


def test_fetch_writes_the_bundle(server: HTTPSServer, tmp_path: Path) -> None:
    data = shared_bundle("global-2026-03.pem").read_bytes()
    server.route(PATH, Reply(body=data, headers={"ETag": '"v1"'}))
    out = tmp_path / "trust" / "rds.pem"
    out.parent.mkdir()
    code, stdout, stderr = rdstrust("--url", server.url(PATH), "-o", str(out))
    assert code == 0, stderr
    assert out.read_bytes() == data
    assert stdout == ""
    digest = hashlib.sha256(data).hexdigest()
    assert stderr == (
        "Fetched 102 certificates (rds-ca-rsa2048-g1: 34, rds-ca-rsa4096-g1: 34, "
        f"rds-ca-ecc384-g1: 34) from {server.url(PATH)} -> {out}, sha256 {digest}\n"
    )


def test_json_result(server: HTTPSServer) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))
    code, stdout, stderr = rdstrust("--url", server.url(PATH), "--json")
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["certificates"] == 9
    assert data["output"] == "global-bundle.pem"
    assert data["written"] is True
    assert data["from_cache"] is False
    assert data["sha256"] == hashlib.sha256(G1_PEM.read_bytes()).hexdigest()
    assert "bundle" not in data


def test_unchanged_bundle_comes_from_cache(server: HTTPSServer, tmp_path: Path) -> None:
    data = G1_PEM.read_bytes()

    def handle(request: SeenRequest) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(304)
        return Reply(body=data, headers={"ETag": '"v1"'})

    server.route(PATH, handle)
    assert rdstrust("--url", server.url(PATH))[0] == 0
    out = tmp_path / "global-bundle.pem"
    before = out.stat().st_mtime_ns
    code, _, stderr = rdstrust("--url", server.url(PATH))
    assert code == 0, stderr
    assert server.requests[-1].headers["if-none-match"] == '"v1"'
    assert stderr.startswith("Not modified since last fetch (cache): 9 certificates")
    assert "-> global-bundle.pem (already up to date)" in stderr
    assert out.stat().st_mtime_ns == before
    # A lost output file is restored from the cache on a 304.
    out.unlink()
    code, stdout, stderr = rdstrust("--url", server.url(PATH), "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["from_cache"] is True
    assert out.read_bytes() == data
    # --no-cache downloads in full.
    assert rdstrust("--url", server.url(PATH), "--no-cache")[0] == 0
    assert "if-none-match" not in server.requests[-1].headers


def test_cache_dir_option(server: HTTPSServer, tmp_path: Path) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))
    code, stdout, _ = rdstrust("--url", server.url(PATH), "--cache-dir", "mine", "--json")
    assert code == 0
    assert json.loads(stdout)["cache_file"].startswith("mine/")
    assert (tmp_path / "mine" / "last.json").exists()
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((), "global-bundle.pem"),
        (("--region", "eu-west-1"), "eu-west-1-bundle.pem"),
        (("--format", "p7b"), "global-bundle.p7b"),
        (("--region", "us-gov-west-1", "--partition", "aws-us-gov"), "us-gov-west-1-bundle.pem"),
    ],
)
def test_default_output_name(
    server: HTTPSServer, tmp_path: Path, args: tuple[str, ...], name: str
) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))
    code, _, stderr = rdstrust("--url", server.url(PATH), *args)
    assert code == 0, stderr
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == [name]


def test_output_to_stdout(server: HTTPSServer, tmp_path: Path) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))
    result = runner.invoke(app, ["fetch", "--url", server.url(PATH), "-o", "-"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == G1_PEM.read_bytes()
    assert not (tmp_path / "global-bundle.pem").exists()


@pytest.mark.parametrize(
    ("source", "name"),
    [("g1.pem", "global-bundle.pem"), ("g1.p7b", "global-bundle.p7b")],
)
def test_source_file_is_validated_and_copied(tmp_path: Path, source: str, name: str) -> None:
    path = FIXTURES / "bundles" / source
    code, _, stderr = rdstrust("--source", str(path))
    assert code == 0, stderr
    assert stderr.startswith("Validated 9 certificates (rds-ca-rsa2048-g1: 3, ")
    assert (tmp_path / name).read_bytes() == path.read_bytes()
    # The validated file is cached (for verify's default reference), byte for byte.
    cached = list((tmp_path / "cache").rglob("*.bundle"))
    assert [c.read_bytes() for c in cached] == [path.read_bytes()]


def test_source_real_bundle_with_pin(tmp_path: Path) -> None:
    path = shared_bundle("global-2025-09.pem")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    code, _, stderr = rdstrust("--source", str(path), "--expect-sha256", digest, "-o", "b.pem")
    assert code == 0, stderr
    assert "Validated 108 certificates" in stderr
    assert (tmp_path / "b.pem").read_bytes() == path.read_bytes()


# --- failures: exit code, one line, output untouched -----------------------------------------


@dataclass(frozen=True)
class Failure:
    setup: Callable[[HTTPSServer], None]
    args: tuple[str, ...]
    code: int
    words: str
    chain: str = TRUSTED


def _html(server: HTTPSServer) -> None:
    server.route(PATH, Reply(body=b"<html><head><title>AWS</title></head><body></body></html>"))


def _serve_g1(server: HTTPSServer) -> None:
    server.route(PATH, Reply(body=G1_PEM.read_bytes()))


FAILURES = {
    "404": Failure(lambda s: None, (), 4, "HTTP 404 Not Found: there is no bundle"),
    "5xx": Failure(lambda s: s.route(PATH, Reply(503, b"busy")), ("--retries", "0"), 4, "HTTP 503"),
    "html": Failure(_html, (), 3, "is a web page (HTML)"),
    "foreign": Failure(
        lambda s: s.route(PATH, Reply(body=(FIXTURES / "bundles" / "foreign.pem").read_bytes())),
        (),
        3,
        "not an Amazon RDS CA",
    ),
    "oversize-declared": Failure(
        lambda s: s.route(PATH, Reply(body=endless(), headers={"Content-Length": "99999999"})),
        (),
        4,
        "sends more than 5242880 bytes",
    ),
    "oversize-streamed": Failure(
        lambda s: s.route(PATH, Reply(body=endless())), (), 4, "sends more than 5242880 bytes"
    ),
    "timeout": Failure(
        lambda s: s.route(PATH, Reply(body=G1_PEM.read_bytes(), delay=30)),
        ("--timeout", "0.3", "--retries", "0"),
        4,
        "did not answer within 0.3 s",
    ),
    "redirect-to-http": Failure(
        lambda s: s.route(PATH, Reply(302, b"", {"Location": f"http://127.0.0.1:{s.port}{PATH}"})),
        (),
        4,
        "which is not HTTPS; refusing",
    ),
    "sha256-mismatch": Failure(
        _serve_g1, ("--expect-sha256", "0" * 64), 4, f"not the expected {'0' * 64}"
    ),
    "untrusted-tls": Failure(_serve_g1, (), 4, "TLS verification of 127.0.0.1", chain="unrelated"),
}


@pytest.mark.parametrize("existing", [False, True], ids=["no-output", "existing-output"])
@pytest.mark.parametrize("name", sorted(FAILURES))
def test_failure_leaves_output_alone(tmp_path: Path, name: str, existing: bool) -> None:
    failure = FAILURES[name]
    work = tmp_path / "out"
    work.mkdir()
    target = work / "rds.pem"
    if existing:
        target.write_bytes(b"old bundle\n")
    with HTTPSServer(failure.chain) as server:
        failure.setup(server)
        code, stdout, stderr = rdstrust("--url", server.url(PATH), "-o", str(target), *failure.args)
    assert code == failure.code, stderr
    assert failure.words in one_error_line(stderr)
    assert stdout == ""
    assert sorted(p.name for p in work.iterdir()) == (["rds.pem"] if existing else [])
    if existing:
        assert target.read_bytes() == b"old bundle\n"
    cache = tmp_path / "cache"
    assert not cache.exists() or not any((cache / "bundles").glob("*.bundle"))


def test_bad_source_exits_3_and_writes_nothing(tmp_path: Path) -> None:
    bad = shared_bundle("bad/redacted-placeholders.pem")
    code, _, stderr = rdstrust("--source", str(bad), "-o", "out.pem")
    assert code == 3
    one_error_line(stderr)
    assert not (tmp_path / "out.pem").exists()


def test_missing_output_directory_fails_before_downloading(server: HTTPSServer) -> None:
    _serve_g1(server)
    code, _, stderr = rdstrust("--url", server.url(PATH), "-o", "nowhere/rds.pem")
    assert code == 5
    assert "directory nowhere does not exist" in one_error_line(stderr)
    assert server.requests == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--region", "us_east_1"), "not a region code"),
        (("--region", "us-gov-west-1"), "add --partition aws-us-gov"),
        (("--region", "cn-north-1", "--partition", "aws-us-gov"), "add --partition aws-cn"),
        (("--region", "us-east-1", "--partition", "aws-cn"), "not in the aws-cn partition"),
        (("--url", "http://127.0.0.1:9/global-bundle.pem"), "only fetched over HTTPS"),
        (("--url", "https://127.0.0.1:9/x.pem", "--source", "x.pem"), "either --url or --source"),
        (("--expect-sha256", "nope"), "not a SHA-256 digest"),
        (("-o", "-", "--json"), "cannot go with --json"),
        (("--url", "https://[::1"), "not a valid URL (Invalid IPv6 URL)"),
        (("--url", "https://127.0.0.1:99999/x"), "Port out of range"),
        (("--url", "https://a b/x"), "does not name a valid host"),
        (("--url", "https://127.0.0.1:1/x", "--ca-bundle", "missing.pem"), "does not exist"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    code, _, stderr = rdstrust(*args)
    assert code == 2
    assert words in one_error_line(stderr)
    assert [p.name for p in tmp_path.iterdir()] == []


def test_unknown_partition_is_rejected_by_the_parser() -> None:
    code, _, stderr = rdstrust("--partition", "aws-eu")
    assert code == 2
    assert "aws-eu" in stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--timeout", "inf"), "Invalid value for '--timeout': 'inf' is not a number of seconds"),
        (("--timeout", "0"), "greater than 0 and at most 3600"),
        (("--timeout", "-1"), "greater than 0"),
        (("--timeout", "nan"), "greater than 0"),
        (("--format", "der"), "Invalid value for '--format': 'der' is not one of 'pem', 'p7b'."),
    ],
)
def test_bad_option_values_are_rejected_by_the_parser(
    tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    code, stdout, stderr = rdstrust("--url", "https://127.0.0.1:1/x", *args)
    assert code == 2 and stdout == ""
    assert words in stderr and "Traceback" not in stderr and "Value error" not in stderr
    assert [p.name for p in tmp_path.iterdir()] == []


def test_choices_are_case_insensitive(tmp_path: Path) -> None:
    code, _, stderr = rdstrust("--source", str(G1_PEM), "--format", "PEM", "--partition", "AWS")
    assert code == 0, stderr


def test_output_that_is_a_directory_exits_5(server: HTTPSServer) -> None:
    code, _, stderr = rdstrust("--url", server.url(PATH), "-o", ".")
    assert code == 5
    assert "is a directory" in one_error_line(stderr)
    assert server.requests == []


def test_progress_bar_redraws_in_place() -> None:
    stream = io.StringIO()
    bar = TerminalProgress(stream, width=10)
    bar(0, 1000 * 1024)
    bar(1, 1000 * 1024)  # same percentage: no redraw
    bar(500 * 1024, 1000 * 1024)
    bar(1000 * 1024, 1000 * 1024)
    bar.close()
    frames = stream.getvalue().split("\r")[1:]
    assert frames == [
        "Downloading [----------]   0%  0 / 1000 KiB",
        "Downloading [#####-----]  50%  500 / 1000 KiB",
        "Downloading [##########] 100%  1000 / 1000 KiB",
        "\x1b[K",
    ]
    unknown = io.StringIO()
    TerminalProgress(unknown)(200 * 1024, None)
    assert unknown.getvalue() == "\rDownloading 200 KiB"
