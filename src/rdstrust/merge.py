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

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

from rdstrust.atomic import BACKUP_SUFFIX, exclusive_lock, real_path, write_bytes_atomic
from rdstrust.bundle import Bundle, assign_aliases
from rdstrust.certs import CertInfo, could_be_rds, describe_once, utcnow
from rdstrust.errors import StoreError, UsageError
from rdstrust.options import MergeOptions, Pkcs12Profile
from rdstrust.regenerated import regenerated_by
from rdstrust.runcache import gc_paused
from rdstrust.runner import Passwords, StoreFailure, StoreOutcome, run_stores
from rdstrust.stores import (
    CREATABLE_TYPES,
    EntryKind,
    KeyDeriver,
    LoadedStore,
    NewCert,
    StoreContents,
    StoreEntry,
    StoreType,
    create_store,
    parse_store,
    read_back_of,
    read_bytes,
    type_from_name,
    unparseable,
)
from rdstrust.storespec import StoreSpec, as_specs
from rdstrust.summary import CertSummary, summarize

#: Formats that end with a digest keyed by the password (needed to write them).
_JAVA_KEYSTORES = (StoreType.JKS, StoreType.JCEKS)

#: A certificate the merge adds, found present, or prunes (the one summary type of reports).
PlannedCert = CertSummary


@dataclass(frozen=True)
class MergePlan:
    """What merging a bundle into one store does (nothing is written by planning)."""

    store: str
    real_path: str
    type: StoreType
    #: True when the store does not exist yet (or is an empty file) and is created.
    created: bool
    added: tuple[CertSummary, ...]
    #: Bundle certificates the store already trusts, under the store's alias.
    already_present: tuple[CertSummary, ...]
    #: Existing entries kept (all of them, except the pruned ones).
    kept: int
    pruned: tuple[CertSummary, ...]
    #: PKCS12 profile of what gets written (``None`` for JKS, PEM and password-less PKCS12).
    pkcs12_profile: Pkcs12Profile | None
    notes: tuple[str, ...] = ()
    #: An explicit PKCS12 profile differs from how the store is protected now.
    reencrypt: bool = field(default=False, repr=False, metadata={"json": False})

    @property
    def changes(self) -> bool:
        """Whether carrying out the plan changes the file."""
        return self.created or bool(self.added) or bool(self.pruned) or self.reencrypt


@dataclass(frozen=True)
class MergeResult(MergePlan):
    """The outcome of :func:`merge_store` for one store: its plan, and what was done."""

    #: Whether the file was (re)written; False on a dry run or when nothing changed.
    written: bool = False
    dry_run: bool = False
    #: Where the previous file was saved, when it was.
    backup: str | None = None
    #: The store as it is after the merge (the read-back of what was written), so a caller can
    #: verify it without reading the file again.
    contents: StoreContents | None = field(
        default=None, repr=False, compare=False, metadata={"json": False}
    )

    @classmethod
    def of(cls, plan: MergePlan, **outcome: object) -> MergeResult:
        """The result of carrying out ``plan``: its fields plus ``outcome``."""
        mine = {f.name: getattr(plan, f.name) for f in fields(MergePlan)}
        return cls(**mine, **outcome)  # type: ignore[arg-type]


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


# A NamedTuple rather than a frozen dataclass, as the private records here are: every update
# imports this module, and Python 3.11 takes about 0.5 ms to create a dataclass.
class _Work(NamedTuple):
    plan: MergePlan
    loaded: LoadedStore | None
    remove: frozenset[int]
    add: tuple[NewCert, ...]


class _Existing(NamedTuple):
    """The store as found: its type, parsed form (``None`` when new) and entries."""

    kind: StoreType
    loaded: LoadedStore | None
    entries: tuple[StoreEntry, ...]
    created: bool
    notes: tuple[str, ...] = ()


