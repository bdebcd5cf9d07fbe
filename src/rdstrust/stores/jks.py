"""Java's JKS (and JCEKS) keystore format, read and written by hand so entries stay byte-exact.

The format (``sun.security.provider.JavaKeyStore``) is small: a magic number (``0xFEEDFEED``,
``0xCECECECE`` for JCEKS), a version, an entry count, the entries, and a SHA-1 digest over the
password (UTF-16BE), the words ``"Mighty Aphrodite"`` and everything before the digest. pyjks can
read it but decodes entries, lower-cases aliases and stamps the current time on write; here every
existing entry is kept as the exact bytes it had in the file (a private key entry is an encrypted
blob Java wrote; we never need to open it) and new trusted-certificate entries are appended with
a fixed timestamp (the certificate's notBefore), so the same inputs give the same file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import struct
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from rdstrust.errors import PasswordNeededError, StoreError, WrongPasswordError
from rdstrust.stores._types import EntryKind, NewCert, StoreEntry, check_password

MAGIC_JKS = 0xFEEDFEED
MAGIC_JCEKS = 0xCECECECE
_TAG_PRIVATE_KEY = 1
_TAG_TRUSTED_CERT = 2
_TAG_SECRET_KEY = 3  # JCEKS only: a serialized javax.crypto.SealedObject
_WHITENER = b"Mighty Aphrodite"
_DIGEST_LEN = 20
#: The most entries one store may declare. A full JDK cacerts has about 150 and the benchmarks'
#: largest store 50,000; each parsed entry costs about 1.7 KB, so a 63 MiB file of 1.75 million
#: tiny entries took 2.9 GB and a minute. The count is in the header: refused before parsing.
MAX_ENTRIES = 100_000


def _password_bytes(password: str) -> bytes:
    # Java feeds each char as two big-endian bytes (JavaKeyStore.getPreKeyedHash): UTF-16BE.
    # Callers run check_password first, so no lone surrogate (undecodable byte) gets here.
    return password.encode("utf-16-be")


def _digest(password: str, body: bytes) -> bytes:
    return hashlib.sha1(
        _password_bytes(password) + _WHITENER + body, usedforsecurity=False
    ).digest()


def _decode_alias(raw: bytes) -> str:
    # DataInput.readUTF is "modified UTF-8": NUL as C0 80 and surrogate pairs for characters
    # beyond the BMP. Aliases are essentially always ASCII; decode leniently for display only,
    # the original bytes are what gets written back.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def _encode_utf(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError("alias too long")
    return struct.pack(">H", len(data)) + data


@dataclass(frozen=True)
class _Raw:
    """One entry as it was in the file."""

    #: A view into the file's bytes (the file is kept anyway; 50,000 copies would not be).
    raw: bytes | memoryview = field(repr=False)
    entry: StoreEntry


_U2 = struct.Struct(">H")
_U4 = struct.Struct(">I")
_U8 = struct.Struct(">Q")


class _Reader:
    # A 50,000-entry store means 800,000 reads: each is one bounds check and one unpack_from,
    # without slicing the bytes first.
    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.view = memoryview(data)
        self.end = len(data)
        self.pos = 0
        self.source = source

    def _advance(self, n: int) -> int:
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise StoreError(
                f"{self.source} is truncated or corrupt (a JKS entry runs past the end of the "
                "file); restore it from a backup.",
                path=self.source,
            )
        self.pos = pos + n
        return pos

    def take(self, n: int) -> bytes:
        pos = self._advance(n)
        return self.data[pos : pos + n]

    def u2(self) -> int:
        return int(_U2.unpack_from(self.data, self._advance(2))[0])

    def u4(self) -> int:
        return int(_U4.unpack_from(self.data, self._advance(4))[0])

    def u8(self) -> int:
        return int(_U8.unpack_from(self.data, self._advance(8))[0])

    def utf(self) -> bytes:
        return self.take(self.u2())


class JksStore:
    """A parsed JKS or JCEKS store whose entries keep their original bytes."""

    def __init__(
        self, *, magic: int, version: int, raws: Sequence[_Raw], verified: bool, source: str
    ) -> None:
        self.magic = magic
        self.version = version
        self._raws = tuple(raws)
        self.entries: tuple[StoreEntry, ...] = tuple(r.entry for r in raws)
        #: False when no password was given: the digest was not checked (as Java does).
        self.verified = verified
        self.password_required = False
        self.source = source

    @property
    def password_less(self) -> bool:
        """Always False: the digest at the end of the file is keyed by the password."""
        return False

    @property
    def profile(self) -> str | None:
        """``None``: profiles are a PKCS12 notion."""
        return None

    @property
    def variant(self) -> str:
        """``"JKS"`` or ``"JCEKS"``."""
        return "JCEKS" if self.magic == MAGIC_JCEKS else "JKS"

    def render(
        self,
        *,
        remove: frozenset[int],
        add: Sequence[NewCert],
        password: str | None,
        profile: str | None = None,
    ) -> bytes:
        """The store with entries at indices ``remove`` dropped and ``add`` appended."""
        del profile  # PKCS12 only
        check_password(password, self.source)
        if password is None:
            raise PasswordNeededError(
                f"{self.source} is a {self.variant} store: its password is needed to write it "
                "(the file ends with a digest keyed by the password); give --storepass-env, "
                "--storepass-file or RDSTRUST_STOREPASS.",
                path=self.source,
            )
        if not self.verified:
            raise StoreError(
                f"{self.source} was read without checking its password; refusing to write it.",
                path=self.source,
            )
        kept = [r.raw for i, r in enumerate(self._raws) if i not in remove]
        new = [_trusted_entry(c, self.version) for c in add]
        return _assemble(self.magic, self.version, [*kept, *new], password)


def _trusted_entry(cert: NewCert, version: int) -> bytes:
    # The timestamp is the certificate's notBefore (ms since the epoch), not "now": same inputs
    # must give a byte-identical file.
    stamp = int(cert.not_before.timestamp() * 1000)
    body = struct.pack(">I", _TAG_TRUSTED_CERT) + _encode_utf(cert.alias) + struct.pack(">Q", stamp)
    if version == 2:
        body += _encode_utf("X.509")
    return body + struct.pack(">I", len(cert.der)) + cert.der


def _assemble(
    magic: int, version: int, entries: Sequence[bytes | memoryview], password: str
) -> bytes:
    body = struct.pack(">III", magic, version, len(entries)) + b"".join(entries)
    return body + _digest(password, body)


def create(add: Sequence[NewCert], *, password: str | None, profile: str | None = None) -> bytes:
    """A new JKS store holding ``add`` as trusted-certificate entries."""
    del profile
    check_password(password, None)
    if password is None:
        raise PasswordNeededError(
            "A new JKS store needs a password (Java requires one to check its integrity); "
            "give --storepass-env, --storepass-file or RDSTRUST_STOREPASS."
        )
    return _assemble(MAGIC_JKS, 2, [_trusted_entry(c, 2) for c in add], password)


def load(data: bytes, *, source: str, password: str | None) -> JksStore:
    """Parse a JKS/JCEKS store; check its digest when a password is given.

    Raises :class:`WrongPasswordError` when the digest does not match (JKS cannot tell a wrong
    password from a modified file) and :class:`StoreError` for a damaged file.
    """
    check_password(password, source)
    if len(data) < 12 + _DIGEST_LEN:
        raise StoreError(f"{source} is too short to be a JKS store; it is damaged.", path=source)
    body, stored = data[:-_DIGEST_LEN], data[-_DIGEST_LEN:]
    verified = False
    if password is not None:
        if _digest(password, body) != stored:
            raise WrongPasswordError(
                f"{source}: wrong password, or the store was modified (its JKS integrity digest "
                "does not match); check the password, and restore the file if it was tampered "
                "with.",
                path=source,
            )
        verified = True
    reader = _Reader(body, source)
    magic, version, count = reader.u4(), reader.u4(), reader.u4()
    if magic not in (MAGIC_JKS, MAGIC_JCEKS) or version not in (1, 2):
        raise StoreError(
            f"{source} has a JKS header with unsupported version {version}.", path=source
        )
    if count > MAX_ENTRIES:
        raise StoreError(
            f"{source} declares {count:,} entries, more than any real store (limit "
            f"{MAX_ENTRIES:,}); it is damaged or hostile.",
            path=source,
        )
    raws = [_read_entry(reader, version, magic, source) for _ in range(count)]
    if reader.pos != len(body):
        raise StoreError(
            f"{source} has {len(body) - reader.pos} unexpected bytes after its entries; "
            "the store is damaged.",
            path=source,
        )
    return JksStore(magic=magic, version=version, raws=raws, verified=verified, source=source)


def _read_cert(reader: _Reader, version: int) -> bytes:
    if version == 2:
        kind = reader.utf()
        if kind != b"X.509":
            raise StoreError(
                f"{reader.source} holds a certificate of type {_decode_alias(kind)}, not X.509.",
                path=reader.source,
            )
    return reader.take(reader.u4())


def _read_entry(reader: _Reader, version: int, magic: int, source: str) -> _Raw:
    start = reader.pos
    tag = reader.u4()
    alias = _decode_alias(reader.utf())
    reader.u8()  # timestamp: carried in the raw bytes
    certs: tuple[bytes, ...]
    if tag == _TAG_TRUSTED_CERT:
        certs = (_read_cert(reader, version),)
        kind = EntryKind.TRUSTED_CERT
    elif tag == _TAG_PRIVATE_KEY:
        reader.take(reader.u4())  # the encrypted key, copied verbatim
        certs = tuple(_read_cert(reader, version) for _ in range(reader.u4()))
        kind = EntryKind.PRIVATE_KEY
    elif tag == _TAG_SECRET_KEY and magic == MAGIC_JCEKS:
        _skip_java_object(reader)
        certs = ()
        kind = EntryKind.SECRET_KEY
    else:
        raise StoreError(
            f"{source} has an entry of unknown type {tag} (alias {alias!r}); the store is "
            "damaged or of a newer kind.",
            path=source,
        )
    # Only the fingerprint now: the entry describes its certificate when a report asks.
    entry = StoreEntry(
        alias=alias,
        kind=kind,
        sha256=_sha256(certs[0]) if certs else None,
        certificates=certs,
    )
    return _Raw(raw=reader.view[start : reader.pos], entry=entry)


def _sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


#: What javaobj's unmarshaller raises on damaged bytes (found by mutating keytool-made JCEKS
#: stores): truncation (RuntimeError, EOFError, struct.error), a bad stream header (OSError),
#: bad modified UTF-8 or type codes (ValueError), dangling references (IndexError, KeyError),
#: unsupported features (NotImplementedError) and runaway nesting (RecursionError).
_JAVAOBJ_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    EOFError,
    struct.error,
    ValueError,
    IndexError,
    KeyError,
    RuntimeError,
)
#: javaobj also trips over its own asserts and attributes on some damaged streams
#: (``unmarshaller.do_array``); these count as damage only when javaobj's code raised them.
_JAVAOBJ_INTERNAL_ERRORS: tuple[type[Exception], ...] = (AssertionError, AttributeError, TypeError)


@contextlib.contextmanager
def _quiet_javaobj() -> Iterator[None]:
    """Keep javaobj's logging off stderr while it parses.

    On a damaged stream javaobj logs an "==Oops state dump==" of about ten lines through the
    ``javaobj`` logger (``javaobj.utils.log_error``); with no logging configured Python's
    last-resort handler would print it on stderr, next to rdstrust's one-sentence error.
    """
    logger = logging.getLogger("javaobj")
    saved = (logger.disabled, logger.propagate)
    quiet = logging.NullHandler()
    logger.disabled, logger.propagate = True, False
    logger.addHandler(quiet)  # child loggers (javaobj.parser) stop here, not at lastResort
    try:
        yield
    finally:
        logger.removeHandler(quiet)
        logger.disabled, logger.propagate = saved


def _raised_by_javaobj(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return isinstance(module, str) and module.split(".")[0] == "javaobj"


def _skip_java_object(reader: _Reader) -> None:
    # A JCEKS secret key is a Java-serialized SealedObject with no length prefix: the only way to
    # find its end is to parse the serialization stream (as pyjks does, jks.py _read_java_obj).
    import javaobj  # a runtime dependency for this alone (see README "Dependencies")

    stream = io.BytesIO(reader.data[reader.pos :])
    damaged = StoreError(
        f"{reader.source} has a JCEKS secret key entry that cannot be parsed; the store is "
        "damaged.",
        path=reader.source,
    )
    try:
        with warnings.catch_warnings(), _quiet_javaobj():
            warnings.simplefilter("ignore")
            javaobj.load(stream, ignore_remaining_data=True)  # type: ignore[no-untyped-call]
    except _JAVAOBJ_ERRORS:
        raise damaged from None
    except _JAVAOBJ_INTERNAL_ERRORS as exc:
        if not _raised_by_javaobj(exc):
            raise
        raise damaged from None
    reader.take(stream.tell())


__all__ = ["MAGIC_JCEKS", "MAGIC_JKS", "MAX_ENTRIES", "JksStore", "create", "load"]
