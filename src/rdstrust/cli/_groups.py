"""Option groups: each set of command-line options is declared once and shared by commands.

Typer maps each option to one parameter of the command function, which made every command that
shares the source, store or merge options re-list them (and re-pass them down). Here a group is
declared once as a tuple of :class:`Opt`, :func:`command` gives a command the signature of the
groups it uses (Typer reads ``__signature__``), and the command body receives one mapping of
values, from which each group's builder makes the library's options dataclass.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

#: The parsed option values a command body receives, by parameter name.
Values = Mapping[str, Any]


@dataclass(frozen=True)
class Opt:
    """One command-line option: the parameter name, its ``Annotated`` Typer type, its default."""

    name: str
    annotation: Any
    default: Any = None


def command(*groups: Sequence[Opt]) -> Callable[[Callable[[Values], None]], Callable[..., None]]:
    """Make a Typer command from a body that takes the values of ``groups``' options.

    The first option of a given name wins, so a command can put its own variant of a shared
    option (another help text) in a group listed before the shared one.
    """

    def wrap(body: Callable[[Values], None]) -> Callable[..., None]:
        seen: dict[str, inspect.Parameter] = {}
        for opt in (o for group in groups for o in group):
            if opt.name not in seen:
                seen[opt.name] = inspect.Parameter(
                    opt.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=opt.default,
                    annotation=opt.annotation,
                )

        @functools.wraps(body)
        def run(**values: Any) -> None:
            body(values)

        # Typer builds the options from the signature; drop the wrapped body's (one mapping).
        del run.__wrapped__
        run.__signature__ = inspect.Signature(list(seen.values()))  # type: ignore[attr-defined]
        run.__annotations__ = {}
        return run

    return wrap


def option(name: str, kind: Any, default: Any, *flags: str, **settings: Any) -> Opt:
    """An :class:`Opt` declared in one call: ``option("port", int | None, None, "--port",
    help=...)`` instead of spelling out ``Annotated[..., typer.Option(...)]`` each time."""
    import typer

    return Opt(name, Annotated[kind, typer.Option(*flags, **settings)], default)
