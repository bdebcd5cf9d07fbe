"""The JVM's own verdict: load a store with ``KeyStore.getInstance`` and run ``checkServerTrusted``.

rdstrust ships ``java/TrustCheck.java`` and runs it with Java's single-file source launcher
(``java TrustCheck.java ...``, Java 11+), so there is no build step and no jar to trust. The program
loads the store exactly as an application would (``javax.net.ssl.trustStore`` semantics: the
default ``TrustManagerFactory`` over the loaded ``KeyStore``), reports how many trust anchors Java
sees (an encrypted PKCS12 loaded without its password has none, silently) and whether
``X509TrustManager.checkServerTrusted`` accepts the chain. The host name is matched as pgjdbc's
``sslmode=verify-full`` does (subjectAltName, CN only without DNS names), because JSSE's trust
manager alone does not look at names.

The store password travels in the environment variable ``RDSTRUST_STORE_PASSWORD`` of the child
process only, never on its command line (visible to every user through ``ps``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rdstrust.errors import ToolMissingError
from rdstrust.pathcheck import Chain
from rdstrust.stores import StoreType

#: Environment variable through which the store password reaches TrustCheck.java.
PASSWORD_ENV = "RDSTRUST_STORE_PASSWORD"  # noqa: S105  (a variable name, not a password)
#: Seconds the JVM may take (compiling the source file takes about a second).
JAVA_TIMEOUT = 120.0

_KEYSTORE_TYPES = {StoreType.JKS: "JKS", StoreType.JCEKS: "JCEKS", StoreType.PKCS12: "PKCS12"}


@dataclass(frozen=True)
class JavaVerdict:
    """What the JVM says about one store and one chain."""

    java: str
    java_version: str
    #: Whether ``KeyStore.load`` succeeded (old JDKs cannot read AES-encrypted PKCS12).
    loaded: bool
    #: Whether ``checkServerTrusted`` accepted the chain.
    trusted: bool
    #: The pgjdbc-style host name check; ``None`` when no host name was checked.
    hostname_ok: bool | None
    #: Trusted-certificate entries Java sees in the store (-1 when it could not load it).
    anchors: int
    auth_type: str
    message: str

    @property
    def ok(self) -> bool:
        """Trusted, and valid for the host name when one was checked."""
        return self.loaded and self.trusted and self.hostname_ok is not False


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


def keystore_type(store_type: StoreType) -> str | None:
    """The ``KeyStore.getInstance`` type for a store format; ``None`` for PEM (Java reads none)."""
    return _KEYSTORE_TYPES.get(store_type)


def java_trust_check(
    store: str | Path,
    store_type: StoreType,
    chain: Chain,
    *,
    java: str,
    password: str | None = None,
    hostname: str | None = None,
    at: datetime | None = None,
) -> JavaVerdict:
    """Run TrustCheck.java on ``store`` and ``chain`` with the given ``java`` binary.

    ``at`` evaluates validity at that instant through ``PKIXBuilderParameters.setDate`` instead
    of now. Raises :class:`ToolMissingError` when Java cannot run the program at all (missing,
    older than Java 11, crashed); an untrusted chain or an unreadable store is a verdict, not an
    error.
    """
    ks_type = keystore_type(store_type)
    if ks_type is None:
        raise ValueError(f"Java has no KeyStore type for {store_type} stores")
    env = dict(os.environ)
    env.pop(PASSWORD_ENV, None)
    if password is not None:
        env[PASSWORD_ENV] = password
    # A JAVA_TOOL_OPTIONS with -Djavax.net.ssl.* must not change what we measure; the notice
    # "Picked up JAVA_TOOL_OPTIONS" goes to stderr and is ignored.
    source = resources.files("rdstrust").joinpath("java").joinpath("TrustCheck.java")
    with (
        resources.as_file(source) as program,
        tempfile.TemporaryDirectory(prefix="rdstrust-jvm-") as tmp,
    ):
        chain_file = Path(tmp) / "chain.pem"
        chain_file.write_bytes(chain.to_pem())
        args = [
            java,
            str(program),
            str(store),
            ks_type,
            str(chain_file),
            hostname or "-",
            "" if at is None else str(int(at.timestamp() * 1000)),
        ]
        try:
            proc = subprocess.run(
                args, env=env, capture_output=True, text=True, timeout=JAVA_TIMEOUT, check=False
            )
        except FileNotFoundError:
            raise ToolMissingError(
                f"Cannot run {java}: no such program; install a JDK (11 or later) or point "
                "--java / JAVA_HOME at one."
            ) from None
        except PermissionError:
            raise ToolMissingError(f"Cannot run {java}: permission denied.") from None
        except subprocess.TimeoutExpired:
            raise ToolMissingError(
                f"{java} did not answer within {JAVA_TIMEOUT:.0f} seconds while checking {store}."
            ) from None
    verdict = _parse(proc.stdout)
    if verdict is None:
        detail = next(
            (line.strip() for line in proc.stderr.splitlines() if line.strip()), "no output"
        )
        raise ToolMissingError(
            f"{java} could not run rdstrust's TrustCheck.java (Java 11 or later is needed): "
            f"{detail}."
        )
    loaded = int(verdict.get("anchors", -1)) >= 0
    message = str(verdict.get("message", ""))
    anchors = int(verdict.get("anchors", -1))
    if loaded and anchors == 0:
        message = (
            "Java sees no trusted certificate in the store (an encrypted PKCS12 loaded without "
            "its password looks like this): " + message
        )
    return JavaVerdict(
        java=java,
        java_version=str(verdict.get("java_version", "")),
        loaded=loaded,
        trusted=bool(verdict.get("trusted")),
        hostname_ok=None if verdict.get("hostname_ok") is None else bool(verdict["hostname_ok"]),
        anchors=anchors,
        auth_type=str(verdict.get("auth_type", "")),
        message=message,
    )


def _parse(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None
