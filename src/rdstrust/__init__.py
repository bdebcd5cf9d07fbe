"""rdstrust: keep Java and PEM trust stores ready for Amazon RDS / Aurora CA rotations.

The public API for build scripts::

    from rdstrust import read_bundle

    bundle = read_bundle("global-bundle.pem")
    for cert in bundle.select(["rds-ca-rsa2048-g1"]):
        print(cert.alias, cert.not_after)
"""

from rdstrust.bundle import Bundle, parse_bundle, read_bundle
from rdstrust.cache import last_cached_bundle
from rdstrust.certs import G1_GENERATIONS, CertInfo, Generation
from rdstrust.clients import ClientSettings, client_settings
from rdstrust.errors import (
    AwsError,
    BundleError,
    ExitCode,
    FetchError,
    JvmGaveUpError,
    ProbeError,
    RdsTrustError,
    StoreError,
    ToolMissingError,
    UsageError,
    WrongPasswordError,
)
from rdstrust.fetch import (
    BundleFormat,
    FetchResult,
    Partition,
    SourceOptions,
    bundle_url,
    fetch_bundle,
    save_bundle,
)
from rdstrust.jvm import JavaVerdict, java_trust_check
from rdstrust.listing import StoreListing, list_store
from rdstrust.merge import MergePlan, MergeResult, MergeRun, merge_store, merge_stores, plan_merge
from rdstrust.options import MergeOptions, Pkcs12Profile, VerifyOptions
from rdstrust.passwords import PasswordSource
from rdstrust.pathcheck import Chain, PathResult, check_path, read_chain
from rdstrust.probe import ProbeResult, StartTLS, probe
from rdstrust.runner import Passwords, StoreFailure
from rdstrust.split import SplitResult, split_bundle
from rdstrust.stores import EntryKind, StoreContents, StoreEntry, StoreType, detect_type, read_store
from rdstrust.storespec import StoreSpec, jdk_cacerts, parse_store_spec
from rdstrust.summary import CertSummary
from rdstrust.update import UpdateOptions, UpdateResult, UpdateStatus, update_stores
from rdstrust.verify import VerifyReport, VerifyResult, required_cas, verify_store, verify_stores

__version__ = "0.1.0"

__all__ = [
    "G1_GENERATIONS",
    "AwsError",
    "Bundle",
    "BundleError",
    "BundleFormat",
    "CertInfo",
    "CertSummary",
    "Chain",
    "ClientSettings",
    "EntryKind",
    "ExitCode",
    "FetchError",
    "FetchResult",
    "Generation",
    "JavaVerdict",
    "JvmGaveUpError",
    "MergeOptions",
    "MergePlan",
    "MergeResult",
    "MergeRun",
    "Partition",
    "PasswordSource",
    "Passwords",
    "PathResult",
    "Pkcs12Profile",
    "ProbeError",
    "ProbeResult",
    "RdsTrustError",
    "SourceOptions",
    "SplitResult",
    "StartTLS",
    "StoreContents",
    "StoreEntry",
    "StoreError",
    "StoreFailure",
    "StoreListing",
    "StoreSpec",
    "StoreType",
    "ToolMissingError",
    "UpdateOptions",
    "UpdateResult",
    "UpdateStatus",
    "UsageError",
    "VerifyOptions",
    "VerifyReport",
    "VerifyResult",
    "WrongPasswordError",
    "__version__",
    "bundle_url",
    "check_path",
    "client_settings",
    "detect_type",
    "fetch_bundle",
    "java_trust_check",
    "jdk_cacerts",
    "last_cached_bundle",
    "list_store",
    "merge_store",
    "merge_stores",
    "parse_bundle",
    "parse_store_spec",
    "plan_merge",
    "probe",
    "read_bundle",
    "read_chain",
    "read_store",
    "required_cas",
    "save_bundle",
    "split_bundle",
    "update_stores",
    "verify_store",
    "verify_stores",
]
