"""Trust store formats behind one small interface: Java JKS, PKCS12 and PEM bundles.

* :func:`detect_type` tells the format from the bytes (never the file name).
* :func:`read_store` loads a store into :class:`StoreContents` (what inspect and verify need).
* :func:`load_store` returns a :class:`LoadedStore`: the contents plus the original bytes of
  every entry, so :meth:`LoadedStore.render` can write the store back with entries removed or
  added without re-encoding anything else (what merge needs). :func:`create_store` makes a new one.

One module per format (:mod:`.jks`, :mod:`.pkcs12`, :mod:`.pem`), each with the same ``load``
and ``create`` functions, listed once in :data:`FORMATS` and chosen by :func:`detect_type`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rdstrust.atomic import real_path
from rdstrust.errors import StoreError, UsageError
from rdstrust.files import read_input
from rdstrust.pemscan import line_number
from rdstrust.stores import jks, pem, pkcs12
from rdstrust.stores._pbe import KeyDeriver
from rdstrust.stores._types import (
    EntryKind,
    LoadedStore,
    NewCert,
    StoreContents,
    StoreEntry,
    StoreType,
    check_password,
    describe_der,
    unparseable,
)
from rdstrust.text import safe


@dataclass(frozen=True)
class StoreFormat:
    """One store format: how to recognise it, read it and (if rdstrust does) create it."""

    type: StoreType
    #: Whether bytes are of this format (magic number, DER shape, PEM text).
    sniff: Callable[[bytes], bool]
    load: Callable[..., LoadedStore]
    #: ``None`` for a format rdstrust merges into but never creates (JCEKS).
    create: Callable[..., bytes] | None
    #: Whether ``load`` and ``create`` take ``keys=`` (a :class:`KeyDeriver` shared between
    #: writing a store and reading it back, so each password-based key is derived once).
    derives_keys: bool = False


def _magic(value: int) -> Callable[[bytes], bool]:
    return lambda data: len(data) >= 4 and int.from_bytes(data[:4], "big") == value


#: Every format, in the order detection tries them (magic numbers first, PEM text last).
FORMATS: tuple[StoreFormat, ...] = (
    StoreFormat(StoreType.JKS, _magic(jks.MAGIC_JKS), jks.load, jks.create),
    StoreFormat(StoreType.JCEKS, _magic(jks.MAGIC_JCEKS), jks.load, None),
    StoreFormat(
        StoreType.PKCS12,
        lambda data: data[:1] == b"\x30" and pkcs12.looks_like_pkcs12(data),
        pkcs12.load,
        pkcs12.create,
        derives_keys=True,
    ),
    StoreFormat(StoreType.PEM, pem.looks_like_pem, pem.load, pem.create),
)
_BY_TYPE = {f.type: f for f in FORMATS}


def detect_type(data: bytes) -> StoreType | None:
    """The store format of ``data`` from its bytes, or ``None`` when it is none of them.

    JKS and JCEKS by magic number, PKCS12 as a DER ``PFX`` (version 3 with a PKCS7
    authenticated safe), PEM as text with a ``CERTIFICATE`` block.
    """
    return next((f.type for f in FORMATS if f.sniff(data)), None)


def type_from_name(path: str | Path) -> StoreType | None:
    """The store format a new file's extension suggests (``.jks``, ``.p12``/``.pfx``, ``.pem``)."""
    suffix = Path(path).suffix.lower()
    return {
        ".jks": StoreType.JKS,
        ".jceks": StoreType.JCEKS,
        ".keystore": StoreType.JKS,
        ".truststore": StoreType.JKS,
        ".p12": StoreType.PKCS12,
        ".pfx": StoreType.PKCS12,
        ".pkcs12": StoreType.PKCS12,
        ".pem": StoreType.PEM,
        ".crt": StoreType.PEM,
        ".cer": StoreType.PEM,
    }.get(suffix)


#: The formats :func:`create_store` writes new stores in.
CREATABLE_TYPES = tuple(f.type for f in FORMATS if f.create is not None)


