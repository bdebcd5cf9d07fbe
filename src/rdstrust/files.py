"""Reading input files (bundles, chains, password files) with a size cap and a type check.

``Path.read_bytes`` trusts the file: ``/dev/zero``, ``/dev/urandom`` or a FIFO given by mistake
would exhaust memory or hang. Inputs here are small (a global bundle is about 170 KB), so every
reader refuses anything that is not a regular file and reads at most ``limit + 1`` bytes.
Symlinks are followed only as the kernel's ``fs.protected_symlinks`` rule allows (see
:func:`rdstrust.atomic.resolve_path`), even where that setting is off: a link another user planted
in ``/tmp`` must not make root read a file of that user's choosing.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from rdstrust.atomic import resolve_path
from rdstrust.errors import RdsTrustError, StoreError


def read_input(
    path: str | Path,
    *,
    limit: int,
    what: str,
    error: type[RdsTrustError],
    missing_hint: str = "",
) -> bytes:
    """The bytes of the regular file at ``path`` (through symlinks), at most ``limit`` of them.

    ``what`` names the file in messages ("Bundle file", "Chain file", ...). Every problem raises
    ``error`` with one sentence: missing (plus ``missing_hint``), a directory, a device or FIFO,
    unreadable, or larger than ``limit``.
    """
    p = Path(path)
    try:
        resolve_path(p)
    except StoreError as exc:
        raise error(exc.message) from None
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not hang before we can look at it.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise error(_open_problem(p, what, exc, missing_hint)) from None
    try:
        mode = os.fstat(fd).st_mode
        data = None
        if stat.S_ISREG(mode):
            os.set_blocking(fd, True)
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"Cannot read {what.lower()} {p}: {exc.strerror or exc}.") from None
    finally:
        os.close(fd)
    # Raised outside the try: our errors are OSError subclasses and must not be re-wrapped.
    if stat.S_ISDIR(mode):
        raise error(f"{p} is a directory, not a {what.lower()}.")
    if data is None:
        raise error(
            f"{p} is not a regular file (a device, FIFO or socket); give the path of the "
            f"{what.lower()} itself."
        )
    if len(data) > limit:
        raise error(
            f"{what} {p} is larger than {limit} bytes, far more than it can be; check that you "
            "picked the right file."
        )
    return data


def _open_problem(p: Path, what: str, exc: OSError, hint: str) -> str:
    if exc.errno == errno.ENOENT:
        return f"{what} {p} does not exist{'; ' + hint if hint else ''}."
    if exc.errno == errno.EISDIR:
        return f"{p} is a directory, not a {what.lower()}."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"Cannot read {what.lower()} {p}: permission denied."
    if exc.errno == errno.ELOOP:
        return f"Cannot read {what.lower()} {p}: too many levels of symbolic links."
    return f"Cannot read {what.lower()} {p}: {exc.strerror or exc}."
