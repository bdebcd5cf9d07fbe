"""Shared test helpers: where the fixtures are, and how a missing tool is handled.

Under ``CI`` a missing external tool (java, keytool, postgres, psql) is a failure, never a silent
skip: CI installs everything (see ``.ci/run``). On a developer's machine the test is skipped with
the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rdstrust.known_cas import accepting_unknown_rds

pytest_plugins = ["pyjks_readback"]  # pyjks reads back every JKS/JCEKS rdstrust writes

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
#: The real RDS bundles (and broken files) shared by the workplace; absent in a user's clone.
SHARED_BUNDLES = ROOT.parent / "shared" / "rds-bundles"
IN_CI = bool(os.environ.get("CI"))
#: The CLI's opt-in for Amazon-RDS-named CAs that AWS never published (see :func:`_fake_rds_pki`).
ACCEPT_UNKNOWN_RDS_ENV = "RDSTRUST_ACCEPT_UNKNOWN_RDS"

#: Distinct certificates in each real bundle of ``../shared/rds-bundles`` (from its README).
REAL_BUNDLE_COUNTS = {
    "global-2026-03.pem": 102,
    "global-2025-09.pem": 108,
    "global-2025-04.pem": 96,
    "global-2023-10-mixed.pem": 118,
    "global-2023-06-mixed.pem": 115,
    "global-2022-07-mixed.pem": 109,
    "us-east-1-2024-02.pem": 5,
    "us-east-1-2024-10.pem": 3,
}
BAD_BUNDLES = (
    "html-page-saved-as-pem.pem",
    "redacted-placeholders.pem",
    "truncated-fragment.pem",
)


def missing(what: str) -> None:
    """Skip (or, under CI, fail) because ``what`` is not available on this machine."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but missing; .ci/run must install it")
    pytest.skip(f"{what} not available")


def require_tool(name: str) -> str:
    """Path of an external program, or skip/fail as :func:`missing` says."""
    path = shutil.which(name)
    if path is None:
        missing(f"the '{name}' program")
    assert path is not None
    return path


def shared_bundle(name: str) -> Path:
    """Path of a real bundle in ``../shared/rds-bundles`` (skips where the folder is absent)."""
    path = SHARED_BUNDLES / name
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is missing in CI")
        pytest.skip("../shared/rds-bundles is not present (a fresh clone)")
    return path


@pytest.fixture
def fixtures_dir() -> Path:
    """The generated fake RDS PKI (see fixtures/README.md)."""
    return FIXTURES


@pytest.fixture(autouse=True, scope="session")
def _fake_rds_pki() -> Iterator[None]:
    """Let the suite use its own fake RDS PKI (fixtures/), which no real rdstrust run accepts.

    Its CAs are named "Amazon RDS ..." but are not published RDS CAs, so rdstrust refuses them
    by default. The suite opts in once, the way a user would: the environment variable for the
    command line (in-process runs and subprocesses) and the library's scope for direct calls.
    Tests of the safe default use :func:`safe_default`.
    """
    previous = os.environ.get(ACCEPT_UNKNOWN_RDS_ENV)
    os.environ[ACCEPT_UNKNOWN_RDS_ENV] = "1"
    try:
        with accepting_unknown_rds():
            yield
    finally:
        if previous is None:
            os.environ.pop(ACCEPT_UNKNOWN_RDS_ENV, None)
        else:
            os.environ[ACCEPT_UNKNOWN_RDS_ENV] = previous


@pytest.fixture
def safe_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo the suite's opt-in for one test: rdstrust as a user gets it out of the box."""
    monkeypatch.delenv(ACCEPT_UNKNOWN_RDS_ENV, raising=False)
    with accepting_unknown_rds(enabled=False):
        yield
