"""``rdstrust update``: the main job. Fetch the bundle, merge it into every store, prove it."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from rdstrust.certs import G1_GENERATIONS
from rdstrust.cli._common import (
    AllowForeignOption,
    ChainOption,
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
from rdstrust.merge import store_needs_password
from rdstrust.passwords import ENV_VAR, PasswordSource
from rdstrust.pathcheck import read_chain
from rdstrust.update import StoreUpdate, UpdateResult, UpdateStatus, update_stores
from rdstrust.verify import DEFAULT_WARN_DAYS

_G1_NAMES = ",".join(g.value for g in G1_GENERATIONS)


def update(
    stores: StoresOption,
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
    json: JsonOption = False,
) -> None:
    """Fetch the RDS CA bundle, merge it into every store and verify each store, in one step.

    Idempotent: a second run reports "up-to-date" and writes nothing. Exit codes: 0 every store
    trusts the required CAs, 1 a store does not (or, with --check, would need an update), 2
    usage, 3 bad bundle, 4 fetch failed, 5 a store could not be read or written, 7 java missing.
    """
    with exit_on_error():
        if jvm and chain_file is None:
            raise UsageError("--jvm needs --chain: the JVM is asked whether it trusts a chain.")
        if server_name is not None and chain_file is None:
            raise UsageError(
                "--server-name needs --chain: it is the name the chain's server certificate "
                "must be valid for."
            )
        region_code = check_region(region, partition)
        passwords = PasswordSource(literal=storepass, env_var=storepass_env, file=storepass_file)
        passwords.resolve()  # report a bad password option before any download
        java_path = java_for(jvm, java)
        chain = read_chain(chain_file) if chain_file is not None else None
        generations = parse_generations(require)
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
        err(f"Bundle: {fetched.certificates} certificates from {fetched.source}.")
        result = update_stores(
            fetched.bundle,
            stores,
            password_for=lambda p: passwords.resolve_or_prompt(
                f"Password for {p}: ", needed=store_needs_password(p, for_writing=not check)
            ),
            check=check,
            generations=generations,
            region=None if region_code == "global" else region_code,
            store_type=store_type.value if store_type else None,
            prune_expired=prune_expired,
            pkcs12_profile=pkcs12_profile.value if pkcs12_profile else None,
            backup=not no_backup,
            chain=chain,
            hostname=server_name,
            java=java_path,
            warn_days=warn_days,
            password_env=storepass_env or _default_env(passwords),
        )
    emit(result, json=json, human=render_update(result))
    for item in result.stores:
        if item.status is UpdateStatus.FAILED:
            err(f"rdstrust: error: {_failure(item)}")
    ready = sum(1 for s in result.stores if s.status in _READY)
    err(f"{ready} of {len(result.stores)} store(s) trust the required RDS CAs.")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


_READY = (UpdateStatus.UPDATED, UpdateStatus.UP_TO_DATE)


def _failure(item: StoreUpdate) -> str:
    # Most store errors already name the store; prefix it only where the message does not.
    message = item.error or "failed"
    return message if item.store in message else f"{item.store}: {message}"


def _default_env(passwords: PasswordSource) -> str | None:
    # With no password option, the password came from RDSTRUST_STOREPASS (if set): name it in
    # the printed settings instead of a placeholder.
    return ENV_VAR if passwords == PasswordSource() and ENV_VAR in os.environ else None


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
    if settings is not None and item.status in _READY:
        if settings.java_options:
            lines.append("  Java:   " + " ".join(settings.java_options))
        for libpq in settings.libpq:
            lines.append(f"  libpq:  {libpq}")
        if settings.jdbc_url:
            lines.append(f"  pgjdbc: {settings.jdbc_url}")
        lines.extend(f"  note:   {note}" for note in settings.notes)
    return lines