def _existing(path: Path, password: str | None, options: MergeOptions) -> _Existing:
    """Read the store at ``path``, or describe the new one that will be created there."""
    real = real_path(path)
    if real.exists() or path.exists():
        data = read_bytes(path)
        if data and not data.isspace():  # the bytes decide the type whenever there are any
            kind, loaded = parse_store(
                data, source=str(path), password=password, store_type=options.store_type
            )
            return _Existing(kind, loaded, loaded.entries, created=False)
        # An empty file (``: > rds-ca.pem``, ``touch truststore.jks``) is a store with no
        # entries yet: filled like a new one, of the type --store-type or its name gives.
        kind = _new_store_type(path, options.store_type, empty=True)
        note = f"{path} is empty: written as a new {kind.value.upper()} store"
        return _Existing(kind, None, (), created=True, notes=(note,))
    if not options.create_missing:
        raise StoreError(
            f"{path} does not exist; check the path (nothing was created), or pass --create "
            "to create a new store there.",
            path=str(path),
        )
    if not real.parent.is_dir():
        raise StoreError(
            f"Cannot create {path}: the directory {real.parent} does not exist.", path=str(path)
        )
    return _Existing(_new_store_type(path, options.store_type, empty=False), None, (), created=True)


def _pruned(
    entries: Sequence[StoreEntry], options: MergeOptions
) -> tuple[frozenset[int], tuple[CertSummary, ...]]:
    """Indices and summaries of the expired Amazon RDS CAs ``--prune-expired`` removes."""
    if not options.prune_expired:
        return frozenset(), ()
    at = options.at or utcnow()
    remove: list[int] = []
    pruned: list[CertSummary] = []
    for index, entry in enumerate(entries):
        if entry.kind is not EntryKind.TRUSTED_CERT or not any(
            map(could_be_rds, entry.certificates)
        ):
            continue  # not an RDS CA: no need to describe it
        info = entry.info
        if info and info.is_rds and info.expired(at):
            remove.append(index)
            pruned.append(summarize(info, entry.alias))
    return frozenset(remove), tuple(pruned)


def _to_add(
    bundle: Bundle | Sequence[CertInfo], entries: Sequence[StoreEntry], options: MergeOptions
) -> tuple[list[CertInfo], list[CertSummary], list[str]]:
    """The bundle certificates to add, those already trusted, and notes about the choice."""
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
    at = options.at or utcnow()
    present: list[CertSummary] = []
    to_add: list[CertInfo] = []
    notes: list[str] = []
    reattributed = 0
    for info in _certificates(bundle):
        if info.sha256 in trusted:
            present.append(summarize(info, trusted[info.sha256].alias))
        elif options.prune_expired and info.expired(at):
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
    return to_add, present, notes


def _profile(
    found: _Existing, password: str | None, options: MergeOptions
) -> tuple[Pkcs12Profile | None, bool, list[str]]:
    """The PKCS12 profile of what gets written, whether the store is re-encrypted, notes."""
    if found.kind is not StoreType.PKCS12:
        return None, False, []
    current_text = found.loaded.profile if found.loaded is not None else None
    current = Pkcs12Profile(current_text) if current_text else None
    asked = options.pkcs12_profile
    password_less = found.loaded.password_less if found.loaded is not None else password is None
    if password_less:
        return (
            None,
            False,
            ["password-less PKCS12: kept without encryption or MAC, as Java 18+ writes it"],
        )
    profile = asked or current or Pkcs12Profile.MODERN
    reencrypt = asked is not None and current is not None and asked is not current
    notes = []
    if profile is Pkcs12Profile.LEGACY and any(
        e.kind is EntryKind.PRIVATE_KEY for e in found.entries
    ):
        notes.append(
            "private keys stay encrypted as they are (rdstrust never decrypts them); "
            "if keytool wrote them with AES, Java 8 before 8u301 still cannot read them"
        )
    return profile, reencrypt, notes


