"""``rdstrust update``: the main job. Fetch the bundle, merge it into every store, prove it."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from rdstrust.cli._common import (
    JSON,
    MERGE,
    PASSWORDS,
    STORES,
    ChainOption,
    RequireOption,
    WarnDaysOption,
    emit,
    err,
    exit_on_error,
    java_for,
    merge_options_of,
    parse_generations,
    passwords_of,
    stores_of,
)
from rdstrust.cli._groups import Opt, Values, command
from rdstrust.cli._source import SOURCE, fetch_with_progress, source_options
from rdstrust.clients import JVM_DEFAULT_NOTE, ClientSettings, jvm_default_truststore
from rdstrust.errors import UsageError
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.options import DEFAULT_WARN_DAYS, VerifyOptions
from rdstrust.runner import StoreFailure
from rdstrust.text import safe
from rdstrust.update import (
    READY,
    StoreUpdate,
    UpdateOptions,
    UpdateResult,
    UpdateStatus,
    update_stores,
)

CreateOption = Annotated[
    bool,
    typer.Option(
        "--create",
        help="Create a store that does not exist yet (default: a missing store is an error, "
        "so a mistyped path is not silently created).",
    ),
]
CheckOption = Annotated[
    bool,
    typer.Option(
        "--check",
        "--dry-run",
        help="Write nothing; exit 1 if any store lacks a required CA (a CI gate).",
    ),
]
UpdateRegionOption = Annotated[
    str,
    typer.Option(
        "--region",
        help="Region code (us-east-1, us-gov-west-1, cn-north-1) or 'global': the bundle to "
        "download, and (unless global) the only region whose CAs are merged and required, "
        "also with --source or --url.",
        envvar="RDSTRUST_REGION",
    ),
]
ServerNameOption = Annotated[
    str | None,
    typer.Option(
        "--server-name",
        help="Host name the --chain leaf must be valid for (default: not checked).",
        show_default=False,
    ),
]
JvmOption = Annotated[
    bool, typer.Option("--jvm", help="Also ask the JVM for its verdict on --chain.")
]

#: What ``update`` adds to the shared groups: the run's mode and what to verify.
UPDATE = (
    Opt("create", CreateOption, False),
    Opt("check", CheckOption, False),
    Opt("region", UpdateRegionOption, "global"),
    Opt("require", RequireOption),
    Opt("chain_file", ChainOption),
    Opt("server_name", ServerNameOption),
    Opt("jvm", JvmOption, False),
    Opt("warn_days", WarnDaysOption, DEFAULT_WARN_DAYS),
)


@command(STORES, UPDATE, SOURCE, PASSWORDS, MERGE, JSON)
def update(v: Values) -> None:
    """Fetch the RDS CA bundle, merge it into every store and verify each store, in one step.

    Idempotent: a second run reports "up-to-date" and writes nothing.
    """
    with exit_on_error(), accepting_unknown_rds(enabled=v["accept_unknown_rds"]):
        source = source_options(v)
        specs = stores_of(v)
        passwords = passwords_of(v, specs)
        options = UpdateOptions(
            merge=merge_options_of(v, create_missing=v["create"]),
            verify=_verify_options(v, source.region),
            check=v["check"],
            jvm_truststore=jvm_default_truststore(v["java"]),
        )
        fetched = fetch_with_progress(source)
        for note in dict.fromkeys((*fetched.bundle.notes, *fetched.notes)):
            err(f"note: {safe(note)}")

        def report(failure: StoreFailure) -> None:
            err(f"rdstrust: error: {_failure(failure)}")

        result = update_stores(
            fetched.bundle, specs, options, passwords=passwords, on_failure=report
        )
    for warning in result.warnings:
        err(f"rdstrust: warning: {safe(warning)}")
    # The fetch's warnings were printed as it finished; JSON carries them with the run's.
    result = replace(result, warnings=(*fetched.warnings, *result.warnings))
    emit(result, json=v["json"], human=render_update(result))
    err(summary_line(result))
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _verify_options(v: Values, region: str) -> VerifyOptions:
    chain_file = v["chain_file"]
    if v["jvm"] and chain_file is None:
        raise UsageError("--jvm needs --chain: the JVM is asked whether it trusts a chain.")
    if v["server_name"] is not None and chain_file is None:
        raise UsageError(
            "--server-name needs --chain: it is the name the chain's server certificate "
            "must be valid for."
        )
    chain = None
    if chain_file is not None:
        from rdstrust.pathcheck import read_chain  # path checks only with --chain

        chain = read_chain(chain_file)
    return VerifyOptions(
        generations=parse_generations(v["require"]),
        region=region,
        chain=chain,
        hostname=v["server_name"],
        warn_days=v["warn_days"],
        java=java_for(jvm=v["jvm"], java=v["java"]),
    )


def _failure(failure: StoreFailure) -> str:
    # Most store errors already name the store; prefix it only where the message does not.
    message = failure.message
    return safe(message if failure.store in message else f"{failure.store}: {message}")


def summary_line(result: UpdateResult) -> str:
    """The last line on stderr: how many stores are ready, and why the others are not.

    A store that could not be read or written was never judged: it is counted apart, not as
    one that "does not trust" the CAs.
    """
    count = {status: 0 for status in UpdateStatus}
    for item in result.stores:
        count[item.status] += 1
    failed = count[UpdateStatus.FAILED]
    judged = len(result.stores) - failed
    ready = sum(count[s] for s in READY)
    parts = [f"{ready} of {judged} store(s) checked trust the required RDS CAs"]
    if count[UpdateStatus.OUT_OF_DATE]:
        parts.append(f"{count[UpdateStatus.OUT_OF_DATE]} would need an update")
    if count[UpdateStatus.NOT_TRUSTED]:
        parts.append(f"{count[UpdateStatus.NOT_TRUSTED]} still do(es) not after the merge")
    if failed:
        parts.append(
            f"{failed} could not be read or written (left unchanged, not checked; see the "
            "error above)"
        )
    if not judged:
        parts[0] = "No store could be checked"
    return "; ".join(parts) + "."


def render_update(result: UpdateResult) -> str:
    """One block per store: what changed, the verdict, and the client settings that use it;
    then the notes about those settings, each once."""
    mode = " (check: nothing written)" if result.check else ""
    lines = [f"Bundle {safe(result.bundle)}: {result.certificates} certificates{mode}"]
    if result.merged_certificates is not None and result.merged_certificates < result.certificates:
        lines.append(
            f"Merging only {safe(result.region)}'s CAs and the CAs they chain to: "
            f"{result.merged_certificates} of {result.certificates}"
        )
    notes: list[str] = []
    for item in result.stores:
        lines.append("")
        lines.extend(_render_store(item, notes))
    if notes:
        lines += ["", "Notes:"]
        lines += [f"  - {safe(note)}" for note in dict.fromkeys(notes)]
    return "\n".join(lines)


#: The start of merge's note on the shape it writes a password-less PKCS12 in: worth saying when
#: the store is written, noise on every run that leaves it alone.
_WRITE_SHAPE_NOTE = "password-less PKCS12:"


def _render_store(item: StoreUpdate, notes: list[str]) -> list[str]:
    """The store's block; notes about client settings go to ``notes``, shown once at the end."""
    lines = [f"{safe(item.store)}: {item.status}"]
    if item.error:
        return [*lines, f"  error: {safe(item.error)}"]
    merged = item.merge
    if merged is not None:
        verb = "would add" if merged.dry_run else "added"
        lines.append(
            f"  {merged.type}: {verb} {len(merged.added)}, already present "
            f"{len(merged.already_present)}, kept {merged.kept}, pruned {len(merged.pruned)}"
            + (f"; backup {safe(merged.backup)}" if merged.backup else "")
        )
        lines.extend(
            f"  note:   {safe(note)}"
            for note in merged.notes
            if merged.changes or not note.startswith(_WRITE_SHAPE_NOTE)
        )
    lines.extend(_render_verdict(item))
    if item.settings is not None and item.status in READY:
        lines.extend(_render_settings(item.settings))
        notes.extend((*item.settings.notes, *item.settings.mysql_notes))
    return lines


