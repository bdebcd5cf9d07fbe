"""Where a store password comes from: an environment variable, a file, the command line, a prompt.

Passwords are never printed or logged: they only travel from here to the store reader/writer.
Sources, first match wins: ``--storepass`` (keytool habit; visible to other users of the machine
in the process list), ``--storepass-env VAR``, ``--storepass-file FILE`` (first line), the
``RDSTRUST_STOREPASS`` environment variable, and finally a prompt, only when stdin is a terminal
and the store actually needs a password.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rdstrust.errors import UsageError
from rdstrust.files import read_input
from rdstrust.text import safe

#: The environment variable read when no other password source is given.
ENV_VAR = "RDSTRUST_STOREPASS"
#: A password file is one line; anything larger is the wrong file (or /dev/zero).
MAX_PASSWORD_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class PasswordSource:
    """The password options a command received (at most one of them may be set)."""

    literal: str | None = field(default=None, repr=False, metadata={"json": False})
    env_var: str | None = None
    file: Path | None = None
    #: Explicitly no password (a per-store ``storepass:none``): neither the defaults nor a
    #: prompt apply.
    none: bool = False

    def resolve(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The password from the given sources or ``RDSTRUST_STOREPASS``, else ``None``.

        Raises :class:`UsageError` when several sources are given, when the named variable is
        unset or empty, or when the file cannot be read. (An empty ``RDSTRUST_STOREPASS`` is
        different: it means "no password", as documented.)
        """
        env = os.environ if environ is None else environ
        given: list[object] = [s for s in (self.literal, self.env_var, self.file) if s is not None]
        if self.none:
            given.append(self.none)
        if len(given) > 1:
            raise UsageError(
                "Give the store password one way only: --storepass, --storepass-env or "
                "--storepass-file."
            )
        if self.literal is not None:
            return _checked(self.literal, "--storepass")
        if self.env_var is not None:
            value = env.get(self.env_var)
            if value is None:
                raise UsageError(
                    f"The environment variable {self.env_var} (from --storepass-env) is not set."
                )
            if not value:
                # Exported but empty is how an unset CI secret arrives: trying it as the password
                # would report a wrong password for a store whose password was never given.
                raise UsageError(
                    f"The environment variable {self.env_var} (from --storepass-env) is set but "
                    "empty; set it to the store password (for a store whose password really is "
                    "empty, use --storepass '')."
                )
            return _checked(value, f"the environment variable {self.env_var}")
        if self.file is not None:
            return read_password_file(self.file)
        if self.none:
            return None
        # An exported-but-empty RDSTRUST_STOREPASS (a CI secret that is not set) means "no
        # password", not "the empty password".
        default = env.get(ENV_VAR) or None
        return None if default is None else _checked(default, f"the environment variable {ENV_VAR}")

    @property
    def given(self) -> bool:
        """Whether any source was named (else the defaults apply)."""
        return self != PasswordSource()

    def env_name(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The environment variable the password comes from, to name it in printed settings."""
        if self.env_var is not None:
            return self.env_var
        env = os.environ if environ is None else environ
        return ENV_VAR if not self.given and env.get(ENV_VAR) else None


def prompt_on_terminal(store: Path) -> str | None:
    """Ask for a store's password when stdin is a terminal (``None`` otherwise, or on EOF)."""
    if not sys.stdin.isatty():
        return None
    import getpass  # only when a terminal is asked (it loads termios)

    try:
        return _checked(getpass.getpass(f"Password for {safe(store)}: "), "the prompt")
    except EOFError:
        return None


def _checked(password: str, where: str) -> str:
    # Bytes that are not UTF-8 in argv or the environment reach Python as lone surrogates,
    # which no store encoding (UTF-8, or PKCS12's UTF-16 BMPString) can represent.
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"The store password from {where} is not valid UTF-8 text; set it as UTF-8."
        ) from None
    return password


def read_password_file(path: Path, what: str = "store password") -> str:
    """The first line of ``path`` without its line end (the way secret files are mounted).

    ``what`` names the secret in messages (``database password`` for ``audit``).
    """
    data = read_input(path, limit=MAX_PASSWORD_FILE_BYTES, what="Password file", error=UsageError)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"Cannot read password file {path}: not UTF-8 text.") from None
    if not text.strip("\r\n"):
        raise UsageError(f"Password file {path} is empty; put the {what} on its first line.")
    # Only a newline ends the line (and one CR before it): str.splitlines() would also cut at
    # \x1c, \x85 or U+2028, silently shortening a password that contains one.
    return text.split("\n", 1)[0].removesuffix("\r")
