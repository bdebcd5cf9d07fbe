"""Stale input from the network and from files: ``--offline-ok`` falls back to the validated
cached copy when a real HTTPS server has gone away, and a bundle older than the cached one of
the same source draws a warning."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES
from tls_server import HTTPSServer, Reply
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.cli import app
from rdstrust.errors import FetchError, UsageError
from rdstrust.fetch import SourceOptions, fetch_bundle
from rdstrust.stores import read_store

G1 = FIXTURES / "bundles" / "g1.pem"
OLD = FIXTURES / "bundles" / "old-2019.pem"
MIXED = FIXTURES / "bundles" / "mixed.pem"
PATH = "/global/global-bundle.pem"
runner = CliRunner()
_ENV = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*_ENV, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RDSTRUST_STOREPASS", "changeit")


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_offline_ok_uses_the_cached_copy_once_the_server_is_gone(tmp_path: Path) -> None:
    store = tmp_path / "ca.pem"
    server = HTTPSServer()
    with server:
        server.route(PATH, Reply(body=G1.read_bytes(), headers={"ETag": '"v1"'}))
        url, ca = server.url(PATH), str(server.ca_file)
        base = ("update", "--url", url, "--ca-bundle", ca, "--retries", "0", "-s", str(store))
        code, _, stderr = run(*base, "--create")
        assert code == 0, stderr
        assert "warning" not in stderr  # the download worked: nothing to warn about
    store.unlink()  # the server is gone now; the store must come back from the cached copy
    # Control: without --offline-ok the failed download is the error it always was.
    code, _, stderr = run(*base, "--create")
    assert code == 4, stderr
    assert "rdstrust: error:" in stderr and not store.exists()
    code, stdout, stderr = run(*base, "--create", "--offline-ok", "--json")
    assert code == 0, stderr
    assert "rdstrust: warning: the download failed (" in stderr
    assert "(--offline-ok), which may be out of date" in stderr
    data = json.loads(stdout)
    assert data["bundle_sha256"] == read_bundle(G1).sha256
    (warning,) = data["warnings"]  # JSON carries the warning too, once
    assert warning.startswith("the download failed (")
    assert stderr.count("the download failed (") == 1
    assert len(read_store(store, None).entries) == 9
    result = fetch_bundle(
        SourceOptions(url=url, ca_bundle=Path(ca), retries=0, backoff=0, offline_ok=True)
    )
    assert result.offline and result.from_cache and len(result.warnings) == 1
    # A pinned digest the cached copy does not match: the download's own error, not the copy.
    with pytest.raises(FetchError, match=r"127\.0\.0\.1") as caught:
        fetch_bundle(
            SourceOptions(
                url=url, ca_bundle=Path(ca), retries=0, offline_ok=True, expect_sha256="00" * 32
            )
        )
    assert "SHA-256" not in caught.value.message


def test_offline_ok_without_a_cached_copy_is_the_download_error(tmp_path: Path) -> None:
    server = HTTPSServer()
    with server:
        url, ca = server.url(PATH), str(server.ca_file)
    code, _, stderr = run(
        "fetch", "--url", url, "--ca-bundle", ca, "--retries", "0", "--offline-ok",
        "-o", str(tmp_path / "b.pem"),
    )  # fmt: skip
    assert code == 4 and "warning" not in stderr
    assert not (tmp_path / "b.pem").exists()


def test_offline_ok_needs_the_cache_and_a_download(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--offline-ok"):
        SourceOptions(url="https://example.invalid/b.pem", use_cache=False, offline_ok=True)
    with pytest.raises(UsageError, match="--offline-ok"):
        SourceOptions(file=G1, offline_ok=True)
    code, _, stderr = run("fetch", "--source", str(G1), "--offline-ok", "-o", str(tmp_path / "b"))
    assert code == 2 and "--offline-ok" in stderr


def test_a_download_older_than_the_cached_one_draws_a_warning() -> None:
    with HTTPSServer() as server:
        url, ca = server.url(PATH), server.ca_file
        options = SourceOptions(url=url, ca_bundle=ca, retries=0)
        server.route(PATH, Reply(body=G1.read_bytes()))
        assert fetch_bundle(options).warnings == ()
        # The mirror now serves a bundle from 2019: its newest CA predates the cached one's.
        server.route(PATH, Reply(body=OLD.read_bytes()))
        (warning,) = fetch_bundle(options).warnings
        assert "is older than the bundle rdstrust fetched before" in warning
        assert "newest CA was issued 2019-09-19, the earlier bundle's 2021-05-25" in warning
        assert "lacks 9 of that bundle's certificates" in warning
        # Control: a bundle as new as the cached one (more CAs, same newest) draws none.
        server.route(PATH, Reply(body=G1.read_bytes()))
        assert fetch_bundle(options).warnings == ()
        server.route(PATH, Reply(body=MIXED.read_bytes()))
        assert fetch_bundle(options).warnings == ()


def test_a_source_file_replaced_by_an_older_one_draws_a_warning(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "global-bundle.pem"
    mirror.parent.mkdir()
    shutil.copyfile(G1, mirror)
    code, _, stderr = run("fetch", "--source", str(mirror), "-o", str(tmp_path / "a.pem"))
    assert code == 0 and "warning" not in stderr
    shutil.copyfile(OLD, mirror)
    code, _, stderr = run("fetch", "--source", str(mirror), "-o", str(tmp_path / "b.pem"))
    assert code == 0, stderr
    assert "rdstrust: warning:" in stderr and "is older than the bundle" in stderr
    # update takes the same source options and says the same.
    code, _, stderr = run(
        "update", "--source", str(mirror), "--require", "rds-ca-2019", "--check",
        "-s", str(tmp_path / "none.pem"),
    )  # fmt: skip
    assert "rdstrust: warning:" in stderr and "every rds-ca-2019 CA" in stderr
