"""The options of each job, as frozen dataclasses built once and validated when built.

The command line builds them from its flags; a library caller builds them directly. Either way
the values are checked here, once, before any store is read or written, and every function
below the edge takes the options object instead of a long keyword list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING

from rdstrust.certs import G1_GENERATIONS, Generation
from rdstrust.errors import UsageError
from rdstrust.stores import StoreType

if TYPE_CHECKING:
    from rdstrust.pathcheck import Chain

#: Days before a CA's expiry from which ``verify`` warns.
DEFAULT_WARN_DAYS = 90
#: Widest accepted warning window: a century.
MAX_WARN_DAYS = 36500
#: Times must lie in this range: certificate times start in 1950 (X.509 UTCTime), and far
#: beyond 9000 adding a warning window overflows Python's datetime.
EARLIEST_TIME = datetime(1950, 1, 1, tzinfo=timezone.utc)
LATEST_TIME = datetime(9000, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


class Pkcs12Profile(str, Enum):
    """How rdstrust protects what it writes into a password-protected PKCS12 store."""

    #: AES-256-CBC with PBKDF2-HMAC-SHA256 and an HMAC-SHA256 MAC: keytool's default since
    #: Java 8u301 / 11.0.12 / 17.
    MODERN = "modern"
    #: 3DES (pbeWithSHAAnd3-KeyTripleDES-CBC) and an HMAC-SHA1 MAC, for Java 8 before 8u301.
    LEGACY = "legacy"

    def __str__(self) -> str:
        return self.value


class NewStoreType(str, Enum):
    """The formats rdstrust creates new stores in (existing JCEKS stores are merged, never
    created)."""

    JKS = "jks"
    PKCS12 = "pkcs12"
    PEM = "pem"

    def __str__(self) -> str:
        return self.value


def check_time(at: datetime, shown: str | None = None) -> datetime:
    """Return ``at`` in UTC (naive means UTC) if it lies in 1950-9000; else :class:`UsageError`."""
    when = at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
    if not EARLIEST_TIME <= when <= LATEST_TIME:
        raise UsageError(
            f"--at {shown or when.isoformat()} is outside the years 1950 to 9000, where "
            "certificate validity can be judged; give a time in that range."
        )
    return when.astimezone(timezone.utc)


def check_warn_days(warn_days: int) -> int:
    """Return ``warn_days`` if it is 0-36500; raises :class:`UsageError` otherwise."""
    if isinstance(warn_days, bool) or not 0 <= warn_days <= MAX_WARN_DAYS:
        raise UsageError(
            f"--warn-days {warn_days!r} is not a number of days from 0 to {MAX_WARN_DAYS}."
        )
    return warn_days


def _enum(enum: type[Enum], value: object, option: str) -> Enum:
    if isinstance(value, enum):
        return value
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        names = ", ".join(str(m.value) for m in enum)
        raise UsageError(f"Unknown {option} {value!r}; use one of {names}.") from None


@dataclass(frozen=True)
class MergeOptions:
    """How a bundle is merged into each store (``merge``, and the merge step of ``update``).

    ``at`` is the instant "expired" is judged at for ``prune_expired`` (default: now).
    ``create_missing`` decides whether a store that does not exist yet is created (``merge``
    does; ``update`` only with ``--create``, so a mistyped path is an error, not a new file).
    """

    store_type: StoreType | None = None
    prune_expired: bool = False
    pkcs12_profile: Pkcs12Profile | None = None
    backup: bool = True
    dry_run: bool = False
    create_missing: bool = True
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.store_type is not None:
            given = self.store_type
            kind = _enum(StoreType, given.value if isinstance(given, Enum) else given, "store type")
            object.__setattr__(self, "store_type", kind)
        if self.pkcs12_profile is not None:
            profile = _enum(Pkcs12Profile, self.pkcs12_profile, "PKCS12 profile")
            object.__setattr__(self, "pkcs12_profile", profile)
        if self.at is not None:
            object.__setattr__(self, "at", check_time(self.at))


@dataclass(frozen=True)
class VerifyOptions:
    """What each store is checked for (``verify``, and the verify step of ``update``).

    ``generations`` (default: the three G1 CAs) and ``region`` select the required CAs of the
    reference bundle. ``chain`` is a server chain to validate, with ``hostname`` checked like
    libpq's ``verify-full`` (``None``: ``verify-ca``). ``at`` is the time validity is judged at
    (default: now; the JVM then uses its own clock, as an application would). ``java`` is the
    java binary asked for its own verdict, or ``None``.
    """

    generations: tuple[Generation, ...] = G1_GENERATIONS
    region: str | None = None
    chain: Chain | None = None
    hostname: str | None = None
    at: datetime | None = None
    warn_days: int = DEFAULT_WARN_DAYS
    java: str | None = None

    def __post_init__(self) -> None:
        names = (self.generations,) if isinstance(self.generations, str) else self.generations
        wanted = tuple(dict.fromkeys(_generation(g) for g in names))
        if not wanted:
            raise UsageError("Name at least one CA generation to require.")
        object.__setattr__(self, "generations", wanted)
        if self.region in ("", "global"):
            object.__setattr__(self, "region", None)
        if self.at is not None:
            object.__setattr__(self, "at", check_time(self.at))
        check_warn_days(self.warn_days)
        if self.hostname is not None and self.chain is None:
            raise UsageError(
                "A host name to check needs a chain (--chain or --host): it is the name the "
                "server certificate must be valid for."
            )


def _generation(value: object) -> Generation:
    known = [g.value for g in Generation if g is not Generation.UNKNOWN]
    text = value.value if isinstance(value, Generation) else str(value).strip().lower()
    if text not in known:
        raise UsageError(f"Unknown CA generation {text!r}; use one of {', '.join(known)}.")
    return Generation(text)
