"""``rdstrust instances``: the fleet's CAs, and whether each store is ready for each instance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from rdstrust.aws.client import AwsOptions, boto3_session, endpoint_url, resolve_regions
from rdstrust.aws.inventory import DbResource, Inventory, list_resources
from rdstrust.aws.readiness import (
    DEFAULT_TARGET,
    Readiness,
    StoreCheck,
    check_readiness,
    check_target,
    read_stores,
)
from rdstrust.bundle import Bundle
from rdstrust.cli._common import (
    AcceptUnknownRdsOption,
    JsonOption,
    StorePassEnvOption,
    StorePassFileOption,
    emit,
    err,
    exit_on_error,
)
from rdstrust.cli._groups import Opt, Values, command, option
from rdstrust.errors import BundleError, ExitCode, UsageError
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.passwords import PasswordSource, prompt_on_terminal
from rdstrust.runner import Passwords
from rdstrust.stores import StoreContents
from rdstrust.storespec import parse_store_spec
from rdstrust.verify import reference_bundle

RegionsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--region",
        metavar="REGION",
        help="AWS region to list (repeat for several; default: the configured region).",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="AWS profile from ~/.aws/config (default: AWS_PROFILE, then boto3's usual chain).",
        show_default=False,
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        metavar="URL",
        help="RDS API endpoint to use instead of AWS's (an emulator, a VPC endpoint); "
        "also RDSTRUST_AWS_ENDPOINT_URL.",
        show_default=False,
    ),
]
AwsStoresOption = Annotated[
    list[str] | None,
    typer.Option(
        "--store",
        "-s",
        metavar="PATH[,storepass:env=VAR|file=FILE|none]",
        help="Trust store to check against every instance's CA (JKS, PKCS12 or PEM); repeat.",
        show_default=False,
    ),
]
AwsBundleOption = Annotated[
    Path | None,
    typer.Option(
        "--bundle",
        metavar="FILE",
        help="Reference bundle mapping CA identifiers to certificates (default: the one the "
        "last 'rdstrust fetch' cached).",
        envvar="RDSTRUST_BUNDLE",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class InstancesReport:
    """What ``instances`` prints: the inventory and, with ``--store``, the readiness table."""

    inventory: Inventory
    readiness: Readiness | None


def aws_options(profile: str | None, endpoint: str | None) -> AwsOptions:
    """The AWS options from the command line (and ``RDSTRUST_AWS_ENDPOINT_URL``)."""
    return AwsOptions(profile=profile, endpoint_url=endpoint_url(endpoint))


def load_stores(
    stores: list[str],
    bundle: Path | None,
    storepass_env: str | None,
    storepass_file: Path | None,
) -> tuple[tuple[StoreContents, ...], Bundle]:
    """Read the stores and the reference bundle before any AWS call (local errors first)."""
    specs = [parse_store_spec(s) for s in stores]
    passwords = Passwords(
        PasswordSource(env_var=storepass_env, file=storepass_file), prompt=prompt_on_terminal
    )
    passwords.check(specs)
    contents = read_stores(specs, passwords)
    reference = reference_bundle(bundle)
    if reference is None:
        raise BundleError(
            "No reference bundle to map CA identifiers to certificates: give --bundle FILE, "
            "or run 'rdstrust fetch' first so one is cached."
        )
    return contents, reference


#: The options of ``instances``.
INSTANCES = (
    Opt("region", RegionsOption, None),
    option(
        "all_regions",
        bool,
        False,
        "--all-regions",
        help="List every RDS region botocore knows for the configured partition.",
    ),
    Opt("profile", ProfileOption, None),
    Opt("endpoint", EndpointOption, None),
    Opt("stores", AwsStoresOption, None),
    Opt("bundle", AwsBundleOption, None),
    option(
        "target",
        str,
        DEFAULT_TARGET,
        "--target",
        metavar="CA",
        help="CA the instances are about to use (rds-ca-rsa2048-g1, rds-ca-rsa4096-g1, "
        "rds-ca-ecc384-g1).",
    ),
    Opt("storepass_env", StorePassEnvOption, None),
    Opt("storepass_file", StorePassFileOption, None),
    Opt("accept_unknown_rds", AcceptUnknownRdsOption, False),
    Opt("json", JsonOption, False),
)


@command(INSTANCES)
def instances(v: Values) -> None:
    """List DB instances and clusters with their CA; with --store, check each store for each.

    Exit codes: 0 listed (and every store trusts every instance's CA now and the target), 1 a
    store would break for some instance, 2 bad option, 3 bad bundle, 5 unreadable store,
    7 boto3 missing (install 'rdstrust[aws]'), 9 an AWS call failed.
    """
    target = v["target"]
    with exit_on_error(), accepting_unknown_rds(enabled=v["accept_unknown_rds"]):
        options = aws_options(v["profile"], v["endpoint"])
        target = check_target(target)
        contents: tuple[StoreContents, ...] = ()
        reference: Bundle | None = None
        if v["stores"]:
            contents, reference = load_stores(
                v["stores"], v["bundle"], v["storepass_env"], v["storepass_file"]
            )
        elif v["storepass_env"] or v["storepass_file"]:
            raise UsageError("The --storepass options go with --store; add --store.")
        session = boto3_session(options)
        regions = resolve_regions(session, v["region"] or [], all_regions=v["all_regions"])
        inventory = list_resources(session, options, regions, skip_failing=v["all_regions"])
        readiness = None
        if reference is not None:
            readiness = check_readiness(inventory.resources, contents, reference, target)
    report = InstancesReport(inventory=inventory, readiness=readiness)
    emit(report, json=v["json"], human=render_instances(report))
    for note in inventory.notes:
        err(f"note: {note}")
    err(
        f"{len(inventory.resources)} instance(s) and cluster(s) in "
        f"{len(inventory.regions)} region(s)."
    )
    if readiness is not None:
        broken = sum(1 for r in readiness.resources if not r.ok)
        err(f"{broken} of {len(readiness.resources)} would break a store.")
        if not readiness.ready:
            raise typer.Exit(int(ExitCode.NOT_TRUSTED))


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns, two spaces apart."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _pending(resource: DbResource, *, known: bool) -> str:
    if resource.pending:
        first = resource.pending[0]
        when = first.current_apply or first.auto_applied_after or first.forced_apply
        return f"{first.action}" + (f" {when:%Y-%m-%d}" if when else "")
    return "-" if known else "unknown"


def render_inventory(inventory: Inventory) -> list[str]:
    """One row per instance or cluster."""
    rows = [
        (
            r.identifier,
            str(r.kind),
            r.region,
            r.engine,
            f"{r.endpoint}:{r.port}" if r.endpoint and r.port else (r.endpoint or "-"),
            r.ca or "-",
            f"{r.valid_till:%Y-%m-%d}" if r.valid_till else "-",
            _pending(r, known=inventory.pending_known),
        )
        for r in inventory.resources
    ]
    header = ("IDENTIFIER", "KIND", "REGION", "ENGINE", "ENDPOINT", "CA", "VALID TILL", "PENDING")
    return table(header, rows) if rows else ["no DB instances or clusters"]


def _cell(check: StoreCheck) -> str:
    if check.ok:
        return "ok"
    parts = []
    if check.current is False:
        parts.append("now")
    if not check.target:
        parts.append("target")
    return "BREAKS:" + "+".join(parts)


def render_readiness(readiness: Readiness) -> list[str]:
    """Resources down, stores across (S1, S2, ... named below the table)."""
    names = tuple(f"S{i}" for i in range(1, len(readiness.stores) + 1))
    rows = [
        (r.identifier, r.region, r.current_ca or "-", *(_cell(c) for c in r.stores))
        for r in readiness.resources
    ]
    lines = [f"stores against the CA in use now and the target {readiness.target}:"]
    lines += table(("IDENTIFIER", "REGION", "CA NOW", *names), rows)
    lines += [f"  {n} = {path}" for n, path in zip(names, readiness.stores, strict=True)]
    for r in readiness.resources:
        lines += [f"  note: {r.identifier}: {note}" for note in r.notes]
    return lines


def render_instances(report: InstancesReport) -> str:
    """The inventory table, then the readiness table when stores were given."""
    lines = render_inventory(report.inventory)
    if report.readiness is not None:
        lines += ["", *render_readiness(report.readiness)]
    return "\n".join(lines)
