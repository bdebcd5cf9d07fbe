"""What ``--help`` shows besides the options: real examples and each command's exit codes.

The exit codes come from the one table, :data:`rdstrust.errors.EXIT_MEANINGS`; each command
names which of them it can return. :class:`Command` also gives every option a readable
metavar (``FILE``, ``SECONDS``) where Typer would show a Python type (``<list[str]>``).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from typer.core import TyperCommand

from rdstrust.errors import EXIT_MEANINGS, ExitCode

E = ExitCode
_COMMON = (E.OK, E.USAGE)

#: Per command: a few real examples, and the exit codes it can return.
HELP: dict[str, tuple[tuple[str, ...], tuple[ExitCode, ...]]] = {
    "update": (
        (
            "rdstrust update --java-cacerts --store app/truststore.p12,storepass:env=APP_PASS",
            "rdstrust update --create -s truststore.jks -s rds-ca.pem --storepass-env STOREPASS",
            "rdstrust update --check -s truststore.jks --storepass-env STOREPASS   # CI gate",
        ),
        (
            *_COMMON,
            E.NOT_TRUSTED,
            E.BAD_BUNDLE,
            E.FETCH_FAILED,
            E.STORE_ERROR,
            E.TOOL_MISSING,
            E.JVM_GAVE_UP,
        ),
    ),
    "fetch": (
        (
            "rdstrust fetch                                  # -> ./global-bundle.pem",
            "rdstrust fetch --region eu-west-1 --format p7b",
            "rdstrust fetch --url https://mirror.example/rds/global-bundle.pem -o rds.pem",
        ),
        (*_COMMON, E.BAD_BUNDLE, E.FETCH_FAILED, E.STORE_ERROR),
    ),
    "split": (
        (
            "rdstrust split global-bundle.pem --out-dir rds-certs",
            "rdstrust split global-bundle.p7b -d rds-certs --json | jq '.files[].alias'",
        ),
        (*_COMMON, E.BAD_BUNDLE, E.STORE_ERROR),
    ),
    "merge": (
        (
            "rdstrust merge -b global-bundle.pem -s truststore.jks --storepass-env STOREPASS",
            "rdstrust merge -b global-bundle.pem --java-cacerts --no-backup",
            "rdstrust merge -b global-bundle.pem -s new.p12 --dry-run --json",
        ),
        (*_COMMON, E.BAD_BUNDLE, E.STORE_ERROR, E.TOOL_MISSING),
    ),
    "inspect": (
        (
            "rdstrust inspect /etc/ssl/certs/java/cacerts",
            "rdstrust inspect truststore.p12,storepass:env=APP_PASS --json",
        ),
        (*_COMMON, E.STORE_ERROR),
    ),
    "verify": (
        (
            "rdstrust verify -s truststore.jks --host mydb.xxxx.us-east-1.rds.amazonaws.com",
            "rdstrust verify -s rds-ca.pem --bundle global-bundle.pem --region us-east-1 --json",
            "rdstrust verify -s store.p12 --chain chain.pem --server-name mydb.example --jvm",
        ),
        (
            *_COMMON,
            E.NOT_TRUSTED,
            E.BAD_BUNDLE,
            E.FETCH_FAILED,
            E.STORE_ERROR,
            E.PROBE_FAILED,
            E.TOOL_MISSING,
            E.JVM_GAVE_UP,
        ),
    ),
    "probe": (
        (
            "rdstrust probe mydb.xxxx.us-east-1.rds.amazonaws.com",
            "rdstrust probe mydb.xxxx.us-east-1.rds.amazonaws.com:3306 --save-chain chain.pem",
        ),
        (*_COMMON, E.STORE_ERROR, E.PROBE_FAILED),
    ),
    "audit": (
        (
            "PGPASSWORD=... rdstrust audit 'host=mydb.xxxx.rds.amazonaws.com user=postgres'",
            "rdstrust audit 'host=mydb... user=postgres' --watch 10m --interval 5 --json",
        ),
        (*_COMMON, E.NOT_TRUSTED, E.PROBE_FAILED, E.TOOL_MISSING),
    ),
    "instances": (
        (
            "rdstrust instances --region us-east-1 --region eu-west-1",
            "rdstrust instances --all-regions -s truststore.jks --bundle global-bundle.pem",
        ),
        (*_COMMON, E.NOT_TRUSTED, E.BAD_BUNDLE, E.STORE_ERROR, E.TOOL_MISSING, E.AWS_FAILED),
    ),
    "doctor": (
        (
            "rdstrust doctor --jdbc-url 'jdbc:postgresql://db:5432/app?sslmode=verify-full'",
            "rdstrust doctor --env --jdbc-url 'jdbc:mysql://db/app?sslMode=VERIFY_IDENTITY' --json",
            "rdstrust doctor --jdbc-url URL --java-options '-Djavax.net.ssl.trustStore=app.p12'",
        ),
        (
            *_COMMON,
            E.NOT_TRUSTED,
            E.BAD_BUNDLE,
            E.FETCH_FAILED,
            E.STORE_ERROR,
            E.PROBE_FAILED,
            E.TOOL_MISSING,
        ),
    ),
    "os-trust": (
        (
            "rdstrust os-trust                       # Debian/Ubuntu/Alpine or RHEL, detected",
            "rdstrust os-trust --root build/rootfs --include amazon-roots --no-run",
            "rdstrust os-trust --dry-run --json",
        ),
        (*_COMMON, E.BAD_BUNDLE, E.FETCH_FAILED, E.STORE_ERROR, E.TOOL_MISSING),
    ),
    "rotate": (
        (
            "rdstrust rotate --instance mydb --to rds-ca-rsa2048-g1 -s truststore.jks",
            "rdstrust rotate --instance mydb -s truststore.jks --yes --apply-immediately --wait",
        ),
        (
            *_COMMON,
            E.NOT_TRUSTED,
            E.BAD_BUNDLE,
            E.STORE_ERROR,
            E.PROBE_FAILED,
            E.TOOL_MISSING,
            E.AWS_FAILED,
        ),
    ),
}


def exit_codes_text(codes: tuple[ExitCode, ...]) -> str:
    """The exit-code lines of a help text, from the one table."""
    return "\n".join(f"  {int(c):<3} {EXIT_MEANINGS[c]}" for c in sorted(set(codes)))


def epilog(name: str) -> str:
    """Examples and exit codes for command ``name`` (``\\b`` keeps Click from re-wrapping)."""
    examples, codes = HELP.get(name, ((), tuple(EXIT_MEANINGS)))
    parts = []
    if examples:
        parts.append("\b\nExamples:\n" + "\n".join(f"  {e}" for e in examples))
    parts.append("\b\nExit codes:\n" + exit_codes_text((*codes, ExitCode.INTERRUPTED)))
    return "\n\n".join(parts)


#: Placeholders by parameter name, where the type alone says too little.
_NAMES = {
    "require": "GENERATIONS",
    "region": "REGION",
    "url": "URL",
    "expect_sha256": "HEX",
    "storepass": "PASSWORD",
    "server_name": "NAME",
    "cache_dir": "DIR",
    "out_dir": "DIR",
    "target": "CA",
    "to": "CA",
    "instance": "ID",
    "cluster": "ID",
    "profile": "PROFILE",
    "dsn": "DSN",
}


def _metavar(param: Any) -> str | None:
    """A readable placeholder for an option's value, from its name and type."""
    if param.name in _NAMES:
        return _NAMES[param.name]
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    inner = getattr(annotation, "__args__", (annotation,))[0] if annotation is not None else None
    if isinstance(inner, type) and issubclass(inner, Enum):
        return None  # Typer shows the choices
    if inner is Path:
        return "FILE"
    if inner is float:
        return "SECONDS"
    if inner is int:
        return "N"
    return (param.name or "value").upper()


class Command(TyperCommand):
    """A Typer command whose options show readable metavars instead of Python types."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Typer 0.29 vendors its own Click: options are recognised by what they have, not by
        # class. Flags and options that name a metavar themselves are left as they are.
        for param in self.params:
            if getattr(param, "is_flag", True) or getattr(param, "metavar", "") is not None:
                continue
            param.metavar = _metavar(param)
