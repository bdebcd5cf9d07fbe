"""Splitting a bundle into one PEM file per certificate plus a ``manifest.json``."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from rdstrust.atomic import write_bytes_atomic
from rdstrust.bundle import Bundle
from rdstrust.certs import DECODE_ERRORS, der_to_pem, sha256_hex
from rdstrust.errors import StoreError

MANIFEST_NAME = "manifest.json"
#: Mode of the directories split creates (exactly this, whatever the umask).
OUTPUT_DIR_MODE = 0o755


@dataclass(frozen=True)
class SplitFile:
    """One certificate written (or found unchanged) by :func:`split_bundle`."""

    file: str
    alias: str
    subject: str
    issuer: str
    generation: str
    region: str | None
    sha256: str
    not_before: str
    not_after: str
    changed: bool


@dataclass(frozen=True)
class SplitResult:
    """What :func:`split_bundle` did: every file, and how many it had to (re)write."""

    out_dir: str
    source: str
    files: tuple[SplitFile, ...]
    manifest: str
    written: int
    unchanged: int
    #: Files a previous split of another bundle wrote that this bundle no longer has.
    removed: tuple[str, ...] = ()


def manifest_entries(bundle: Bundle) -> list[dict[str, object]]:
    """The manifest rows of a bundle: alias, names, generation, region, fingerprint, validity."""
    return [
        {
            "file": f"{c.alias}.pem",
            "alias": c.alias,
            "subject": c.subject,
            "issuer": c.issuer,
            "generation": c.generation.value,
            "region": c.region,
            "sha256": c.sha256,
            "not_before": c.not_before.isoformat().replace("+00:00", "Z"),
            "not_after": c.not_after.isoformat().replace("+00:00", "Z"),
        }
        for c in bundle.certificates
    ]


def split_bundle(bundle: Bundle, out_dir: str | Path) -> SplitResult:
    """Write ``<alias>.pem`` for each certificate of ``bundle`` and a ``manifest.json``.

    Idempotent: a file whose content is already right is not rewritten. Certificate files that a
    previous split listed in its manifest and that this bundle no longer has are removed (when
    they still hold what that manifest says), so the directory mirrors the bundle; files
    rdstrust did not write are left alone. Every target is checked before anything is written.
    """
    out = Path(out_dir)
    _make_output_directory(out)
    rows = manifest_entries(bundle)
    targets = [out / str(row["file"]) for row in rows] + [out / MANIFEST_NAME]
    for target in targets:
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise StoreError(
                f"Cannot write {target}: it is not a regular file; nothing was written.",
                path=str(target),
            )
    stale = _stale_files(out, {str(row["file"]) for row in rows})
    files: list[SplitFile] = []
    written = 0
    for cert, row in zip(bundle.certificates, rows, strict=True):
        changed = _write_if_changed(out / f"{cert.alias}.pem", cert.pem())
        written += changed
        files.append(SplitFile(changed=changed, **row))  # type: ignore[arg-type]
    manifest = {"source": bundle.source, "sha256": bundle.sha256, "certificates": rows}
    text = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    written += _write_if_changed(out / MANIFEST_NAME, text)
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return SplitResult(
        out_dir=str(out),
        source=bundle.source,
        files=tuple(files),
        manifest=str(out / MANIFEST_NAME),
        written=written,
        unchanged=len(files) + 1 - written,
        removed=tuple(p.name for p in stale),
    )


def _make_output_directory(out: Path) -> None:
    """Create ``out`` and its missing parents with mode 0755, whatever the umask.

    The files are public certificates, so readable by all is right; writable by others is not
    (under umask 000 ``mkdir`` alone gives 0777, and anyone could swap what a TLS client
    trusts). Existing directories are left as they are.
    """
    missing: list[Path] = []
    for path in (out, *out.parents):
        if os.path.lexists(path):
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir(mode=OUTPUT_DIR_MODE)
            path.chmod(OUTPUT_DIR_MODE)  # mkdir's mode passes through the umask; be exact
        except FileExistsError:
            continue
        except OSError as exc:
            raise StoreError(
                f"Cannot create output directory {path}: {exc.strerror or exc}.", path=str(out)
            ) from None
    if not out.is_dir():
        raise StoreError(
            f"Cannot create output directory {out}: it is not a directory.", path=str(out)
        )


def _stale_files(out: Path, keep: set[str]) -> list[Path]:
    """Files the previous manifest in ``out`` lists, not in ``keep``, still as it recorded them."""
    try:
        previous = json.loads((out / MANIFEST_NAME).read_text("utf-8"))
        rows = previous["certificates"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    stale = []
    for row in rows if isinstance(rows, list) else []:
        name = row.get("file") if isinstance(row, dict) else None
        if not isinstance(name, str) or name in keep or Path(name).name != name:
            continue
        path = out / name
        if path.is_symlink() or not path.is_file():
            continue
        try:
            data = path.read_bytes()
            (cert,) = x509.load_pem_x509_certificates(data)
        except OSError:
            continue  # gone
        except DECODE_ERRORS:
            continue  # not a certificate file: leave it
        der = cert.public_bytes(Encoding.DER)
        # Only exactly what split wrote (same certificate, same bytes) counts as ours.
        if sha256_hex(der) == row.get("sha256") and data == der_to_pem(der):
            stale.append(path)
    return stale


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StoreError(f"Cannot read {path}: {exc.strerror or exc}.", path=str(path)) from None
    write_bytes_atomic(path, data, mode=0o644)
    return True
