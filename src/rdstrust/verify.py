"""Does a trust store trust the new RDS CAs? Membership, path validation, expiry, Java's view.

For each store, :func:`verify_store` answers four questions against a reference bundle:

* **membership**: every required CA of the reference (by default the G1 generations) is present
  as a trusted entry, compared by SHA-256 fingerprint whatever its alias;
* **path**: a server chain (from ``--chain`` or a live ``--host``) validates against the store's
  trusted certificates at the time checked, with the host name checked like libpq's
  ``sslmode=verify-full`` (or not, ``verify-ca``), see :mod:`rdstrust.pathcheck`;
* **expiry**: trusted RDS CAs that are expired, or expire within ``warn_days``;
* **Java's view** of PKCS12 stores: a certificate without Java's trusted-certificate attribute is
  not a trust anchor for Java, and an encrypted PKCS12 read without its password has none.

With ``java`` set, the JVM gives its own verdict (:mod:`rdstrust.jvm`) beside rdstrust's, and
the store passes only when both agree that it trusts the chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rdstrust.bundle import Bundle, parse_bundle, read_bundle
from rdstrust.certs import G1_GENERATIONS, CertInfo, Generation, utcnow
from rdstrust.errors import BundleError, UsageError
from rdstrust.jvm import JavaVerdict, java_trust_check, keystore_type
from rdstrust.pathcheck import Chain, PathResult, check_path
from rdstrust.stores import StoreContents, StoreEntry, StoreType, read_store

#: Days before a CA's expiry from which ``verify`` warns.
DEFAULT_WARN_DAYS = 90
#: Widest accepted warning window: a century.
MAX_WARN_DAYS = 36500
#: ``--at`` must lie in this range: certificate times start in 1950 (X.509 UTCTime), and far
#: beyond 9000 adding a warning window overflows Python's datetime.
EARLIEST_TIME = datetime(1950, 1, 1, tzinfo=timezone.utc)
LATEST_TIME = datetime(9000, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


@dataclass(frozen=True)
class CaRef:
    """A CA certificate as reports name it."""

    alias: str
    common_name: str | None
    generation: Generation
    region: str | None
    sha256: str
    not_after: datetime


@dataclass(frozen=True)
class Membership:
    """Which required CAs the store trusts."""

    ok: bool
    required: int
    present: tuple[CaRef, ...]
    missing: tuple[CaRef, ...]
    #: PKCS12 only: required CAs present as certificates without Java's trusted-certificate
    #: attribute (Java ignores them; they count as missing).
    without_trust_attribute: tuple[CaRef, ...] = ()


@dataclass(frozen=True)
class ExpiringCa:
    """A trusted RDS CA of the store that is expired or expires soon."""

    alias: str
    common_name: str | None
    generation: Generation
    not_after: datetime
    days_left: int
    #: Whether its generation is one of the required ones (an expired one fails the store).
    required_generation: bool
    not_before: datetime | None = None


@dataclass(frozen=True)
class Expiry:
    """Expired, soon-expiring and not yet valid RDS CAs among the store's trusted certificates."""

    ok: bool
    warn_days: int
    expired: tuple[ExpiringCa, ...]
    expiring: tuple[ExpiringCa, ...]
    #: CAs whose validity starts after the time checked (``days_left`` counts to their expiry).
    not_yet_valid: tuple[ExpiringCa, ...] = ()


@dataclass(frozen=True)
class JavaView:
    """What Java sees in a PKCS12 store (from its bytes, without running Java)."""

    #: Certificates carrying Java's trusted-certificate attribute (trust anchors for Java).
    trusted_entries: int
    #: Certificates without the attribute: Java loads them but does not trust them.
    without_trust_attribute: int
    #: Whether loading the certificates needs the store password (encrypted certificate bag).
    password_required: bool


@dataclass(frozen=True)
class JavaCheck:
    """The JVM's verdict beside rdstrust's, or why there is none."""

    verdict: JavaVerdict | None
    #: Whether Java's verdict on the chain matches rdstrust's; ``None`` without a verdict.
    agrees: bool | None
    note: str | None = None


@dataclass(frozen=True)
class VerifyReport:
    """The verdict on one store."""

    store: str
    type: StoreType
    entries: int
    trusted: int
    membership: Membership
    expiry: Expiry
    #: ``None`` when no chain was given.
    path: PathResult | None
    #: PKCS12 only.
    java_view: JavaView | None
    #: ``None`` unless the JVM check was asked for.
    java: JavaCheck | None
    passed: bool
    #: Why the store fails (empty when it passes).
    reasons: tuple[str, ...]
    #: Things worth knowing that do not fail the store (soon-expiring CAs, ...).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reference:
    """The reference the stores are checked against."""

    bundle: str
    generations: tuple[Generation, ...]
    region: str | None
    required: tuple[CaRef, ...]


