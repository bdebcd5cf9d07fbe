"""One run's memory: certificate descriptions (see :func:`describe_once`), and the cycle
collector paused while a run builds a large store (see :func:`gc_paused`).

Kept apart from :mod:`rdstrust.certs` so that the CLI can open the scope around a command
without importing cryptography first (``--help`` never needs it).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdstrust.certs import CertInfo

#: The descriptions of the current run, by DER bytes (``None`` outside :func:`describe_once`).
_RUN_CACHE: ContextVar[dict[bytes, CertInfo | None] | None] = ContextVar(
    "rdstrust_describe_cache", default=None
)


@contextmanager
def describe_once() -> Iterator[None]:
    """Within this block, each certificate (by its DER bytes) is described at most once.

    One run of a command sees the same certificates again and again (the bundle, the store, the
    store read back after writing, the verdict): a description is a pure function of the bytes,
    so the run keeps each one. The cache belongs to the run and is dropped when the block ends:
    a process-wide one would keep every certificate ever seen alive (and freeing 50,000 of them
    at interpreter exit took 1.4 s). Nested blocks share the outermost one's cache.
    """
    if _RUN_CACHE.get() is not None:
        yield
        return
    token = _RUN_CACHE.set({})
    try:
        yield
    finally:
        _RUN_CACHE.reset(token)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Within this block, Python's cycle collector does not run (reference counting still frees
    everything that is not in a cycle); it is switched back on when the block ends.

    Reading a 50,000-entry store creates hundreds of thousands of objects, none of them in a
    cycle, and each batch of new objects set off a collection that walked all the live ones
    again: a fifth of a merge's time went to finding no garbage. What a run allocates is bounded
    by its inputs' limits (entries, bytes), so pausing cannot let memory grow without bound.
    Nested blocks and a collector already switched off are left as they are.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def run_descriptions() -> Mapping[bytes, CertInfo | None]:
    """This run's descriptions so far, by DER bytes (empty outside :func:`describe_once`).

    For a loop over a whole store: one lookup of the run's cache instead of one per entry.
    """
    cache = _RUN_CACHE.get()
    return cache if cache is not None else {}


def cached_description(der: bytes) -> tuple[bool, CertInfo | None]:
    """``(True, info)`` when this run already described ``der`` (``info`` may be ``None``)."""
    cache = _RUN_CACHE.get()
    if cache is None or der not in cache:
        return False, None
    return True, cache[der]


def remember_description(der: bytes, info: CertInfo | None) -> None:
    """Keep ``info`` (``None``: not decodable) as the description of ``der`` for this run."""
    cache = _RUN_CACHE.get()
    if cache is not None:
        cache[der] = info
