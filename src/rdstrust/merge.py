"""Merging a CA bundle into an existing trust store without losing or changing anything in it.

The rules: every existing entry is kept exactly (trusted certificates, private keys with their
chains, secret keys, aliases, certificates cryptography cannot parse); a bundle certificate that
is already trusted (same SHA-256, whatever its alias) is skipped; new certificates get the
bundle's aliases, made unique against the store's (Java compares aliases case-insensitively);
with ``prune_expired`` expired Amazon RDS CA certificates are removed and nothing else ever is.
Merging twice changes nothing: the second run finds everything present and does not write.

:func:`plan_merge` only reads; :func:`merge_store` takes the store's lock, plans, renders the
new bytes, checks them by reading them back, and replaces the file atomically;
:func:`merge_stores` does that for several stores, collecting each store's failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rdstrust.atomic import BACKUP_SUFFIX, exclusive_lock, real_path, write_bytes_atomic
from rdstrust.bundle import Bundle, assign_aliases
from rdstrust.certs import CertInfo, utcnow
from rdstrust.errors import RdsTrustError, StoreError, UsageError
from rdstrust.stores import (
    CREATABLE_TYPES,
    EntryKind,
    LoadedStore,
    NewCert,
    StoreEntry,
    StoreType,
    create_store,
    detect_type,
    parse_store,
    read_bytes,
    type_from_name,
)

PKCS12_PROFILES = ("modern", "legacy")
#: Formats that end with a digest keyed by the password (needed to write them).
_JAVA_KEYSTORES = (StoreType.JKS, StoreType.JCEKS)


@dataclass(frozen=True)
class PlannedCert:
    """A certificate the merge adds, found present, or prunes."""

    alias: str
    sha256: str
    subject: str
    generation: str
    region: str | None
    not_after: datetime


@dataclass(frozen=True)
class MergePlan:
    """What merging a bundle into one store does (nothing is written by planning)."""

    store: str
    real_path: str
    type: StoreType
    #: True when the store does not exist yet (or is an empty file) and will be created.
    create: bool
    added: tuple[PlannedCert, ...]
    #: Bundle certificates the store already trusts, under the store's alias.
    already_present: tuple[PlannedCert, ...]
    #: Existing entries kept (all of them, except the pruned ones).
    kept: int
    pruned: tuple[PlannedCert, ...]
    #: PKCS12 profile of what gets written (``None`` for JKS and PEM).
    pkcs12_profile: str | None
    notes: tuple[str, ...] = ()
    #: An explicit PKCS12 profile differs from how the store is protected now.
    reencrypt: bool = field(default=False, repr=False)

    @property
    def changes(self) -> bool:
        """Whether carrying out the plan changes the file."""
        return self.create or bool(self.added) or bool(self.pruned) or self.reencrypt


@dataclass(frozen=True)
class MergeResult:
    """The outcome of :func:`merge_store` for one store."""

    store: str
    real_path: str
    type: StoreType
    created: bool
    added: tuple[PlannedCert, ...]
    already_present: tuple[PlannedCert, ...]
    kept: int
    pruned: tuple[PlannedCert, ...]
    pkcs12_profile: str | None
    #: Whether the file was (re)written; False on a dry run or when nothing changed.
    written: bool
    dry_run: bool
    #: Where the previous file was saved, when it was.
    backup: str | None
    notes: tuple[str, ...] = ()


def _planned(info: CertInfo, alias: str | None = None) -> PlannedCert:
    return PlannedCert(
        alias=alias or info.alias,
        sha256=info.sha256,
        subject=info.subject,
        generation=info.generation.value,
        region=info.region,
        not_after=info.not_after,
    )


def _certificates(bundle: Bundle | Sequence[CertInfo]) -> tuple[CertInfo, ...]:
    return tuple(bundle.certificates if isinstance(bundle, Bundle) else bundle)


def _new_store_type(path: Path, store_type: StoreType | None, *, empty: bool) -> StoreType:
    chosen = store_type or type_from_name(path)
    if chosen is None:
        state = "is empty" if empty else "does not exist"
        raise UsageError(
            f"{path} {state} and its name does not tell which kind of store to create; "
            "give --store-type jks, pkcs12 or pem (or a .jks, .p12 or .pem name)."
        )
    if chosen not in CREATABLE_TYPES:
        raise UsageError(
            f"Cannot create {path} as a {chosen.value.upper()} store: rdstrust creates jks, "
            "pkcs12 or pem stores; give --store-type jks, pkcs12 or pem, or create it with "
            "keytool first."
        )
    return chosen


def store_needs_password(path: str | Path, *, for_writing: bool = True) -> bool:
    """Whether reading (or writing) the store at ``path`` needs its password.

    JKS: to write (the digest) and to check integrity; PKCS12: unless it is password-less;
    PEM: never. A missing or empty file needs one only if it will be a JKS store.
    """
    p = Path(path)
    if not p.exists():
        return type_from_name(p) in _JAVA_KEYSTORES
    try:
        data = read_bytes(p)
    except StoreError:
        return False
    if not data.strip():
        return type_from_name(p) in _JAVA_KEYSTORES
    kind = detect_type(data)
    if kind in _JAVA_KEYSTORES:
        return for_writing
    if kind is StoreType.PKCS12:
        try:
            _, loaded = parse_store(data, source=str(p), password=None)
        except StoreError:
            return True
        return not loaded.password_less if for_writing else loaded.password_required
    return False


@dataclass(frozen=True)
class _Work:
    plan: MergePlan
    loaded: LoadedStore | None
    remove: frozenset[int]
    add: tuple[NewCert, ...]


def _prepare(
    store_path: str | Path,
    bundle: Bundle | Sequence[CertInfo],
    *,
    password: str | None,
    store_type: StoreType | None,
    prune_expired: bool,
    pkcs12_profile: str | None,
    now: datetime | None,
) -> _Work:
    if pkcs12_profile is not None and pkcs12_profile not in PKCS12_PROFILES:
        raise UsageError(f"Unknown PKCS12 profile {pkcs12_profile!r}; use modern or legacy.")
    path = Path(store_path)
    real = real_path(path)
    at = now or utcnow()
    notes: list[str] = []
    loaded: LoadedStore | None
    entries: tuple[StoreEntry, ...]
    if real.exists() or path.exists():
        data = read_bytes(path)
        if data.strip():  # the bytes decide the type whenever there are any
            kind, loaded = parse_store(
                data, source=str(path), password=password, store_type=store_type
            )
            entries = loaded.entries
            create = False
        else:
            # An empty file (``: > rds-ca.pem``, ``touch truststore.jks``) is a store with no
            # entries yet: filled like a new one, of the type --store-type or its name gives.
            kind = _new_store_type(path, store_type, empty=True)
            loaded, entries, create = None, (), True
            notes.append(f"{path} is empty: written as a new {kind.value.upper()} store")
    else:
        if not real.parent.is_dir():
            raise StoreError(
                f"Cannot create {path}: the directory {real.parent} does not exist.",
                path=str(path),
            )
        kind, loaded, entries, create = (
            _new_store_type(path, store_type, empty=False),
            None,
            (),
            True,
        )
    if kind in _JAVA_KEYSTORES and password is None and not create:
        notes.append(
            f"no password given: the {kind.value.upper()} integrity digest was not checked"
        )
    if kind is not StoreType.PKCS12 and pkcs12_profile is not None and not create:
        notes.append(f"--pkcs12-profile ignored: {path} is a {kind.value.upper()} store")

    # What Java sees as trust anchors: for PKCS12 only bags with Java's trusted-certificate
    # attribute (OpenSSL writes certificates without it, and Java then ignores them).
    trusted = {
        e.sha256: e
        for e in entries
        if e.kind is EntryKind.TRUSTED_CERT and e.sha256 and e.java_trusted is not False
    }
    unattributed = {
        e.sha256 for e in entries if e.kind is EntryKind.TRUSTED_CERT and e.java_trusted is False
    }
    remove: set[int] = set()
    pruned: list[PlannedCert] = []
    if prune_expired:
        for index, entry in enumerate(entries):
            info = entry.info
            if (
                entry.kind is EntryKind.TRUSTED_CERT
                and info is not None
                and info.is_rds
                and info.expired(at)
            ):
                remove.add(index)
                pruned.append(_planned(info, entry.alias))

    present: list[PlannedCert] = []
    to_add: list[CertInfo] = []
    reattributed = 0
    for info in _certificates(bundle):
        if info.sha256 in trusted:
            present.append(_planned(info, trusted[info.sha256].alias))
        elif prune_expired and info.expired(at):
            notes.append(f"{info.alias}: expired, not added (--prune-expired)")
        else:
            # A certificate present only without Java's attribute is added once more, with it,
            # as a trusted-certificate entry; its original bag stays as it is.
            reattributed += info.sha256 in unattributed
            to_add.append(info)
    if reattributed:
        notes.append(
            f"added with Java's trusted-certificate attribute: {reattributed} certificate(s) "
            "were present without it (Java ignores those; their original bags are kept)"
        )
    # Aliases already in the store (Java compares them case-insensitively) stay theirs.
    named = assign_aliases(to_add, taken=[e.alias.lower() for e in entries])
    added = tuple(_planned(info) for info in named)
    new = tuple(NewCert.from_info(info) for info in named)

    unparsed = sum(1 for e in entries if e.certificates and e.info is None)
    if unparsed:
        notes.append(
            f"{unparsed} existing certificate(s) cannot be decoded by cryptography; "
            "kept as they are"
        )
    profile: str | None = None
    reprofile = False
    if kind is StoreType.PKCS12:
        current = loaded.profile if loaded is not None else None
        profile = pkcs12_profile or current or "modern"
        password_less = loaded.password_less if loaded is not None else password is None
        reprofile = (
            pkcs12_profile is not None
            and current is not None
            and not password_less
            and pkcs12_profile != current
        )
        if password_less:
            profile = None
            notes.append(
                "password-less PKCS12: kept without encryption or MAC, as Java 18+ writes it"
            )
        elif profile == "legacy" and any(e.kind is EntryKind.PRIVATE_KEY for e in entries):
            notes.append(
                "private keys stay encrypted as they are (rdstrust never decrypts them); "
                "if keytool wrote them with AES, Java 8 before 8u301 still cannot read them"
            )
    plan = MergePlan(
        store=str(path),
        real_path=str(real),
        type=kind,
        create=create,
        added=added,
        already_present=tuple(present),
        kept=len(entries) - len(remove),
        pruned=tuple(pruned),
        pkcs12_profile=profile,
        notes=tuple(dict.fromkeys(notes)),
        reencrypt=reprofile,
    )
    return _Work(plan, loaded, frozenset(remove), new)


def plan_merge(
    store_path: str | Path,
    bundle: Bundle | Sequence[CertInfo],
    *,
    password: str | None,
    store_type: StoreType | None = None,
    prune_expired: bool = False,
    pkcs12_profile: str | None = None,
    now: datetime | None = None,
) -> MergePlan:
    """What :func:`merge_store` would do to the store at ``store_path``; reads only.

    ``bundle`` is a :class:`Bundle` or the certificates to merge (for example
    ``bundle.select(G1_GENERATIONS)``). ``store_type`` is checked against an existing file and
    chooses the format of a new one (default: from the file extension). Raises
    :class:`StoreError` / :class:`WrongPasswordError` / :class:`UsageError`.
    """
    return _prepare(
        store_path,
        bundle,
        password=password,
        store_type=store_type,
        prune_expired=prune_expired,
        pkcs12_profile=pkcs12_profile,
        now=now,
    ).plan


def merge_store(
    store_path: str | Path,
    bundle: Bundle | Sequence[CertInfo],
    *,
    password: str | None,
    store_type: StoreType | None = None,
    prune_expired: bool = False,
    pkcs12_profile: str | None = None,
    backup: bool = True,
    dry_run: bool = False,
    now: datetime | None = None,
) -> MergeResult:
    """Merge ``bundle`` into the store at ``store_path`` (created if missing).

    Holds an exclusive lock from reading to writing so concurrent merges into one store both
    land. Writes nothing on a dry run or when nothing changes; otherwise replaces the file
    atomically through symlinks, keeping mode and owner, after saving ``<name>.bak`` (unless
    ``backup`` is false). ``pkcs12_profile`` (``modern`` / ``legacy``) applies to what rdstrust
    encrypts in a PKCS12 store; ``None`` keeps the store's current protection. On any error the
    file is left byte for byte unchanged.
    """

    def prepare() -> _Work:
        return _prepare(
            store_path,
            bundle,
            password=password,
            store_type=store_type,
            prune_expired=prune_expired,
            pkcs12_profile=pkcs12_profile,
            now=now,
        )

    if dry_run:
        # Build the new bytes without writing them, so a dry run fails exactly where the real
        # run would (for example: no password to write a JKS store).
        work = prepare()
        _render(work, password, pkcs12_profile)
        return _result(work.plan, written=False, dry_run=True, backup=None)
    with exclusive_lock(store_path):
        work = prepare()
        plan = work.plan
        data = _render(work, password, pkcs12_profile)
        if data is None:
            return _result(plan, written=False, dry_run=False, backup=None)
        had_file = not plan.create
        written_to = write_bytes_atomic(store_path, data, backup=backup and had_file)
        saved = (
            str(written_to.with_name(written_to.name + BACKUP_SUFFIX))
            if (backup and had_file)
            else None
        )
        return _result(plan, written=True, dry_run=False, backup=saved)


def _render(work: _Work, password: str | None, pkcs12_profile: str | None) -> bytes | None:
    """The store's new bytes, checked by reading them back; ``None`` when nothing changes."""
    plan = work.plan
    if not plan.changes:
        return None
    if work.loaded is None:
        data = create_store(plan.type, work.add, password=password, profile=plan.pkcs12_profile)
    else:
        data = work.loaded.render(
            remove=work.remove, add=work.add, password=password, profile=pkcs12_profile
        )
    _check(data, plan, work, password)
    return data


