"""The main job: merge a fetched bundle into every store, then prove each store trusts it.

:func:`update_stores` is what ``rdstrust update`` runs after fetching: for each store, merge the
bundle (or, with ``check``, only plan the merge) and verify the store against the bundle's
required CAs, collecting one :class:`StoreUpdate` per store. A store that fails (wrong password,
unreadable) is reported and left unchanged while the others proceed, as a pipeline updating a
JDK ``cacerts`` and an application truststore in one step expects.
"""

from __future__ import annotations

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
    already trusts every required CA as it is.
    """

    merge: MergeOptions = field(default_factory=MergeOptions)
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    check: bool = False

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
    required = required_cas(bundle, opts.verify.generations, opts.verify.region)
    outcomes = run_stores(
        as_specs(stores),
        lambda spec, password: _update_one(spec, password, bundle, required, opts),
        pw,
        on_failure=on_failure,
    )
    return UpdateResult(
        bundle=bundle.source,
        bundle_sha256=bundle.sha256,
        certificates=len(bundle),
        check=opts.check,
        generations=opts.verify.generations,
        stores=tuple(_with_settings(o, pw) for o in outcomes),
    )


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


def _with_settings(outcome: StoreOutcome[StoreUpdate], passwords: Passwords) -> StoreUpdate:
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
    settings = client_settings(
        merged.real_path if merged.created else outcome.spec.path,
        merged.type,
        password_env=passwords.source(outcome.spec).env_name(),
        password_required=outcome.password is not None,
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
