"""``split`` creates its output directories 0755 whatever the umask (issue 8, item 4)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from support import FIXTURES

from rdstrust.bundle import read_bundle
from rdstrust.split import split_bundle

G1 = FIXTURES / "bundles" / "g1.pem"


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def test_umask_000_creates_0755_output_directories(tmp_path: Path) -> None:
    out = tmp_path / "certs" / "rds"
    with umask(0):
        result = split_bundle(read_bundle(G1), out)
    assert result.written == 10
    for directory in (tmp_path / "certs", out):
        assert directory.stat().st_mode & 0o7777 == 0o755, directory
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o644}


def test_umask_077_still_creates_readable_output_directories(tmp_path: Path) -> None:
    # The files are public certificates for TLS clients that may run as another user.
    out = tmp_path / "rds"
    with umask(0o077):
        split_bundle(read_bundle(G1), out)
    assert out.stat().st_mode & 0o7777 == 0o755


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    out.chmod(0o750)
    with umask(0):
        split_bundle(read_bundle(G1), out)
    assert out.stat().st_mode & 0o7777 == 0o750
