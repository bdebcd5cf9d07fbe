"""rdstrust: keep Java and PEM trust stores ready for Amazon RDS / Aurora CA rotations.

The public API for build scripts::

    from rdstrust import read_bundle

    bundle = read_bundle("global-bundle.pem")
    for cert in bundle.select(["rds-ca-rsa2048-g1"]):
        print(cert.alias, cert.not_after)
"""

from rdstrust.bundle import Bundle, parse_bundle, read_bundle
from rdstrust.certs import G1_GENERATIONS, CertInfo, Generation
from rdstrust.errors import (
    BundleError,
    ExitCode,
    FetchError,
    ProbeError,
    RdsTrustError,
    StoreError,
    ToolMissingError,
    UsageError,
    WrongPasswordError,
)
from rdstrust.split import SplitResult, split_bundle

__version__ = "0.1.0"

__all__ = [
    "G1_GENERATIONS",
    "Bundle",
    "BundleError",
    "CertInfo",
    "ExitCode",
    "FetchError",
    "Generation",
    "ProbeError",
    "RdsTrustError",
    "SplitResult",
    "StoreError",
    "ToolMissingError",
    "UsageError",
    "WrongPasswordError",
    "__version__",
    "parse_bundle",
    "read_bundle",
    "split_bundle",
]
