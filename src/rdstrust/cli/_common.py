"""What every command shares: error-to-exit-code translation, output streams, shared options."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rdstrust.certs import G1_GENERATIONS, Generation
from rdstrust.cli._groups import Opt, Values
from rdstrust.endpoints import MAX_TIMEOUT, StartTLS
from rdstrust.endpoints import PROBE_TIMEOUT as DEFAULT_TIMEOUT
from rdstrust.errors import ExitCode, RdsTrustError, ToolMissingError, UsageError
from rdstrust.options import MergeOptions, NewStoreType, Pkcs12Profile
from rdstrust.output import dumps
from rdstrust.passwords import PasswordSource, prompt_on_terminal
from rdstrust.runner import Passwords
from rdstrust.stores import StoreType
from rdstrust.storespec import StoreSpec, jdk_cacerts, parse_store_spec
from rdstrust.text import safe

#: Widest accepted ``--warn-days`` / ``--expiring-days`` window: a century.
MAX_DAYS = 36500

_E = TypeVar("_E", bound=Enum)


def choice(enum: type[_E]) -> Callable[[Any], _E]:
    """An option ``parser=`` for ``enum``'s values, case-insensitive.

    Typer 0.29 validates Enum options through pydantic, whose message reads "Value error,
    'x' is not one of ...". A parser that raises :class:`typer.BadParameter` gets Click's plain
    "Invalid value for '--format': 'x' is not one of 'pem', 'p7b'." instead.
    """
    names = ", ".join(repr(str(m.value)) for m in enum)

    def parse(value: Any) -> _E:
        if isinstance(value, enum):
            return value
        text = str(value).strip().lower()
        for member in enum:
            if str(member.value).lower() == text:
                return member
        raise typer.BadParameter(f"{str(value)!r} is not one of {names}.")

    return parse


def seconds(value: Any) -> float:
    """Parser for ``--timeout``: a finite number of seconds, more than 0, at most an hour."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and 0 < number <= MAX_TIMEOUT):
        raise typer.BadParameter(
            f"{str(value)!r} is not a number of seconds greater than 0 and at most {MAX_TIMEOUT:g}."
        )
    return number


def whole_number(low: int, high: int, unit: str = "") -> Callable[[Any], int]:
    """An option ``parser=`` for a whole number from ``low`` to ``high``.

    Unlike ``min=`` / ``max=`` (pydantic's "Input should be less than or equal to ..."), the
    message says what the option takes.
    """
    what = f"whole number of {unit}" if unit else "whole number"

    def parse(value: Any) -> int:
        try:
            number = int(str(value).strip())
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise typer.BadParameter(f"{str(value)!r} is not a {what} from {low} to {high}.")
        return number

    return parse


#: Parser for ``--warn-days`` / ``--expiring-days``: 0 to a century.
days = whole_number(0, MAX_DAYS, "days")


def port_number(value: Any) -> int:
    """Parser for ``--port``: 1 to 65535."""
    text = str(value).strip()
    if not (text.isdigit() and 0 < int(text) < 65536):
        raise typer.BadParameter(f"{str(value)!r} is not a port number (1-65535).")
    return int(text)


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
AcceptUnknownRdsOption = Annotated[
    bool,
    typer.Option(
        "--accept-unknown-rds",
        envvar="RDSTRUST_ACCEPT_UNKNOWN_RDS",
        help=(
            "Accept CAs named 'Amazon RDS ...' that are not RDS CAs AWS has published (a test "
            "PKI, a CA newer than this rdstrust) from --source, --url, --bundle or the cache. "
            "Bytes fresh from the official URL need no option."
        ),
    ),
]
BundleArgument = Annotated[
    Path,
    typer.Argument(
        help="Bundle file: PEM, PKCS7 (.p7b, PEM or DER) or one DER certificate.",
        show_default=False,
    ),
]


def _printable_lines(text: str) -> str:
    # A backstop, not the escaping itself: renderers pass every value from a certificate,
    # store or server through rdstrust.text.safe. Here the line breaks a renderer meant are
    # kept and anything else that is not printable (ESC, CR, BEL, bidi overrides) is escaped.
    return "\n".join(safe(line) for line in text.split("\n"))


def err(message: str) -> None:
    """Write a line for the human to stderr (progress, notes, summaries), escaped for a terminal."""
    print(_printable_lines(message), file=sys.stderr)


def out(text: str) -> None:
    """Write data to stdout (tables, JSON): what a pipe consumes, escaped for a terminal."""
    text = _printable_lines(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def emit(result: Any, *, json: bool, human: str) -> None:
    """Print ``result`` as JSON when asked (control characters escaped), else its human rendering.

    ``human`` must already show values through :func:`rdstrust.text.safe`.
    """
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
        # One line whatever the message quotes (a subject, a path, a server's words).
        err(f"rdstrust: error: {safe(exc.message)}")
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
    list[str] | None,
    typer.Option(
        "--store",
        "-s",
        metavar="PATH[,storepass:env=VAR|file=FILE|none]",
        help="Trust store (JKS, PKCS12 or PEM, detected from its bytes); repeat for several. "
        "A suffix gives this store its own password source, e.g. "
        "app.p12,storepass:env=APP_PASS.",
        show_default=False,
    ),
]
JavaCacertsOption = Annotated[
    bool,
    typer.Option(
        "--java-cacerts",
        help="Also use the JVM's own cacerts (of --java / JAVA_HOME / java on PATH) with the "
        "JDK's default password.",
    ),
]


