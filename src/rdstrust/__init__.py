"""rdstrust: keep Java and PEM trust stores ready for Amazon RDS / Aurora CA rotations.

The public API for build scripts::

    from rdstrust import read_bundle

    bundle = read_bundle("global-bundle.pem")
    for cert in bundle.select(["rds-ca-rsa2048-g1"]):
        print(cert.alias, cert.not_after)

The names below are imported on first use (PEP 562): ``import rdstrust`` loads none of
cryptography, requests or Typer, so a command (or a build script) pays only for what it uses.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from rdstrust.merge import (
        MergePlan,
        MergeResult,
        MergeRun,
        merge_store,
        merge_stores,
        plan_merge,
    )
    from rdstrust.options import MergeOptions, Pkcs12Profile, VerifyOptions
    from rdstrust.passwords import PasswordSource
    from rdstrust.pathcheck import Chain, PathResult, check_path, read_chain
    from rdstrust.probe import ProbeResult, StartTLS, probe
    from rdstrust.runner import Passwords, StoreFailure
    from rdstrust.split import SplitResult, split_bundle
    from rdstrust.stores import (
        EntryKind,
        StoreContents,
        StoreEntry,
        StoreType,
        detect_type,
        read_store,
    )
    from rdstrust.storespec import StoreSpec, jdk_cacerts, parse_store_spec
    from rdstrust.summary import CertSummary
    from rdstrust.update import UpdateOptions, UpdateResult, UpdateStatus, update_stores
    from rdstrust.verify import (
        VerifyReport,
        VerifyResult,
        required_cas,
        verify_store,
        verify_stores,
    )

__version__ = "0.1.0"

#: Each public name and the module it lives in.
_LAZY: dict[str, str] = {
    "Bundle": "rdstrust.bundle",
    "parse_bundle": "rdstrust.bundle",
    "read_bundle": "rdstrust.bundle",
    "last_cached_bundle": "rdstrust.cache",
    "CertInfo": "rdstrust.certs",
    "G1_GENERATIONS": "rdstrust.certs",
    "Generation": "rdstrust.certs",
    "ClientSettings": "rdstrust.clients",
    "client_settings": "rdstrust.clients",
    "AwsError": "rdstrust.errors",
    "BundleError": "rdstrust.errors",
    "JvmGaveUpError": "rdstrust.errors",
    "ExitCode": "rdstrust.errors",
    "FetchError": "rdstrust.errors",
    "ProbeError": "rdstrust.errors",
    "RdsTrustError": "rdstrust.errors",
    "StoreError": "rdstrust.errors",
    "ToolMissingError": "rdstrust.errors",
    "UsageError": "rdstrust.errors",
    "WrongPasswordError": "rdstrust.errors",
    "BundleFormat": "rdstrust.fetch",
    "FetchResult": "rdstrust.fetch",
    "SourceOptions": "rdstrust.fetch",
    "Partition": "rdstrust.fetch",
    "bundle_url": "rdstrust.fetch",
    "fetch_bundle": "rdstrust.fetch",
    "save_bundle": "rdstrust.fetch",
    "JavaVerdict": "rdstrust.jvm",
    "java_trust_check": "rdstrust.jvm",
    "StoreListing": "rdstrust.listing",
    "list_store": "rdstrust.listing",
    "MergePlan": "rdstrust.merge",
    "MergeResult": "rdstrust.merge",
    "MergeRun": "rdstrust.merge",
    "merge_store": "rdstrust.merge",
    "merge_stores": "rdstrust.merge",
    "plan_merge": "rdstrust.merge",
    "MergeOptions": "rdstrust.options",
    "Pkcs12Profile": "rdstrust.options",
    "VerifyOptions": "rdstrust.options",
    "PasswordSource": "rdstrust.passwords",
    "Chain": "rdstrust.pathcheck",
    "PathResult": "rdstrust.pathcheck",
    "check_path": "rdstrust.pathcheck",
    "read_chain": "rdstrust.pathcheck",
    "ProbeResult": "rdstrust.probe",
    "StartTLS": "rdstrust.probe",
    "probe": "rdstrust.probe",
    "Passwords": "rdstrust.runner",
    "StoreFailure": "rdstrust.runner",
    "SplitResult": "rdstrust.split",
    "split_bundle": "rdstrust.split",
    "EntryKind": "rdstrust.stores",
    "StoreContents": "rdstrust.stores",
    "StoreEntry": "rdstrust.stores",
    "StoreType": "rdstrust.stores",
    "detect_type": "rdstrust.stores",
    "read_store": "rdstrust.stores",
    "StoreSpec": "rdstrust.storespec",
    "jdk_cacerts": "rdstrust.storespec",
    "parse_store_spec": "rdstrust.storespec",
    "CertSummary": "rdstrust.summary",
    "UpdateOptions": "rdstrust.update",
    "UpdateResult": "rdstrust.update",
    "UpdateStatus": "rdstrust.update",
    "update_stores": "rdstrust.update",
    "VerifyReport": "rdstrust.verify",
    "VerifyResult": "rdstrust.verify",
    "required_cas": "rdstrust.verify",
    "verify_store": "rdstrust.verify",
    "verify_stores": "rdstrust.verify",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


class _Package(types.ModuleType):
    """The package module, which keeps a public function that shares its module's name."""

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule binds it on the package; ``rdstrust.probe`` is also the public
        # function ``probe``, which must win, as it did when the names were imported eagerly.
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

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
