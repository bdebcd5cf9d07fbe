"""``rdstrust update``: the main job. Fetch the bundle, merge it into every store, prove it."""

from __future__ import annotations

from typing import Annotated

import typer

from rdstrust.certs import G1_GENERATIONS
from rdstrust.cli._common import (
    AcceptUnknownRdsOption,
    AllowForeignOption,
    ChainOption,
    JavaCacertsOption,
    JavaOption,
    JsonOption,
    NoBackupOption,
    Pkcs12ProfileOption,
    PruneExpiredOption,
    RequireOption,
    StorePassEnvOption,
    StorePassFileOption,
    StorePassOption,
    StoresOption,
    StoreTypeOption,
    WarnDaysOption,
    emit,
    err,
    exit_on_error,
    java_for,
    parse_generations,
    passwords_from,
    store_specs,
)
from rdstrust.cli.fetch import (
    CaBundleOption,
    CacheDirOption,
    ExpectSha256Option,
    FormatOption,
    NoCacheOption,
    PartitionOption,
    RetriesOption,
    SourceOption,
    TimeoutOption,
    UrlOption,
    fetch_from_options,
)
from rdstrust.errors import UsageError
from rdstrust.fetch import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    BundleFormat,
    Partition,
    check_region,
)
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.options import DEFAULT_WARN_DAYS, MergeOptions, VerifyOptions
from rdstrust.pathcheck import read_chain
from rdstrust.runner import StoreFailure
from rdstrust.update import (
    READY,
    StoreUpdate,
    UpdateOptions,
    UpdateResult,
    update_stores,
)

_G1_NAMES = ",".join(g.value for g in G1_GENERATIONS)


def update(
    stores: StoresOption = None,
    java_cacerts: JavaCacertsOption = False,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create a store that does not exist yet (default: a missing store is an "
            "error, so a mistyped path is not silently created).",
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 1 if any store lacks a required CA (a CI gate).",
        ),
    ] = False,
    region: Annotated[
        str,
        typer.Option(
            "--region",
            help="Region code (us-east-1, us-gov-west-1, cn-north-1) or 'global': the bundle to "
            "download, and (unless global) the region whose CAs every store must trust, also "
            "with --source or --url.",
            envvar="RDSTRUST_REGION",
        ),
    ] = "global",
    partition: PartitionOption = Partition.AWS,
    fmt: FormatOption = BundleFormat.PEM,
    url: UrlOption = None,
    source: SourceOption = None,
    expect_sha256: ExpectSha256Option = None,
    cache_dir: CacheDirOption = None,
    no_cache: NoCacheOption = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    retries: RetriesOption = DEFAULT_RETRIES,
    ca_bundle: CaBundleOption = None,
    allow_foreign: AllowForeignOption = False,
    require: RequireOption = None,
    store_type: StoreTypeOption = None,
    storepass: StorePassOption = None,
    storepass_env: StorePassEnvOption = None,
    storepass_file: StorePassFileOption = None,
    prune_expired: PruneExpiredOption = False,
    pkcs12_profile: Pkcs12ProfileOption = None,
    no_backup: NoBackupOption = False,
    chain_file: ChainOption = None,
    server_name: Annotated[
        str | None,
        typer.Option(
            "--server-name",
            help="Host name the --chain leaf must be valid for (default: not checked).",
            show_default=False,
        ),
    ] = None,
    jvm: Annotated[
        bool,
        typer.Option("--jvm", help="Also ask the JVM for its verdict on --chain."),
    ] = False,
    java: JavaOption = None,
    warn_days: WarnDaysOption = DEFAULT_WARN_DAYS,
    accept_unknown_rds: AcceptUnknownRdsOption = False,
    json: JsonOption = False,
) -> None:
    """Fetch the RDS CA bundle, merge it into every store and verify each store, in one step.

    Idempotent: a second run reports "up-to-date" and writes nothing. Exit codes: 0 every store
    trusts the required CAs, 1 a store does not (or, with --check, would need an update), 2
    usage, 3 bad bundle, 4 fetch failed, 5 a store could not be read or written, 7 java missing.
    """
    with exit_on_error(), accepting_unknown_rds(accept_unknown_rds):
        if jvm and chain_file is None:
            raise UsageError("--jvm needs --chain: the JVM is asked whether it trusts a chain.")
        if server_name is not None and chain_file is None:
            raise UsageError(
                "--server-name needs --chain: it is the name the chain's server certificate "
                "must be valid for."
            )
        region_code = check_region(region, partition)
        specs = store_specs(stores, java_cacerts=java_cacerts, java=java)
        passwords = passwords_from(storepass, storepass_env, storepass_file)
        passwords.check(specs)
        chain = read_chain(chain_file) if chain_file is not None else None
        options = UpdateOptions(
            merge=MergeOptions(
                store_type=store_type,
                prune_expired=prune_expired,
                pkcs12_profile=pkcs12_profile,
                backup=not no_backup,
                create_missing=create,
            ),
            verify=VerifyOptions(
                generations=parse_generations(require),
                region=region_code,
                chain=chain,
                hostname=server_name,
                warn_days=warn_days,
                java=java_for(jvm, java),
            ),
            check=check,
        )
        fetched = fetch_from_options(
            region=region,
            partition=partition,
            fmt=fmt,
            url=url,
            source=source,
            expect_sha256=expect_sha256,
            cache_dir=cache_dir,
            no_cache=no_cache,
            timeout=timeout,
            retries=retries,
            ca_bundle=ca_bundle,
            allow_foreign=allow_foreign,
        )

        def report(failure: StoreFailure) -> None:
            err(f"rdstrust: error: {_failure(failure)}")

        result = update_stores(
            fetched.bundle, specs, options, passwords=passwords, on_failure=report
        )
    emit(result, json=json, human=render_update(result))
    ready = sum(1 for s in result.stores if s.status in READY)
    err(f"{ready} of {len(result.stores)} store(s) trust the required RDS CAs.")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _failure(failure: StoreFailure) -> str:
    # Most store errors already name the store; prefix it only where the message does not.
    message = failure.message
    return message if failure.store in message else f"{failure.store}: {message}"