def store_specs(
    values: list[str] | None, *, java_cacerts: bool = False, java: str | None = None
) -> tuple[StoreSpec, ...]:
    """The stores a command works on: each ``--store`` and, with ``--java-cacerts``, the JVM's
    ``cacerts``. Raises :class:`UsageError` when there is none."""
    specs = [parse_store_spec(v) for v in values or ()]
    if java_cacerts:
        specs.append(jdk_cacerts(java))
    if not specs:
        raise UsageError("Name at least one trust store with --store (or --java-cacerts).")
    return tuple(specs)


def passwords_from(
    storepass: str | None, storepass_env: str | None, storepass_file: Path | None
) -> Passwords:
    """The run's password sources: the global options (checked now) and a terminal prompt."""
    default = PasswordSource(literal=storepass, env_var=storepass_env, file=storepass_file)
    default.resolve()  # report a bad password option before anything is read or downloaded
    return Passwords(default=default, prompt=prompt_on_terminal)


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


def java_for(*, jvm: bool, java: str | None) -> str | None:
    """The java binary to run when ``--jvm`` was asked for (``None`` otherwise).

    Raises :class:`ToolMissingError` (exit 7) when none is found: asking the JVM was explicit,
    so silently skipping its verdict would be wrong.
    """
    if not jvm:
        return None
    from rdstrust.storespec import find_java

    path = find_java(java)
    if path is None:
        raise ToolMissingError(
            f"--jvm needs Java 11 or later, but {java or 'java'} was not found; install "
            "a JDK or point --java / JAVA_HOME at one."
        )
    return path


# Merge options shared by ``merge`` and ``update``.
StoreTypeOption = Annotated[
    NewStoreType | None,
    typer.Option(
        "--store-type",
        parser=choice(NewStoreType),
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
        parser=choice(Pkcs12Profile),
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


# Connection options shared by ``probe`` and ``verify --host``. They default to ``None`` so a
# command can tell "not given" from "given with the default value".
StartTLSOption = Annotated[
    StartTLS | None,
    typer.Option(
        "--starttls",
        help="postgres: SSLRequest then TLS; mysql: MySQL/MariaDB greeting, SSL request, then "
        "TLS; none: TLS at once (PostgreSQL 17 direct TLS, other TLS endpoints); auto (default): "
        "mysql on port 3306, else postgres.",
        parser=choice(StartTLS),
        show_default=False,
    ),
]
ConnectTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help=f"Seconds to wait for the connection and each step (default {DEFAULT_TIMEOUT:g}, "
        f"at most {MAX_TIMEOUT:g}).",
        parser=seconds,
        show_default=False,
    ),
]
ChainOption = Annotated[
    Path | None,
    typer.Option(
        "--chain",
        metavar="FILE",
        help="Server chain to validate against every store, PEM or DER, leaf first (as "
        "'probe --save-chain' writes it).",
        show_default=False,
    ),
]
WarnDaysOption = Annotated[
    int,
    typer.Option(
        "--warn-days",
        metavar="DAYS",
        help=f"Warn about RDS CAs expiring within this many days (0-{MAX_DAYS}).",
        parser=days,
    ),
]


# --- option groups (see rdstrust.cli._groups) --------------------------------------------------

#: ``--json``: every command.
JSON = (Opt("json", JsonOption, False),)
#: The stores a command works on, and the JVM ``--java-cacerts`` (and ``--jvm``) use.
STORES = (
    Opt("stores", StoresOption),
    Opt("java_cacerts", JavaCacertsOption, False),
    Opt("java", JavaOption),
)
#: The run's default password source.
PASSWORDS = (
    Opt("storepass", StorePassOption),
    Opt("storepass_env", StorePassEnvOption),
    Opt("storepass_file", StorePassFileOption),
)
#: How a bundle is merged: ``merge`` and ``update``.
MERGE = (
    Opt("store_type", StoreTypeOption),
    Opt("prune_expired", PruneExpiredOption, False),
    Opt("pkcs12_profile", Pkcs12ProfileOption),
    Opt("no_backup", NoBackupOption, False),
)


def stores_of(v: Values) -> tuple[StoreSpec, ...]:
    """The :data:`STORES` values as store specs (see :func:`store_specs`)."""
    return store_specs(v["stores"], java_cacerts=v["java_cacerts"], java=v["java"])


def passwords_of(v: Values, specs: Sequence[StoreSpec]) -> Passwords:
    """The :data:`PASSWORDS` values as the run's sources, every source of ``specs`` checked."""
    passwords = passwords_from(v["storepass"], v["storepass_env"], v["storepass_file"])
    passwords.check(specs)
    return passwords


def merge_options_of(v: Values, **more: Any) -> MergeOptions:
    """The :data:`MERGE` values (and ``more`` fields) as the library's merge options."""
    kind = v["store_type"]
    return MergeOptions(
        store_type=StoreType(kind.value) if kind is not None else None,
        prune_expired=v["prune_expired"],
        pkcs12_profile=v["pkcs12_profile"],
        backup=not v["no_backup"],
        **more,
    )


def reference_or_download(bundle: Path | None, doing: str) -> Any:
    """``--bundle``, else the cached bundle, else the official one downloaded now (said so).

    ``doing`` completes the hint when the download fails ("verify", "run"). The library never
    downloads on its own; this is the command line's choice, shared by verify and doctor.
    """
    from rdstrust.errors import FetchError
    from rdstrust.fetch import fetch_bundle
    from rdstrust.verify import reference_bundle

    found = reference_bundle(bundle)
    if found is not None:
        return found
    err("No --bundle and no cached bundle: downloading the official global bundle.")
    try:
        return fetch_bundle().bundle
    except FetchError as exc:
        raise FetchError(
            f"{exc.message.rstrip('.')}; to {doing} offline, give the bundle with --bundle FILE.",
            url=exc.url,
        ) from None
