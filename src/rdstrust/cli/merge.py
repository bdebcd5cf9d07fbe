"""``rdstrust merge``: add a bundle's CAs to JKS, PKCS12 and PEM stores, keeping every entry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rdstrust.bundle import read_bundle
from rdstrust.cli._common import (
    AllowForeignOption,
    JsonOption,
    NoBackupOption,
    Pkcs12ProfileOption,
    PruneExpiredOption,
    StorePassEnvOption,
    StorePassFileOption,
    StorePassOption,
    StoreTypeOption,
    emit,
    err,
    exit_on_error,
)
from rdstrust.merge import MergeResult, MergeRun, StoreFailure, merge_stores, store_needs_password
from rdstrust.passwords import PasswordSource


def merge(
    bundle: Annotated[
        Path,
        typer.Option(
            "--bundle", "-b", help="The RDS CA bundle (PEM or PKCS7).", show_default=False
        ),
    ],
    stores: Annotated[
        list[Path],
        typer.Option(
            "--store",
            "-s",
            help="Trust store to merge into (repeat for several); created if missing.",
            show_default=False,
        ),
    ],
    store_type: StoreTypeOption = None,
    storepass: StorePassOption = None,
    storepass_env: StorePassEnvOption = None,
    storepass_file: StorePassFileOption = None,
    prune_expired: PruneExpiredOption = False,
    pkcs12_profile: Pkcs12ProfileOption = None,
    no_backup: NoBackupOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan per store; write nothing.")
    ] = False,
    allow_foreign: AllowForeignOption = False,
    json: JsonOption = False,
) -> None:
    """Add the bundle's CA certificates to trust stores, keeping every existing entry."""
    with exit_on_error():
        loaded = read_bundle(bundle, allow_foreign=allow_foreign)
        source = PasswordSource(literal=storepass, env_var=storepass_env, file=storepass_file)
        source.resolve()  # report a bad password option before touching any store

        def password_for(store: Path) -> str | None:
            return source.resolve_or_prompt(
                f"Password for {store}: ", needed=store_needs_password(store)
            )

        def report(failure: StoreFailure) -> None:
            err(f"rdstrust: error: {failure.message}")

        run = merge_stores(
            stores,
            loaded,
            password_for=password_for,
            store_type=store_type,
            prune_expired=prune_expired,
            pkcs12_profile=pkcs12_profile.value if pkcs12_profile else None,
            backup=not no_backup,
            dry_run=dry_run,
            on_failure=report,
        )
    emit(run, json=json, human=render_merge(run))
    for result in run.stores:
        err(_summary(result))
    if run.failed:
        raise typer.Exit(run.failed[0].exit_code)


def _summary(result: MergeResult) -> str:
    if result.dry_run:
        verdict = "dry run, nothing written"
    elif result.written:
        verdict = "created" if result.created else "written"
        if result.backup:
            verdict += f", previous file kept as {result.backup}"
    else:
        verdict = "unchanged, nothing written"
    return (
        f"{result.store} ({result.type}): {len(result.added)} added, "
        f"{len(result.already_present)} already present, {result.kept} kept, "
        f"{len(result.pruned)} pruned; {verdict}."
    )


def render_merge(run: MergeRun) -> str:
    """Per store: one line per certificate added (+), present (=) or pruned (-), then notes."""
    lines: list[str] = []
    for result in run.stores:
        lines.append(f"{result.store} ({result.type})")
        rows = [("+", c) for c in result.added]
        rows += [("=", c) for c in result.already_present]
        rows += [("-", c) for c in result.pruned]
        width = max((len(c.alias) for _, c in rows), default=0)
        for mark, cert in rows:
            lines.append(
                f"  {mark} {cert.alias.ljust(width)}  {cert.not_after:%Y-%m-%d}  {cert.sha256[:16]}"
            )
        lines.append(
            f"  {len(result.added)} added, {len(result.already_present)} already present, "
            f"{result.kept} existing kept, {len(result.pruned)} pruned"
        )
        lines.extend(f"  note: {note}" for note in result.notes)
    for failure in run.failed:
        lines.append(f"{failure.store}: FAILED (left unchanged)")
        lines.append(f"  error: {failure.message}")
    return "\n".join(lines)
