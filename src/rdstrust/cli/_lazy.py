"""What makes the CLI start fast: commands imported only when they run, and cheap option parsing.

* :class:`LazyGroup` is the root group. Its commands are the static table
  :data:`rdstrust.cli.COMMANDS`: ``rdstrust --help`` lists them with their one-line helps from that
  table, and a command's module (with the library behind it: cryptography, requests, boto3) is
  imported only when that command runs, or its own ``--help`` is asked for.
* :class:`FastCommand` is :class:`rdstrust.cli._help.Command` with option values coerced without
  pydantic. Typer 0.29 checks every option value through a pydantic ``TypeAdapter``, built per
  option on first use: importing pydantic and building about 40 adapters cost ~90 ms per
  command, for options that are strings, paths, flags, or already have their own ``parser=``.
  Those are coerced here directly. Anything else, and every value the fast path refuses, goes
  through Typer's own coercion, so error messages and edge cases are Typer's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.core import TyperGroup
from typer.main import get_command_from_info
from typer.models import CommandInfo

from rdstrust.cli._help import Command, epilog
from rdstrust.runcache import describe_once

try:  # Typer >= 0.29: per-parameter runtime coercion (pydantic); older Typer has none of it
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path
except ImportError:  # pragma: no cover - depends on the installed Typer
    RuntimeParam = None  # type: ignore[assignment,misc]


#: The words pydantic's lax bool mode takes (what Typer 0.29 accepts from an environment
#: variable); any other text goes to Typer, which says what is wrong with it.
_BOOL_WORDS = {
    **dict.fromkeys(("1", "on", "t", "true", "y", "yes"), True),
    **dict.fromkeys(("0", "off", "f", "false", "n", "no"), False),
}


class _Refused(Exception):
    """The fast path does not take this value; Typer's own coercion decides."""


def _fast_value(annotation: Any, parameter_info: Any, value: Any, param: Any, ctx: Any) -> Any:
    """``value`` coerced as Typer would for the simple annotations rdstrust uses."""
    if parameter_info.parser is not None:
        # Typer wraps the parser in a pydantic validator; a ValueError it raises becomes
        # Typer's message on the slow path, so only success is taken here.
        try:
            return parameter_info.parser(value)
        except (ValueError, AssertionError):
            raise _Refused from None
    if (annotation is str and isinstance(value, str)) or (
        annotation is bool and isinstance(value, bool)
    ):
        return value
    if annotation is bool and isinstance(value, str) and value.lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.lower()]  # a flag's value from its environment variable
    if annotation is Path and isinstance(value, (str, Path)):
        # Typer's own checks (exists, readable, ...), given a Path so it needs no adapter.
        return coerce_cli_path(Path(value), parameter_info, path_type=Path, param=param, ctx=ctx)
    raise _Refused


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _FastRuntimeParam(RuntimeParam):
        """Typer's coercion contract, without pydantic for str, Path, list[str] and parsers."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info, annotation = self.parameter_info, self.annotation
            try:
                if getattr(annotation, "__origin__", None) is list:
                    (item,) = annotation.__args__
                    values = value if isinstance(value, (list, tuple)) else [value]
                    return [_fast_value(item, info, v, param, ctx) for v in values]
                return _fast_value(annotation, info, value, param, ctx)
            except _Refused:
                slow = build_runtime_param(param.type_descriptor)
                return slow._coerce_value(value, param=param, ctx=ctx)


_FAST_ANNOTATIONS = (str, bool, Path)


def _fast_enough(descriptor: Any) -> bool:
    annotation = descriptor.annotation
    if descriptor.file_annotation is not None:
        return False
    if getattr(annotation, "__origin__", None) is list:
        args: tuple[Any, ...] = getattr(annotation, "__args__", ())
        return len(args) == 1 and (args[0] in _FAST_ANNOTATIONS)
    return annotation in _FAST_ANNOTATIONS or descriptor.parameter_info.parser is not None


def _speed_up(params: Iterable[Any]) -> None:
    """Give each simple parameter the pydantic-free coercion (Typer still builds the rest)."""
    if RuntimeParam is None:
        return
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        # Typer builds its coercion on first use, even for an option left unset (None).
        if (
            descriptor is not None
            and getattr(param, "_runtime_param", ...) is None
            and _fast_enough(descriptor)
        ):
            param._runtime_param = _FastRuntimeParam(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
            )


class FastCommand(Command):
    """A :class:`Command` whose simple options are coerced without pydantic (see module doc)."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The parameters (``--help`` included, made when parsing starts), sped up."""
        params: list[Any] = super().get_params(ctx)
        _speed_up(params)
        return params


class _Commands(MutableMapping[str, Any]):
    """The group's commands by name; each is built (its module imported) on first access.

    Typer reads ``group.commands`` for the command list, for "Did you mean ...?" and for shell
    completion: every name is there from the start, and only looking one up imports it.
    """

    def __init__(self, table: dict[str, tuple[str, str]]) -> None:
        self._table = table
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in self._table:
                raise KeyError(name)
            self._built[name] = _build(name, self._table[name][0])
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._built.pop(name, None)
        self._table.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._table, *self._built]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*self._table, *self._built]))


def _build(name: str, module: str) -> Any:
    """The Click command for ``name``: import its module and let Typer build it."""
    # A command's function is its name as a Python identifier (os-trust -> os_trust).
    function = getattr(importlib.import_module(module), name.replace("-", "_"))
    from rdstrust.cli import end_of_startup

    end_of_startup()
    info = CommandInfo(name=name, cls=FastCommand, epilog=epilog(name), callback=function)
    return get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=None)


class LazyGroup(TyperGroup):
    """The root group: commands from :data:`rdstrust.cli.COMMANDS`, imported when used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from rdstrust.cli import COMMANDS  # the table lives with the package it describes

        self.commands = _Commands(dict(COMMANDS))
        self._one_line = {name: help_ for name, (_, help_) in COMMANDS.items()}

    def get_params(self, ctx: Any) -> list[Any]:
        """The parameters (Typer adds the completion options after construction), sped up."""
        params: list[Any] = super().get_params(ctx)
        _speed_up(params)
        return params

    def invoke(self, ctx: Any) -> Any:
        """Run the command with one description cache for the whole run (see
        :func:`rdstrust.runcache.describe_once`), dropped when the command ends."""
        with describe_once():
            return super().invoke(ctx)

    def list_commands(self, ctx: Any) -> list[str]:
        """The command names in table order (without building any command)."""
        del ctx
        return list(self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of ``--help``, from the static table (nothing imported)."""
        try:
            from typer._click.utils import make_default_short_help
        except ImportError:  # pragma: no cover - Typer before 0.29 uses Click itself
            from click.utils import (  # type: ignore[no-redef]
                make_default_short_help,
            )

        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, make_default_short_help(self._one_line[n], limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
