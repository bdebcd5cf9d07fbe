"""The main job: merge a fetched bundle into every store, then prove each store trusts it.

:func:`update_stores` is what ``rdstrust update`` runs after fetching: for each store, merge the
bundle (or, with ``check``, only plan the merge) and verify the store against the bundle's
required CAs, collecting one :class:`StoreUpdate` per store. A store that fails (wrong password,
unreadable) is reported and left unchanged while the others proceed, as a pipeline updating a
JDK ``cacerts`` and an application truststore in one step expects.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from rdstrust.bundle import Bundle
from rdstrust.certs import CertInfo, Generation
from rdstrust.clients import ClientSettings, client_settings
from rdstrust.errors import ExitCode
from rdstrust.merge import MergeResult, merge_store
from rdstrust.options import MergeOptions, VerifyOptions
from rdstrust.runner import Passwords, StoreFailure, StoreOutcome, run_stores
from rdstrust.staleness import expired_generations
from rdstrust.stores import read_store
from rdstrust.storespec import StoreSpec, as_specs
from rdstrust.verify import VerifyReport, judge_store, required_cas


class UpdateStatus(str, Enum):
    """What happened to one store."""

    #: New certificates were written and the store passes verification.
    UPDATED = "updated"
    #: The store did not exist and was created (``--create``); it passes verification.
    CREATED = "created"
    #: Nothing to add; the store already passes verification.
    UP_TO_DATE = "up-to-date"
    #: ``check`` only: the store lacks CAs that an update would add.
    OUT_OF_DATE = "out-of-date"
    #: The store was merged (or needed nothing) but still fails verification.
    NOT_TRUSTED = "not-trusted"
    #: The store could not be read or written; it was left unchanged.
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


#: Statuses of a store that is ready for the rotation.
READY = (UpdateStatus.UPDATED, UpdateStatus.CREATED, UpdateStatus.UP_TO_DATE)


@dataclass(frozen=True)
class UpdateOptions:
    """One update run: how to merge, what to verify, and whether to only check.

    With ``check`` nothing is written (the merge is a dry run) and a store passes only when it
    already trusts every required CA as it is. ``jvm_truststore`` is the JVM's own default
    truststore (see :func:`rdstrust.clients.jvm_default_truststore`): a store at that real path
    needs no ``-Djavax.net.ssl.trustStore`` settings, and none are printed for it.
    """

    merge: MergeOptions = field(default_factory=MergeOptions)
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    check: bool = False
    jvm_truststore: Path | None = None

    def __post_init__(self) -> None:
        if self.check and not self.merge.dry_run:
            object.__setattr__(self, "merge", replace(self.merge, dry_run=True))


@dataclass(frozen=True)
class StoreUpdate:
    """The outcome for one store: the merge, the verdict, and how clients use the store.

    ``exit_code`` is this store's own: its error's code when it failed, 1 when it does not (or,
    with ``check``, would not) trust the required CAs, else 0.
    """

    store: str
    status: UpdateStatus
    merge: MergeResult | None
    verify: VerifyReport | None
    settings: ClientSettings | None
    #: The error message when ``status`` is ``failed``.
    error: str | None = None
    exit_code: int = 0


@dataclass(frozen=True)
class UpdateResult:
    """The whole run: one entry per store, and whether every store is ready."""

    bundle: str
    bundle_sha256: str
    certificates: int
    check: bool
    generations: tuple[Generation, ...]
    stores: tuple[StoreUpdate, ...]
    #: With a region: the bundle's certificates merged into each store (that region's CAs and
    #: the CAs they chain to); ``None``: all of them.
    merged_certificates: int | None = None
    region: str | None = None
    #: Stale input (every CA of a required generation expired, ...): the run went on.
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Every store trusts the required CAs (and nothing failed)."""
        return all(s.status in READY for s in self.stores)

    @property
    def exit_code(self) -> int:
        """0 when every store is ready; else the first store's own non-zero code."""
        return next((s.exit_code for s in self.stores if s.exit_code), int(ExitCode.OK))


