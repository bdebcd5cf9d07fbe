"""Fixtures and plugins pytest loads for every test; shared helpers live in ``support.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ACCEPT_UNKNOWN_RDS_ENV, FIXTURES

from rdstrust.known_cas import accepting_unknown_rds

pytest_plugins = ["pyjks_readback"]  # pyjks reads back every JKS/JCEKS rdstrust writes


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
