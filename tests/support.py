"""What tests share: where the fixtures are, how a missing tool is handled, small certificates.

Under ``CI`` a missing external tool (java, keytool, postgres, psql) is a failure, never a silent
skip: CI installs everything (see ``.ci/run``). On a developer's machine the test is skipped with
the reason. Tests import these names from here (``from support import ...``); ``conftest.py``
holds only the fixtures and plugins pytest loads by itself.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

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


_NAME_TEST_KEY = ec.generate_private_key(ec.SECP256R1())


def der_certificate(subject: x509.Name, issuer: x509.Name | None = None) -> bytes:
    """A small EC certificate (DER) with these names, signed by a throwaway key: for tests of
    how names are read (its issuer is its subject unless ``issuer`` is given)."""
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer)
        .public_key(_NAME_TEST_KEY.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=10))
        .sign(_NAME_TEST_KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)
