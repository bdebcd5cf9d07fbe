"""Would a store break for an instance? Its CA now and the CA it rotates to, per region.

A DB instance's ``CACertificateIdentifier`` names a CA generation; the certificate a client must
trust is that generation's root for the instance's region (``Amazon RDS us-east-1 Root CA RSA2048
G1``), or for ``rds-ca-2019`` the 2019 root (``Amazon RDS Root 2019 CA``; regions opened after
2019 have their own root, used when the bundle has it). The reference bundle supplies those
certificates; a store "trusts" a CA when one of its trust anchors (as Java sees them) has the
same SHA-256.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rdstrust.aws.inventory import DbResource, ResourceKind
from rdstrust.bundle import Bundle
from rdstrust.certs import G1_GENERATIONS, CertInfo, Generation
from rdstrust.errors import StoreError, UsageError
from rdstrust.runner import Passwords, run_stores
from rdstrust.stores import StoreContents, read_store
from rdstrust.storespec import StoreSpec
from rdstrust.verify import CaRef, ca_ref, java_anchors

#: What ``instances --target`` and ``rotate --to`` default to (AWS's recommended CA).
DEFAULT_TARGET = Generation.RSA2048_G1.value
#: CA identifiers a rotation may target.
TARGETS = tuple(g.value for g in G1_GENERATIONS)
#: CA identifiers rdstrust can map to bundle certificates.
KNOWN_CAS = (*TARGETS, Generation.CA_2019.value)


def check_target(value: str) -> str:
    """``value`` as a rotation target (a G1 CA identifier); raises :class:`UsageError`."""
    text = value.strip().lower()
    if text not in TARGETS:
        raise UsageError(f"{value!r} is not a CA to rotate to; use one of {', '.join(TARGETS)}.")
    return text


def ca_certificates(bundle: Bundle, ca: str, region: str) -> tuple[CertInfo, ...]:
    """The bundle's certificates a client needs to trust CA identifier ``ca`` in ``region``.

    Empty when the identifier is unknown or the bundle lacks that region's CA.
    """
    name = ca.strip().lower()
    if name in TARGETS:
        return tuple(c for c in bundle.select([Generation(name)], region) if c.is_ca)
    if name == Generation.CA_2019.value:
        regional = tuple(c for c in bundle.select([Generation.REGIONAL], region) if c.is_root)
        if regional:
            return regional
        return tuple(
            c for c in bundle.select([Generation.CA_2019]) if c.is_root and c.region is None
        )
    return ()


@dataclass(frozen=True)
class StoreCheck:
    """One store against one instance: does it trust the CA now, and the target CA?

    ``current`` is ``None`` when there is nothing to check: a cluster reporting no CA of its own,
    or a CA the bundle has no certificate for (said in the resource's notes).
    """

    store: str
    current: bool | None
    target: bool
    ok: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceReadiness:
    """One instance or cluster against every store."""

    kind: ResourceKind
    identifier: str
    region: str
    current_ca: str | None
    target_ca: str
    current_certificates: tuple[CaRef, ...]
    target_certificates: tuple[CaRef, ...]
    stores: tuple[StoreCheck, ...]
    #: Whether no store would break for this resource.
    ok: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Readiness:
    """Every resource against every store, for one target CA."""

    target: str
    bundle: str
    stores: tuple[str, ...]
    resources: tuple[ResourceReadiness, ...]
    ready: bool


def read_stores(specs: Sequence[StoreSpec], passwords: Passwords) -> tuple[StoreContents, ...]:
    """Load every store, each with its own password source (else the run's default).

    Unlike ``update``, a store that cannot be read stops the command: the readiness of the
    fleet cannot be judged without it. The first failing store's error is raised.
    """
    unique = tuple({spec.path: spec for spec in specs}.values())
    outcomes = run_stores(unique, lambda spec, pw: read_store(spec.path, pw), passwords)
    for outcome in outcomes:
        if outcome.failure is not None:
            raise StoreError(outcome.failure.message, path=outcome.failure.store)
    return tuple(o.result for o in outcomes if o.result is not None)


def _trusts(anchors: frozenset[str], certs: Sequence[CertInfo]) -> bool:
    return any(c.sha256 in anchors for c in certs)


def resource_readiness(
    resource: DbResource,
    stores: Sequence[StoreContents],
    bundle: Bundle,
    target: str,
) -> ResourceReadiness:
    """Check one resource's CA now and ``target`` against every store."""
    notes: list[str] = []
    current = ca_certificates(bundle, resource.ca, resource.region) if resource.ca else ()
    wanted = ca_certificates(bundle, target, resource.region)
    if resource.ca and not current:
        notes.append(
            f"no certificate for CA {resource.ca} in {resource.region} in the bundle"
            + (
                ""
                if resource.ca.lower() in KNOWN_CAS
                else " (an identifier rdstrust does not know)"
            )
        )
    if resource.ca is None and resource.kind is ResourceKind.CLUSTER:
        notes.append("the cluster reports no CA of its own; its instances are checked as rows")
    if not wanted:
        notes.append(f"no certificate for CA {target} in {resource.region} in the bundle")
    checks = []
    for contents in stores:
        anchors = frozenset(e.sha256 for e in java_anchors(contents) if e.sha256)
        # A CA in use that the bundle cannot name is reported, not failed (it may be the
        # expired rds-ca-2019 against a current bundle); a target that cannot be checked fails,
        # because rotate must never go ahead without proof.
        now = _trusts(anchors, current) if current else None
        later = _trusts(anchors, wanted)
        reasons = []
        if now is False:
            reasons.append(f"does not trust {resource.ca} ({resource.region}), in use now")
        if not wanted:
            reasons.append(f"cannot check {target} ({resource.region}): not in the bundle")
        elif not later:
            reasons.append(f"does not trust {target} ({resource.region}), the target")
        checks.append(
            StoreCheck(
                store=contents.path,
                current=now,
                target=later,
                ok=now is not False and later,
                reasons=tuple(reasons),
            )
        )
    return ResourceReadiness(
        kind=resource.kind,
        identifier=resource.identifier,
        region=resource.region,
        current_ca=resource.ca,
        target_ca=target,
        current_certificates=tuple(ca_ref(c) for c in current),
        target_certificates=tuple(ca_ref(c) for c in wanted),
        stores=tuple(checks),
        ok=all(c.ok for c in checks),
        notes=tuple(notes),
    )


def check_readiness(
    resources: Sequence[DbResource],
    stores: Sequence[StoreContents],
    bundle: Bundle,
    target: str = DEFAULT_TARGET,
) -> Readiness:
    """Every resource against every store; ``ready`` when no store would break anywhere."""
    target = check_target(target)
    rows = tuple(resource_readiness(r, stores, bundle, target) for r in resources)
    return Readiness(
        target=target,
        bundle=bundle.source,
        stores=tuple(s.path for s in stores),
        resources=rows,
        ready=all(r.ok for r in rows),
    )