def _check(data: bytes, plan: MergePlan, work: _Work, password: str | None) -> None:
    """Read the new bytes back: every kept entry and every added certificate must be there."""
    _, reread = parse_store(data, source=plan.store, password=password, store_type=plan.type)
    before = [
        (e.alias, e.kind, e.sha256)
        for i, e in enumerate(work.loaded.entries if work.loaded else ())
        if i not in work.remove
    ]
    after = [(e.alias, e.kind, e.sha256) for e in reread.entries]
    expected_new: list[tuple[str, EntryKind, str | None]] = [
        (a.alias, EntryKind.TRUSTED_CERT, a.sha256) for a in plan.added
    ]
    if sorted(after, key=repr) != sorted(before + expected_new, key=repr):
        raise StoreError(
            f"Refusing to write {plan.store}: the rewritten store would not hold exactly the "
            "original entries plus the new certificates (please report this as a bug).",
            path=plan.store,
        )


def _result(plan: MergePlan, *, written: bool, dry_run: bool, backup: str | None) -> MergeResult:
    return MergeResult(
        store=plan.store,
        real_path=plan.real_path,
        type=plan.type,
        created=plan.create,
        added=plan.added,
        already_present=plan.already_present,
        kept=plan.kept,
        pruned=plan.pruned,
        pkcs12_profile=plan.pkcs12_profile,
        written=written,
        dry_run=dry_run,
        backup=backup,
        notes=plan.notes,
    )


