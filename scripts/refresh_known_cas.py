#!/usr/bin/env python3
"""Refresh rdstrust's list of published Amazon RDS CAs from official bundle files.

rdstrust knows the real RDS CAs by their SHA-256 (``src/rdstrust/data/known-rds-cas.txt``); an
Amazon-RDS-named CA outside that list is reported as unknown and refused from files and mirrors.
When AWS publishes new CAs (a new region, a new generation), refresh the list:

1. Download the official bundles, over HTTPS, from AWS's own hosts::

       curl -fsSLO https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
       curl -fsSLO https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.pem
       curl -fsSLO https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.pem

   (save each under its own name, and add any per-region bundle,
   ``https://truststore.pki.rds.amazonaws.com/<region>/<region>-bundle.pem``, you want checked).

2. Run this script on them (the list only grows; nothing is ever dropped, because stores keep
   old CAs long after AWS removes them from its bundle)::

       python scripts/refresh_known_cas.py global-bundle.pem gov-global-bundle.pem ...

3. Review ``git diff src/rdstrust/data/known-rds-cas.txt``: every added line must be a CA AWS
   announced (a new region or generation). Commit it with the bundles' source URLs in the message.

``--check`` writes nothing and exits 1 when the bundles hold a CA the list lacks (for a scheduled
job that watches AWS's bundle).

The script refuses a file that holds anything but Amazon-RDS-named CA certificates, and any
certificate of this project's own fake PKI (``fixtures/``, whose private keys are public): those
must never become "published RDS CAs".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rdstrust.bundle import MAX_BUNDLE_BYTES, parse_certificates
from rdstrust.certs import DECODE_ERRORS, CertInfo, describe
from rdstrust.errors import RdsTrustError
from rdstrust.known_cas import merge_known, parse_known_list, printable, render_known_list

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "src" / "rdstrust" / "data" / "known-rds-cas.txt"
FIXTURES = ROOT / "fixtures"


class RefreshError(Exception):
    """A bundle cannot go into the list; the message says which and why."""


def read_cas(path: Path) -> list[CertInfo]:
    """Every certificate of the bundle at ``path``; each must be an Amazon-RDS-named CA."""
    if path.stat().st_size > MAX_BUNDLE_BYTES:
        raise RefreshError(f"{path} is larger than any RDS CA bundle; is it the right file?")
    _fmt, certs = parse_certificates(path.read_bytes(), source=str(path))
    infos = []
    for index, (cert, der) in enumerate(certs, start=1):
        try:
            info = describe(cert, der)
        except DECODE_ERRORS:
            raise RefreshError(f"{path}: certificate {index} cannot be decoded.") from None
        if not (info.is_rds and info.is_ca):
            raise RefreshError(
                f"{path}: certificate {index} ({printable(info.subject)}) is not an "
                "Amazon-RDS-named CA; only official RDS bundles may feed the list."
            )
        infos.append(info)
    return infos


def fixture_fingerprints(root: Path = FIXTURES) -> set[str]:
    """SHA-256 of every certificate in the project's fake PKI (missing folder: none)."""
    found: set[str] = set()
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in {".pem", ".p7b", ".der", ".crt"}:
            continue
        try:
            _fmt, certs = parse_certificates(path.read_bytes(), source=str(path))
        except RdsTrustError:
            continue  # a key or a deliberately broken file: no certificate to exclude
        found.update(describe(cert, der).sha256 for cert, der in certs)
    return found


def refresh(bundles: Sequence[Path], output: Path, *, check: bool) -> int:
    """Merge the CAs of ``bundles`` into the list at ``output``; returns the exit code."""
    fakes = fixture_fingerprints()
    found: list[tuple[str, str]] = []
    for path in bundles:
        for info in read_cas(path):
            if info.sha256 in fakes:
                raise RefreshError(
                    f"{path} holds {info.sha256[:16]}..., a certificate of this project's fake "
                    "test PKI (fixtures/); refusing to list it as a published RDS CA."
                )
            found.append((info.sha256, info.subject))
    existing = (
        parse_known_list(output.read_text("ascii"), source=str(output)) if output.exists() else {}
    )
    merged, added = merge_known(existing, found)
    for sha256 in added:
        print(f"+ {sha256}  {printable(merged[sha256])}")
    print(
        f"{len(found)} certificates read from {len(bundles)} bundle(s): {len(added)} new, "
        f"{len(merged)} in the list."
    )
    text = render_known_list(merged)
    if check:
        return 1 if added or (output.exists() and output.read_text("ascii") != text) else 0
    if not output.exists() or output.read_text("ascii") != text:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text, "ascii")
        tmp.replace(output)
        print(f"wrote {output}; review the diff before committing it.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("bundles", nargs="+", type=Path, help="official RDS CA bundle files")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the list to update")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    try:
        return refresh(args.bundles, args.output, check=args.check)
    except (RefreshError, RdsTrustError, OSError, ValueError) as exc:
        print(f"refresh_known_cas: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
