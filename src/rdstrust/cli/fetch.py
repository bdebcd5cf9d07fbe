"""``rdstrust fetch``: download (or take from a file) the RDS CA bundle, validate it, save it."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from rdstrust.catalogue import BundleFormat, output_name
from rdstrust.cli._common import JSON, err, exit_on_error, out
from rdstrust.cli._groups import Opt, Values, command
from rdstrust.cli._source import SOURCE, fetch_with_progress, source_options
from rdstrust.errors import UsageError
from rdstrust.fetch import FetchResult, check_output_path, save_bundle
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.output import dumps
from rdstrust.text import safe

OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="File to write ('-' for stdout). Default: <region>-bundle.<format>, as AWS names it.",
        show_default=False,
    ),
]


@command((Opt("output", OutputOption),), SOURCE, JSON)
def fetch(v: Values) -> None:
    """Download the Amazon RDS CA bundle over verified HTTPS, validate it, write it atomically.

    Unchanged bundles are served from the cache after a 304 answer. Nothing is written unless
    the bytes are a valid RDS CA bundle (and match --expect-sha256 when given).
    """
    output, json = v["output"], v["json"]
    with exit_on_error(), accepting_unknown_rds(enabled=v["accept_unknown_rds"]):
        to_stdout = output is not None and str(output) == "-"
        if to_stdout and json:
            raise UsageError("-o - writes the bundle to stdout, so it cannot go with --json.")
        if output is not None and not to_stdout:
            check_output_path(output)
        options = source_options(v)
        result = fetch_with_progress(options)
        if to_stdout:
            sys.stdout.buffer.write(result.bundle.raw)
            sys.stdout.flush()
            result = replace(result, output="-", written=True)
        else:
            target = output or default_output(result, options.region, options.format)
            result = save_bundle(result, target)
    if json:
        out(dumps(result))
    err(render_fetch(result))


def default_output(result: FetchResult, region: str, fmt: BundleFormat) -> Path:
    """``<region>-bundle.<format>`` in the current directory, as AWS names the file.

    For ``--source`` the extension follows what the file really holds, not ``--format``.
    """
    if result.url is None:
        ext = {"pkcs7-der": BundleFormat.P7B, "der": "der"}.get(result.format, BundleFormat.PEM)
        return Path(f"{region.strip().lower()}-bundle.{ext}")
    return Path(output_name(region, fmt))


def render_fetch(result: FetchResult) -> str:
    """One summary line (plus notes): what was fetched, from where, to where, its digest."""
    counts = ", ".join(f"{g}: {n}" for g, n in result.generations.items())
    what = f"{result.certificates} certificates ({counts})"
    where = result.output or "-"
    if result.output and not result.written:
        where += " (already up to date)"
    if result.url is None:
        head = f"Validated {what} from {safe(result.source)}"
    elif result.from_cache:
        head = f"Not modified since last fetch (cache): {what} from {safe(result.source)}"
    else:
        head = f"Fetched {what} from {safe(result.source)}"
        if result.not_modified:
            head += " (same as cached)"
    lines = [f"{head} -> {safe(where)}, sha256 {result.sha256}"]
    lines += [f"note: {safe(note)}" for note in (*result.bundle.notes, *result.notes)]
    return "\n".join(lines)
