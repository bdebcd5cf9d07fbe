"""What every command shares: error-to-exit-code translation, output streams, shared options."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from rdstrust.errors import ExitCode, RdsTrustError
from rdstrust.output import dumps

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout (for pipelines).")
]
AllowForeignOption = Annotated[
    bool,
    typer.Option(
        "--allow-foreign",
        help="Accept certificates that are not Amazon RDS CAs (or not CAs) in the bundle.",
    ),
]
BundleArgument = Annotated[
    Path,
    typer.Argument(
        help="Bundle file: PEM, PKCS7 (.p7b, PEM or DER) or one DER certificate.",
        show_default=False,
    ),
]


def err(message: str) -> None:
    """Write a line for the human to stderr (progress, notes, summaries)."""
    print(message, file=sys.stderr)


def out(text: str) -> None:
    """Write data to stdout (tables, JSON): what a pipe consumes."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def emit(result: Any, *, json: bool, human: str) -> None:
    """Print ``result`` as JSON when asked, else its human rendering."""
    out(dumps(result) if json else human)


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn rdstrust errors into one line on stderr and their documented exit code.

    Only :class:`RdsTrustError` (the expected failures) and Ctrl-C are translated; anything else
    is a bug and keeps its traceback so it can be reported.
    """
    try:
        yield
    except RdsTrustError as exc:
        err(f"rdstrust: error: {exc.message}")
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        err("rdstrust: interrupted")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


StorePassOption = Annotated[
    str | None,
    typer.Option(
        "--storepass",
        help=(
            "Store password on the command line (keytool habit). Other users of the machine can "
            "see it in the process list: prefer --storepass-env, --storepass-file or "
            "RDSTRUST_STOREPASS."
        ),
        show_default=False,
    ),
]
StorePassEnvOption = Annotated[
    str | None,
    typer.Option(
        "--storepass-env",
        metavar="VAR",
        help="Read the store password from this environment variable.",
        show_default=False,
    ),
]
StorePassFileOption = Annotated[
    Path | None,
    typer.Option(
        "--storepass-file",
        metavar="FILE",
        help="Read the store password from the first line of this file.",
        show_default=False,
    ),
]
StoresOption = Annotated[
    list[Path],
    typer.Option(
        "--store",
        "-s",
        help="Trust store (JKS, PKCS12 or PEM, detected from its bytes); repeat for several.",
        show_default=False,
    ),
]
