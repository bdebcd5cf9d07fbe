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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from rdstrust.bundle import Bundle, parse_bundle, read_bundle
from rdstrust.certs import G1_GENERATIONS, CertInfo, Generation, could_be_rds, describe_once, utcnow
from rdstrust.errors import BundleError, UsageError
from rdstrust.options import (
    DEFAULT_WARN_DAYS,
    EARLIEST_TIME,
    LATEST_TIME,
    MAX_WARN_DAYS,
    VerifyOptions,
    check_time,
    check_warn_days,
)
from rdstrust.runcache import gc_paused
from rdstrust.runner import Passwords, StoreFailure, run_stores
from rdstrust.stores import StoreContents, StoreEntry, StoreType, read_store
from rdstrust.storespec import StoreSpec, as_specs
from rdstrust.summary import CertSummary, summarize

if TYPE_CHECKING:
    # Loaded when used: the JVM only with --jvm, path checks only with --chain / --host, so a
    # membership check (what update runs) loads neither.
    from rdstrust.jvm import JavaVerdict
    from rdstrust.pathcheck import PathResult

#: A CA certificate as reports name it (the one summary type of reports).
CaRef = CertSummary


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
class ExpiringCa(CertSummary):
    """A trusted RDS CA of the store that is expired, not yet valid, or expires soon."""

    days_left: int = 0
    #: Whether its generation is one of the required ones (an expired one fails the store).
    required_generation: bool = False


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
    #: Stores that could not be read (each left out of ``stores``, with its own exit code).
    failed: tuple[StoreFailure, ...] = ()

    @property
    def exit_code(self) -> int:
        """The first unreadable store's code; else 1 when a store fails; else 0."""
        if self.failed:
            return self.failed[0].exit_code
        return 0 if self.passed else 1


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


def reference_bundle(path: str | Path | None = None) -> Bundle | None:
    """The reference bundle: ``path``, else the one the last ``rdstrust fetch`` cached.

    ``None`` when neither exists: the library never downloads on its own; the caller decides
    whether to fetch (``rdstrust verify`` does, and says so). A cached bundle's ``source``
    names the cache file, the URL it was fetched from and when.

    Raises :class:`BundleError` (exit 3) for a file that is not a usable bundle.
    """
    if path is not None:
        return read_bundle(path)
    from rdstrust.cache import BundleCache

    cached = BundleCache().last()
    if cached is None:
        return None
    # Name where the bytes came from, not just the cache file: the last fetch may have been
    # from a mirror (--url), and the report should make that visible.
    origin = f"{cached.path} (cached from {cached.url} at {cached.fetched_at})"
    return parse_bundle(cached.data, source=origin)