def update_stores(
    bundle: Bundle,
    stores: Sequence[StoreSpec | str | Path],
    options: UpdateOptions | None = None,
    *,
    passwords: Passwords | None = None,
    on_failure: Callable[[StoreFailure], None] | None = None,
) -> UpdateResult:
    """Merge ``bundle`` into each store and verify it; with ``options.check``, write nothing.

    Each store's password comes from its own source (else ``passwords.default``; a terminal
    prompt when ``passwords.prompt`` is set and a store needs one). Raises
    :class:`rdstrust.errors.BundleError` when the bundle holds none of the required CAs, before
    any store is touched; every per-store problem is recorded in the result instead.
    """
    opts = options or UpdateOptions()
    pw = passwords or Passwords()
    region = opts.verify.region
    required = required_cas(bundle, opts.verify.generations, region)
    to_merge = region_bundle(bundle, region) if region else bundle
    outcomes = run_stores(
        as_specs(stores),
        lambda spec, password: _update_one(spec, password, to_merge, required, opts),
        pw,
        on_failure=on_failure,
    )
    return UpdateResult(
        bundle=bundle.source,
        bundle_sha256=bundle.sha256,
        certificates=len(bundle),
        check=opts.check,
        generations=opts.verify.generations,
        stores=tuple(_with_settings(o, pw, opts) for o in outcomes),
        merged_certificates=len(to_merge) if region else None,
        region=region,
        warnings=expired_generations(bundle, opts.verify.generations, region, opts.verify.at),
    )


def region_bundle(bundle: Bundle, region: str) -> Bundle:
    """``bundle`` narrowed to ``region``: its CAs of that region and the CAs they chain to.

    The issuers are kept because a region's intermediate CA (rds-ca-2019's) is signed by a
    root that names no region, and libpq (OpenSSL) needs the root in the store to build a
    path. Issuers are followed by name within the bundle only, one certificate at a time, so the
    work is bounded by the bundle's size.
    """
    by_subject: dict[str, list[CertInfo]] = {}
    for cert in bundle.certificates:
        by_subject.setdefault(cert.subject, []).append(cert)
    keep = {c.sha256 for c in bundle.select(None, region)}
    todo = [c for c in bundle.certificates if c.sha256 in keep]
    while todo:
        cert = todo.pop()
        for issuer in by_subject.get(cert.issuer, ()):
            if issuer.is_ca and issuer.sha256 not in keep:
                keep.add(issuer.sha256)
                todo.append(issuer)
    return replace(bundle, certificates=tuple(c for c in bundle.certificates if c.sha256 in keep))


def _update_one(
    spec: StoreSpec,
    password: str | None,
    bundle: Bundle,
    required: Sequence[CertInfo],
    options: UpdateOptions,
) -> StoreUpdate:
    merged = merge_store(spec.path, bundle, password=password, options=options.merge)
    report = None
    if not (options.check and merged.created):
        # Judge the store as the merge left it (its read-back), not a third parse of the file.
        contents = merged.contents or read_store(spec.path, password)
        report = judge_store(
            spec.path, contents, required, password=password, options=options.verify
        )
    status = _status(merged, report, check=options.check)
    code = ExitCode.OK if status in READY else ExitCode.NOT_TRUSTED
    return StoreUpdate(spec.name, status, merged, report, None, exit_code=int(code))


def _with_settings(
    outcome: StoreOutcome[StoreUpdate], passwords: Passwords, options: UpdateOptions
) -> StoreUpdate:
    if outcome.failure is not None:
        failure = outcome.failure
        return StoreUpdate(
            failure.store,
            UpdateStatus.FAILED,
            None,
            None,
            None,
            error=failure.message,
            exit_code=failure.exit_code,
        )
    item = outcome.result
    assert item is not None and item.merge is not None  # a result without failure has both
    merged = item.merge
    default = options.jvm_truststore
    settings = client_settings(
        merged.real_path if merged.created else outcome.spec.path,
        merged.type,
        password_env=passwords.source(outcome.spec).env_name(),
        password_required=outcome.password is not None,
        jvm_default=default is not None and Path(os.path.realpath(merged.real_path)) == default,
    )
    return replace(item, settings=settings)


def _status(merged: MergeResult, report: VerifyReport | None, *, check: bool) -> UpdateStatus:
    if check:
        # A check passes only when the store already trusts everything required as it is.
        if report is not None and report.passed:
            return UpdateStatus.UP_TO_DATE
        return UpdateStatus.OUT_OF_DATE
    if report is None or not report.passed:
        return UpdateStatus.NOT_TRUSTED
    if merged.created:
        return UpdateStatus.CREATED
    return UpdateStatus.UPDATED if merged.added or merged.pruned else UpdateStatus.UP_TO_DATE
