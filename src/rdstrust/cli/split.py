"""``rdstrust split``: one PEM file per certificate and a manifest."""

from __future__ import annotations

from pathlib import Path

from rdstrust.bundle import read_bundle
from rdstrust.cli._common import (
    AcceptUnknownRdsOption,
    AllowForeignOption,
    BundleArgument,
    JsonOption,
    emit,
    err,
    exit_on_error,
)
from rdstrust.cli._groups import Opt, Values, command, option
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.split import SplitResult, split_bundle
from rdstrust.text import safe

#: The options of ``split``.
SPLIT = (
    Opt("bundle", BundleArgument, ...),
    option(
        "out_dir",
        Path,
        Path("rds-certs"),
        "--out-dir",
        "-d",
        help="Directory to write the files into.",
    ),
    Opt("allow_foreign", AllowForeignOption, False),
    Opt("accept_unknown_rds", AcceptUnknownRdsOption, False),
    Opt("json", JsonOption, False),
)


@command(SPLIT)
def split(v: Values) -> None:
    """Split a bundle into one PEM file per certificate (named by alias) plus manifest.json."""
    with exit_on_error(), accepting_unknown_rds(enabled=v["accept_unknown_rds"]):
        result = split_bundle(
            read_bundle(v["bundle"], allow_foreign=v["allow_foreign"]), v["out_dir"]
        )
    emit(result, json=v["json"], human=render_split(result))
    err(
        f"{len(result.files)} certificates from {safe(result.source)} in {safe(result.out_dir)}: "
        f"{result.written} file(s) written, {result.unchanged} unchanged"
        + (f", {len(result.removed)} no longer in the bundle removed." if result.removed else ".")
    )


def render_split(result: SplitResult) -> str:
    """A table of the files written: file, generation, region, expiry (values through safe)."""
    rows = [("FILE", "GENERATION", "REGION", "NOT AFTER")]
    rows += [
        (safe(f.file), safe(f.generation), safe(f.region or "-"), safe(f.not_after[:10]))
        for f in result.files
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(r))
        for r in rows
    )
