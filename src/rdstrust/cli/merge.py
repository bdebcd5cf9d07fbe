"""``rdstrust merge``: add a bundle's CAs to JKS, PKCS12 and PEM stores, keeping every entry."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from rdstrust.bundle import Bundle, read_bundle
from rdstrust.cli._common import (
    JSON,
    MERGE,
    PASSWORDS,
    STORES,
    AcceptUnknownRdsOption,
    AllowForeignOption,
    emit,
    err,
    exit_on_error,
    merge_options_of,
    passwords_of,
    stores_of,
)
from rdstrust.cli._groups import Opt, Values, command
from rdstrust.errors import BundleError, StoreError
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.merge import MergeResult, MergeRun, merge_stores
from rdstrust.runner import StoreFailure
from rdstrust.stores import StoreType, detect_type, read_bytes
from rdstrust.storespec import StoreSpec
from rdstrust.text import safe

BundleOption = Annotated[
    Path,
    typer.Option("--bundle", "-b", help="The RDS CA bundle (PEM or PKCS7).", show_default=False),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the plan per store; write nothing.")
]
#: What ``merge`` adds to the shared groups.
MERGE_ONLY = (
    Opt("bundle", BundleOption, ...),
    Opt("dry_run", DryRunOption, False),
    Opt("allow_foreign", AllowForeignOption, False),
    Opt("accept_unknown_rds", AcceptUnknownRdsOption, False),
)


@command(MERGE_ONLY, STORES, PASSWORDS, MERGE, JSON)
def merge(v: Values) -> None:
    """Add the bundle's CA certificates to trust stores, keeping every existing entry.

    A missing store is created (its type from --store-type or its extension).
    """
    with exit_on_error(), accepting_unknown_rds(enabled=v["accept_unknown_rds"]):
        specs = stores_of(v)
        passwords = passwords_of(v, specs)
        options = merge_options_of(v, dry_run=v["dry_run"])
        loaded = _read_bundle(v["bundle"], specs, allow_foreign=v["allow_foreign"])

        def report(failure: StoreFailure) -> None:
            err(f"rdstrust: error: {safe(failure.message)}")

        run = merge_stores(specs, loaded, options, passwords=passwords, on_failure=report)
    emit(run, json=v["json"], human=render_merge(run))
    for result in run.stores:
        err(_summary(result))
    if run.exit_code:
        raise typer.Exit(run.exit_code)


def _read_bundle(path: Path, specs: Sequence[StoreSpec], *, allow_foreign: bool) -> Bundle:
    """The ``-b`` bundle; when it is not one, say so, and whether ``-b`` and ``-s`` look swapped."""
    try:
        return read_bundle(path, allow_foreign=allow_foreign)
    except BundleError as exc:
        hint = swap_hint(path, specs)
        if hint is None:
            raise
        raise BundleError(hint, source=exc.source) from None


def swap_hint(bundle: Path, specs: Sequence[StoreSpec]) -> str | None:
    """One sentence when the ``-b`` file is a Java keystore (so not a bundle), naming the
    ``-s`` file that holds Amazon RDS CAs when there is one: ``-b`` and ``-s`` were swapped.

    Only runs after the bundle was refused, and reads each file through the same size caps as
    a store or a bundle, so a hostile path costs no more than the run would have.
    """
    try:
        kind = detect_type(read_bytes(bundle))
    except StoreError:
        return None
    if kind not in (StoreType.JKS, StoreType.JCEKS, StoreType.PKCS12):
        return None
    what = f"{bundle} is a {kind.value.upper()} keystore, not a CA bundle"
    for spec in specs:
        try:
            cas = read_bundle(spec.path, allow_foreign=True, accept_unknown_rds=True)
        except BundleError:
            continue
        if any(c.is_rds for c in cas):
            return (
                f"{what}, and {spec.path} (given with -s) is a bundle of Amazon RDS CAs: the two "
                f"look swapped; try: rdstrust merge -b {shlex.quote(str(spec.path))} "
                f"-s {shlex.quote(str(bundle))}"
            )
    return f"{what}: give the RDS CA bundle with -b/--bundle and the store with -s/--store."


def _summary(result: MergeResult) -> str:
    if result.dry_run:
        verdict = "dry run, nothing written"
    elif result.written:
        verdict = "created" if result.created else "written"
        if result.backup:
            verdict += f", previous file kept as {safe(result.backup)}"
    else:
        verdict = "unchanged, nothing written"
    return (
        f"{safe(result.store)} ({result.type}): {len(result.added)} added, "
        f"{len(result.already_present)} already present, {result.kept} kept, "
        f"{len(result.pruned)} pruned; {verdict}."
    )


def render_merge(run: MergeRun) -> str:
    """Per store: one line per certificate added (+), present (=) or pruned (-), then notes."""
    lines: list[str] = []
    for result in run.stores:
        lines.append(f"{safe(result.store)} ({result.type})")
        rows = [("+", c) for c in result.added]
        rows += [("=", c) for c in result.already_present]
        rows += [("-", c) for c in result.pruned]
        width = max((len(safe(c.alias)) for _, c in rows), default=0)
        for mark, cert in rows:
            lines.append(
                f"  {mark} {safe(cert.alias).ljust(width)}  {cert.not_after:%Y-%m-%d}  "
                f"{cert.sha256[:16]}"
            )
        lines.append(
            f"  {len(result.added)} added, {len(result.already_present)} already present, "
            f"{result.kept} existing kept, {len(result.pruned)} pruned"
        )
        lines.extend(f"  note: {safe(note)}" for note in result.notes)
    for failure in run.failed:
        lines.append(f"{safe(failure.store)}: FAILED (left unchanged)")
        lines.append(f"  error: {safe(failure.message)}")
    return "\n".join(lines)
