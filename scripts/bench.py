#!/usr/bin/env python3
"""Benchmark: rdstrust merge against AWS's documented keytool loop, side by side in one run.

AWS's guidance splits the bundle and runs one ``keytool -importcert`` JVM per certificate. This
script times that loop and ``rdstrust merge`` on identical copies of the same store (by default a
copy of this machine's JDK ``cacerts``, the container-image case) with the same bundle, and
reports wall time and peak memory (max RSS of the child processes) as ratios, because absolute
figures on a shared 2-core machine are noise. It also times the second run (AWS's loop fails on
every re-run; rdstrust's is a no-op) and checks both stores end with the same trusted set.

    python scripts/bench.py                       # real global bundle if ../shared is present
    python scripts/bench.py --bundle fixtures/bundles/g1.pem --repeat 3
    python scripts/bench.py --json

The targets (see README "Performance"): rdstrust merge at least 20x faster than the keytool loop
on the global bundle, and a peak RSS no larger than one keytool JVM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLES = (
    ROOT.parent / "shared" / "rds-bundles" / "global-2026-03.pem",
    ROOT / "fixtures" / "bundles" / "g1.pem",
)
DEFAULT_STORE = Path("/etc/ssl/certs/java/cacerts")
PASSWORD = "changeit"

# Runs the given commands one after the other in a child interpreter and reports wall time and
# the children's peak RSS, so each measurement's memory figure is its own (RUSAGE_CHILDREN is
# cumulative per process).
_HARNESS = r"""
import json, resource, subprocess, sys, time
cmds = json.loads(sys.argv[1])
start = time.perf_counter()
failures = 0
for cmd in cmds:
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failures += done.returncode != 0
elapsed = time.perf_counter() - start
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": elapsed, "max_rss_kib": rss_kib, "failures": failures}))
"""


@dataclass
class Measure:
    """One timed run of a method."""

    seconds: float
    max_rss_kib: int
    failures: int


def measure(commands: list[list[str]], env: dict[str, str]) -> Measure:
    """Run ``commands`` in a fresh harness process and return its figures."""
    out = subprocess.run(
        [sys.executable, "-c", _HARNESS, json.dumps(commands)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return Measure(**json.loads(out))


def split_bundle(bundle: Path, out_dir: Path) -> list[Path]:
    """What AWS's awk step does: one PEM file per certificate."""
    text = bundle.read_text()
    blocks = text.split("-----END CERTIFICATE-----")
    files = []
    for i, block in enumerate(b for b in blocks if "-----BEGIN CERTIFICATE-----" in b):
        path = out_dir / f"cert{i}.pem"
        path.write_text(block[block.index("-----BEGIN") :] + "-----END CERTIFICATE-----\n")
        files.append(path)
    return files


def keytool_loop(keytool: str, store: Path, certs: list[Path]) -> list[list[str]]:
    """AWS's loop: one ``keytool -importcert`` (one JVM) per certificate."""
    return [
        [
            keytool,
            "-importcert",
            "-noprompt",
            "-alias",
            f"rds-{i}",
            "-file",
            str(cert),
            "-keystore",
            str(store),
            "-storepass",
            PASSWORD,
        ]
        for i, cert in enumerate(certs)
    ]


def rdstrust_merge(bundle: Path, store: Path) -> list[list[str]]:
    """The same job with rdstrust: one process, every certificate."""
    return [
        [
            sys.executable,
            "-m",
            "rdstrust",
            "merge",
            "--bundle",
            str(bundle),
            "--store",
            str(store),
            "--storepass-env",
            "BENCH_STOREPASS",
            "--no-backup",
        ]
    ]


def trusted_count(keytool: str, store: Path) -> int:
    """How many entries keytool lists in ``store`` (the ground truth both must agree on)."""
    out = subprocess.run(
        [keytool, "-list", "-keystore", str(store), "-storepass", PASSWORD],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sum(1 for line in out.splitlines() if "trustedCertEntry" in line)


def main() -> int:
    """Parse options, run both methods ``--repeat`` times, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="bundle to merge (default: real global)")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="store to copy")
    parser.add_argument("--repeat", type=int, default=1, help="runs per method (median)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()

    bundle = args.bundle or next((p for p in DEFAULT_BUNDLES if p.exists()), None)
    if bundle is None:
        parser.error("no bundle found; pass --bundle")
    keytool = shutil.which("keytool")
    if keytool is None:
        parser.error("keytool is not on PATH")
    env = {**os.environ, "BENCH_STOREPASS": PASSWORD}

    runs: dict[str, list[Measure]] = {"keytool": [], "rdstrust": [], "rdstrust-rerun": []}
    counts: dict[str, int] = {}
    aws_rerun_failures = 0
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            certs = split_bundle(bundle, work)
            aws_store, our_store = work / "aws.jks", work / "ours.jks"
            shutil.copyfile(args.store, aws_store)
            shutil.copyfile(args.store, our_store)
            # Alternate which goes first so neither always gets the warmer cache.
            order = ["keytool", "rdstrust"]
            if len(runs["keytool"]) % 2:
                order.reverse()
            for name in order:
                if name == "keytool":
                    runs[name].append(measure(keytool_loop(keytool, aws_store, certs), env))
                else:
                    runs[name].append(measure(rdstrust_merge(bundle, our_store), env))
            runs["rdstrust-rerun"].append(measure(rdstrust_merge(bundle, our_store), env))
            aws_rerun_failures = measure(keytool_loop(keytool, aws_store, certs[:3]), env).failures
            counts = {
                "keytool": trusted_count(keytool, aws_store),
                "rdstrust": trusted_count(keytool, our_store),
            }

    med = {k: statistics.median(m.seconds for m in v) for k, v in runs.items()}
    rss = {k: max(m.max_rss_kib for m in v) for k, v in runs.items()}
    report = {
        "bundle": str(bundle),
        "store": str(args.store),
        "certificates": len(split_bundle(bundle, Path(tempfile.mkdtemp()))),
        "repeat": args.repeat,
        "median_seconds": med,
        "max_rss_kib": rss,
        "speedup_rdstrust_vs_keytool": med["keytool"] / med["rdstrust"],
        "rss_ratio_rdstrust_vs_keytool": rss["rdstrust"] / rss["keytool"],
        "trusted_entries_after": counts,
        "keytool_rerun_failures_of_3": aws_rerun_failures,
        "failures": {k: sum(m.failures for m in v) for k, v in runs.items()},
        "runs": {k: [asdict(m) for m in v] for k, v in runs.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"bundle {bundle} ({report['certificates']} certificates) into a copy of {args.store}")
    print(f"{'method':<16}{'median s':>10}{'max RSS MiB':>14}")
    for name in runs:
        print(f"{name:<16}{med[name]:>10.2f}{rss[name] / 1024:>14.1f}")
    print(f"rdstrust is {report['speedup_rdstrust_vs_keytool']:.1f}x faster than the keytool loop")
    print(f"rdstrust peak RSS is {report['rss_ratio_rdstrust_vs_keytool']:.2f}x one keytool JVM's")
    print(f"trusted entries after: {counts}  (keytool re-run failures: {aws_rerun_failures}/3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
