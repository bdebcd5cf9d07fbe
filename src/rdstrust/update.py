"""The main job: merge a fetched bundle into every store, then prove each store trusts it.

:func:`update_stores` is what ``rdstrust update`` runs after fetching: for each store, merge the
bundle (or, with ``check``, only plan the merge) and verify the store against the bundle's
required CAs, collecting one :class:`StoreUpdate` per store. A store that fails (wrong password,
unreadable) is reported and left unchanged while the others proceed, as a pipeline updating a
JDK ``cacerts`` and an application truststore in one step expects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from rdstrust.bundle import Bundle
from rdstrust.certs import G1_GENERATIONS, Generation
from rdstrust.clients import ClientSettings, client_settings
from rdstrust.errors import ExitCode, RdsTrustError
from rdstrust.merge import MergeResult, merge_store
from rdstrust.pathcheck import Chain
from rdstrust.verify import (
    DEFAULT_WARN_DAYS,
    VerifyReport,
    check_time,
    check_warn_days,
    required_cas,
    verify_store,
)


class UpdateStatus(str, Enum):
    """What happened to one store."""

    #: New certificates were written and the store passes verification.
    UPDATED = "updated"
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


@dataclass(frozen=True)
class StoreUpdate:
    """The outcome for one store: the merge, the verdict, and how clients use the store."""

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
        return all(s.status in (UpdateStatus.UPDATED, UpdateStatus.UP_TO_DATE) for s in self.stores)

    @property
    def exit_code(self) -> int:
        """0 when every store is ready; the first failure's code; else 1 (not trusted)."""
        for s in self.stores:
            if s.status is UpdateStatus.FAILED:
                return s.exit_code
        return int(ExitCode.OK if self.passed else ExitCode.NOT_TRUSTED)


def update_stores(
    bundle: Bundle,
    stores: Sequence[str | Path],
    *,
    password_for: Callable[[Path], str | None],
    check: bool = False,
    generations: Sequence[Generation | str] = G1_GENERATIONS,
    region: str | None = None,
    store_type: str | None = None,
    prune_expired: bool = False,
    pkcs12_profile: str | None = None,
    backup: bool = True,
    chain: Chain | None = None,
    hostname: str | None = None,
    java: str | None = None,
    warn_days: int = DEFAULT_WARN_DAYS,
    password_env: str | None = None,
    now: datetime | None = None,
) -> UpdateResult:
    """Merge ``bundle`` into each store and verify it; with ``check``, write nothing.

    ``password_for(path)`` supplies each store's password (``None`` for none), so a caller can
    prompt per store. ``region`` narrows the required CAs to that region's. Raises
    :class:`rdstrust.errors.BundleError` when the bundle holds none of the required generations
    (of ``region``) and :class:`rdstrust.errors.UsageError` for ``warn_days`` outside 0-36500 or
    ``now`` outside 1950-9000, before any store is touched; every per-store problem is recorded
    in the result instead.
    """
    from rdstrust.stores import StoreType

    # Checked before the first store is touched: failing in verify_store after the merge would
    # leave the store written and the run reported as a store failure.
    check_warn_days(warn_days)
    if now is not None:
        check_time(now)
    required = required_cas(bundle, generations, region)
    kind = StoreType(store_type) if store_type else None
    results = []
    for store in stores:
        path = Path(store)
        try:
            password = password_for(path)
            merged = merge_store(
                path,
                bundle,
                password=password,
                store_type=kind,
                prune_expired=prune_expired,
                pkcs12_profile=pkcs12_profile,
                backup=backup,
                dry_run=check,
                now=now,
            )
            report = None
            if not (check and merged.created):
                report = verify_store(
                    path,
                    required,
                    password=password,
                    chain=chain,
                    hostname=hostname,
                    at=now,
                    warn_days=warn_days,
                    java=java,
                )
            status = _status(merged, report, check)
            settings = client_settings(
                merged.real_path if merged.created else path,
                merged.type,
                password_env=password_env,
                password_required=password is not None,
            )
            results.append(StoreUpdate(str(path), status, merged, report, settings))
        except RdsTrustError as exc:
            results.append(
                StoreUpdate(
                    str(path),
                    UpdateStatus.FAILED,
                    None,
                    None,
                    None,
                    error=exc.message,
                    exit_code=int(exc.exit_code),
                )
            )
    return UpdateResult(
        bundle=bundle.source,
        bundle_sha256=bundle.sha256,
        certificates=len(bundle),
        check=check,
        generations=tuple(Generation(g) for g in generations),
        stores=tuple(results),
    )


def _status(merged: MergeResult, report: VerifyReport | None, check: bool) -> UpdateStatus:
    changes = bool(merged.added or merged.pruned)
    if check:
        # A check passes only when the store already trusts everything required as it is.
        if report is not None and report.passed:
            return UpdateStatus.UP_TO_DATE
        return UpdateStatus.OUT_OF_DATE
    if report is None or not report.passed:
        return UpdateStatus.NOT_TRUSTED
    return UpdateStatus.UPDATED if changes else UpdateStatus.UP_TO_DATE