@dataclass(frozen=True)
class VerifyResult:
    """The verdict on every store: ``passed`` only when every store passes."""

    at: datetime
    reference: Reference
    #: Where the chain came from (file or ``host:port``); ``None`` without one.
    chain: str | None
    hostname: str | None
    stores: tuple[VerifyReport, ...]
    passed: bool


def parse_time(text: str) -> datetime:
    """Parse ``--at``: an ISO 8601 date or date-time (UTC unless it names an offset).

    Raises :class:`UsageError` for anything else, and for times outside 1950-9000 (see
    :data:`EARLIEST_TIME`, :data:`LATEST_TIME`).
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        # An offset can push 9999-12-31 past datetime's range: OverflowError.
        parsed = parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise UsageError(
            f"'{text}' is not a time; write an ISO 8601 date or date-time such as 2061-06-01 "
            "or 2061-06-01T12:00:00Z."
        ) from None
    return check_time(parsed, shown=f"'{text}'")


def check_time(at: datetime, shown: str | None = None) -> datetime:
    """Return ``at`` (naive means UTC) if it lies in 1950-9000; raises :class:`UsageError`."""
    when = at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
    if not EARLIEST_TIME <= when <= LATEST_TIME:
        raise UsageError(
            f"--at {shown or when.isoformat()} is outside the years 1950 to 9000, where "
            "certificate validity can be judged; give a time in that range."
        )
    return when


def check_warn_days(warn_days: int) -> int:
    """Return ``warn_days`` if it is 0-36500; raises :class:`UsageError` otherwise."""
    if isinstance(warn_days, bool) or not 0 <= warn_days <= MAX_WARN_DAYS:
        raise UsageError(
            f"--warn-days {warn_days!r} is not a number of days from 0 to {MAX_WARN_DAYS}."
        )
    return warn_days


def reference_bundle(path: str | Path | None = None) -> Bundle:
    """The reference bundle: ``path``, else the one the last ``rdstrust fetch`` cached, else
    the official global bundle downloaded now.

    A cached bundle's ``source`` names the cache file, the URL it was fetched from and when.

    Raises :class:`BundleError` (exit 3) or :class:`rdstrust.errors.FetchError` (exit 4).
    """
    if path is not None:
        return read_bundle(path)
    from rdstrust.cache import BundleCache

    cached = BundleCache().last()
    if cached is not None:
        # Name where the bytes came from, not just the cache file: the last fetch may have been
        # from a mirror (--url), and the report should make that visible.
        origin = f"{cached.path} (cached from {cached.url} at {cached.fetched_at})"
        return parse_bundle(cached.data, source=origin)
    from rdstrust.fetch import fetch_bundle

    return fetch_bundle().bundle


def ca_ref(info: CertInfo, alias: str | None = None) -> CaRef:
    """Summarise a certificate for a report."""
    return CaRef(
        alias=alias or info.alias,
        common_name=info.common_name,
        generation=info.generation,
        region=info.region,
        sha256=info.sha256,
        not_after=info.not_after,
    )


def required_cas(
    bundle: Bundle,
    generations: Sequence[Generation | str] = G1_GENERATIONS,
    region: str | None = None,
) -> tuple[CertInfo, ...]:
    """The CA certificates of ``bundle`` a store must trust; raises :class:`BundleError` if none.

    Raises ``ValueError`` for a generation name rdstrust does not know.
    """
    wanted = tuple(Generation(g) for g in generations)
    selected = tuple(c for c in bundle.select(wanted, region) if c.is_ca)
    if not selected:
        where = f" for region {region}" if region else ""
        names = ", ".join(g.value for g in wanted)
        raise BundleError(
            f"{bundle.source} holds no CA certificate of {names}{where}; check --require and "
            "--region, or use a bundle that has them (rdstrust fetch).",
            source=bundle.source,
        )
    return selected


def java_anchors(contents: StoreContents) -> tuple[StoreEntry, ...]:
    """The trusted entries an application will use: for PKCS12, only those Java trusts."""
    return tuple(e for e in contents.trusted() if e.java_trusted is not False)


def verify_contents(
    contents: StoreContents,
    required: Sequence[CertInfo],
    *,
    chain: Chain | None = None,
    hostname: str | None = None,
    at: datetime | None = None,
    warn_days: int = DEFAULT_WARN_DAYS,
    java: JavaCheck | None = None,
) -> VerifyReport:
    """Judge a loaded store without further I/O (the JVM's verdict, if any, is passed in).

    ``hostname=None`` checks the chain without a host name (``verify-ca``). Raises
    :class:`UsageError` for ``at`` outside 1950-9000 or ``warn_days`` outside 0-36500.
    """
    when = check_time(at) if at is not None else utcnow()
    check_warn_days(warn_days)
    anchors = java_anchors(contents)
    membership = _membership(contents, anchors, required)
    expiry = _expiry(anchors, required, when, warn_days)
    path = None
    if chain is not None:
        path = check_path(
            chain,
            [e.info for e in anchors if e.info is not None],
            hostname=hostname,
            at=when,
        )
    java_view = None
    if contents.type is StoreType.PKCS12:
        everything = contents.trusted()
        java_view = JavaView(
            trusted_entries=sum(1 for e in everything if e.java_trusted is not False),
            without_trust_attribute=sum(1 for e in everything if e.java_trusted is False),
            password_required=contents.password_required,
        )
    if java is not None and java.verdict is not None and path is not None:
        java = replace(java, agrees=java.verdict.ok == path.trusted)
    reasons, warnings = _reasons(contents, membership, expiry, path, java_view, java)
    return VerifyReport(
        store=contents.path,
        type=contents.type,
        entries=len(contents.entries),
        trusted=len(anchors),
        membership=membership,
        expiry=expiry,
        path=path,
        java_view=java_view,
        java=java,
        passed=not reasons,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
    )


def verify_store(
    path: str | Path,
    required: Sequence[CertInfo],
    *,
    password: str | None = None,
    store_type: StoreType | None = None,
    chain: Chain | None = None,
    hostname: str | None = None,
    at: datetime | None = None,
    warn_days: int = DEFAULT_WARN_DAYS,
    java: str | None = None,
) -> VerifyReport:
    """Read the store at ``path`` and judge it; with ``java`` (a path), ask the JVM too.

    ``at`` (default now) is the instant validity is judged at; the JVM is given it only when set
    (through ``PKIXBuilderParameters.setDate``), otherwise it uses its default trust manager.

    Raises :class:`rdstrust.errors.StoreError` when the store cannot be read and
    :class:`rdstrust.errors.ToolMissingError` when the JVM cannot run.
    """
    contents = read_store(path, password, store_type)
    check = None
    if java is not None:
        check = _java_check(contents, path, chain, java, password, hostname, at)
    return verify_contents(
        contents,
        required,
        chain=chain,
        hostname=hostname,
        at=at,
        warn_days=warn_days,
        java=check,
    )


def verify_stores(
    paths: Sequence[str | Path],
    bundle: Bundle,
    *,
    generations: Sequence[Generation | str] = G1_GENERATIONS,
    region: str | None = None,
    password: str | None = None,
    chain: Chain | None = None,
    hostname: str | None = None,
    at: datetime | None = None,
    warn_days: int = DEFAULT_WARN_DAYS,
    java: str | None = None,
) -> VerifyResult:
    """Verify every store against the required CAs of ``bundle``; see :func:`verify_store`.

    An unreadable store fails the whole run with its error (exit code 5) rather than giving a
    partial report.
    """
    when = check_time(at) if at is not None else utcnow()
    check_warn_days(warn_days)
    required = required_cas(bundle, generations, region)
    reports = tuple(
        verify_store(
            p,
            required,
            password=password,
            chain=chain,
            hostname=hostname,
            # ``at`` as given, not ``when``: without --at the JVM runs its default
            # TrustManagerFactory on its own clock, exactly as an application would.
            at=at,
            warn_days=warn_days,
            java=java,
        )
        for p in paths
    )
    return VerifyResult(
        at=when,
        reference=Reference(
            bundle=bundle.source,
            generations=tuple(Generation(g) for g in generations),
            region=region,
            required=tuple(ca_ref(c) for c in required),
        ),
        chain=chain.source if chain is not None else None,
        hostname=hostname,
        stores=reports,
        passed=all(r.passed for r in reports),
    )


def _membership(
    contents: StoreContents, anchors: Sequence[StoreEntry], required: Sequence[CertInfo]
) -> Membership:
    trusted = {e.sha256: e for e in anchors if e.sha256}
    unattributed = {e.sha256 for e in contents.trusted() if e.java_trusted is False and e.sha256}
    present = tuple(ca_ref(c, trusted[c.sha256].alias) for c in required if c.sha256 in trusted)
    missing = tuple(ca_ref(c) for c in required if c.sha256 not in trusted)
    without = tuple(m for m in missing if m.sha256 in unattributed)
    return Membership(
        ok=not missing,
        required=len(required),
        present=present,
        missing=missing,
        without_trust_attribute=without,
    )


def _expiry(
    anchors: Sequence[StoreEntry], required: Sequence[CertInfo], at: datetime, warn_days: int
) -> Expiry:
    wanted = {c.generation for c in required}
    horizon = at + timedelta(days=warn_days)
    expired: list[ExpiringCa] = []
    expiring: list[ExpiringCa] = []
    early: list[ExpiringCa] = []
    for entry in anchors:
        info = entry.info
        if info is None or not info.is_rds or not info.is_ca:
            continue
        if info.not_after > horizon and info.not_before <= at:
            continue
        item = ExpiringCa(
            alias=entry.alias,
            common_name=info.common_name,
            generation=info.generation,
            not_after=info.not_after,
            days_left=(info.not_after - at).days,
            required_generation=info.generation in wanted,
            not_before=info.not_before,
        )
        if info.not_before > at:
            # Present but not valid yet: no client accepts a chain ending at it at this time.
            early.append(item)
        elif info.not_after < at:
            expired.append(item)
        else:
            expiring.append(item)
    return Expiry(
        ok=not any(e.required_generation for e in (*expired, *early)),
        warn_days=warn_days,
        expired=tuple(expired),
        expiring=tuple(expiring),
        not_yet_valid=tuple(early),
    )


def _java_check(
    contents: StoreContents,
    path: str | Path,
    chain: Chain | None,
    java: str,
    password: str | None,
    hostname: str | None,
    at: datetime | None,
) -> JavaCheck:
    if keystore_type(contents.type) is None:
        return JavaCheck(
            verdict=None,
            agrees=None,
            note="Java reads no PEM trust stores; the JVM check applies to JKS and PKCS12",
        )
    if chain is None:
        return JavaCheck(
            verdict=None, agrees=None, note="no chain given (--chain or --host): nothing to ask"
        )
    verdict = java_trust_check(
        path, contents.type, chain, java=java, password=password, hostname=hostname, at=at
    )
    return JavaCheck(verdict=verdict, agrees=None)


def _reasons(
    contents: StoreContents,
    membership: Membership,
    expiry: Expiry,
    path: PathResult | None,
    java_view: JavaView | None,
    java: JavaCheck | None,
) -> tuple[list[str], list[str]]:
    reasons: list[str] = []
    warnings: list[str] = []
    if membership.missing:
        names = _names(membership.missing)
        reasons.append(
            f"missing {len(membership.missing)} of {membership.required} required CA "
            f"certificates: {names}"
        )
    if membership.without_trust_attribute:
        reasons.append(
            f"{len(membership.without_trust_attribute)} required CA certificate(s) lack Java's "
            "trusted-certificate attribute, so Java ignores them: "
            + _names(membership.without_trust_attribute)
        )
    for item in expiry.expired:
        text = f"{item.alias} ({item.generation}) expired on {item.not_after:%Y-%m-%d}"
        if item.required_generation:
            reasons.append(f"expired CA: {text}")
        else:
            warnings.append(f"expired CA (can be removed): {text}")
    for item in expiry.not_yet_valid:
        text = f"{item.alias} ({item.generation}) is valid only from {item.not_before:%Y-%m-%d}"
        if item.required_generation:
            reasons.append(f"CA not yet valid: {text}")
        else:
            warnings.append(f"CA not yet valid: {text}")
    for item in expiry.expiring:
        warnings.append(
            f"{item.alias} ({item.generation}) expires on {item.not_after:%Y-%m-%d}, "
            f"in {item.days_left} days"
        )
    if path is not None and not path.trusted:
        reasons.append(f"chain not trusted: {path.message}")
    if java_view is not None and java_view.password_required:
        warnings.append(
            "the PKCS12 certificates are encrypted: Java needs the store password "
            "(javax.net.ssl.trustStorePassword) to see any trust anchor"
        )
    if java is not None and java.verdict is not None:
        verdict = java.verdict
        if not verdict.loaded:
            reasons.append(f"Java cannot load the store: {verdict.message}")
        elif not verdict.ok:
            reasons.append(f"Java does not trust the chain: {verdict.message}")
        if path is not None and verdict.ok != path.trusted:
            reasons.append(
                "rdstrust and Java disagree about the chain "
                f"(rdstrust: {'trusted' if path.trusted else 'not trusted'}, Java: "
                f"{'trusted' if verdict.ok else 'not trusted'})"
            )
    elif java is not None and java.note and contents.type is not StoreType.PEM:
        warnings.append(java.note)
    return reasons, warnings


def _names(refs: Sequence[CaRef], limit: int = 5) -> str:
    shown = ", ".join(r.alias for r in refs[:limit])
    return shown + (f" and {len(refs) - limit} more" if len(refs) > limit else "")


__all__ = [
    "DEFAULT_WARN_DAYS",
    "EARLIEST_TIME",
    "LATEST_TIME",
    "MAX_WARN_DAYS",
    "CaRef",
    "ExpiringCa",
    "Expiry",
    "JavaCheck",
    "JavaView",
    "Membership",
    "Reference",
    "VerifyReport",
    "VerifyResult",
    "check_time",
    "check_warn_days",
    "parse_time",
    "reference_bundle",
    "required_cas",
    "verify_contents",
    "verify_store",
    "verify_stores",
]
