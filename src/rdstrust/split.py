"""Splitting a bundle into one PEM file per certificate plus a ``manifest.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rdstrust.atomic import write_bytes_atomic
from rdstrust.bundle import Bundle
from rdstrust.errors import StoreError

MANIFEST_NAME = "manifest.json"


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

    Idempotent: a file whose content is already right is not rewritten. Files in ``out_dir`` that
    rdstrust did not name are left alone.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"Cannot create output directory {out}: {exc.strerror or exc}.", path=str(out)
        ) from None
    rows = manifest_entries(bundle)
    files: list[SplitFile] = []
    written = 0
    for cert, row in zip(bundle.certificates, rows, strict=True):
        changed = _write_if_changed(out / f"{cert.alias}.pem", cert.pem())
        written += changed
        files.append(SplitFile(changed=changed, **row))  # type: ignore[arg-type]
    manifest = {"source": bundle.source, "sha256": bundle.sha256, "certificates": rows}
    text = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    written += _write_if_changed(out / MANIFEST_NAME, text)
    return SplitResult(
        out_dir=str(out),
        source=bundle.source,
        files=tuple(files),
        manifest=str(out / MANIFEST_NAME),
        written=written,
        unchanged=len(files) + 1 - written,
    )


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