def _prepare(
    store_path: str | Path,
    bundle: Bundle | Sequence[CertInfo],
    password: str | None,
    options: MergeOptions,
) -> _Work:
    path = Path(store_path)
    found = _existing(path, password, options)
    notes = list(found.notes)
    # A CA merged into a file the OS regenerates (Debian's Java cacerts, RHEL's extracted
    # stores) disappears at the next package update: say so, and what to do instead.
    regenerated = regenerated_by(path)
    if regenerated is not None:
        notes.append(regenerated)
    if found.kind in _JAVA_KEYSTORES and password is None and not found.created:
        notes.append(
            f"no password given: the {found.kind.value.upper()} integrity digest was not checked"
        )
    if found.kind is not StoreType.PKCS12 and options.pkcs12_profile and not found.created:
        notes.append(f"--pkcs12-profile ignored: {path} is a {found.kind.value.upper()} store")
    remove, pruned = _pruned(found.entries, options)
    to_add, present, add_notes = _to_add(bundle, found.entries, options)
    notes += add_notes
    # Aliases already in the store (Java compares them case-insensitively) stay theirs.
    named = assign_aliases(to_add, taken=[e.alias.lower() for e in found.entries])
    unparsed = unparseable(e.certificates[0] for e in found.entries if e.certificates)
    if unparsed:
        notes.append(
            f"{unparsed} existing certificate(s) cannot be decoded by cryptography; "
            "kept as they are"
        )
    profile, reencrypt, profile_notes = _profile(found, password, options)
    plan = MergePlan(
        store=str(path),
        real_path=str(real_path(path)),
        type=found.kind,
        created=found.created,
        added=tuple(summarize(info) for info in named),
        already_present=tuple(present),
        kept=len(found.entries) - len(remove),
        pruned=pruned,
        pkcs12_profile=profile,
        notes=tuple(dict.fromkeys(notes + profile_notes)),
        reencrypt=reencrypt,
    )
    return _Work(plan, found.loaded, remove, tuple(NewCert.from_info(i) for i in named))


def plan_merge(
    store_path: str | Path,
    bundle: Bundle | Sequence[CertInfo],
    *,
    password: str | None,
    options: MergeOptions | None = None,
) -> MergePlan:
    """What :func:`merge_store` would do to the store at ``store_path``; reads only.

    ``bundle`` is a :class:`Bundle` or the certificates to merge (for example
    ``bundle.select(G1_GENERATIONS)``). Raises :class:`StoreError` /
    :class:`~rdstrust.errors.WrongPasswordError` / :class:`UsageError`.
    """
    return _prepare(store_path, bundle, password, options or MergeOptions()).plan


def merge_store(
    store_path: str | Path,
    bundle: Bundle | Sequence[CertInfo],
    *,
    password: str | None,
    options: MergeOptions | None = None,
) -> MergeResult:
    """Merge ``bundle`` into the store at ``store_path`` (created if missing, unless
    ``options.create_missing`` is false).

    Holds an exclusive lock from reading to writing so concurrent merges into one store both
    land. Writes nothing on a dry run or when nothing changes; otherwise replaces the file
    atomically through symlinks, keeping mode and owner, after saving ``<name>.bak`` (unless
    ``options.backup`` is false). On any error the file is left byte for byte unchanged.
    """
    with describe_once(), gc_paused():
        return _merge_store(store_path, bundle, password, options or MergeOptions())


def _merge_store(
    store_path: str | Path,
    bundle: Bundle | Sequence[CertInfo],
    password: str | None,
    opts: MergeOptions,
) -> MergeResult:
    if opts.dry_run:
        # Build and check the new bytes without writing them, so a dry run fails exactly where
        # the real run would (for example: no password to write a JKS store).
        work = _prepare(store_path, bundle, password, opts)
        if work.plan.changes:
            keys = _keys(work)
            data, expected = _render(work, password, opts, keys)
            parsed = read_back_of(work.loaded, data, work.plan.store)
            _check(data, work.plan, expected, password, keys, parsed)
        # Nothing changed on disk: "the store after the merge" is the store as it is.
        return MergeResult.of(work.plan, dry_run=True, contents=_as_found(work))
    with exclusive_lock(store_path):
        work = _prepare(store_path, bundle, password, opts)
        if not work.plan.changes:
            return MergeResult.of(work.plan, contents=_as_found(work))
        plan, keys = work.plan, _keys(work)
        data, expected = _render(work, password, opts, keys)
        parsed = read_back_of(work.loaded, data, plan.store)
        # The old store (every entry, every certificate) is not needed past this point: let it
        # go before the read-back builds the new one, so the two never fill memory together.
        del work
        contents = _contents(plan, _check(data, plan, expected, password, keys, parsed))
        keep = opts.backup and not plan.created
        written_to = write_bytes_atomic(store_path, data, backup=keep)
        saved = str(written_to.with_name(written_to.name + BACKUP_SUFFIX)) if keep else None
        return MergeResult.of(plan, written=True, backup=saved, contents=contents)


def _contents(plan: MergePlan, loaded: LoadedStore) -> StoreContents:
    return StoreContents(
        path=plan.real_path,
        type=plan.type,
        entries=loaded.entries,
        password_required=loaded.password_required,
    )