def render_update(result: UpdateResult) -> str:
    """One block per store: what changed, the verdict, and the client settings that use it."""
    mode = " (check: nothing written)" if result.check else ""
    lines = [f"Bundle {result.bundle}: {result.certificates} certificates{mode}"]
    for item in result.stores:
        lines.append("")
        lines.extend(_render_store(item))
    return "\n".join(lines)


def _render_store(item: StoreUpdate) -> list[str]:
    lines = [f"{item.store}: {item.status}"]
    if item.error:
        return [*lines, f"  error: {item.error}"]
    merged = item.merge
    if merged is not None:
        verb = "would add" if merged.dry_run else "added"
        lines.append(
            f"  {merged.type}: {verb} {len(merged.added)}, already present "
            f"{len(merged.already_present)}, kept {merged.kept}, pruned {len(merged.pruned)}"
            + (f"; backup {merged.backup}" if merged.backup else "")
        )
        lines.extend(f"  note:   {note}" for note in merged.notes)
    report = item.verify
    if report is not None:
        members = report.membership
        lines.append(
            f"  verify: {'pass' if report.passed else 'FAIL'} "
            f"({len(members.present)}/{len(members.present) + len(members.missing)} required CAs)"
        )
        lines.extend(f"    - {reason}" for reason in report.reasons)
        lines.extend(f"    ! {warning}" for warning in report.warnings)
    settings = item.settings
    if settings is not None and item.status in READY:
        if settings.java_options:
            lines.append("  Java:   " + " ".join(settings.java_options))
        for libpq in settings.libpq:
            lines.append(f"  libpq:  {libpq}")
        if settings.jdbc_url:
            lines.append(f"  pgjdbc: {settings.jdbc_url}")
        lines.extend(f"  note:   {note}" for note in settings.notes)
    return lines
