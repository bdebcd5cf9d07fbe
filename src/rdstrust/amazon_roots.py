"""The Amazon Trust Services roots, pinned: what RDS Proxy and Aurora Serverless v1 present.

RDS Proxy and Aurora Serverless v1 endpoints do not use the RDS CAs: their server certificates
chain to the Amazon Trust Services roots (Amazon Root CA 1-4, and Starfield Services Root
Certificate Authority - G2, the cross-signing root of older chains). A store that holds only the
RDS bundle fails ``verify-full`` through a proxy, so ``--include amazon-roots`` adds these five
roots to the bundle a command works with.

Where the certificates come from is a choice (the official repository
https://www.amazontrust.com/repository/, a mirror directory, a file, or the operating system's own
copies such as Debian's ``/usr/share/ca-certificates/mozilla/Amazon_Root_CA_1.crt``); which
certificates are accepted is not: only those whose SHA-256 (of the DER bytes) is one of the
:data:`PINNED_ROOTS` fingerprints below. The pins are the SHA-256 fingerprints AWS lists on its
"Amazon Trust Services repository" page (https://www.amazontrust.com/repository/), checked against
the copies Mozilla's root program ships (Debian's ca-certificates package; the test suite proves
each pin matches Debian's file). A certificate that claims one of these names with another
fingerprint (a tampered or substituted root) is refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rdstrust.errors import BundleError, UsageError

if TYPE_CHECKING:
    from rdstrust.bundle import Bundle
    from rdstrust.certs import CertInfo
    from rdstrust.transport import DownloadPolicy

#: The name of the opt-in, as ``--include`` takes it.
INCLUDE_NAME = "amazon-roots"
#: Where AWS publishes the roots (one PEM file per root).
OFFICIAL_REPOSITORY = "https://www.amazontrust.com/repository/"
#: At most this many files are looked at in a source directory (a whole CA directory is fine).
MAX_SOURCE_FILES = 2000
#: Each source file is read up to this size: a root certificate is about 2 KB.
MAX_SOURCE_FILE_BYTES = 1024 * 1024
_SUFFIXES = (".pem", ".crt", ".cer", ".der")


@dataclass(frozen=True)
class PinnedRoot:
    """One pinned root: its alias in stores, common name, AWS file name and SHA-256."""

    alias: str
    common_name: str
    aws_file: str
    sha256: str


#: The Amazon Trust Services roots, by the SHA-256 of their DER bytes (see the module docstring
#: for where the fingerprints come from). The aliases are what rdstrust's alias rule gives these
#: subjects anyway, so a root merged with ``--include`` and one taken from a file agree.
PINNED_ROOTS: tuple[PinnedRoot, ...] = (
    PinnedRoot(
        "amazon-root-ca-1",
        "Amazon Root CA 1",
        "AmazonRootCA1.pem",
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
    ),
    PinnedRoot(
        "amazon-root-ca-2",
        "Amazon Root CA 2",
        "AmazonRootCA2.pem",
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4",
    ),
    PinnedRoot(
        "amazon-root-ca-3",
        "Amazon Root CA 3",
        "AmazonRootCA3.pem",
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
    ),
    PinnedRoot(
        "amazon-root-ca-4",
        "Amazon Root CA 4",
        "AmazonRootCA4.pem",
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092",
    ),
    PinnedRoot(
        "starfield-services-root-certificate-authority-g2",
        "Starfield Services Root Certificate Authority - G2",
        "SFSRootCAG2.pem",
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5",
    ),
)
_BY_SHA256 = {p.sha256: p for p in PINNED_ROOTS}
_BY_NAME = {p.common_name: p for p in PINNED_ROOTS}


def is_amazon_root(sha256: str) -> bool:
    """Whether ``sha256`` (lower-case hex of DER bytes) is one of the pinned Amazon roots."""
    return sha256 in _BY_SHA256


def check_include(values: Iterable[str] | None) -> bool:
    """``--include`` values (repeated or comma-separated): whether ``amazon-roots`` is asked for.

    Raises :class:`UsageError` for any other name, so a typo is not silently ignored.
    """
    names = [n.strip().lower() for v in values or () for n in str(v).split(",") if n.strip()]
    for name in names:
        if name != INCLUDE_NAME:
            raise UsageError(f"Unknown --include {name!r}; the only one is {INCLUDE_NAME}.")
    return bool(names)


def split_require(values: Iterable[str] | None) -> tuple[list[str], bool]:
    """``verify --require`` values without ``amazon-roots``, and whether it was among them.

    The rest are RDS generations, parsed as before (none left: the G1 default).
    """
    names = [n.strip() for v in values or () for n in str(v).split(",") if n.strip()]
    rest = [n for n in names if n.lower() != INCLUDE_NAME]
    return rest, len(rest) != len(names)


def required_amazon_roots(bundle: Bundle) -> tuple[CertInfo, ...]:
    """The five pinned roots as ``bundle`` holds them, for ``verify --require amazon-roots``.

    Raises :class:`BundleError` when the reference bundle lacks any: it must be one saved with
    ``fetch --include amazon-roots`` (a store cannot be checked for a CA the reference lacks).
    """
    held = {c.sha256: c for c in bundle.certificates}
    missing = [p.common_name for p in PINNED_ROOTS if p.sha256 not in held]
    if missing:
        raise BundleError(
            f"{bundle.source} does not hold {', '.join(missing)}, which --require {INCLUDE_NAME} "
            f"needs; give a bundle saved with 'rdstrust fetch --include {INCLUDE_NAME}' as "
            "--bundle.",
            source=bundle.source,
        )
    return tuple(held[p.sha256] for p in PINNED_ROOTS)


@dataclass(frozen=True)
class AmazonRootsSource:
    """Where the Amazon roots are taken from: ``path`` (a directory or a file), else ``url``.

    ``url`` is the repository the five AWS file names are appended to (default: the official
    one; a mirror must use the same file names).
    """

    path: Path | None = None
    url: str = OFFICIAL_REPOSITORY

    def __post_init__(self) -> None:
        if self.path is None:
            from rdstrust.transport import check_url

            check_url(self.url)

    @property
    def shown(self) -> str:
        """The source as reports name it."""
        return str(self.path) if self.path is not None else self.url


def load_amazon_roots(
    source: AmazonRootsSource | None = None, *, policy: DownloadPolicy | None = None
) -> tuple[CertInfo, ...]:
    """The five pinned roots, from ``source``, each checked against its pin, in pin order.

    Raises :class:`BundleError` (exit 3) when a root is missing from the source or a
    certificate with a pinned root's name has another fingerprint; :class:`FetchError` (exit 4)
    when a download fails. Nothing else in the source is taken.
    """
    src = source or AmazonRootsSource()
    if src.path is None:
        found = _download(src.url, policy)
    elif src.path.is_dir():
        found = _from_directory(src.path)
    else:
        found = _from_file(src.path)
    return _pick(found, src.shown)


def with_amazon_roots(bundle: Bundle, roots: Sequence[CertInfo], shown: str) -> Bundle:
    """``bundle`` with ``roots`` appended (each under its pinned alias), noted in its notes.

    A root the bundle already holds is not added twice. The raw bytes gain the roots' PEM blocks
    (a PKCS7 or DER bundle becomes PEM, so a saved bundle holds what was merged); ``sha256``
    stays the RDS bundle's, which is what ``--expect-sha256`` pins.
    """
    from rdstrust.bundle import assign_aliases

    have = {c.sha256 for c in bundle.certificates}
    new = [r for r in roots if r.sha256 not in have]
    if not new:
        return bundle
    base = bundle.raw if bundle.format == "pem" else bundle.to_pem()
    if base and not base.endswith(b"\n"):
        base += b"\n"
    extra = assign_aliases(new, taken=(c.alias for c in bundle.certificates))
    note = (
        f"--include {INCLUDE_NAME}: {len(new)} Amazon Trust Services root(s) added from "
        f"{shown}, each matching its pinned SHA-256 ({', '.join(c.alias for c in extra)})"
    )
    return replace(
        bundle,
        format="pem",
        certificates=(*bundle.certificates, *extra),
        notes=(*bundle.notes, note),
        raw=base + b"".join(c.pem() for c in extra),
    )


# --- internals ---------------------------------------------------------------------------------


def _pick(found: Iterable[CertInfo], shown: str) -> tuple[CertInfo, ...]:
    by_sha = {c.sha256: c for c in found}
    for info in by_sha.values():
        pinned = _BY_NAME.get(info.common_name or "")
        if pinned is not None and info.sha256 != pinned.sha256 and pinned.sha256 not in by_sha:
            raise BundleError(
                f"{shown}: the certificate named {pinned.common_name!r} has SHA-256 "
                f"{info.sha256}, not the pinned {pinned.sha256}; it is not the genuine Amazon "
                "Trust Services root (tampered or substituted): refusing it, take the roots from "
                f"{OFFICIAL_REPOSITORY}.",
                source=shown,
            )
    missing = [p for p in PINNED_ROOTS if p.sha256 not in by_sha]
    if missing:
        names = ", ".join(p.common_name for p in missing)
        raise BundleError(
            f"{shown} does not hold {names} (pinned SHA-256 {missing[0].sha256[:16]}...); give a "
            f"directory or file with all five Amazon Trust Services roots, or download them "
            f"from {OFFICIAL_REPOSITORY}.",
            source=shown,
        )
    return tuple(replace(by_sha[p.sha256], alias=p.alias) for p in PINNED_ROOTS)


def _describe_all(data: bytes, shown: str) -> list[CertInfo]:
    """Every certificate in ``data`` as :class:`CertInfo`; :class:`BundleError` if none parse."""
    from rdstrust.bundle import parse_certificates
    from rdstrust.certs import DECODE_ERRORS, describe

    _fmt, pairs = parse_certificates(data, source=shown)
    infos = []
    for cert, der in pairs:
        try:
            infos.append(describe(cert, der))
        except DECODE_ERRORS:
            continue  # cannot be a pinned root: those decode
    return infos


def _read(path: Path) -> bytes:
    from rdstrust.files import read_input

    return read_input(
        path,
        limit=MAX_SOURCE_FILE_BYTES,
        what="Amazon roots file",
        error=BundleError,
        missing_hint="give a file or directory holding the Amazon Trust Services roots",
    )


def _from_file(path: Path) -> list[CertInfo]:
    return _describe_all(_read(path), str(path))


def _from_directory(path: Path) -> list[CertInfo]:
    """Certificates of the directory's ``*.pem`` / ``*.crt`` / ``*.cer`` / ``*.der`` files.

    A file that is not a certificate is skipped: it cannot be a pinned root, and a system CA
    directory holds other files. The number of files looked at is bounded.
    """
    try:
        names = sorted(e.name for e in os.scandir(path) if e.name.lower().endswith(_SUFFIXES))
    except OSError as exc:
        raise BundleError(
            f"Cannot list {path}: {exc.strerror or exc}; check the directory.", source=str(path)
        ) from None
    if len(names) > MAX_SOURCE_FILES:
        raise BundleError(
            f"{path} holds {len(names)} certificate files, more than the {MAX_SOURCE_FILES} "
            "rdstrust looks at; give a directory with the Amazon roots only.",
            source=str(path),
        )
    found: list[CertInfo] = []
    for name in names:
        try:
            found.extend(_describe_all(_read(path / name), str(path / name)))
        except BundleError:
            continue
    return found


def _download(base: str, policy: DownloadPolicy | None) -> list[CertInfo]:
    from rdstrust.transport import DownloadPolicy, check_ca_bundle, download

    pol = policy or DownloadPolicy(
        30.0, 3, 0.5, MAX_SOURCE_FILE_BYTES, 300.0, check_ca_bundle(None)
    )
    prefix = base if base.endswith("/") else base + "/"
    found: list[CertInfo] = []
    for pinned in PINNED_ROOTS:
        url = prefix + pinned.aws_file
        found.extend(_describe_all(download(url, pol).data, url))
    return found


__all__ = [
    "INCLUDE_NAME",
    "OFFICIAL_REPOSITORY",
    "PINNED_ROOTS",
    "AmazonRootsSource",
    "PinnedRoot",
    "check_include",
    "is_amazon_root",
    "load_amazon_roots",
    "required_amazon_roots",
    "split_require",
    "with_amazon_roots",
]
