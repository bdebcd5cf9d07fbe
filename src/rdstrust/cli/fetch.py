"""``rdstrust fetch``: download (or take from a file) the RDS CA bundle, validate it, save it.

The source options are shared with ``update``: import the ``*Option`` aliases below into the
command's signature and pass them to :func:`fetch_from_options`, which adds the terminal
progress bar and calls :func:`rdstrust.fetch.fetch_bundle`.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, TextIO

import typer

from rdstrust.cli._common import (
    MAX_TIMEOUT,
    AcceptUnknownRdsOption,
    AllowForeignOption,
    JsonOption,
    choice,
    err,
    exit_on_error,
    out,
    seconds,
    whole_number,
)
from rdstrust.errors import UsageError
from rdstrust.fetch import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    BundleFormat,
    FetchResult,
    Partition,
    check_output_path,
    fetch_bundle,
    output_name,
    save_bundle,
)
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.output import dumps

RegionOption = Annotated[
    str,
    typer.Option(
        "--region",
        help="Region code (us-east-1, us-gov-west-1, cn-north-1) or 'global' for every region.",
        envvar="RDSTRUST_REGION",
    ),
]
PartitionOption = Annotated[
    Partition,
    typer.Option(
        "--partition",
        help="AWS partition: aws, aws-us-gov (GovCloud) or aws-cn (China).",
        envvar="RDSTRUST_PARTITION",
        parser=choice(Partition),
    ),
]
FormatOption = Annotated[
    BundleFormat,
    typer.Option(
        "--format",
        help="Bundle format to download: pem or p7b (PKCS7).",
        parser=choice(BundleFormat),
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Download from this https:// URL (an internal mirror) instead of the official one.",
        envvar="RDSTRUST_BUNDLE_URL",
        show_default=False,
    ),
]
SourceOption = Annotated[
    Path | None,
    typer.Option(
        "--source",
        help="Take the bundle from this local file instead of downloading (air-gapped hosts).",
        show_default=False,
    ),
]
ExpectSha256Option = Annotated[
    str | None,
    typer.Option(
        "--expect-sha256",
        help="Refuse the bundle unless its SHA-256 is this digest (AWS publishes none).",
        envvar="RDSTRUST_EXPECT_SHA256",
        show_default=False,
    ),
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Download cache (default: $XDG_CACHE_HOME/rdstrust or ~/.cache/rdstrust).",
        envvar="RDSTRUST_CACHE_DIR",
        show_default=False,
    ),
]
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Neither use nor update the download cache.")
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help=f"Seconds to wait for the connection and each read (at most {MAX_TIMEOUT:g}).",
        parser=seconds,
    ),
]
RetriesOption = Annotated[
    int,
    typer.Option(
        "--retries",
        metavar="N",
        help="Retries after connection errors, timeouts and HTTP 5xx (never after 4xx); 0-10.",
        parser=whole_number(0, 10),
    ),
]
CaBundleOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        help="CA file to verify the server with (default: REQUESTS_CA_BUNDLE or certifi).",
        show_default=False,
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="File to write ('-' for stdout). Default: <region>-bundle.<format>, as AWS names it.",
        show_default=False,
    ),
]


def fetch_from_options(
    *,
    region: str = "global",
    partition: Partition = Partition.AWS,
    fmt: BundleFormat = BundleFormat.PEM,
    url: str | None = None,
    source: Path | None = None,
    expect_sha256: str | None = None,
    cache_dir: Path | None = None,
    no_cache: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    ca_bundle: Path | None = None,
    allow_foreign: bool = False,
) -> FetchResult:
    """Fetch the bundle the shared source options describe, with a progress bar on a terminal.

    Raises the library's errors; call it inside :func:`rdstrust.cli._common.exit_on_error`.
    """
    progress = TerminalProgress() if source is None and sys.stderr.isatty() else None
    try:
        return fetch_bundle(
            url,
            region=region,
            partition=partition,
            fmt=fmt,
            source=source,
            cache_dir=cache_dir,
            use_cache=not no_cache,
            expect_sha256=expect_sha256,
            timeout=timeout,
            retries=retries,
            allow_foreign=allow_foreign,
            ca_bundle=ca_bundle,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()


def fetch(
    output: OutputOption = None,
    region: RegionOption = "global",
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
    accept_unknown_rds: AcceptUnknownRdsOption = False,
    json: JsonOption = False,
) -> None:
    """Download the Amazon RDS CA bundle over verified HTTPS, validate it, write it atomically.

    Unchanged bundles are served from the cache after a 304 answer. Nothing is written unless
    the bytes are a valid RDS CA bundle (and match --expect-sha256 when given).
    """
    with exit_on_error(), accepting_unknown_rds(accept_unknown_rds):
        to_stdout = output is not None and str(output) == "-"
        if to_stdout and json:
            raise UsageError("-o - writes the bundle to stdout, so it cannot go with --json.")
        if output is not None and not to_stdout:
            check_output_path(output)
        result = fetch_from_options(
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
        if to_stdout:
            sys.stdout.buffer.write(result.bundle.raw)
            sys.stdout.flush()
            result = replace(result, output="-", written=True)
        else:
            result = save_bundle(result, output or default_output(result, region, fmt))
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
        head = f"Validated {what} from {result.source}"
    elif result.from_cache:
        head = f"Not modified since last fetch (cache): {what} from {result.source}"
    else:
        head = f"Fetched {what} from {result.source}"
        if result.not_modified:
            head += " (same as cached)"
    lines = [f"{head} -> {where}, sha256 {result.sha256}"]
    lines += [f"note: {note}" for note in (*result.bundle.notes, *result.notes)]
    return "\n".join(lines)


class TerminalProgress:
    """A one-line progress bar on stderr, redrawn in place; only meant for a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 24) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._shown = -1
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        """Redraw for ``done`` bytes of ``total`` (unknown when ``None``)."""
        if total:
            step = min(100, done * 100 // total)
            filled = self.width * step // 100
            bar = "#" * filled + "-" * (self.width - filled)
            text = f"Downloading [{bar}] {step:3d}%  {done // 1024} / {total // 1024} KiB"
        else:
            step = done // (64 * 1024)
            text = f"Downloading {done // 1024} KiB"
        if step == self._shown:
            return
        self._shown = step
        self._drawn = True
        self.stream.write("\r" + text)
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar so the summary line starts clean."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
