"""The rdstrust exception tree and the exit codes the command line maps it to.

Every expected failure is an :class:`RdsTrustError` subclass whose message is one sentence a
user can act on: what is wrong, with which file or host, and what to do. Third-party exceptions
are caught where they happen and re-raised as one of these; the CLI turns them into the
``exit_code`` below and never shows a traceback.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Documented process exit codes (see the README's "Exit codes" table)."""

    OK = 0
    #: A store does not trust the required chain (``verify``, ``update --check``).
    NOT_TRUSTED = 1
    #: Bad command-line usage (unknown option, missing argument, conflicting options).
    USAGE = 2
    #: The input is not a usable Amazon RDS CA bundle.
    BAD_BUNDLE = 3
    #: The bundle could not be downloaded (network, HTTP status, size cap, digest mismatch).
    FETCH_FAILED = 4
    #: A trust store could not be read or written (password, corruption, permissions, lock).
    STORE_ERROR = 5
    #: A server could not be probed (refused, timeout, not TLS, not PostgreSQL / MySQL).
    PROBE_FAILED = 6
    #: A required external tool (``java``) is missing or failed to run.
    TOOL_MISSING = 7
    #: The JVM gave up within its time or memory budget (``--jvm`` on a hostile chain or store).
    JVM_GAVE_UP = 8
    #: An AWS API call failed (credentials, permissions, throttling, unknown instance).
    AWS_FAILED = 9
    #: Interrupted by the user (Ctrl-C).
    INTERRUPTED = 130


#: What each exit code means, in one line: the one table that ``--help``, the README's table and
#: the tests read (a test checks the README against it).
EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success (verify / update: every store trusts the required CAs)",
    ExitCode.NOT_TRUSTED: "a store does not trust the required CAs or chain (or would need an "
    "update with --check)",
    ExitCode.USAGE: "usage error: unknown option, a value out of range, conflicting options",
    ExitCode.BAD_BUNDLE: "the bundle (or chain file) is not usable: empty, HTML, corrupt, no CA, "
    "foreign or unpublished certificate",
    ExitCode.FETCH_FAILED: "the bundle could not be downloaded: connection, TLS, timeout, HTTP "
    "status, size cap, digest",
    ExitCode.STORE_ERROR: "a store could not be read or written: missing, wrong password, "
    "tampered, corrupt, permissions, lock, a safety limit",
    ExitCode.PROBE_FAILED: "a server could not be reached, refused TLS, or did not speak the "
    "protocol --starttls names",
    ExitCode.TOOL_MISSING: "a required tool (java, the OS trust tool) or optional extra is missing",
    ExitCode.JVM_GAVE_UP: "the JVM gave up: --jvm ran past its time or memory budget",
    ExitCode.AWS_FAILED: "an AWS API call failed (credentials, permissions, throttling, unknown "
    "instance)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


class RdsTrustError(Exception):
    """Base class of every error rdstrust raises on purpose.

    ``str(error)`` is the message shown to the user; ``exit_code`` is the process exit code.
    """

    #: Each concrete subclass names its own code (checked when the class is made): a base-class
    #: default would silently report a new kind of error as some unrelated failure.
    exit_code: ClassVar[ExitCode]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(getattr(cls, "exit_code", None), ExitCode):
            raise TypeError(f"{cls.__name__} must set exit_code to an ExitCode member")

    def __init__(self, message: str) -> None:
        if type(self) is RdsTrustError:
            raise TypeError("raise a subclass of RdsTrustError, which names its exit code")
        super().__init__(message)
        self.message = message


class UsageError(RdsTrustError, ValueError):
    """The options given cannot work together (reported like a usage error)."""

    exit_code = ExitCode.USAGE


class BundleError(RdsTrustError, ValueError):
    """The input is not a usable CA bundle (empty, HTML, corrupt, no CA, foreign certificate)."""

    exit_code = ExitCode.BAD_BUNDLE

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class FetchError(RdsTrustError, OSError):
    """Downloading the bundle failed (connection, TLS, HTTP status, size, digest)."""

    exit_code = ExitCode.FETCH_FAILED

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class StoreError(RdsTrustError, OSError):
    """A trust store cannot be read, written, locked, or rewritten without losing entries."""

    exit_code = ExitCode.STORE_ERROR

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class WrongPasswordError(StoreError):
    """The store password is wrong, or the store's integrity check (digest / MAC) fails."""


class PasswordNeededError(WrongPasswordError):
    """No password was given for a store that cannot be read or written without one.

    Raised instead of a plain :class:`WrongPasswordError` so that a caller with a terminal can
    ask for the password and try once more, without parsing the store a second time first.
    """


class ProbeError(RdsTrustError, OSError):
    """A server could not be reached, or did not speak TLS and the protocol ``--starttls`` names."""

    exit_code = ExitCode.PROBE_FAILED

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class ToolMissingError(RdsTrustError, OSError):
    """An external program rdstrust was asked to use (``java``) is missing or failed."""

    exit_code = ExitCode.TOOL_MISSING


class JvmGaveUpError(RdsTrustError):
    """The JVM ran out of its time or memory budget before giving a verdict."""

    exit_code = ExitCode.JVM_GAVE_UP


class AwsError(RdsTrustError):
    """An AWS API call failed; the message names the call and what to do."""

    exit_code = ExitCode.AWS_FAILED