def _as_found(work: _Work) -> StoreContents | None:
    """The store as it is on disk (``None`` when it does not exist yet)."""
    return _contents(work.plan, work.loaded) if work.loaded is not None else None


def _keys(work: _Work) -> KeyDeriver:
    # One set of PKCS12 key derivations for writing and reading back (see KeyDeriver): the
    # read-back still checks the MAC and decrypts everything, with keys derived once.
    return getattr(work.loaded, "keys", None) or KeyDeriver()


#: What the check compares: an entry's alias, kind and fingerprint.
_Identity = tuple[str, EntryKind, "str | None"]


def _render(
    work: _Work, password: str | None, options: MergeOptions, keys: KeyDeriver
) -> tuple[bytes, list[_Identity]]:
    """The store's new bytes, and the entries they must hold (see :func:`_check`)."""
    plan = work.plan
    profile = plan.pkcs12_profile.value if plan.pkcs12_profile else None
    if work.loaded is None:
        data = create_store(plan.type, work.add, password=password, profile=profile, keys=keys)
    else:
        asked = options.pkcs12_profile.value if options.pkcs12_profile else None
        data = work.loaded.render(
            remove=work.remove, add=work.add, password=password, profile=asked
        )
    old = work.loaded.entries if work.loaded is not None else ()
    remove = work.remove
    expected: list[_Identity] = [
        (e.alias, e.kind, e.sha256)
        for e in (old if not remove else (e for i, e in enumerate(old) if i not in remove))
    ]
    expected += ((a.alias, EntryKind.TRUSTED_CERT, a.sha256) for a in plan.added)
    return data, expected


def _check(
    data: bytes,
    plan: MergePlan,
    expected: list[_Identity],
    password: str | None,
    keys: KeyDeriver,
    parsed: LoadedStore | None = None,
) -> LoadedStore:
    """Read the new bytes back: every kept entry and every added certificate must be there.

    ``expected`` is each kept entry's and each added certificate's (alias, kind, sha256).
    Returns the read-back store, which is what the caller verifies: the check that guards the
    write is also the only parse of the new bytes.
    """
    _, reread = parse_store(
        data, source=plan.store, password=password, store_type=plan.type, keys=keys, parsed=parsed
    )
    after = [(e.alias, e.kind, e.sha256) for e in reread.entries]
    # Equal as multisets (order may differ: a removed entry's place is taken by nothing). The
    # same list in the same order is that without counting (what JKS and PEM write).
    if after != expected and Counter(after) != Counter(expected):
        raise StoreError(
            f"Refusing to write {plan.store}: the rewritten store would not hold exactly the "
            "original entries plus the new certificates (please report this as a bug).",
            path=plan.store,
        )
    return reread


@dataclass(frozen=True)
class MergeRun:
    """One bundle merged into several stores: the results, and the stores that failed."""

    bundle: str
    stores: tuple[MergeResult, ...]
    failed: tuple[StoreFailure, ...] = ()

    @property
    def exit_code(self) -> int:
        """The first failed store's exit code; 0 when every store was merged."""
        return self.failed[0].exit_code if self.failed else 0


def merge_stores(
    stores: Sequence[StoreSpec | str | Path],
    bundle: Bundle,
    options: MergeOptions | None = None,
    *,
    passwords: Passwords | None = None,
    on_failure: Callable[[StoreFailure], None] | None = None,
) -> MergeRun:
    """Merge ``bundle`` into each store with :func:`merge_store`, in order.

    Each store's password comes from its own source or ``passwords.default``. A store that
    fails is left unchanged and recorded as a :class:`StoreFailure` (``on_failure`` is told at
    once); the other stores still go ahead (see :mod:`rdstrust.runner`).
    """
    opts = options or MergeOptions()
    outcomes: tuple[StoreOutcome[MergeResult], ...] = run_stores(
        as_specs(stores),
        lambda spec, password: merge_store(spec.path, bundle, password=password, options=opts),
        passwords or Passwords(),
        on_failure=on_failure,
    )
    return MergeRun(
        bundle=bundle.source,
        stores=tuple(o.result for o in outcomes if o.result is not None),
        failed=tuple(o.failure for o in outcomes if o.failure is not None),
    )
