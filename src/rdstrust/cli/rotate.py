"""``rdstrust rotate``: change one instance's or cluster's CA, only when every store is ready."""

from __future__ import annotations

import typer

from rdstrust.aws.inventory import ResourceKind
from rdstrust.aws.readiness import DEFAULT_TARGET, check_target
from rdstrust.aws.rotate import (
    DEFAULT_WAIT_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    RotateOptions,
    RotationPlan,
    RotationResult,
    run_rotation,
)
from rdstrust.cli._common import (
    AcceptUnknownRdsOption,
    JsonOption,
    StartTLSOption,
    StorePassEnvOption,
    StorePassFileOption,
    emit,
    err,
    exit_on_error,
    seconds,
)
from rdstrust.cli._groups import Opt, Values, command, option
from rdstrust.cli.instances import (
    AwsBundleOption,
    EndpointOption,
    ProfileOption,
    aws_options,
    load_stores,
)
from rdstrust.errors import ExitCode, UsageError
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.probe import StartTLS
from rdstrust.text import safe

#: The options of ``rotate``.
ROTATE = (
    option(
        "stores",
        list[str],
        ...,
        "--store",
        "-s",
        metavar="PATH[,storepass:env=VAR|file=FILE|none]",
        help="Trust store that must trust the target CA first (JKS, PKCS12 or PEM); repeat.",
        show_default=False,
    ),
    option(
        "instance",
        str | None,
        None,
        "--instance",
        metavar="ID",
        help="DB instance to rotate.",
        show_default=False,
    ),
    option(
        "cluster",
        str | None,
        None,
        "--cluster",
        metavar="ID",
        help="DB cluster to rotate.",
        show_default=False,
    ),
    option(
        "to",
        str,
        DEFAULT_TARGET,
        "--to",
        metavar="CA",
        help="CA to rotate to (a G1 CA identifier).",
    ),
    option(
        "region",
        str | None,
        None,
        "--region",
        metavar="REGION",
        help="Region of the instance (default: the configured region).",
        show_default=False,
    ),
    option("yes", bool, False, "--yes", help="Apply the change (without it: show the plan only)."),
    option(
        "apply_immediately",
        bool,
        False,
        "--apply-immediately",
        help="Apply now instead of in the next maintenance window.",
    ),
    option(
        "no_restart",
        bool,
        False,
        "--no-restart",
        help="Rotate without restarting the instance (CertificateRotationRestart=false; "
        "PostgreSQL, MySQL, MariaDB and their Aurora engines).",
    ),
    option(
        "wait",
        bool,
        False,
        "--wait",
        help="After --apply-immediately, wait until the new CA is reported.",
    ),
    option(
        "wait_timeout",
        float,
        DEFAULT_WAIT_TIMEOUT,
        "--wait-timeout",
        metavar="SECONDS",
        parser=seconds,
        help="Longest --wait.",
    ),
    option(
        "wait_interval",
        float,
        DEFAULT_WAIT_INTERVAL,
        "--wait-interval",
        metavar="SECONDS",
        parser=seconds,
        help="Seconds between polls.",
    ),
    option(
        "do_probe",
        bool,
        False,
        "--probe",
        help="After --wait, probe the endpoint and report the CA it now uses.",
    ),
    Opt("starttls", StartTLSOption, None),
    Opt("profile", ProfileOption, None),
    Opt("endpoint", EndpointOption, None),
    Opt("bundle", AwsBundleOption, None),
    Opt("storepass_env", StorePassEnvOption, None),
    Opt("storepass_file", StorePassFileOption, None),
    Opt("accept_unknown_rds", AcceptUnknownRdsOption, False),
    Opt("json", JsonOption, False),
)


@command(ROTATE)
def rotate(v: Values) -> None:
    """Rotate one DB instance or cluster to a new CA once every store trusts it.

    Exit codes: 0 planned (no --yes) or applied, 1 refused (a store does not trust the target
    CA), 2 bad option, 3 bad bundle, 5 unreadable store, 6 --probe failed, 7 boto3 missing
    (install 'rdstrust[aws]'), 9 an AWS call failed or --wait timed out.
    """
    with exit_on_error(), accepting_unknown_rds(enabled=v["accept_unknown_rds"]):
        if (v["instance"] is None) == (v["cluster"] is None):
            raise UsageError("Name exactly one of --instance ID or --cluster ID.")
        request = RotateOptions(
            kind=ResourceKind.INSTANCE if v["instance"] is not None else ResourceKind.CLUSTER,
            identifier=v["instance"] or v["cluster"] or "",
            target=check_target(v["to"]),
            region=v["region"],
            apply_immediately=v["apply_immediately"],
            no_restart=v["no_restart"],
            yes=v["yes"],
            wait=v["wait"],
            wait_timeout=v["wait_timeout"],
            wait_interval=v["wait_interval"],
            probe=v["do_probe"],
            # auto: MySQL's upgrade on 3306 (Aurora MySQL, MariaDB), PostgreSQL's elsewhere.
            starttls=v["starttls"] or StartTLS.AUTO,
        )
        options = aws_options(v["profile"], v["endpoint"])
        contents, reference = load_stores(
            v["stores"], v["bundle"], v["storepass_env"], v["storepass_file"]
        )
        result = run_rotation(options, request, contents, reference)
    emit(result, json=v["json"], human=render_rotation(result))
    _summary(result.plan, result, yes=v["yes"])


def _summary(plan: RotationPlan, result: RotationResult, *, yes: bool) -> None:
    if not plan.allowed:
        err(
            f"Refused: {len(plan.blocking)} store(s) do not trust {plan.target_ca} for "
            f"{safe(plan.region)}: {safe(', '.join(plan.blocking))}; nothing was changed."
        )
        raise typer.Exit(int(ExitCode.NOT_TRUSTED))
    if plan.already:
        err(f"{safe(plan.identifier)} already uses {plan.target_ca}; nothing to change.")
    elif not yes:
        err("Plan only: nothing was changed; add --yes to apply it.")
    elif result.applied:
        when = "now" if plan.apply_immediately else "in the next maintenance window"
        err(f"Requested {plan.target_ca} for {safe(plan.identifier)}, applied {when}.")


def render_rotation(result: RotationResult) -> str:
    """The plan, the per-store verdicts, and what was done."""
    plan = result.plan
    restart = {None: "AWS default", False: "no restart"}.get(plan.restart, "restart")
    lines = [
        f"{plan.kind} {safe(plan.identifier)} ({safe(plan.engine)}, {safe(plan.region)})",
        f"  CA now     {safe(plan.current_ca or '-')}",
        f"  CA target  {plan.target_ca}",
        f"  applied    {'immediately' if plan.apply_immediately else 'next maintenance window'}"
        f"; {restart}",
        "stores:",
    ]
    for check in plan.readiness.stores:
        verdict = "ok" if check.target else "DOES NOT TRUST THE TARGET"
        lines.append(f"  {verdict:<6} {safe(check.store)}")
        lines += [f"         {safe(reason)}" for reason in check.reasons]
    lines += [f"  note: {safe(note)}" for note in plan.readiness.notes]
    status = "REFUSED" if not plan.allowed else ("applied" if result.applied else "planned")
    if plan.already:
        status = "nothing to do"
    lines.append(f"status: {status}")
    if result.reported_ca is not None:
        lines.append(f"reported CA: {safe(result.reported_ca)} after {result.waited_seconds:.0f} s")
    if result.probe is not None:
        p = result.probe
        lines.append(
            f"probe: {safe(p.host)}:{p.port} certificate issued by {safe(p.issuer)} "
            f"({p.generation.value})"
        )
    return "\n".join(lines)
