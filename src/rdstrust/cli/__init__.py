"""The ``rdstrust`` command line: a thin Typer layer over the library.

Each command lives in its own module here and only parses options, calls the library, renders
the result (a table or ``--json``) and maps :class:`rdstrust.errors.RdsTrustError` to its exit
code. No certificate or store-format logic lives in this package.
"""

from __future__ import annotations

import typer

from rdstrust import __version__
from rdstrust.cli.audit import audit
from rdstrust.cli.doctor import doctor
from rdstrust.cli.fetch import fetch
from rdstrust.cli.inspect import inspect
from rdstrust.cli.instances import instances
from rdstrust.cli.merge import merge
from rdstrust.cli.probe import probe
from rdstrust.cli.rotate import rotate
from rdstrust.cli.split import split
from rdstrust.cli.update import update
from rdstrust.cli.verify import verify

app = typer.Typer(
    name="rdstrust",
    help=(
        "Keep Java (JKS, PKCS12) and PEM trust stores ready for Amazon RDS / Aurora CA "
        "rotations. Exit codes: 0 ok, 1 not trusted, 2 usage, 3 bad bundle, 4 fetch failed, "
        "5 store error, 6 probe failed, 7 tool missing."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"rdstrust {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Keep Java and PEM trust stores ready for Amazon RDS / Aurora CA rotations."""


app.command("update")(update)
app.command("fetch")(fetch)
app.command("split")(split)
app.command("verify")(verify)
app.command("probe")(probe)
app.command("merge")(merge)
app.command("inspect")(inspect)
app.command("instances")(instances)
app.command("rotate")(rotate)
app.command("audit")(audit)
app.command("doctor")(doctor)


def main() -> None:
    """Console-script entry point."""
    app()
