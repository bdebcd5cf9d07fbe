"""The ``rdstrust`` command line: a thin Typer layer over the library.

Each command lives in its own module here and only parses options, calls the library, renders
the result (a table or ``--json``) and maps :class:`rdstrust.errors.RdsTrustError` to its exit
code. No certificate or store-format logic lives in this package.

Starting fast matters in pipelines: ``rdstrust --version`` is answered before Typer is imported,
``rdstrust --help`` lists the commands from :data:`COMMANDS` without importing them, and a
command's module is imported only when it runs (see :mod:`rdstrust.cli._lazy`).
"""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import typer

#: Every command, in the order ``--help`` lists them: its module (imported when the command runs)
#: and its one-line help, the first paragraph of the command's docstring (a test keeps them equal).
COMMANDS: dict[str, tuple[str, str]] = {
    "update": (
        "rdstrust.cli.update",
        "Fetch the RDS CA bundle, merge it into every store and verify each store, in one step.",
    ),
    "fetch": (
        "rdstrust.cli.fetch",
        "Download the Amazon RDS CA bundle over verified HTTPS, validate it, write it atomically.",
    ),
    "split": (
        "rdstrust.cli.split",
        "Split a bundle into one PEM file per certificate (named by alias) plus manifest.json.",
    ),
    "verify": (
        "rdstrust.cli.verify",
        "Check that trust stores hold the required RDS CAs and trust a server's chain.",
    ),
    "probe": (
        "rdstrust.cli.probe",
        "Connect like a PostgreSQL (or MySQL) client, show the server's chain and its RDS CA.",
    ),
    "merge": (
        "rdstrust.cli.merge",
        "Add the bundle's CA certificates to trust stores, keeping every existing entry.",
    ),
    "inspect": (
        "rdstrust.cli.inspect",
        "List a store's entries: alias, RDS CA generation and region, expiry, status, SHA-256, "
        "subject.",
    ),
    "audit": (
        "rdstrust.cli.audit",
        "Show which clients of a PostgreSQL server connect over SSL (TLS version, cipher) and "
        "which do not, with the server's ssl and rds.force_ssl settings.",
    ),
    "instances": (
        "rdstrust.cli.instances",
        "List DB instances and clusters with their CA; with --store, check each store for each.",
    ),
    "rotate": (
        "rdstrust.cli.rotate",
        "Rotate one DB instance or cluster to a new CA once every store trusts it.",
    ),
    "doctor": (
        "rdstrust.cli.doctor",
        "Find the trust store an application's JDBC driver really uses, and check it.",
    ),
    "os-trust": (
        "rdstrust.cli.ostrust",
        "Install the RDS CAs (and --include amazon-roots) as OS trust anchors, then regenerate.",
    ),
}

_app: typer.Typer | None = None
#: Whether :func:`run` switched the cycle collector off for start-up (see :func:`end_of_startup`).
_gc_paused_for_startup = False


def _build_app() -> typer.Typer:
    import typer

    from rdstrust import __version__
    from rdstrust.cli._help import exit_codes_text
    from rdstrust.cli._lazy import LazyGroup
    from rdstrust.errors import EXIT_MEANINGS

    app = typer.Typer(
        name="rdstrust",
        cls=LazyGroup,
        help="Keep Java (JKS, PKCS12) and PEM trust stores ready for Amazon RDS / Aurora CA "
        "rotations.",
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

    return app


def __getattr__(name: str) -> Any:
    # PEP 562: ``from rdstrust.cli import app`` builds the Typer app on first use, so importing
    # rdstrust.cli (or one of its command modules) costs nothing until then.
    global _app
    if name == "app":
        if _app is None:
            _app = _build_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Run the command line on ``sys.argv``; like any Click program it ends with SystemExit.

    For programs that embed rdstrust's command line: their own ``except`` and ``finally``
    blocks run. The ``rdstrust`` command itself is :func:`run`.
    """
    if sys.argv[1:2] == ["--version"]:
        # Answered before Typer (and the rest of rdstrust) is imported: a pipeline that checks
        # the version should not pay for the whole CLI.
        from rdstrust import __version__

        print(f"rdstrust {__version__}")
        return
    __getattr__("app")()


def run() -> NoReturn:
    """Console-script entry point (``rdstrust``, ``python -m rdstrust``): :func:`main`, then
    :func:`exit_now` with its exit code."""
    global _gc_paused_for_startup
    if gc.isenabled():
        # Start-up (importing Typer, cryptography and the command, building the app) creates
        # some 150,000 objects and frees almost none: the cycle collector ran ~55 times during
        # an update and found nothing (~9 ms). It stays off until the command's module is
        # imported (end_of_startup), which freezes what start-up made and switches it back on.
        gc.disable()
        _gc_paused_for_startup = True
    try:
        main()
    except SystemExit as done:
        if not isinstance(done.code, int | None):  # sys.exit("text"): Python prints it
            raise
        exit_now(done.code or 0)
    exit_now(0)


def end_of_startup() -> None:
    """The command's module is imported: the cycle collector runs again, as usual, for the
    command's own work, without walking what start-up made (``gc.freeze``: modules, classes,
    functions live until the process ends anyway). Nothing when :func:`run` did not pause it."""
    global _gc_paused_for_startup
    if _gc_paused_for_startup:
        _gc_paused_for_startup = False
        gc.freeze()
        gc.enable()


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` without Python's module-by-module teardown, when that is safe.

    At exit the interpreter frees every loaded module and object one by one: about 20 ms of a
    0.19 s ``update`` (280 modules), paid by every run of a pipeline (mypy skips it the same
    way). Nothing rdstrust writes depends on that teardown: each store, cache and output file is
    written, fsynced and closed before its command returns. What the teardown would still do is
    done here: atexit handlers run (temporary directories, coverage) and stdout and stderr are
    flushed. Where that cannot be done the ordinary way, it is left to Python, so the exit status
    and messages are what they always were: a live non-daemon thread, a debugger, profiler or
    ``python -i`` (they act after the program ends), a status outside 0-255, an atexit module
    without its runner, or a flush that fails (a closed pipe) all get :func:`sys.exit`.
    """
    import atexit

    threading = sys.modules.get("threading")
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if (
        run_exitfuncs is None
        or not 0 <= code <= 255
        or sys.flags.inspect
        or sys.gettrace() is not None
        or sys.getprofile() is not None
        or (
            threading is not None
            and any(
                t is not threading.main_thread() and not t.daemon and t.is_alive()
                for t in threading.enumerate()
            )
        )
    ):
        sys.exit(code)
    run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with that descriptor closed: nothing to flush
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            sys.exit(code)
    os._exit(code)
