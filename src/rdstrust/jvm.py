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

The store and the chain may be hostile (a store of a million entries, a chain whose certificates
all claim the same issuer, so that path building branches without end), so the JVM runs on a
budget (:class:`JvmBudget`): a heap cap (``-Xmx``, and ``-XX:+ExitOnOutOfMemoryError`` so that an
exhausted heap ends the JVM at once instead of a slow death in garbage collection), a wall-clock
limit after which its whole process group is killed, and at most :data:`MAX_CHAIN_CERTIFICATES`
certificates in the chain. Running out of that budget raises :class:`JvmGaveUpError` (exit 8);
:class:`ToolMissingError` (exit 7) is kept for a ``java`` that is missing or cannot run the
program at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdstrust.errors import JvmGaveUpError, ToolMissingError
from rdstrust.stores import StoreType

# Where java is lives with java_home in storespec (update locates java without this module).
from rdstrust.storespec import find_java as find_java

if TYPE_CHECKING:
    from rdstrust.pathcheck import Chain  # a type only: update finds java without path checks

#: Environment variable through which the store password reaches TrustCheck.java.
PASSWORD_ENV = "RDSTRUST_STORE_PASSWORD"  # noqa: S105  (a variable name, not a password)
#: Seconds the JVM may take by default (starting and compiling the source file takes 1-2 s).
JAVA_TIMEOUT = 60.0
#: The JVM's default heap cap in MiB (a 150-certificate cacerts needs under 32).
JAVA_HEAP_MB = 256
#: Certificates a chain may hold for the JVM (a server sends its own and a few intermediates);
#: TrustCheck.java enforces the same limit. More only feeds a branching path search.
MAX_CHAIN_CERTIFICATES = 10
#: The exit status of a JVM ended by -XX:+ExitOnOutOfMemoryError (HotSpot's vm_exit(3)).
_OOM_EXIT = 3

_KEYSTORE_TYPES = {StoreType.JKS: "JKS", StoreType.JCEKS: "JCEKS", StoreType.PKCS12: "PKCS12"}


@dataclass(frozen=True)
class JvmBudget:
    """How much the JVM may spend on one verdict before rdstrust gives up on it."""

    #: Wall-clock seconds, JVM start and source compilation included.
    timeout: float = JAVA_TIMEOUT
    #: Maximum heap in MiB (``-Xmx``); below about 16 the source launcher cannot compile.
    heap_mb: int = JAVA_HEAP_MB

    def __post_init__(self) -> None:
        if not self.timeout > 0 or self.heap_mb < 1:
            raise ValueError("a JVM budget needs a positive timeout and heap")


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
    budget: JvmBudget = JvmBudget(),  # frozen, so one shared default is safe
) -> JavaVerdict:
    """Run TrustCheck.java on ``store`` and ``chain`` with the given ``java`` binary.

    ``at`` evaluates validity at that instant through ``PKIXBuilderParameters.setDate`` instead
    of now. Raises :class:`ToolMissingError` when Java cannot run the program at all (missing,
    older than Java 11, not a JVM) and :class:`JvmGaveUpError` when the JVM exceeds ``budget``
    (time or heap) or the chain is longer than :data:`MAX_CHAIN_CERTIFICATES`; an untrusted
    chain or an unreadable store is a verdict, not an error.
    """
    ks_type = keystore_type(store_type)
    if ks_type is None:
        raise ValueError(f"Java has no KeyStore type for {store_type} stores")
    if len(chain.certificates) > MAX_CHAIN_CERTIFICATES:
        raise JvmGaveUpError(
            f"The chain from {chain.source} has {len(chain.certificates)} certificates, more "
            f"than the {MAX_CHAIN_CERTIFICATES} the JVM is given; a server sends its own "
            "certificate and a few intermediates, so save the chain it really sends."
        )
    env = dict(os.environ)
    env.pop(PASSWORD_ENV, None)
    if password is not None:
        env[PASSWORD_ENV] = password
    # A JAVA_TOOL_OPTIONS with -Djavax.net.ssl.* must not change what we measure; the notice
    # "Picked up JAVA_TOOL_OPTIONS" goes to stderr and is ignored. Options given on the command
    # line come after JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS, so our -Xmx wins over theirs.
    from importlib import resources  # only when a JVM is run (update only locates java)

    source = resources.files("rdstrust").joinpath("java").joinpath("TrustCheck.java")
    with (
        resources.as_file(source) as program,
        tempfile.TemporaryDirectory(prefix="rdstrust-jvm-") as tmp,
    ):
        chain_file = Path(tmp) / "chain.pem"
        chain_file.write_bytes(chain.to_pem())
        args = [
            java,
            f"-Xmx{budget.heap_mb}m",
            "-XX:+ExitOnOutOfMemoryError",
            str(program),
            str(store),
            ks_type,
            str(chain_file),
            hostname or "-",
            "" if at is None else str(int(at.timestamp() * 1000)),
        ]
        returncode, stdout, stderr = _run(args, env, budget, what=str(store))
    verdict = _parse(stdout)
    if verdict is None:
        _gave_up(java, returncode, stdout + stderr, budget, str(store))
        detail = next((line.strip() for line in stderr.splitlines() if line.strip()), "no output")
        raise ToolMissingError(
            f"{java} could not run rdstrust's TrustCheck.java (Java 11 or later is needed): "
            f"{detail}."
        )
    return _verdict(java, verdict)


def _run(
    args: list[str], env: dict[str, str], budget: JvmBudget, *, what: str
) -> tuple[int, str, str]:
    """Run the JVM in its own process group; kill the whole group when the budget runs out."""
    java = args[0]
    try:
        proc = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # a group of its own: killpg reaches every child
        )
    except FileNotFoundError:
        raise ToolMissingError(
            f"Cannot run {java}: no such program; install a JDK (11 or later) or point "
            "--java / JAVA_HOME at one."
        ) from None
    except PermissionError:
        raise ToolMissingError(f"Cannot run {java}: permission denied.") from None
    except OSError as exc:
        raise ToolMissingError(f"Cannot run {java}: {exc.strerror or exc}.") from None
    try:
        stdout, stderr = proc.communicate(timeout=budget.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise JvmGaveUpError(
            f"The JVM gave no verdict on {what} within its {budget.timeout:g}-second budget "
            "and was stopped; the store or chain is unusually large or built to make path "
            "building branch, so check it, or give the JVM more time if it is genuine."
        ) from None
    except BaseException:  # Ctrl-C and friends: never leave a JVM running behind us
        _kill_group(proc)
        raise
    return proc.returncode, stdout, stderr


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.communicate()  # reap it and close the pipes


def _gave_up(java: str, returncode: int, output: str, budget: JvmBudget, what: str) -> None:
    """Raise :class:`JvmGaveUpError` when the JVM died of its memory budget."""
    # HotSpot prints "Terminating due to java.lang.OutOfMemoryError: ..." on stdout.
    if returncode == _OOM_EXIT and "OutOfMemoryError" in output:
        raise JvmGaveUpError(
            f"The JVM ran out of its {budget.heap_mb} MiB heap while checking {what}; the "
            "store or chain is unusually large or hostile, so check it, or give the JVM more "
            "memory if it is genuine."
        )
    if returncode < 0:
        # Killed by a signal before any verdict: the kernel's OOM killer (SIGKILL) or a crash.
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        raise JvmGaveUpError(
            f"{java} was killed by signal {name} while checking {what} (out of "
            "memory, or stopped from outside) and gave no verdict."
        )


def _verdict(java: str, verdict: dict[str, Any]) -> JavaVerdict:
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
