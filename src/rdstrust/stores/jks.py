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
import struct
import warnings
from collections.abc import Iterator, Sequence

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


def _digest(password: str, body: bytes | memoryview) -> bytes:
    return _digester(password, body).digest()


def _digester(password: str, *parts: bytes | memoryview) -> hashlib._Hash:
    # Fed piece by piece: concatenating a 40 MB body with the password copied all of it.
    digest = hashlib.sha1(_password_bytes(password) + _WHITENER, usedforsecurity=False)
    for part in parts:
        digest.update(part)
    return digest


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


_U2 = struct.Struct(">H")
_U4 = struct.Struct(">I")
_U8 = struct.Struct(">Q")


class _Reader:
    # A 50,000-entry store means 800,000 reads: each is one bounds check and one unpack_from,
    # without slicing the bytes first.
    def __init__(self, data: bytes, source: str, end: int | None = None) -> None:
        self.data = data
        #: Where the entries end (the digest after them is not read as entry bytes).
        self.end = len(data) if end is None else end
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
    """A parsed JKS or JCEKS store whose entries keep their original bytes.

    The file's bytes are not kept: each entry's bytes are its *head* (``heads[i]``) followed,
    for a trusted certificate, by the certificate the entry already holds. A trusted entry ends
    with its DER certificate, so its head is everything before it (tag, alias, timestamp, type,
    length); any other entry's head is all of its bytes. A 50,000-entry store then holds each
    certificate once instead of twice (file and entry), and the file is freed once parsed.
    """

    def __init__(
        self,
        *,
        magic: int,
        version: int,
        entries: Sequence[StoreEntry],
        heads: Sequence[bytes],
        verified: bool,
        source: str,
    ) -> None:
        if len(entries) != len(heads):
            raise ValueError("one head per entry")
        self.magic = magic
        self.version = version
        self.entries: tuple[StoreEntry, ...] = tuple(entries)
        self._heads = tuple(heads)
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

    def _pieces(self, index: int) -> tuple[bytes, ...]:
        head, entry = self._heads[index], self.entries[index]
        return (head, entry.certificates[0]) if entry.kind is EntryKind.TRUSTED_CERT else (head,)

    def raw_entry(self, index: int) -> bytes:
        """The bytes entry ``index`` had in the file (what :meth:`render` writes for it)."""
        return b"".join(self._pieces(index))

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
        parts: list[bytes] = []
        count = 0
        trusted = EntryKind.TRUSTED_CERT
        for index, (head, entry) in enumerate(zip(self._heads, self.entries, strict=True)):
            if index in remove:
                continue
            count += 1
            parts.append(head)
            if entry.kind is trusted:
                parts.append(entry.certificates[0])
        parts += (_trusted_entry(c, self.version) for c in add)
        return _assemble_parts(self.magic, self.version, count + len(add), parts, password)


def _trusted_entry(cert: NewCert, version: int) -> bytes:
    # The timestamp is the certificate's notBefore (ms since the epoch), not "now": same inputs
    # must give a byte-identical file.
    stamp = int(cert.not_before.timestamp() * 1000)
    body = struct.pack(">I", _TAG_TRUSTED_CERT) + _encode_utf(cert.alias) + struct.pack(">Q", stamp)
    if version == 2:
        body += _encode_utf("X.509")
    return body + struct.pack(">I", len(cert.der)) + cert.der


def _assemble(magic: int, version: int, entries: Sequence[bytes], password: str) -> bytes:
    return _assemble_parts(magic, version, len(entries), entries, password)


