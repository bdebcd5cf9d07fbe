"""What every command shares: error-to-exit-code translation, output streams, shared options."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from rdstrust.certs import G1_GENERATIONS, Generation
from rdstrust.errors import ExitCode, RdsTrustError, ToolMissingError, UsageError
from rdstrust.output import dumps
from rdstrust.stores import StoreType

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
RequireOption = Annotated[
    list[str] | None,
    typer.Option(
        "--require",
        help="CA generations every store must trust (repeat or comma-separate; default "
        + ",".join(g.value for g in G1_GENERATIONS)
        + ").",
        show_default=False,
    ),
]
JavaOption = Annotated[
    str | None,
    typer.Option(
        "--java",
        metavar="PATH",
        help="java binary or JDK directory for --jvm (default: $JAVA_HOME/bin/java, then PATH).",
        envvar="RDSTRUST_JAVA",
        show_default=False,
    ),
]


def parse_generations(values: list[str] | None) -> tuple[Generation, ...]:
    """``--require`` values (repeated or comma-separated) as generations; G1 by default."""
    if not values:
        return G1_GENERATIONS
    names = [n.strip().lower() for v in values for n in v.split(",") if n.strip()]
    known = [g.value for g in Generation if g is not Generation.UNKNOWN]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"Unknown CA generation {unknown[0]!r} in --require; use one of {', '.join(known)}."
        )
    return tuple(dict.fromkeys(Generation(n) for n in names))


def java_for(jvm: bool, java: str | None) -> str | None:
    """The java binary to run when ``--jvm`` was asked for (``None`` otherwise).

    Raises :class:`ToolMissingError` (exit 7) when none is found: asking the JVM was explicit,
    so silently skipping its verdict would be wrong.
    """
    if not jvm:
        return None
    from rdstrust.jvm import find_java

    path = find_java(java)
    if path is None:
        raise ToolMissingError(
            f"--jvm needs Java 11 or later, but {java or 'java'} was not found; install "
            "a JDK or point --java / JAVA_HOME at one."
        )
    return path


class Pkcs12Profile(str, Enum):
    """How rdstrust encrypts what it writes into a PKCS12 store."""

    MODERN = "modern"
    LEGACY = "legacy"


# Merge options shared by ``merge`` and ``update``.
StoreTypeOption = Annotated[
    StoreType | None,
    typer.Option(
        "--store-type",
        help="Type of a store to create (default: from its extension .jks/.p12/.pem).",
        show_default=False,
    ),
]
PruneExpiredOption = Annotated[
    bool,
    typer.Option(
        "--prune-expired",
        help="Remove expired Amazon RDS CA certificates (nothing else is ever removed).",
    ),
]
Pkcs12ProfileOption = Annotated[
    Pkcs12Profile | None,
    typer.Option(
        "--pkcs12-profile",
        help=(
            "PKCS12 encryption: modern (AES-256, SHA-256 MAC) or legacy (3DES, SHA-1 MAC; "
            "for Java 8 before 8u301). Default: keep the store's, modern for a new store."
        ),
        show_default=False,
    ),
]
NoBackupOption = Annotated[
    bool, typer.Option("--no-backup", help="Do not keep the previous file as <store>.bak.")
]
