"""``rdstrust os-trust``: install the bundle's CAs as OS trust anchors, then run the OS tool."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from rdstrust.cli._common import JSON, emit, err, exit_on_error
from rdstrust.cli._groups import Opt, Values, command
from rdstrust.cli._source import SOURCE, fetch_with_progress, source_options
from rdstrust.errors import ExitCode, UsageError
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.ostrust import OsTrustOptions, OsTrustResult, install_anchors
from rdstrust.text import safe

RootOption = Annotated[
    Path,
    typer.Option(
        "--root",
        metavar="DIR",
        help="Root of the system to change: / (default) or an image tree being built. For a "
        "tree, the tool is not run here but printed, to run in the image (or give "
        "--update-command).",
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the plan; write nothing, run nothing.")
]
NoRunOption = Annotated[
    bool,
    typer.Option("--no-run", help="Write the anchor files but do not run the distribution's tool."),
]
UpdateCommandOption = Annotated[
    str | None,
    typer.Option(
        "--update-command",
        metavar="CMD",
        help="Run this instead of update-ca-certificates / update-ca-trust extract (split like "
        "a shell, not run by one), e.g. 'chroot /img update-ca-certificates'.",
        show_default=False,
    ),
]

#: What ``os-trust`` adds to the source options.
OS_TRUST = (
    Opt("root", RootOption, Path("/")),
    Opt("dry_run", DryRunOption, False),
    Opt("no_run", NoRunOption, False),
    Opt("update_command", UpdateCommandOption),
)


@command(OS_TRUST, SOURCE, JSON)
def os_trust(v: Values) -> None:
    """Install the RDS CAs (and --include amazon-roots) as OS trust anchors, then regenerate.

    One PEM .crt file per CA goes into the distribution's anchor directory (Debian/Ubuntu:
    /usr/local/share/ca-certificates/rdstrust/, Alpine: /usr/local/share/ca-certificates/,
    RHEL/Fedora: /etc/pki/ca-trust/source/anchors/); then update-ca-certificates or
    update-ca-trust rebuilds the system bundle (libpq, OpenSSL) and the Java cacerts from them.
    """
    with exit_on_error(), accepting_unknown_rds(enabled=v["accept_unknown_rds"]):
        options = OsTrustOptions(
            root=v["root"],
            dry_run=v["dry_run"],
            run_tool=not v["no_run"],
            command=_split(v["update_command"]),
        )
        fetched = fetch_with_progress(source_options(v))
        for note in dict.fromkeys((*fetched.bundle.notes, *fetched.notes)):
            err(f"note: {safe(note)}")
        result = install_anchors(fetched.bundle, options)
    emit(result, json=v["json"], human=render_os_trust(result))
    tool = result.tool
    if tool is not None and not tool.ok:
        why = tool.error or f"exited with {tool.exit_code}"
        err(
            f"rdstrust: error: {' '.join(tool.command)} {why}; the anchor files are in place, "
            "fix the tool and run it (or rdstrust os-trust) again."
        )
        raise typer.Exit(int(ExitCode.TOOL_MISSING))


def _split(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    try:
        parts = tuple(shlex.split(text))
    except ValueError as exc:
        raise UsageError(f"--update-command cannot be split into words: {exc}.") from None
    if not parts:
        raise UsageError("--update-command is empty; give the command to run.")
    return parts


def render_os_trust(result: OsTrustResult) -> str:
    """The plan or what was done: anchor files, the tool's run, what is left to run."""
    verb = "would write" if result.dry_run else "wrote"
    lines = [
        f"{result.distro} ({result.family}): anchors in {safe(result.anchor_dir)}",
        f"  {verb} {len(result.written)}, unchanged {len(result.unchanged)}, "
        f"{'would remove' if result.dry_run else 'removed'} {len(result.removed)}",
    ]
    lines += [f"  + {safe(name)}" for name in result.written]
    lines += [f"  - {safe(name)}" for name in result.removed]
    lines += [f"  note: {safe(note)}" for note in result.notes]
    if result.tool is not None:
        tool = result.tool
        state = "ok" if tool.ok else f"FAILED ({tool.error or f'exit {tool.exit_code}'})"
        lines.append(f"  ran: {' '.join(tool.command)}: {state}")
        lines += [f"    | {line}" for line in tool.output]
    if result.run_next is not None:
        lines.append(f"  to do: run {shlex.join(result.run_next)}")
    return "\n".join(lines)
