"""The bundle-source options (``fetch`` and ``update``), declared once, and fetching with them.

:data:`SOURCE` is the option group; :func:`source_options` turns its values into the library's
:class:`rdstrust.fetch.SourceOptions`; :func:`fetch_with_progress` fetches with a progress bar
on a terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from rdstrust.amazon_roots import OFFICIAL_REPOSITORY, AmazonRootsSource, check_include
from rdstrust.catalogue import BundleFormat, Partition
from rdstrust.cli._common import (
    AcceptUnknownRdsOption,
    AllowForeignOption,
    choice,
    err,
    seconds,
    whole_number,
)
from rdstrust.cli._groups import Opt, Values
from rdstrust.endpoints import MAX_TIMEOUT
from rdstrust.errors import UsageError
from rdstrust.fetch import (
    DEFAULT_MAX_TIME,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    FetchResult,
    SourceOptions,
    fetch_bundle,
)
from rdstrust.text import safe

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
OfflineOkOption = Annotated[
    bool,
    typer.Option(
        "--offline-ok",
        help="If the download fails, use the validated cached copy of the same URL, with a "
        "warning (default: the failure is an error, exit 4).",
    ),
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
MaxTimeOption = Annotated[
    float,
    typer.Option(
        "--max-time",
        metavar="SECONDS",
        help="Seconds the whole download may take, retries included (default "
        f"{DEFAULT_MAX_TIME:g}, at most {MAX_TIMEOUT:g}).",
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
IncludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--include",
        metavar="amazon-roots",
        help="Also take the Amazon Trust Services roots (Amazon Root CA 1-4, Starfield Services "
        "Root CA G2) that RDS Proxy and Aurora Serverless v1 chain to, each checked against "
        "its SHA-256 pinned in rdstrust.",
        show_default=False,
    ),
]
AmazonRootsSourceOption = Annotated[
    Path | None,
    typer.Option(
        "--amazon-roots-source",
        metavar="DIR|FILE",
        help=f"Take the Amazon roots from this directory or file (default: {OFFICIAL_REPOSITORY})"
        "; only certificates matching the pins are used.",
        show_default=False,
    ),
]

#: Where the bundle comes from: ``fetch`` and ``update``.
SOURCE = (
    Opt("region", RegionOption, "global"),
    Opt("partition", PartitionOption, Partition.AWS),
    Opt("fmt", FormatOption, BundleFormat.PEM),
    Opt("url", UrlOption),
    Opt("source", SourceOption),
    Opt("expect_sha256", ExpectSha256Option),
    Opt("cache_dir", CacheDirOption),
    Opt("no_cache", NoCacheOption, False),
    Opt("offline_ok", OfflineOkOption, False),
    Opt("timeout", TimeoutOption, DEFAULT_TIMEOUT),
    Opt("max_time", MaxTimeOption, DEFAULT_MAX_TIME),
    Opt("retries", RetriesOption, DEFAULT_RETRIES),
    Opt("ca_bundle", CaBundleOption),
    Opt("allow_foreign", AllowForeignOption, False),
    Opt("accept_unknown_rds", AcceptUnknownRdsOption, False),
    Opt("include", IncludeOption),
    Opt("amazon_roots_source", AmazonRootsSourceOption),
)


def source_options(v: Values) -> SourceOptions:
    """The :data:`SOURCE` option values as the library's options (validated there)."""
    return SourceOptions(
        region=v["region"],
        partition=v["partition"],
        format=v["fmt"],
        url=v["url"],
        file=v["source"],
        expect_sha256=v["expect_sha256"],
        cache_dir=v["cache_dir"],
        use_cache=not v["no_cache"],
        offline_ok=v["offline_ok"],
        timeout=v["timeout"],
        max_time=v["max_time"],
        retries=v["retries"],
        ca_bundle=v["ca_bundle"],
        allow_foreign=v["allow_foreign"],
        amazon_roots=amazon_roots_of(v),
    )


def amazon_roots_of(v: Values) -> AmazonRootsSource | None:
    """``--include amazon-roots`` (and ``--amazon-roots-source``) as the roots' source."""
    if not check_include(v["include"]):
        if v["amazon_roots_source"] is not None:
            raise UsageError("--amazon-roots-source goes with --include amazon-roots.")
        return None
    return AmazonRootsSource(path=v["amazon_roots_source"])


def fetch_with_progress(options: SourceOptions) -> FetchResult:
    """Fetch as ``options`` say, with a progress bar when downloading to a terminal; print the
    result's warnings (stale input, the cached copy used offline) on stderr.

    Raises the library's errors; call it inside :func:`rdstrust.cli._common.exit_on_error`.
    """
    progress = TerminalProgress() if options.file is None and sys.stderr.isatty() else None
    try:
        result = fetch_bundle(options, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    for warning in result.warnings:
        err(f"rdstrust: warning: {safe(warning)}")
    return result


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
