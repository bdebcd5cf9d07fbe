"""A gated CA rotation: check every store first, then change one instance's or cluster's CA."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rdstrust.aws.client import AwsOptions, aws_call, rds_client
from rdstrust.aws.inventory import DbResource, ResourceKind, describe_one
from rdstrust.aws.readiness import ResourceReadiness, check_target, resource_readiness
from rdstrust.bundle import Bundle
from rdstrust.certs import Generation
from rdstrust.errors import AwsError, ProbeError, UsageError
from rdstrust.probe import DEFAULT_TIMEOUT, StartTLS, probe
from rdstrust.stores import StoreContents

#: Engines whose instances can take a new certificate without a restart
#: (ModifyDBInstance ``CertificateRotationRestart=false``); others always restart.
NO_RESTART_ENGINES = ("postgres", "mysql", "mariadb", "aurora-postgresql", "aurora-mysql")
#: Bounds for ``--wait``: AWS applies a rotation within minutes.
DEFAULT_WAIT_TIMEOUT = 1800.0
DEFAULT_WAIT_INTERVAL = 15.0


@dataclass(frozen=True)
class RotationPlan:
    """What ``rotate`` would do, and whether the stores allow it."""

    kind: ResourceKind
    identifier: str
    region: str
    engine: str
    current_ca: str | None
    target_ca: str
    apply_immediately: bool
    #: ``False`` asks for no restart (CertificateRotationRestart); ``None`` leaves AWS's default.
    restart: bool | None
    readiness: ResourceReadiness
    #: Stores that do not trust the target CA (the rotation is refused when any).
    blocking: tuple[str, ...]
    #: Whether the resource already uses the target CA (nothing to change).
    already: bool
    #: Whether every store trusts the target CA for this resource's region.
    allowed: bool


@dataclass(frozen=True)
class ProbeSummary:
    """Which CA the endpoint's certificate comes from after the rotation."""

    host: str
    port: int
    generation: Generation
    region: str | None
    issuer: str


@dataclass(frozen=True)
class RotationResult:
    """The plan and what happened: applied, waited for, probed."""

    plan: RotationPlan
    applied: bool
    reported_ca: str | None = None
    waited_seconds: float | None = None
    probe: ProbeSummary | None = None


def plan_rotation(
    resource: DbResource,
    stores: Sequence[StoreContents],
    bundle: Bundle,
    target: str,
    *,
    apply_immediately: bool = False,
    no_restart: bool = False,
) -> RotationPlan:
    """Check ``stores`` for ``resource`` and describe the change; nothing is modified here.

    Raises :class:`UsageError` for an unknown target, ``--no-restart`` on a cluster or an
    engine that always restarts, or no store to check.
    """
    target = check_target(target)
    if not stores:
        raise UsageError("rotate needs at least one --store to check before changing a CA.")
    if no_restart:
        if resource.kind is ResourceKind.CLUSTER:
            raise UsageError(
                "--no-restart applies to DB instances only (ModifyDBCluster has no such option); "
                "leave it out for a cluster."
            )
        if not resource.engine.lower().startswith(NO_RESTART_ENGINES):
            raise UsageError(
                f"Engine {resource.engine} cannot rotate its certificate without a restart; "
                "leave out --no-restart."
            )
    readiness = resource_readiness(resource, stores, bundle, target)
    blocking = tuple(s.store for s in readiness.stores if s.target is not True)
    return RotationPlan(
        kind=resource.kind,
        identifier=resource.identifier,
        region=resource.region,
        engine=resource.engine,
        current_ca=resource.ca,
        target_ca=target,
        apply_immediately=apply_immediately,
        restart=False if no_restart else None,
        readiness=readiness,
        blocking=blocking,
        allowed=not blocking,
        already=(resource.ca or "").lower() == target,
    )


def modify_request(plan: RotationPlan) -> tuple[str, dict[str, Any]]:
    """The API operation and parameters that carry out ``plan``."""
    if plan.kind is ResourceKind.INSTANCE:
        params: dict[str, Any] = {
            "DBInstanceIdentifier": plan.identifier,
            "CACertificateIdentifier": plan.target_ca,
            "ApplyImmediately": plan.apply_immediately,
        }
        if plan.restart is not None:
            params["CertificateRotationRestart"] = plan.restart
        return "modify_db_instance", params
    return "modify_db_cluster", {
        "DBClusterIdentifier": plan.identifier,
        "CACertificateIdentifier": plan.target_ca,
        "ApplyImmediately": plan.apply_immediately,
    }


