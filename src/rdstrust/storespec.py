"""Which stores a command works on, each with where its own password comes from.

The common pipeline updates a JDK ``cacerts`` (JKS with the well-known ``changeit``, or no
password at all on JDK 18+) and an application truststore with its own secret in one run, so
every ``--store`` may name its own password source, in keytool's spelling::

    --store app/truststore.p12,storepass:env=APP_TRUSTSTORE_PASSWORD
    --store /etc/app/truststore.jks,storepass:file=/run/secrets/truststore
    --store rds-ca.pem,storepass:none

A store without a suffix takes the command's ``--storepass-env`` / ``--storepass-file`` /
``RDSTRUST_STOREPASS``. :func:`jdk_cacerts` names the ``cacerts`` of a JVM, with the JDK's
default password, so a pipeline need not spell the path.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rdstrust.errors import ToolMissingError, UsageError
from rdstrust.passwords import PasswordSource

#: Separates a store path from its password source: ``PATH,storepass:env=VAR``.
_SUFFIX = re.compile(r",storepass:(?P<kind>env|file|none)(?:=(?P<value>.*))?\Z", re.DOTALL)
#: The password every JDK ships its JKS ``cacerts`` with (keytool's documented default). A
#: JDK 18+ PKCS12 ``cacerts`` has no password; reading or writing it with one changes nothing.
JDK_CACERTS_PASSWORD = "changeit"  # noqa: S105  # the JDK's public default, not a secret


@dataclass(frozen=True)
class StoreSpec:
    """One store of a run: its path and, when it has its own, its password source.

    ``password=None`` means "the run's default source" (the command's password options).
    """

    path: Path
    password: PasswordSource | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        """The path as reports show it."""
        return str(self.path)


def as_specs(stores: Sequence[StoreSpec | str | Path]) -> tuple[StoreSpec, ...]:
    """Store paths (or specs) as :class:`StoreSpec` objects, for the multi-store functions."""
    return tuple(s if isinstance(s, StoreSpec) else StoreSpec(Path(s)) for s in stores)


def parse_store_spec(text: str) -> StoreSpec:
    """Parse a ``--store`` value: ``PATH`` or ``PATH,storepass:env=VAR|file=FILE|none``.

    Raises :class:`UsageError` for an empty path or a malformed password source.
    """
    match = _SUFFIX.search(text)
    path_text = text[: match.start()] if match else text
    if not path_text.strip():
        raise UsageError(f"--store {text!r} names no file; give the store's path.")
    if match is None:
        if ",storepass" in text:
            raise UsageError(
                f"--store {text!r}: write the password source as ,storepass:env=VAR, "
                ",storepass:file=FILE or ,storepass:none after the path."
            )
        return StoreSpec(Path(text))
    kind, value = match.group("kind"), match.group("value")
    if kind == "none":
        if value is not None:
            raise UsageError(f"--store {text!r}: storepass:none takes no value.")
        return StoreSpec(Path(path_text), PasswordSource(none=True))
    if not value:
        raise UsageError(f"--store {text!r}: storepass:{kind}= needs a value after '='.")
    if kind == "env":
        return StoreSpec(Path(path_text), PasswordSource(env_var=value))
    return StoreSpec(Path(path_text), PasswordSource(file=Path(value)))


def find_java(explicit: str | Path | None = None) -> str | None:
    """The ``java`` to run: ``explicit``, else ``$JAVA_HOME/bin/java``, else ``java`` on PATH.

    ``explicit`` is a java binary, a JDK directory, or a bare command name (``java``, ``java17``)
    that is looked up on PATH, as a shell would.
    """
    if explicit is not None:
        text = str(explicit)
        bare = text and os.sep not in text and (os.altsep is None or os.altsep not in text)
        found = shutil.which(text) if bare and not Path(text).is_dir() else None
        if found is not None:
            return found
        path = Path(explicit)
        if path.is_dir():
            path = path / "bin" / "java"
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("java")


def java_home(java: str | None = None) -> Path:
    """The home directory of the JVM ``java`` names (see :func:`find_java`).

    Resolved from the binary's real path (``/usr/bin/java`` is a chain of symlinks on Debian and
    RHEL), so no JVM is started. Raises :class:`ToolMissingError` when there is no java.
    """
    binary = find_java(java)
    if binary is None:
        raise ToolMissingError(
            f"Cannot find the JVM's cacerts: {java or 'java'} was not found; install a JDK or "
            "point --java / JAVA_HOME at one."
        )
    home = Path(os.path.realpath(binary)).parent.parent
    # JDK 8 keeps the runtime under jre/; from JDK 9 on the home is the runtime.
    return home / "jre" if (home / "jre" / "lib" / "security").is_dir() else home


def jdk_cacerts(java: str | None = None) -> StoreSpec:
    """The ``cacerts`` of that JVM (``<java.home>/lib/security/cacerts``) with its default
    password.

    The path is kept as the JDK names it: on Debian it is a symlink to
    ``/etc/ssl/certs/java/cacerts``, which rdstrust writes through.
    """
    path = java_home(java) / "lib" / "security" / "cacerts"
    if not os.path.lexists(path):
        raise ToolMissingError(
            f"The JVM at {java_home(java)} has no lib/security/cacerts; name the store with "
            "--store instead."
        )
    return StoreSpec(path, PasswordSource(literal=JDK_CACERTS_PASSWORD))
