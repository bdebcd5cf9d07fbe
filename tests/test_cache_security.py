"""The download cache against another local user: private modes, owners checked, re-validated.

The attack these tests replay (issue 8, item 4): under umask 000 the cache was created 0777;
another user replaced the cached bundle and its recorded SHA-256 with a bundle of their choice;
the next root ``update --url`` got a ``304 Not Modified`` and merged the planted CAs. Every
"planted" file here is made by a real second user (``nobody``, through ``Popen(user=...)``) or
given to that user with ``os.chown``; permission bits and owners are real.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import FIXTURES
from tls_server import HTTPSServer, Reply, SeenRequest

from rdstrust.cache import BundleCache, cache_key, last_cached_bundle
from rdstrust.fetch import FetchResult, SourceOptions, fetch_bundle
from rdstrust.stores import read_store

G1 = FIXTURES / "bundles" / "g1.pem"
#: The bundle the attacker plants: the real CAs plus four more (whose keys they hold).
PLANTED = FIXTURES / "bundles" / "mixed.pem"
PATH = "/global/global-bundle.pem"
ETAG = '"v1"'
NOBODY = 65534


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("making files of another user (os.chown, Popen(user=)) needs root")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def server() -> Iterator[HTTPSServer]:
    """Serves the genuine bundle, answering 304 to the current ETag (as S3 does)."""
    body = G1.read_bytes()

    def handle(request: SeenRequest) -> Reply:
        if request.headers.get("if-none-match") == ETAG:
            return Reply(304, b"", {"ETag": ETAG})
        return Reply(200, body, {"ETag": ETAG})

    with HTTPSServer("rsa2048-g1-us-east-1") as srv:
        srv.route(PATH, handle)
        yield srv


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's tmp_path is under a 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="rdstrust-cache-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def fetch(server: HTTPSServer, cache: Path) -> FetchResult:
    options = SourceOptions(
        url=server.url(PATH), cache_dir=cache, ca_bundle=server.ca_file, backoff=0
    )
    return fetch_bundle(options)


def conditional_requests(server: HTTPSServer) -> list[bool]:
    """Per request: did the client present the cached ETag (i.e. did it use its cache)?"""
    return ["if-none-match" in r.headers for r in server.seen(PATH)]


def entry_files(cache: Path, server: HTTPSServer) -> tuple[Path, Path]:
    key = cache_key(server.url(PATH))
    return cache / "bundles" / f"{key}.bundle", cache / "bundles" / f"{key}.json"


_ATTACK = """
import hashlib, json, os, sys
body_path, meta_path = sys.argv[1], sys.argv[2]
data = sys.stdin.buffer.read()
meta = json.load(open(meta_path))
meta["sha256"] = hashlib.sha256(data).hexdigest()
meta["size"] = len(data)
for path, content in ((body_path, data), (meta_path, json.dumps(meta).encode())):
    os.unlink(path)  # allowed: the directory is writable by all
    with open(path, "wb") as handle:
        handle.write(content)
