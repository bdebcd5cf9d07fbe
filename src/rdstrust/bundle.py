"""Reading an Amazon RDS CA bundle: detect its format, parse it strictly, name its certificates.

A bundle is a supply chain: rdstrust refuses anything that is not plainly a set of CA
certificates (an HTML page saved under the bundle's name, placeholder PEM blocks, a truncated
download, a private key) with one sentence naming the file and the problem, before anything is
written. Accepted shapes, detected from the bytes and never from the file name:

* PEM text with ``CERTIFICATE`` blocks (text around or between blocks, CRLF line ends, a UTF-8
  byte-order mark and trailing spaces are tolerated);
* PKCS7 certificates-only bundles (``.p7b``), PEM (``-----BEGIN PKCS7-----``) or DER;
* a single DER certificate.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from rdstrust.amazon_roots import is_amazon_root
from rdstrust.certs import DECODE_ERRORS, CertInfo, Generation, describe, sha256_hex
from rdstrust.errors import BundleError
from rdstrust.files import read_input
from rdstrust.known_cas import UnknownRdsCaError, unknown_rds_accepted
from rdstrust.output import internal
from rdstrust.pemscan import (
    PKCS7_LABELS,
    PemBlock,
    PemError,
    decode_body,
    line_number,
    scan,
    shown_label,
)
from rdstrust.stores._der import declared_size

#: Refuse inputs larger than this: the global bundle is about 170 KB.
MAX_BUNDLE_BYTES = 8 * 1024 * 1024

#: Labels a bundle may hold certificates under (what OpenSSL reads as a plain certificate).
_CERT_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
_HTML = re.compile(rb"<\s*(?:!doctype\s+html|html|head|body|script|div|meta)\b", re.IGNORECASE)
_KEY_LABELS = re.compile(r"PRIVATE KEY")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Bundle:
    """A validated CA bundle: distinct certificates in input order, each with a unique alias."""

    source: str
    format: str
    certificates: tuple[CertInfo, ...]
    #: Certificates dropped because an identical one (same SHA-256) came earlier.
    duplicates: int = 0
    #: SHA-256 of the raw input bytes (what ``fetch --expect-sha256`` pins).
    sha256: str = ""
    #: Things a user should know that did not stop the read (foreign certificates taken, ...).
    notes: tuple[str, ...] = ()
    raw: bytes = internal(default=b"", compare=False)

    def __len__(self) -> int:
        return len(self.certificates)

    def __iter__(self):  # type: ignore[no-untyped-def]  # Iterator[CertInfo]
        return iter(self.certificates)

    def select(
        self,
        generations: Iterable[Generation | str] | None = None,
        region: str | None = None,
    ) -> tuple[CertInfo, ...]:
        """Certificates of the given generations (all when ``None``), optionally one region."""
        wanted = None if generations is None else {Generation(g) for g in generations}
        return tuple(
            c
            for c in self.certificates
            if (wanted is None or c.generation in wanted)
            and (region is None or (c.region or "").lower() == region.lower())
        )

    def to_pem(self) -> bytes:
        """All certificates as one PEM bundle, in order."""
        return b"".join(c.pem() for c in self.certificates)


def read_bundle(
    path: str | Path, *, allow_foreign: bool = False, accept_unknown_rds: bool | None = None
) -> Bundle:
    """Read and validate the bundle at ``path``; see :func:`parse_bundle`.

    A file is never the official download, so an Amazon-RDS-named CA that is not a published one
    is refused unless ``accept_unknown_rds`` (or an enclosing
    :func:`rdstrust.known_cas.accepting_unknown_rds`) says otherwise.
    """
    p = Path(path)
    data = read_input(
        p,
        limit=MAX_BUNDLE_BYTES,
        what="Bundle file",
        error=BundleError,
        missing_hint="download it with 'rdstrust fetch' or give its path",
    )
    return parse_bundle(
        data, source=str(p), allow_foreign=allow_foreign, accept_unknown_rds=accept_unknown_rds
    )


def parse_bundle(
    data: bytes,
    *,
    source: str = "<bytes>",
    allow_foreign: bool = False,
    accept_unknown_rds: bool | None = None,
    from_official_url: bool = False,
) -> Bundle:
    """Parse and validate bundle bytes.

    Raises :class:`BundleError` when the bytes are not a bundle, when a certificate is malformed,
    when no certificate is a CA, or (unless ``allow_foreign``) when any certificate is not an
    Amazon RDS CA certificate.

    A CA named as an Amazon RDS CA whose SHA-256 is not one AWS has published
    (:mod:`rdstrust.known_cas`) raises :class:`rdstrust.known_cas.UnknownRdsCaError`, unless
    ``from_official_url`` (the bytes just came from AWS's official URL over verified HTTPS: a new
    region's CA appears there before rdstrust's list knows it) or ``accept_unknown_rds``
    (``None``: the enclosing :func:`rdstrust.known_cas.accepting_unknown_rds`, else refuse).
    ``allow_foreign`` does not cover them: a CA that claims to be an RDS CA is not foreign.
    """
    fmt, certs = parse_certificates(data, source=source)
    infos: list[CertInfo] = []
    seen: set[str] = set()
    duplicates = 0
    for index, (cert, der) in enumerate(certs, start=1):
        fp = sha256_hex(der)
        if fp in seen:
            duplicates += 1
            continue
        seen.add(fp)
        try:
            infos.append(describe(cert, der))
        except DECODE_ERRORS as exc:  # a field we read cannot be decoded
            raise BundleError(
                f"{source}: certificate {index} cannot be decoded ({_reason(exc)}); "
                "the file is damaged, download it again.",
                source=source,
            ) from None
    if not any(c.is_ca for c in infos):
        raise BundleError(
            f"{source} contains no CA certificate (only server or client certificates); "
            "a trust store needs the RDS CA bundle, not a server certificate.",
            source=source,
        )
    # The pinned Amazon Trust Services roots (rdstrust.amazon_roots) are not RDS CAs but are
    # identified by their bytes, like the published RDS CAs: a bundle saved by
    # 'fetch --include amazon-roots' must read back without --allow-foreign.
    pinned = sum(1 for c in infos if is_amazon_root(c.sha256))
    foreign = [c for c in infos if (not c.is_rds or not c.is_ca) and not is_amazon_root(c.sha256)]
    notes: list[str] = []
    if pinned:
        notes.append(f"{pinned} pinned Amazon Trust Services root(s) (RDS Proxy) taken")
    if foreign:
        names = "; ".join(_describe_foreign(c) for c in foreign[:3])
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        count = f"{len(foreign)} certificate{'s' if len(foreign) != 1 else ''}"
        if not allow_foreign:
            raise BundleError(
                f"{source} contains {count} that {'is' if len(foreign) == 1 else 'are'} not "
                f"an Amazon RDS CA ({names}{more}); refusing the bundle, pass --allow-foreign "
                "to take such certificates on purpose.",
                source=source,
            )
        notes.append(f"taken on purpose (--allow-foreign): {count} ({names}{more})")
    notes.extend(
        _check_unknown_rds(
            infos,
            source,
            accept=unknown_rds_accepted(explicit=accept_unknown_rds),
            official=from_official_url,
        )
    )
    return Bundle(
        source=source,
        format=fmt,
        certificates=tuple(assign_aliases(infos)),
        duplicates=duplicates,
        sha256=sha256_hex(data),
        notes=tuple(notes),
        raw=data,
    )


def assign_aliases(infos: Sequence[CertInfo], taken: Iterable[str] = ()) -> list[CertInfo]:
    """Return ``infos`` with aliases made unique (also against ``taken``).

    The first certificate keeps its readable alias; a later, different certificate that would
    share it gets a short fingerprint suffix, so an alias never names two certificates.
    """
    from dataclasses import replace

    used = {a.lower() for a in taken}
    result = []
    for info in infos:
        alias = info.alias
        if alias in used:
            alias = f"{info.alias}-{info.sha256[:8]}"
            n = 2
            while alias in used:
                alias = f"{info.alias}-{info.sha256[:8]}-{n}"
                n += 1
        used.add(alias)
        result.append(info if alias == info.alias else replace(info, alias=alias))
    return result


def _describe_foreign(info: CertInfo) -> str:
    what = "not a CA" if not info.is_ca else "not issued to Amazon RDS"
    return f"{info.common_name or info.subject}: {what}"


def _check_unknown_rds(
    infos: Sequence[CertInfo], source: str, *, accept: bool, official: bool
) -> list[str]:
    """Refuse Amazon-RDS-named CAs that AWS never published, or say why they were taken.

    The name is free text: without this check, any self-made CA called "Amazon RDS ..." would be
    merged into trust stores as an RDS CA from any file or mirror.
    """
    unknown = [c for c in infos if c.is_ca and c.unknown_rds]
    if not unknown:
        return []
    # Aliases of RDS-named certificates are slugs ([a-z0-9-]) and fingerprints are hex: both are
    # safe to print, unlike the subject.
    first = f"{unknown[0].alias} (SHA-256 {unknown[0].sha256[:16]})"
    shown = "; ".join(f"{c.alias} {c.sha256[:16]}" for c in unknown[:3])
    more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
    count = f"{len(unknown)} Amazon-RDS-named CA{'s' if len(unknown) != 1 else ''}"
    if official:
        return [
            f"not yet in rdstrust's list of published RDS CAs, taken because they came from the "
            f"official URL over verified HTTPS: {count} ({shown}{more})"
        ]
    if accept:
        return [
            f"taken on purpose (--accept-unknown-rds): {count} that AWS has not published "
            f"({shown}{more})"
        ]
    claim = (
        "is named as an Amazon RDS CA but is not one"
        if len(unknown) == 1
        else f"and {len(unknown) - 1} more are named as Amazon RDS CAs but are not ones"
    )
    raise UnknownRdsCaError(
        f"{source}: certificate {first} {claim} AWS has published; refusing the bundle: such a "
        "CA is taken only from the official download URL over verified HTTPS, or on purpose "
        "with --accept-unknown-rds.",
        source=source,
        fingerprints=tuple(c.sha256 for c in unknown),
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text.splitlines()[0] if text else type(exc).__name__


def parse_certificates(
    data: bytes, *, source: str = "<bytes>"
) -> tuple[str, list[tuple[x509.Certificate, bytes]]]:
    """Split bundle bytes into ``(certificate, der)`` pairs and name the detected format.

    Only parsing happens here (no CA or RDS checks). Raises :class:`BundleError`.
    """
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(
            f"{source} is {len(data)} bytes, far larger than any RDS CA bundle "
            f"(limit {MAX_BUNDLE_BYTES}).",
            source=source,
        )
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if not data.strip():
        raise BundleError(
            f"{source} is empty; download the bundle again (rdstrust fetch).", source=source
        )
    if data[:1] == b"\x30":
        return _parse_der(data, source)
    if _HTML.search(data[:65536]):
        raise BundleError(
            f"{source} is a web page (HTML), not a certificate bundle; save the raw .pem file "
            "(for example with 'rdstrust fetch'), not the page that links to it.",
            source=source,
        )
    if b"\x00" in data:
        raise BundleError(
            f"{source} is binary data that is neither PEM text, a DER certificate nor a PKCS7 "
            "bundle.",
            source=source,
        )
    return "pem", _parse_pem(data, source)


def _parse_der(data: bytes, source: str) -> tuple[str, list[tuple[x509.Certificate, bytes]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cert = x509.load_der_x509_certificate(data)
            return "der", [(cert, data)]
        except ValueError:
            pass
        certs = _load_pkcs7(data)
        if certs is None:
            raise BundleError(
                f"{source} is binary data that is neither a DER certificate nor a PKCS7 (.p7b) "
                "bundle; the file is damaged or of another kind.",
                source=source,
            )
    return "pkcs7-der", _with_der(certs, source)


def _load_pkcs7(der: bytes) -> list[x509.Certificate] | None:
    """The certificates of a DER PKCS7 bundle, ``None`` when it is not one.

    Imported here, not at the top: cryptography's pkcs7 module pulls in the ``email`` package,
    an import cost every PEM bundle would pay for nothing.
    """
    from cryptography.hazmat.primitives.serialization import pkcs7

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pkcs7.load_der_pkcs7_certificates(der)
        except ValueError:
            return None


def _with_der(
    certs: Sequence[x509.Certificate], source: str
) -> list[tuple[x509.Certificate, bytes]]:
    from cryptography.hazmat.primitives.serialization import Encoding

    if not certs:
        raise BundleError(f"{source} is a PKCS7 bundle with no certificates.", source=source)
    return [(c, c.public_bytes(Encoding.DER)) for c in certs]


def _parse_pem(data: bytes, source: str) -> list[tuple[x509.Certificate, bytes]]:
    found = scan(data, indented=True)
    if found.problem is not None:
        raise BundleError(
            f"{source} is truncated or damaged: {found.problem}; download the bundle again.",
            source=source,
        )
    if found.strays:
        # OpenSSL only sees a block whose BEGIN line starts a line: a certificate behind other
        # text on its line would be in the bundle for one reader and not for another.
        raise BundleError(
            f"{source} has '-----BEGIN' text at line {line_number(data, found.strays[0])} "
            "that does not start a PEM block (other text comes before it on its line, or the "
            "line is incomplete); fix or download the bundle again.",
            source=source,
        )
    if not found.blocks:
        raise BundleError(
            f"{source} contains no PEM certificate blocks (no '-----BEGIN CERTIFICATE-----'); "
            "it is not a CA bundle.",
            source=source,
        )
    result: list[tuple[x509.Certificate, bytes]] = []
    for block in found.blocks:
        index, label = block.number, block.label
        if _KEY_LABELS.search(label):
            raise BundleError(
                f"{source} contains a private key (PEM block {index}, {shown_label(label)}); a CA "
                "bundle never holds keys: check that you picked the right file, and keep the key "
                "secret.",
                source=source,
            )
        if label not in _CERT_LABELS and label not in PKCS7_LABELS:
            raise BundleError(
                f"{source} contains a PEM block of type {shown_label(label)} (block {index}), not "
                "a certificate; a CA bundle holds only CERTIFICATE blocks.",
                source=source,
            )
        der = _decode_body(data, block, source)
        if label in PKCS7_LABELS:
            certs = _load_pkcs7(der)
            if certs is None:
                raise BundleError(
                    f"{source}: PEM block {index} (PKCS7) is not a valid PKCS7 bundle; "
                    "download it again.",
                    source=source,
                )
            result.extend(_with_der(certs, source))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                cert = x509.load_der_x509_certificate(der)
            except ValueError as exc:
                raise BundleError(
                    f"{source}: PEM block {index} {_explain_bad_der(der, exc)}; the file is "
                    "damaged or was edited, download the bundle again.",
                    source=source,
                ) from None
        result.append((cert, der))
    return result


def _explain_bad_der(der: bytes, exc: BaseException) -> str:
    """Say why DER bytes are not a certificate in words a user recognises."""
    if len(der) < 64:
        return f"holds only {len(der)} bytes, a placeholder rather than a certificate"
    declared = declared_size(der)
    if declared is not None and declared > len(der):
        return f"is cut off: it holds {len(der)} of the {declared} bytes its header announces"
    return f"is not a valid X.509 certificate ({_reason(exc)})"


def _decode_body(data: bytes, block: PemBlock, source: str) -> bytes:
    try:
        return decode_body(data, block)
    except PemError as exc:
        raise BundleError(
            f"{source}: PEM block {block.number} {exc}; the file is not a real bundle, "
            "download it again.",
            source=source,
        ) from None