def _render_verdict(item: StoreUpdate) -> list[str]:
    report = item.verify
    if report is None:
        return []
    members = report.membership
    lines = [
        f"  verify: {'pass' if report.passed else 'FAIL'} "
        f"({len(members.present)}/{len(members.present) + len(members.missing)} required CAs)"
    ]
    if report.path is not None:
        verdict = "trusted" if report.path.trusted else "NOT trusted"
        lines.append(f"  chain:  {verdict}: {safe(report.path.message)}")
    if report.java is not None and report.java.verdict is not None:
        java = report.java.verdict
        lines.append(
            f"  jvm:    Java {java.java_version}: {'trusted' if java.ok else 'NOT trusted'}"
            f" ({safe(java.message)})"
        )
    lines.extend(f"    - {safe(reason)}" for reason in report.reasons)
    lines.extend(f"    ! {safe(warning)}" for warning in report.warnings)
    return lines


def _render_settings(settings: ClientSettings) -> list[str]:
    """The lines a user pastes into each client's configuration."""
    rows: list[tuple[str, str]] = []
    if settings.jvm_default:
        rows.append(("Java", JVM_DEFAULT_NOTE))
    elif settings.java_options:
        rows.append(("Java", " ".join(settings.java_options)))
    rows += [("libpq", line) for line in settings.libpq]
    if settings.jdbc_url:
        rows.append(("pgjdbc", settings.jdbc_url))
    if settings.mysql_jdbc_url:
        rows.append(("MySQL Connector/J", settings.mysql_jdbc_url))
    labels = ("MariaDB Connector/J 3.x", "MariaDB Connector/J 2.x")
    rows += list(zip(labels, settings.mariadb_jdbc_urls, strict=False))
    rows += [("mysql CLI", line) for line in settings.mysql_cli]
    return [f"  {label + ':':<8} {safe(text)}" for label, text in rows]