"""


def plant_as_nobody(body_path: Path, meta_path: Path, data: bytes) -> None:
    """Replace a cache entry as the real user ``nobody``, keeping the metadata consistent."""
    subprocess.run(
        ["/usr/bin/python3", "-c", _ATTACK, str(body_path), str(meta_path)],
        input=data,
        user=NOBODY,
        check=True,
        capture_output=True,
    )
    assert body_path.stat().st_uid == NOBODY and body_path.read_bytes() == data


# --- modes whatever the umask -------------------------------------------------------------------


def test_umask_000_still_creates_private_directories_and_files(
    server: HTTPSServer, tmp_path: Path
) -> None:
    cache = tmp_path / "xdg" / "deep" / "rdstrust"
    with umask(0):
        result = fetch(server, cache)
    assert result.cache_file is not None
    for directory in (tmp_path / "xdg", tmp_path / "xdg" / "deep", cache, cache / "bundles"):
        assert directory.stat().st_mode & 0o7777 == 0o700, directory
    for file in (*entry_files(cache, server), cache / "last.json"):
        assert file.stat().st_mode & 0o777 == 0o600, file
    # And the cache so made is trusted: the next fetch revalidates it with a 304.
    assert fetch(server, cache).from_cache
    assert conditional_requests(server) == [False, True]


# --- the attack, end to end through the CLI -----------------------------------------------------


def test_entry_replaced_by_another_user_is_refused_and_not_merged(
    server: HTTPSServer, shared_dir: Path
) -> None:
    _needs_root()
    cache = shared_dir / "cache"
    fetch(server, cache)
    # What an older rdstrust left under umask 000: everything open to everyone.
    body_path, meta_path = entry_files(cache, server)
    for directory in (cache, cache / "bundles"):
        directory.chmod(0o777)
    for file in (body_path, meta_path, cache / "last.json"):
        file.chmod(0o666)
    plant_as_nobody(body_path, meta_path, PLANTED.read_bytes())
    store = shared_dir / "truststore.jks"
    env = {
        **os.environ,
        "RDSTRUST_CACHE_DIR": str(cache),
        "RDSTRUST_STOREPASS": "changeit",
        "NO_PROXY": "*",
    }
    args = ["update", "--url", server.url(PATH), "--ca-bundle", str(server.ca_file)]
    proc = subprocess.run(
        [sys.executable, "-m", "rdstrust", *args, "-s", str(store), "--retries", "0", "--create"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # No 304 from the planted entry: the genuine bundle was downloaded and merged, only it.
    assert conditional_requests(server) == [False, False]
    genuine = {hashlib.sha256(b).hexdigest() for b in _ders(G1)}
    assert read_store(store, "changeit").fingerprints() == genuine
    assert (
        f"Ignoring the download cache {cache}: it is writable by its group and all users "
        "(mode 0777), so another local user could have replaced what rdstrust cached; run "
        f"'chmod 700 {cache}' (the bundle is downloaded again meanwhile)."
    ) in proc.stderr
    # And verify's default reference (the last cached bundle) is not the planted one either.
    assert last_cached_bundle(cache) is None


def _ders(bundle: Path) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return [
        c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(bundle.read_bytes())
    ]


# --- each check on its own ------------------------------------------------------------------------


def test_file_of_another_user_in_a_private_cache_is_refused_then_replaced(
    server: HTTPSServer, tmp_path: Path
) -> None:
    _needs_root()
    cache = tmp_path / "cache"
    fetch(server, cache)
    body_path, meta_path = entry_files(cache, server)
    planted = PLANTED.read_bytes()
    body_path.write_bytes(planted)
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = hashlib.sha256(planted).hexdigest()
    meta_path.write_text(json.dumps(meta))
    os.chown(body_path, NOBODY, NOBODY)
    reader = BundleCache(cache)
    assert reader.load(server.url(PATH)) is None
    assert reader.problems == (
        f"Ignoring the cached file {body_path}: it belongs to another user (uid {NOBODY}), so "
        "another local user could have replaced what rdstrust cached; remove it (the bundle is "
        "downloaded again meanwhile).",
    )
    assert last_cached_bundle(cache) is None
    # The fetch downloads again, replaces the foreign file with its own, and trusts that next.
    again = fetch(server, cache)
    assert not again.from_cache and again.certificates == 9
    assert body_path.stat().st_uid == os.geteuid() and body_path.read_bytes() == G1.read_bytes()
    assert fetch(server, cache).from_cache
    assert conditional_requests(server) == [False, False, True]
    assert last_cached_bundle(cache) == body_path


def test_cache_directory_of_another_user_is_refused(server: HTTPSServer, tmp_path: Path) -> None:
    _needs_root()
    cache = tmp_path / "cache"
    fetch(server, cache)
    os.chown(cache, NOBODY, NOBODY)
    reader = BundleCache(cache)
    assert reader.load(server.url(PATH)) is None
    assert reader.problems == (
        f"Ignoring the download cache {cache}: it belongs to another user (uid {NOBODY}), so "
        "another local user could have replaced what rdstrust cached; remove it (the bundle is "
        "downloaded again meanwhile).",
    )
    result = fetch(server, cache)
    assert not result.from_cache and result.cache_file is None
    assert result.notes == (f"not cached: {reader.problems[0]}",)


@pytest.mark.parametrize(
    ("mode", "who"),
    [(0o664, "its group"), (0o646, "all users"), (0o666, "its group and all users")],
)
def test_cache_file_writable_by_others_is_refused(
    server: HTTPSServer, tmp_path: Path, mode: int, who: str
) -> None:
    cache = tmp_path / "cache"
    fetch(server, cache)
    _body, meta_path = entry_files(cache, server)
    meta_path.chmod(mode)
    reader = BundleCache(cache)
    assert reader.load(server.url(PATH)) is None
    assert reader.problems[0].startswith(
        f"Ignoring the cached file {meta_path}: it is writable by {who} (mode {mode:04o}), "
    )
    # The next fetch writes the file afresh, private again.
    fetch(server, cache)
    assert meta_path.stat().st_mode & 0o777 == 0o600
    assert BundleCache(cache).load(server.url(PATH)) is not None


def test_symlinked_and_hard_linked_cache_files_are_refused(
    server: HTTPSServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    fetch(server, cache)
    body_path, _meta = entry_files(cache, server)
    elsewhere = tmp_path / "elsewhere.pem"
    body_path.replace(elsewhere)
    body_path.symlink_to(elsewhere)  # even one of the caller's own
    reader = BundleCache(cache)
    assert reader.load(server.url(PATH)) is None
    assert reader.problems == (
        f"Ignoring the cached file {body_path}: it is a symbolic link, so another local user "
        "could have replaced what rdstrust cached; remove it (the bundle is downloaded again "
        "meanwhile).",
    )
    body_path.unlink()
    os.link(elsewhere, body_path)
    reader = BundleCache(cache)
    assert reader.load(server.url(PATH)) is None
    assert "it has 2 hard links" in reader.problems[0]
    # The fetch replaces the link with a file of its own and leaves the other name alone.
    fetch(server, cache)
    assert body_path.stat().st_nlink == 1 and elsewhere.read_bytes() == G1.read_bytes()


def test_entry_that_is_no_bundle_is_discarded_even_with_a_matching_digest(
    server: HTTPSServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    fetch(server, cache)
    body_path, meta_path = entry_files(cache, server)
    junk = b"<html>not a bundle</html>\n"
    body_path.write_bytes(junk)
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = hashlib.sha256(junk).hexdigest()
    meta_path.write_text(json.dumps(meta))
    assert BundleCache(cache).load(server.url(PATH)) is None
    assert last_cached_bundle(cache) is None
    result = fetch(server, cache)  # re-downloads instead of failing on the cached junk
    assert not result.from_cache and result.certificates == 9
    assert body_path.read_bytes() == G1.read_bytes()


def test_parent_writable_by_others_is_refused_unless_sticky(
    server: HTTPSServer, shared_dir: Path
) -> None:
    parent = shared_dir / "open"
    parent.mkdir()
    parent.chmod(0o777)
    cache = parent / "cache"
    fetch(server, cache)
    reader = BundleCache(cache)
    assert reader.load(server.url(PATH)) is None
    assert reader.problems == (
        f"Ignoring the download cache in {parent}: it is writable by its group and all users "
        "(mode 0777), so another local user could have replaced what rdstrust cached; fix "
        f"{parent} or set RDSTRUST_CACHE_DIR to a private directory (the bundle is downloaded "
        "again meanwhile).",
    )
    # With the sticky bit (as /tmp) nobody can rename the cache directory away: it is used.
    parent.chmod(0o1777)
    fetch(server, cache)
    reader = BundleCache(cache)
    assert reader.load(server.url(PATH)) is not None and reader.problems == ()