def apply_rotation(session: Any, options: AwsOptions, plan: RotationPlan) -> None:
    """Send the modification; refuses (:class:`UsageError`) a plan the stores do not allow."""
    if not plan.allowed:
        raise UsageError("Refusing to rotate: a store does not trust the target CA.")
    operation, params = modify_request(plan)
    client = rds_client(session, options, plan.region)
    with aws_call(operation.replace("_", " "), plan.region):
        getattr(client, operation)(**params)


def wait_for_ca(
    fetch: Callable[[], DbResource],
    target: str,
    *,
    timeout: float = DEFAULT_WAIT_TIMEOUT,
    interval: float = DEFAULT_WAIT_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[DbResource, float]:
    """Poll ``fetch`` until the resource reports ``target`` as its CA; returns it and the wait.

    Raises :class:`AwsError` when ``timeout`` seconds pass first.
    """
    start = clock()
    while True:
        resource = fetch()
        elapsed = clock() - start
        if (resource.ca or "").lower() == target:
            return resource, elapsed
        if elapsed + interval > timeout:
            raise AwsError(
                f"DB {resource.kind} {resource.identifier} still reports CA "
                f"{resource.ca or 'none'} after {elapsed:.0f} s; the change may still be "
                "pending: check later with 'rdstrust instances'."
            )
        sleep(interval)


def fetch_resource(
    session: Any, options: AwsOptions, kind: ResourceKind, identifier: str, region: str
) -> Callable[[], DbResource]:
    """A callable that re-describes one resource (what :func:`wait_for_ca` polls)."""
    return lambda: describe_one(session, options, kind, identifier, region)


def probe_endpoint(
    resource: DbResource,
    *,
    starttls: StartTLS = StartTLS.AUTO,
    timeout: float = DEFAULT_TIMEOUT,
) -> ProbeSummary:
    """Probe the resource's endpoint and say which CA its certificate comes from.

    Raises :class:`rdstrust.errors.ProbeError` when the endpoint cannot be reached.
    """
    if resource.endpoint is None or resource.port is None:
        raise AwsError(
            f"DB {resource.kind} {resource.identifier} reports no endpoint to probe yet; run "
            "'rdstrust probe' once it is available."
        )
    result = probe(resource.endpoint, resource.port, starttls=starttls, timeout=timeout)
    return ProbeSummary(
        host=result.host,
        port=result.port,
        generation=result.generation,
        region=result.region,
        issuer=result.issuer,
    )


@dataclass(frozen=True)
class RotateOptions:
    """One ``rotate`` request, built once at the command line's edge."""

    kind: ResourceKind
    identifier: str
    target: str
    region: str | None = None
    apply_immediately: bool = False
    no_restart: bool = False
    #: Without it only the plan is made.
    yes: bool = False
    wait: bool = False
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    wait_interval: float = DEFAULT_WAIT_INTERVAL
    probe: bool = False
    starttls: StartTLS = StartTLS.AUTO

    def __post_init__(self) -> None:
        if self.wait and not (self.yes and self.apply_immediately):
            raise UsageError("--wait needs --yes and --apply-immediately: nothing changes before.")
        if self.probe and not self.wait:
            raise UsageError("--probe goes with --wait; add --wait.")


def run_rotation(
    aws: AwsOptions,
    request: RotateOptions,
    stores: Sequence[StoreContents],
    bundle: Bundle,
) -> RotationResult:
    """Describe the resource, check the stores, then (``yes``) modify, wait and probe.

    Nothing is modified when a store does not trust the target CA (``plan.allowed`` is False),
    when the resource already uses it, or without ``yes``.
    """
    from rdstrust.aws.client import boto3_session, check_region, resolve_regions

    session = boto3_session(aws)
    region = (
        check_region(request.region)
        if request.region
        else resolve_regions(session, [], all_regions=False)[0]
    )
    resource = describe_one(session, aws, request.kind, request.identifier, region)
    plan = plan_rotation(
        resource,
        stores,
        bundle,
        request.target,
        apply_immediately=request.apply_immediately,
        no_restart=request.no_restart,
    )
    if not (plan.allowed and request.yes) or plan.already:
        return RotationResult(plan=plan, applied=False)
    apply_rotation(session, aws, plan)
    if not request.wait:
        return RotationResult(plan=plan, applied=True)
    fetch = fetch_resource(session, aws, request.kind, resource.identifier, region)
    now, waited = wait_for_ca(
        fetch, plan.target_ca, timeout=request.wait_timeout, interval=request.wait_interval
    )
    summary = None
    if request.probe:
        try:
            summary = probe_endpoint(now, starttls=request.starttls)
        except ProbeError as exc:
            raise ProbeError(
                f"The rotation was applied, but probing the endpoint failed: {exc.message}",
                host=exc.host,
            ) from None
    return RotationResult(
        plan=plan, applied=True, reported_ca=now.ca, waited_seconds=waited, probe=summary
    )