def ca_ref(info: CertInfo, alias: str | None = None) -> CertSummary:
    """Summarise a certificate for a report (see :func:`rdstrust.summary.summarize`)."""
    return summarize(info, alias)


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
    options: VerifyOptions | None = None,
    *,
    java: JavaCheck | None = None,
) -> VerifyReport:
    """Judge a loaded store without further I/O (the JVM's verdict, if any, is passed in)."""
    opts = options or VerifyOptions()
    when = opts.at or utcnow()
    anchors = java_anchors(contents)
    membership = _membership(contents, anchors, required)
    expiry = _expiry(anchors, required, when, opts.warn_days)
    path = None
    if opts.chain is not None:
        from rdstrust.pathcheck import Client, anchors_for, check_path

        # Each store is judged by the rules of the client that reads it: libpq for PEM files
        # (sslrootcert), pgjdbc / the JVM for Java keystores.
        client = Client.LIBPQ if contents.type is StoreType.PEM else Client.PGJDBC
        # Only the entries that can be in the chain's path are described (a 50,000-entry store
        # stays cheap); whether the store has any readable anchor at all is asked only when
        # none of them is, and stops at the first.
        selected = anchors_for(opts.chain, anchors)
        path = check_path(
            opts.chain,
            selected,
            hostname=opts.hostname,
            at=when,
            client=client,
            store_has_anchors=bool(selected) or any(e.info is not None for e in anchors),
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


def judge_store(
    path: str | Path,
    contents: StoreContents,
    required: Sequence[CertInfo],
    *,
    password: str | None = None,
    options: VerifyOptions | None = None,
) -> VerifyReport:
    """Judge ``contents`` (the store at ``path``, already read) and, with ``options.java``, ask
    the JVM, which loads the file itself: its verdict is on what is really on disk."""
    opts = options or VerifyOptions()
    check = None
    if opts.java is not None:
        check = _java_check(contents, path, password, opts)
    return verify_contents(contents, required, opts, java=check)


def verify_store(
    path: str | Path,
    required: Sequence[CertInfo],
    *,
    password: str | None = None,
    options: VerifyOptions | None = None,
    store_type: StoreType | None = None,
) -> VerifyReport:
    """Read the store at ``path`` and judge it; with ``options.java``, ask the JVM too.

    Raises :class:`rdstrust.errors.StoreError` when the store cannot be read and
    :class:`rdstrust.errors.ToolMissingError` when the JVM cannot run.
    """
    with describe_once(), gc_paused():
        contents = read_store(path, password, store_type)
        return judge_store(path, contents, required, password=password, options=options)


def verify_stores(
    stores: Sequence[StoreSpec | str | Path],
    bundle: Bundle,
    options: VerifyOptions | None = None,
    *,
    passwords: Passwords | None = None,
    on_failure: Callable[[StoreFailure], None] | None = None,
    also_required: Sequence[CertInfo] = (),
) -> VerifyResult:
    """Verify every store against the required CAs of ``bundle``; see :func:`verify_store`.

    ``also_required`` are CAs required besides the generations' (the pinned Amazon roots of
    ``--require amazon-roots``, see :func:`rdstrust.amazon_roots.required_amazon_roots`).

    Each store's password comes from its own source (else ``passwords.default``). A store
    that cannot be read is recorded in ``failed`` with its exit code; the others are still
    verified. Raises :class:`BundleError` when the bundle holds no required CA.
    """
    opts = options or VerifyOptions()
    required = (*required_cas(bundle, opts.generations, opts.region), *also_required)
    outcomes = run_stores(
        as_specs(stores),
        lambda spec, pw: verify_store(spec.path, required, password=pw, options=opts),
        passwords or Passwords(),
        on_failure=on_failure,
    )
    reports = tuple(o.result for o in outcomes if o.result is not None)
    failed = tuple(o.failure for o in outcomes if o.failure is not None)
    return VerifyResult(
        at=opts.at or utcnow(),
        reference=Reference(
            bundle=bundle.source,
            generations=opts.generations,
            region=opts.region,
            required=tuple(summarize(c) for c in required),
        ),
        chain=opts.chain.source if opts.chain is not None else None,
        hostname=opts.hostname,
        stores=reports,
        passed=not failed and all(r.passed for r in reports),
        failed=failed,
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
        if not any(map(could_be_rds, entry.certificates)):
            continue  # not an RDS CA, told from the bytes: no need to describe it
        info = entry.info
        if info is None or not info.is_rds or not info.is_ca:
            continue
        if info.not_after > horizon and info.not_before <= at:
            continue
        item = ExpiringCa(
            **vars(summarize(info, entry.alias)),
            days_left=(info.not_after - at).days,
            required_generation=info.generation in wanted,
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
    contents: StoreContents, path: str | Path, password: str | None, options: VerifyOptions
) -> JavaCheck:
    from rdstrust.jvm import java_trust_check, keystore_type

    if keystore_type(contents.type) is None:
        return JavaCheck(
            verdict=None,
            agrees=None,
            note="Java reads no PEM trust stores; the JVM check applies to JKS and PKCS12",
        )
    if options.chain is None or options.java is None:
        return JavaCheck(
            verdict=None, agrees=None, note="no chain given (--chain or --host): nothing to ask"
        )
    verdict = java_trust_check(
        path,
        contents.type,
        options.chain,
        java=options.java,
        password=password,
        hostname=options.hostname,
        # ``at`` as given: without --at the JVM runs its default TrustManagerFactory on its own
        # clock, exactly as an application would.
        at=options.at,
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


def _names(refs: Sequence[CertSummary], limit: int = 5) -> str:
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