@dataclass(frozen=True)
class StoreFailure:
    """A store a multi-store merge could not handle (it was left unchanged)."""

    store: str
    message: str
    exit_code: int


@dataclass(frozen=True)
class MergeRun:
    """One bundle merged into several stores: the results, and the stores that failed."""

    bundle: str
    stores: tuple[MergeResult, ...]
    failed: tuple[StoreFailure, ...] = ()


def merge_stores(
    paths: Sequence[str | Path],
    bundle: Bundle,
    *,
    password_for: Callable[[Path], str | None],
    store_type: StoreType | None = None,
    prune_expired: bool = False,
    pkcs12_profile: str | None = None,
    backup: bool = True,
    dry_run: bool = False,
    now: datetime | None = None,
    on_failure: Callable[[StoreFailure], None] | None = None,
) -> MergeRun:
    """Merge ``bundle`` into each store in ``paths`` with :func:`merge_store`, in order.

    ``password_for(path)`` gives each store's password (it may prompt, or raise an
    :class:`RdsTrustError`). A store that fails is left unchanged and recorded as a
    :class:`StoreFailure` (``on_failure`` is told at once); the other stores still go ahead.
    Anything that is not an :class:`RdsTrustError` (Ctrl-C, a bug) propagates.
    """
    results: list[MergeResult] = []
    failures: list[StoreFailure] = []
    for store in paths:
        path = Path(store)
        try:
            results.append(
                merge_store(
                    path,
                    bundle,
                    password=password_for(path),
                    store_type=store_type,
                    prune_expired=prune_expired,
                    pkcs12_profile=pkcs12_profile,
                    backup=backup,
                    dry_run=dry_run,
                    now=now,
                )
            )
        except RdsTrustError as exc:
            failure = StoreFailure(str(store), exc.message, int(exc.exit_code))
            failures.append(failure)
            if on_failure is not None:
                on_failure(failure)
    return MergeRun(bundle=bundle.source, stores=tuple(results), failed=tuple(failures))