def _assemble_parts(
    magic: int, version: int, count: int, parts: Sequence[bytes], password: str
) -> bytes:
    """The store file: header, ``count`` entries given as ``parts`` (an entry may span several),
    digest. Joined once: header, body and digest are never copied into one another."""
    header = struct.pack(">III", magic, version, count)
    digest = _digester(password, header, *parts).digest()
    return b"".join([header, *parts, digest])


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
    end = len(data) - _DIGEST_LEN  # the body; read in place, never copied
    verified = False
    if password is not None:
        if _digest(password, memoryview(data)[:end]) != data[end:]:
            raise WrongPasswordError(
                f"{source}: wrong password, or the store was modified (its JKS integrity digest "
                "does not match); check the password, and restore the file if it was tampered "
                "with.",
                path=source,
            )
        verified = True
    reader = _Reader(data, source, end)
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
    entries, heads = _read_entries(reader, version, magic, count)
    if reader.pos != end:
        raise StoreError(
            f"{source} has {end - reader.pos} unexpected bytes after its entries; "
            "the store is damaged.",
            path=source,
        )
    return JksStore(
        magic=magic, version=version, entries=entries, heads=heads, verified=verified, source=source
    )


#: A trusted-certificate entry up to its alias: tag, alias length.
_ENTRY_START = struct.Struct(">IH")
#: What follows the timestamp of a version 2 certificate: the type, "X.509" as Java's writeUTF.
_X509_TYPE = b"\x00\x05X.509"


def _read_entries(
    reader: _Reader, version: int, magic: int, count: int
) -> tuple[list[StoreEntry], list[bytes]]:
    """Read ``count`` entries: each one's :class:`StoreEntry` and head (see :class:`JksStore`).

    A 50,000-entry store is 50,000 trusted certificates, so a well-formed trusted-certificate
    entry is read here in a few slices and bounds checks. Anything else (another kind of entry,
    a length running past the end, a type that is not X.509) is read again from its first byte
    by :func:`_read_entry`, the careful reader, which gives the entry or the error: this loop
    only ever takes entries that reader takes, and reads them the same way.
    """
    data, end = reader.data, reader.end
    start_of, u4 = _ENTRY_START.unpack_from, _U4.unpack_from
    sha256, trusted = hashlib.sha256, EntryKind.TRUSTED_CERT
    type_len = len(_X509_TYPE) if version == 2 else 0
    entries: list[StoreEntry] = []
    heads: list[bytes] = []
    pos = reader.pos
    for _ in range(count):
        if pos + 6 <= end:
            tag, alias_len = start_of(data, pos)
            cert_at = pos + 6 + alias_len + 8 + type_len  # after alias, timestamp and type
            if (
                tag == _TAG_TRUSTED_CERT
                and cert_at + 4 <= end
                and (not type_len or data[cert_at - type_len : cert_at] == _X509_TYPE)
            ):
                der_at = cert_at + 4
                der_end = der_at + u4(data, cert_at)[0]
                if der_end <= end:
                    der = data[der_at:der_end]
                    # As _decode_alias: a strict decode that works equals the lenient one.
                    alias = data[pos + 6 : pos + 6 + alias_len].decode("utf-8", "replace")
                    entries.append(StoreEntry(alias, trusted, sha256(der).hexdigest(), (der,)))
                    heads.append(data[pos:der_at])
                    pos = der_end
                    continue
        reader.pos = pos
        entry, head = _read_entry(reader, version, magic, reader.source)
        entries.append(entry)
        heads.append(head)
        pos = reader.pos
    reader.pos = pos
    return entries, heads


def _read_cert(reader: _Reader, version: int) -> bytes:
    if version == 2:
        kind = reader.utf()
        if kind != b"X.509":
            raise StoreError(
                f"{reader.source} holds a certificate of type {_decode_alias(kind)}, not X.509.",
                path=reader.source,
            )
    return reader.take(reader.u4())


def _read_entry(reader: _Reader, version: int, magic: int, source: str) -> tuple[StoreEntry, bytes]:
    """One entry, read field by field with every check, and its head (see :class:`JksStore`)."""
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
    # A trusted certificate's entry ends with the certificate, which the entry holds already.
    head_end = reader.pos - len(certs[0]) if kind is EntryKind.TRUSTED_CERT else reader.pos
    return entry, reader.data[start:head_end]


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
    import logging  # only for a JCEKS secret-key entry (javaobj); most runs never need it

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

    stream = io.BytesIO(reader.data[reader.pos : reader.end])
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