#: Stores larger than this are refused: a full JDK cacerts is about 200 KB.
MAX_STORE_BYTES = 64 * 1024 * 1024


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a store file, with read errors turned into one-sentence :class:`StoreError`.

    Only a regular file (after following symlinks) of at most :data:`MAX_STORE_BYTES` is read:
    ``/dev/zero``, a FIFO or a huge file given by mistake must not exhaust memory or hang, so
    at most one byte more than the cap is ever read.
    """
    return read_input(path, limit=MAX_STORE_BYTES, what="Trust store", error=StoreError)


def parse_store(
    data: bytes,
    *,
    source: str,
    password: str | None,
    store_type: StoreType | None = None,
    keys: KeyDeriver | None = None,
    parsed: LoadedStore | None = None,
) -> tuple[StoreType, LoadedStore]:
    """Parse store bytes (type detected unless given); see :func:`load_store`.

    ``keys`` shares PKCS12 key derivations with an earlier load or write of the same store in
    this run (each load still gets its own work budget); other formats ignore it. ``parsed`` is
    the format's own full parse of these very bytes (see :func:`read_back_of`): the type is still
    detected and checked, and the store-wide checks still run on it, but it is not parsed again.
    """
    detected = detect_type(data)
    if detected is None and pkcs12.looks_like_ber_pkcs12(data):
        raise StoreError(
            f"{source} is a BER-encoded PKCS12 (from some Windows/IBM tools), which rdstrust "
            "cannot rewrite byte for byte; re-export it with keytool -importkeystore or "
            "openssl pkcs12 and try again.",
            path=source,
        )
    if detected is None and (nul := pem.nul_in_pem(data)) is not None:
        raise StoreError(
            f"{source} is PEM text with a NUL byte on line {line_number(data, nul)}, which a "
            "trust store never holds and readers take differently (OpenSSL cuts a line there, "
            "and stops reading at a line that starts with one); remove the NUL bytes.",
            path=source,
        )
    if detected is None:
        raise StoreError(
            f"{source} is not a JKS, JCEKS, PKCS12 or PEM trust store"
            + (" (it is empty)" if not data.strip() else "")
            + "; check the path.",
            path=source,
        )
    if store_type is not None and store_type is not detected:
        raise StoreError(
            f"{source} is a {detected.value.upper()} store, not {store_type.value.upper()} "
            "as requested; drop --store-type or fix it.",
            path=source,
        )
    found = _BY_TYPE[detected]
    extra = {"keys": keys} if keys is not None and found.derives_keys else {}
    loaded = parsed or found.load(data, source=source, password=password, **extra)
    if detected is not StoreType.PEM:
        _refuse_shadowed_aliases(loaded.entries, source)
    return detected, loaded


def read_back_of(store: LoadedStore | None, data: bytes, source: str) -> LoadedStore | None:
    """The full parse ``store`` made of ``data`` while rendering it, for ``parse_store(parsed=)``.

    A PEM store parses every text it renders, to count its certificates as libpq would (see
    :meth:`rdstrust.stores.pem.PemStore.take_read_back`); the other formats make none. ``data``
    must be the bytes object render returned: anything else gets ``None`` and is parsed.
    """
    return store.take_read_back(data, source) if isinstance(store, pem.PemStore) else None


def _refuse_shadowed_aliases(entries: Sequence[StoreEntry], source: str) -> None:
    """Refuse a Java keystore in which two different entries share an alias.

    Java's JKS and PKCS12 loaders key entries by the lower-cased alias, so the last one wins and
    the others do not exist for the JVM: rdstrust would count a CA the application never sees.
    """
    if len({entry.alias.lower() for entry in entries}) == len(entries):
        return  # no alias twice, so none is shadowed (the loop below would find nothing)
    seen: dict[str, str | None] = {}
    for entry in entries:
        key = entry.alias.lower()
        if key in seen and seen[key] != entry.sha256:
            raise StoreError(
                f"{source} has two different entries named {safe(entry.alias)!r} (aliases are "
                "compared ignoring case); Java keeps only the last one, so the store does not "
                "hold what it seems to. Remove the duplicate (keytool -delete -alias) and retry.",
                path=source,
            )
        seen[key] = entry.sha256


def load_store(
    path: str | Path, password: str | None, store_type: StoreType | None = None
) -> tuple[StoreType, LoadedStore]:
    """Read and parse the store at ``path`` for rewriting; see :func:`read_store`."""
    return parse_store(read_bytes(path), source=str(path), password=password, store_type=store_type)


def read_store(
    path: str | Path, password: str | None, store_type: StoreType | None = None
) -> StoreContents:
    """Load the trust store at ``path`` (JKS, JCEKS, PKCS12 or PEM, detected from its bytes).

    ``password`` may be ``None``: a JKS store is then read without checking its digest, and a
    PKCS12 store only when its certificates are not encrypted (both as Java does). Raises
    :class:`rdstrust.errors.WrongPasswordError` for a wrong password or a modified store and
    :class:`rdstrust.errors.StoreError` for anything else (missing, unreadable, not a store).
    """
    kind, loaded = load_store(path, password, store_type)
    return StoreContents(
        path=str(real_path(path)),
        type=kind,
        entries=loaded.entries,
        password_required=loaded.password_required,
    )


def create_store(
    store_type: StoreType,
    add: Sequence[NewCert],
    *,
    password: str | None,
    profile: str | None = None,
    keys: KeyDeriver | None = None,
) -> bytes:
    """The bytes of a new store of ``store_type`` holding ``add`` as trusted certificates.

    ``keys`` (PKCS12) keeps the derivations for reading the new store back. Raises
    :class:`UsageError` for JCEKS: rdstrust only merges into existing JCEKS stores.
    """
    found = _BY_TYPE[store_type]
    create = found.create
    if create is None:
        raise UsageError(
            f"rdstrust creates jks, pkcs12 or pem stores, not {store_type.value}; create the "
            "store with keytool first, or pick one of those types."
        )
    extra = {"keys": keys} if keys is not None and found.derives_keys else {}
    return create(add, password=password, profile=profile, **extra)


__all__ = [
    "CREATABLE_TYPES",
    "FORMATS",
    "EntryKind",
    "KeyDeriver",
    "LoadedStore",
    "NewCert",
    "StoreContents",
    "StoreEntry",
    "StoreFormat",
    "StoreType",
    "check_password",
    "create_store",
    "describe_der",
    "detect_type",
    "load_store",
    "parse_store",
    "read_back_of",
    "read_store",
    "type_from_name",
    "unparseable",
]
