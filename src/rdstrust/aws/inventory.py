"""The fleet as RDS reports it: DB instances and clusters, their CA and pending CA rotations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from rdstrust.aws.client import AwsOptions, aws_call, clean, rds_client
from rdstrust.errors import AwsError

#: At most this many instances (and as many clusters) are read per region: a bound on the work
#: a hostile or broken endpoint can cause by paging forever.
MAX_RESOURCES = 10000
#: The pending maintenance action AWS schedules for a CA rotation.
CA_ROTATION_ACTION = "ca-certificate-rotation"


class ResourceKind(str, Enum):
    """What a row of the inventory is."""

    INSTANCE = "instance"
    CLUSTER = "cluster"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PendingAction:
    """A scheduled CA certificate rotation (``describe_pending_maintenance_actions``)."""

    action: str
    description: str
    auto_applied_after: datetime | None
    forced_apply: datetime | None
    current_apply: datetime | None
    opt_in_status: str | None


@dataclass(frozen=True)
class DbResource:
    """One DB instance or cluster and the CA its server certificate comes from.

    ``ca`` is ``None`` for a cluster that reports no CA of its own (Aurora: each member instance
    has its own, listed as an instance row). Every text field was passed through
    :func:`rdstrust.aws.client.clean`.
    """

    kind: ResourceKind
    identifier: str
    region: str
    engine: str
    endpoint: str | None
    port: int | None
    ca: str | None
    valid_till: datetime | None
    #: The cluster an instance belongs to (Aurora, Multi-AZ DB cluster).
    cluster: str | None = None
    arn: str | None = None
    status: str | None = None
    pending: tuple[PendingAction, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """The instances and clusters of some regions, and what could not be learnt."""

    regions: tuple[str, ...]
    resources: tuple[DbResource, ...]
    #: Whether pending maintenance actions were read in every region.
    pending_known: bool
    notes: tuple[str, ...] = field(default=())
    #: Regions left out because they refused (``--all-regions`` only: opt-in regions).
    skipped_regions: tuple[str, ...] = ()


def _port(value: Any) -> int | None:
    return value if isinstance(value, int) and 0 < value < 65536 else None


def _when(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def instance_resource(item: Mapping[str, Any], region: str) -> DbResource:
    """A :class:`DbResource` from one ``DBInstances`` item of ``describe_db_instances``."""
    endpoint = item.get("Endpoint") or {}
    details = item.get("CertificateDetails") or {}
    ca = item.get("CACertificateIdentifier") or details.get("CAIdentifier")
    return DbResource(
        kind=ResourceKind.INSTANCE,
        identifier=clean(item.get("DBInstanceIdentifier")),
        region=region,
        engine=clean(item.get("Engine")),
        endpoint=clean(endpoint["Address"]) if endpoint.get("Address") else None,
        port=_port(endpoint.get("Port")),
        ca=clean(ca) if ca else None,
        valid_till=_when(details.get("ValidTill")),
        cluster=clean(item["DBClusterIdentifier"]) if item.get("DBClusterIdentifier") else None,
        arn=clean(item.get("DBInstanceArn")) if item.get("DBInstanceArn") else None,
        status=clean(item.get("DBInstanceStatus")) if item.get("DBInstanceStatus") else None,
    )


def cluster_resource(item: Mapping[str, Any], region: str) -> DbResource:
    """A :class:`DbResource` from one ``DBClusters`` item of ``describe_db_clusters``."""
    details = item.get("CertificateDetails") or {}
    ca = details.get("CAIdentifier")
    return DbResource(
        kind=ResourceKind.CLUSTER,
        identifier=clean(item.get("DBClusterIdentifier")),
        region=region,
        engine=clean(item.get("Engine")),
        endpoint=clean(item["Endpoint"]) if item.get("Endpoint") else None,
        port=_port(item.get("Port")),
        ca=clean(ca) if ca else None,
        valid_till=_when(details.get("ValidTill")),
        arn=clean(item.get("DBClusterArn")) if item.get("DBClusterArn") else None,
        status=clean(item.get("Status")) if item.get("Status") else None,
    )


def parse_pending_actions(response: Mapping[str, Any]) -> dict[str, tuple[PendingAction, ...]]:
    """CA rotations by resource ARN, from a ``describe_pending_maintenance_actions`` answer."""
    found: dict[str, tuple[PendingAction, ...]] = {}
    for resource in response.get("PendingMaintenanceActions") or ():
        arn = resource.get("ResourceIdentifier")
        actions = tuple(
            PendingAction(
                action=clean(d.get("Action")),
                description=clean(d.get("Description", "")),
                auto_applied_after=_when(d.get("AutoAppliedAfterDate")),
                forced_apply=_when(d.get("ForcedApplyDate")),
                current_apply=_when(d.get("CurrentApplyDate")),
                opt_in_status=clean(d["OptInStatus"]) if d.get("OptInStatus") else None,
            )
            for d in resource.get("PendingMaintenanceActionDetails") or ()
            if d.get("Action") == CA_ROTATION_ACTION
        )
        if arn and actions:
            found[clean(arn)] = found.get(clean(arn), ()) + actions
    return found


def pending_ca_rotations(
    client: Any, region: str
) -> tuple[dict[str, tuple[PendingAction, ...]], str | None]:
    """Pending CA rotations in ``region`` by ARN, or an empty map and why they are unknown.

    Failure here never fails the run: some endpoints (emulators, restricted IAM policies) do
    not answer this call, and the inventory is still worth having without it.
    """
    found: dict[str, tuple[PendingAction, ...]] = {}
    try:
        with aws_call("DescribePendingMaintenanceActions", region):
            paginator = client.get_paginator("describe_pending_maintenance_actions")
            # The API filters by resource only, not by action: CA rotations are picked below.
            pages = paginator.paginate(PaginationConfig={"MaxItems": MAX_RESOURCES})
            for page in pages:
                for arn, actions in parse_pending_actions(page).items():
                    found[arn] = found.get(arn, ()) + actions
    except AwsError as exc:
        return {}, f"pending maintenance actions unknown in {region}: {exc.message}"
    return found, None


def _describe(client: Any, operation: str, key: str, region: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    with aws_call(operation, region):
        paginator = client.get_paginator(operation)
        for page in paginator.paginate(PaginationConfig={"MaxItems": MAX_RESOURCES}, **kwargs):
            items.extend(page.get(key) or ())
    return items[:MAX_RESOURCES]


def with_pending(
    resources: Sequence[DbResource], actions: Mapping[str, tuple[PendingAction, ...]]
) -> tuple[DbResource, ...]:
    """``resources`` with the pending CA rotations of their ARN attached."""
    return tuple(replace(r, pending=actions.get(r.arn or "", ())) for r in resources)


def region_resources(
    session: Any, options: AwsOptions, region: str, *, pending: bool = True
) -> tuple[tuple[DbResource, ...], str | None]:
    """Instances then clusters of one region, with their pending CA rotations (and a note)."""
    client = rds_client(session, options, region)
    instances = [
        instance_resource(i, region)
        for i in _describe(client, "describe_db_instances", "DBInstances", region)
    ]
    clusters = [
        cluster_resource(c, region)
        for c in _describe(client, "describe_db_clusters", "DBClusters", region)
    ]
    note = None
    actions: dict[str, tuple[PendingAction, ...]] = {}
    if pending:
        # One attempt only: an endpoint that answers this with a server error (moto) should not
        # cost the user the backoff of every retry.
        actions, note = pending_ca_rotations(
            rds_client(session, options, region, attempts=1), region
        )
    rows = with_pending(
        sorted(instances, key=lambda r: r.identifier)
        + sorted(clusters, key=lambda r: r.identifier),
        actions,
    )
    return rows, note


def list_resources(
    session: Any,
    options: AwsOptions,
    regions: Sequence[str],
    *,
    pending: bool = True,
    skip_failing: bool = False,
) -> Inventory:
    """The DB instances and clusters of ``regions``; raises :class:`AwsError` on API failure.

    ``skip_failing`` (for ``--all-regions``, whose list includes opt-in regions the account may
    not have enabled) turns a region's failure into a note and a ``skipped_regions`` entry; the
    error is still raised when every region fails (no credentials, no network).
    """
    resources: list[DbResource] = []
    notes: list[str] = []
    skipped: list[str] = []
    first_error: AwsError | None = None
    for region in regions:
        try:
            rows, note = region_resources(session, options, region, pending=pending)
        except AwsError as exc:
            if not skip_failing:
                raise
            first_error = first_error or exc
            skipped.append(region)
            notes.append(f"skipped {region}: {exc.message}")
            continue
        resources.extend(rows)
        if note:
            notes.append(note)
    if first_error is not None and len(skipped) == len(regions):
        raise first_error
    return Inventory(
        regions=tuple(r for r in regions if r not in skipped),
        resources=tuple(resources),
        pending_known=pending and not any(n.startswith("pending") for n in notes),
        notes=tuple(notes),
        skipped_regions=tuple(skipped),
    )


def describe_one(
    session: Any, options: AwsOptions, kind: ResourceKind, identifier: str, region: str
) -> DbResource:
    """The instance or cluster named ``identifier`` in ``region``.

    Raises :class:`AwsError` when it does not exist (one sentence naming it and the region).
    """
    client = rds_client(session, options, region)
    if kind is ResourceKind.INSTANCE:
        op, key, arg = "describe_db_instances", "DBInstances", "DBInstanceIdentifier"
    else:
        op, key, arg = "describe_db_clusters", "DBClusters", "DBClusterIdentifier"
    try:
        items = _describe(client, op, key, region, **{arg: identifier})
    except AwsError as exc:
        if "NotFound" in exc.message:
            raise AwsError(
                f"There is no DB {kind} {clean(identifier)!r} in {region}; check the identifier "
                "and --region (rdstrust instances lists them)."
            ) from None
        raise
    if not items:
        raise AwsError(f"There is no DB {kind} {clean(identifier)!r} in {region}.")
    make = instance_resource if kind is ResourceKind.INSTANCE else cluster_resource
    return make(items[0], region)
