"""One way to run a job over several stores: every command that takes ``--store`` uses it.

The rules, the same for ``merge``, ``verify``, ``update`` and ``inspect``: stores are handled in
the order given; each store's password comes from its own source (else the run's default); a
store that fails is recorded with its own exit code and left unchanged, and the others still
run; the run's exit code is the first failure's. Anything that is not an
:class:`~rdstrust.errors.RdsTrustError` (Ctrl-C, a bug) stops the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from rdstrust.errors import PasswordNeededError, RdsTrustError
from rdstrust.passwords import PasswordSource
from rdstrust.storespec import StoreSpec

T = TypeVar("T")

#: Asks for a store's password (a terminal prompt); ``None`` when it cannot.
Prompt = Callable[[Path], "str | None"]


@dataclass(frozen=True)
class StoreFailure:
    """A store the run could not handle (it was left unchanged), with its own exit code."""

    store: str
    message: str
    exit_code: int


@dataclass(frozen=True)
class Passwords:
    """Where store passwords come from in a run.

    ``default`` serves every store without a source of its own; ``prompt`` (the CLI passes a
    terminal prompt) is asked only after a store has said it cannot be handled without a
    password, so no store is parsed just to decide whether to ask.
    """

    default: PasswordSource = field(default_factory=PasswordSource)
    prompt: Prompt | None = field(default=None, metadata={"json": False})

    @classmethod
    def of(cls, password: str | None) -> Passwords:
        """Every store takes ``password`` (``None``: no password), as a library caller says."""
        return cls(
            PasswordSource(literal=password) if password is not None else PasswordSource(none=True)
        )

    def source(self, spec: StoreSpec) -> PasswordSource:
        """The source that applies to ``spec``."""
        return spec.password if spec.password is not None else self.default

    def check(self, specs: Sequence[StoreSpec]) -> None:
        """Resolve every source once up front, so a bad option fails before anything runs."""
        self.default.resolve()
        for spec in specs:
            if spec.password is not None:
                spec.password.resolve()


@dataclass(frozen=True)
class StoreOutcome(Generic[T]):
    """What the job gave for one store: a result, or the failure."""

    spec: StoreSpec
    result: T | None = None
    failure: StoreFailure | None = None
    #: The password the store was handled with (never shown, never in JSON).
    password: str | None = field(default=None, repr=False, metadata={"json": False})


def run_stores(
    specs: Sequence[StoreSpec],
    job: Callable[[StoreSpec, str | None], T],
    passwords: Passwords,
    *,
    on_failure: Callable[[StoreFailure], None] | None = None,
) -> tuple[StoreOutcome[T], ...]:
    """Run ``job(spec, password)`` for each store; see the module docstring for the rules."""
    outcomes: list[StoreOutcome[T]] = []
    for spec in specs:
        password: str | None = None
        try:
            source = passwords.source(spec)
            password = source.resolve()
            try:
                result = job(spec, password)
            except PasswordNeededError:
                asked = _ask(passwords, source, spec, password)
                if asked is None:
                    raise
                password = asked
                result = job(spec, password)
            outcomes.append(StoreOutcome(spec, result=result, password=password))
        except RdsTrustError as exc:
            failure = StoreFailure(spec.name, exc.message, int(exc.exit_code))
            outcomes.append(StoreOutcome(spec, failure=failure))
            if on_failure is not None:
                on_failure(failure)
    return tuple(outcomes)


def _ask(
    passwords: Passwords, source: PasswordSource, spec: StoreSpec, password: str | None
) -> str | None:
    # Prompt only when no password was given at all and none was refused on purpose.
    if password is not None or source.none or passwords.prompt is None:
        return None
    return passwords.prompt(spec.path)


def first_exit_code(outcomes: Sequence[StoreOutcome[T]]) -> int:
    """The exit code of the first failed store, 0 when none failed."""
    return next((o.failure.exit_code for o in outcomes if o.failure is not None), 0)
