"""The ``rdstrust`` command line: a thin Typer layer over the library.

Each command lives in its own module here and only parses options, calls the library, renders
the result (a table or ``--json``) and maps :class:`rdstrust.errors.RdsTrustError` to its exit
code. No certificate or store-format logic lives in this package.
"""

from __future__ import annotations

import typer

from rdstrust import __version__
from rdstrust.cli._help import Command, epilog, exit_codes_text
from rdstrust.cli.audit import audit
from rdstrust.cli.doctor import doctor
from rdstrust.cli.fetch import fetch
from rdstrust.cli.inspect import inspect
from rdstrust.cli.instances import instances
from rdstrust.cli.merge import merge
from rdstrust.cli.ostrust import os_trust
from rdstrust.cli.probe import probe
from rdstrust.cli.rotate import rotate
from rdstrust.cli.split import split
from rdstrust.cli.update import update
from rdstrust.cli.verify import verify
from rdstrust.errors import EXIT_MEANINGS

app = typer.Typer(
    name="rdstrust",
    help="Keep Java (JKS, PKCS12) and PEM trust stores ready for Amazon RDS / Aurora CA rotations.",
    epilog="\b\nExit codes (each command's --help lists its own):\n"
    + exit_codes_text(tuple(EXIT_MEANINGS)),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:  # noqa: FBT001  # Typer passes the flag positionally
    if value:
        print(f"rdstrust {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    *,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Keep Java and PEM trust stores ready for Amazon RDS / Aurora CA rotations."""


for _name, _function in (
    ("update", update),
    ("fetch", fetch),
    ("split", split),
    ("verify", verify),
    ("probe", probe),
    ("merge", merge),
    ("inspect", inspect),
    ("audit", audit),
    ("instances", instances),
    ("rotate", rotate),
    ("os-trust", os_trust),
    ("doctor", doctor),
):
    app.command(_name, cls=Command, epilog=epilog(_name))(_function)


def main() -> None:
    """Console-script entry point."""
    app()
