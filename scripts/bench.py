#!/usr/bin/env python3
"""Benchmark rdstrust side by side in one run: the update job, start-up, and large stores.

Absolute times on a shared 2-core machine are noise, so every figure here is measured in the
same run as what it is compared with (runs interleaved, medians), and reported as a ratio.

* ``update``: ``rdstrust update --source <bundle>`` into a fresh copy of the JDK ``cacerts`` plus
  a new PKCS12 and a new PEM store (``--create``), each verified, against AWS's documented
  script doing its one job (the JKS store only) the way AWS wrote it: ``awk`` splits the bundle,
  ``openssl x509 -text | perl`` names each certificate, one ``keytool -import`` (one JVM) per
  certificate.
* ``startup``: ``rdstrust --help`` and ``--version`` against the floors ``python -c pass`` and
  ``python -c 'import typer'``.
* ``scale``: the bundle merged into stores of 1k / 10k / 50k entries (JKS, PKCS12, PEM), then
  ``verify`` of the merged store: wall time and peak RSS of the rdstrust process.

``--baseline SRC`` adds the same rdstrust runs from another source tree (``git archive main
src | tar -x -C /tmp/base`` gives one), interleaved with the current tree's, for before/after.

    python scripts/bench.py                               # everything, real global bundle
    python scripts/bench.py --only update --repeat 9 --aws-repeat 3
    python scripts/bench.py --only scale --sizes 1000,10000,50000 --json
    python scripts/bench.py --baseline /tmp/base/src

Targets (README "Performance"): update <= 0.27 s and >= 150x the AWS script; --help <= 0.12 s;
--version <= 0.05 s; a 50k-entry merge <= 2 s and <= 300 MB peak RSS; verify of it <= 2 s.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
DEFAULT_BUNDLES = (
    ROOT.parent / "shared" / "rds-bundles" / "global-2026-03.pem",
    ROOT.parent.parent / "shared" / "rds-bundles" / "global-2026-03.pem",
    ROOT / "fixtures" / "bundles" / "g1.pem",
)
DEFAULT_STORE = Path("/etc/ssl/certs/java/cacerts")
PASSWORD = "changeit"
SUFFIX = {"jks": "jks", "pkcs12": "p12", "pem": "pem"}

# Runs one command in a child interpreter and reports its wall time and the child's peak RSS
# (RUSAGE_CHILDREN of a fresh harness is that one child's, not a running total).
_HARNESS = r"""
import json, resource, subprocess, sys, time
cmd, shell = json.loads(sys.argv[1]), sys.argv[2] == "shell"
start = time.perf_counter()
done = subprocess.run(cmd, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
elapsed = time.perf_counter() - start
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": elapsed, "max_rss_kib": rss_kib, "rc": done.returncode,
                  "stderr": done.stderr.decode("utf-8", "replace")[-400:]}))
"""

# AWS's script (docs: "Updating applications to connect to MySQL DB instances using new SSL/TLS
# certificates", the Java truststore example), with the download replaced by the local bundle
# and the store a copy of cacerts. $1 bundle, $2 keystore, $3 work directory.
AWS_SCRIPT = r"""
set -u
cd "$3"
storepassword=changeit
awk 'split_after == 1 {n++;split_after=0}
  /-----END CERTIFICATE-----/ {split_after=1}{print > "rds-ca-" n+1 ".pem"}' < "$1"
for CERT in rds-ca-*; do
  alias=$(openssl x509 -noout -text -in $CERT |
    perl -ne 'next unless /Subject:/; s/.*(CN=|CN = )//; print')
  echo "Importing $alias"
  keytool -import -file ${CERT} -alias "${alias}" -storepass ${storepassword} \
    -keystore "$2" -noprompt
  rm $CERT
done
"""


@dataclass
class Measure:
    """One timed run."""

    seconds: float
    max_rss_kib: int
    rc: int
    stderr: str = ""


def measure(cmd: list[str] | str, env: dict[str, str], *, shell: bool = False) -> Measure:
    """Run ``cmd`` in a fresh harness process and return its figures."""
    out = subprocess.run(
        [sys.executable, "-c", _HARNESS, json.dumps(cmd), "shell" if shell else "exec"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return Measure(**json.loads(out))


def env_for(src: Path) -> dict[str, str]:
    """The environment that makes ``python -m rdstrust`` run the tree at ``src``."""
    return {**os.environ, "PYTHONPATH": str(src), "BENCH_STOREPASS": PASSWORD}


def rdstrust(*args: str) -> list[str]:
    """A ``python -m rdstrust`` command line."""
    return [sys.executable, "-m", "rdstrust", *args]


def median(runs: list[Measure]) -> float:
    """Median wall time of ``runs``."""
    return statistics.median(m.seconds for m in runs)


def peak_mib(runs: list[Measure]) -> float:
    """Largest peak RSS of ``runs``, in MiB."""
    return max(m.max_rss_kib for m in runs) / 1024


def checked(m: Measure, what: str) -> Measure:
    """``m``, after making sure the command succeeded (a failed run is no measurement)."""
    if m.rc != 0:
        raise SystemExit(f"{what} failed (exit {m.rc}): {m.stderr}")
    return m


# --------------------------------------------------------------------------- update workload


def update_cmd(bundle: Path, work: Path) -> list[str]:
    """rdstrust's job: three stores (cacerts copy, new PKCS12, new PEM), merged and verified."""
    return rdstrust(
        "update",
        "--source",
        str(bundle),
        "--create",
        "-s",
        str(work / "cacerts.jks"),
        "-s",
        str(work / "new.p12"),
        "-s",
        str(work / "new.pem"),
        "--storepass-env",
        "BENCH_STOREPASS",
    )


def bench_update(args: argparse.Namespace, trees: dict[str, Path]) -> dict[str, object]:
    """The update workload for each tree, and AWS's script, interleaved."""
    runs: dict[str, list[Measure]] = {name: [] for name in trees}
    runs["aws-script"] = []
    for i in range(args.repeat):
        order = list(trees.items())
        if i % 2:
            order.reverse()  # neither tree always gets the warmer cache
        for name, src in order:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                shutil.copyfile(args.store, work / "cacerts.jks")
                m = measure(update_cmd(args.bundle, work), env_for(src))
                runs[name].append(checked(m, f"update ({name})"))
        if i < args.aws_repeat:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                shutil.copyfile(args.store, work / "aws.jks")
                script = work / "aws.sh"
                script.write_text(AWS_SCRIPT)
                cmd = ["bash", str(script), str(args.bundle), str(work / "aws.jks"), tmp]
                runs["aws-script"].append(measure(cmd, env_for(SRC)))
    med = {name: median(r) for name, r in runs.items() if r}
    return {
        "median_seconds": med,
        "peak_rss_mib": {name: peak_mib(r) for name, r in runs.items() if r},
        # --aws-repeat 0 compares the trees only: no ratio without the script's time.
        "speedup_vs_aws_script": (
            {n: med["aws-script"] / med[n] for n in trees} if "aws-script" in med else {}
        ),
        "runs": {name: [asdict(m) for m in r] for name, r in runs.items()},
    }


# --------------------------------------------------------------------------- start-up


def bench_startup(args: argparse.Namespace, trees: dict[str, Path]) -> dict[str, object]:
    """``--help`` and ``--version`` of each tree against the bare-interpreter floors."""
    cases: dict[str, tuple[list[str], Path]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], SRC),
        "python -c 'import typer'": ([sys.executable, "-c", "import typer"], SRC),
    }
    for name, src in trees.items():
        cases[f"{name}: --help"] = (rdstrust("--help"), src)
        cases[f"{name}: --version"] = (rdstrust("--version"), src)
    runs: dict[str, list[Measure]] = {name: [] for name in cases}
    for i in range(max(args.repeat, 5)):
        items = list(cases.items())
        for name, (cmd, src) in items if i % 2 == 0 else reversed(items):
            runs[name].append(checked(measure(cmd, env_for(src)), name))
    return {"median_seconds": {name: median(r) for name, r in runs.items()}}


# --------------------------------------------------------------------------- scaling


def make_certificates(count: int, cache: Path) -> list[bytes]:
    """``count`` distinct CA certificates (DER), made once and kept under ``cache``."""
    path = cache / f"certs-{count}.der.json"
    if path.exists():
        return [bytes.fromhex(h) for h in json.loads(path.read_text())]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    # One RSA-2048 subject key and one signing key: the store's size and shape (names, key,
    # extensions, ~1 KB each) are what matter, not the signatures.
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    signer = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
    ders = []
    for i in range(count):
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"Bench Trust Services {i % 97}"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Certification Authority"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Bench Root CA {i:06d}"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(i + 1)
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=3650 * 3))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(signer, hashes.SHA256())
        )
        ders.append(cert.public_bytes(serialization.Encoding.DER))
    path.write_text(json.dumps([d.hex() for d in ders]))
    return ders


def make_store(kind: str, count: int, cache: Path) -> Path:
    """A ``kind`` store of ``count`` trusted certificates (rdstrust-written, kept in ``cache``)."""
    path = cache / f"store-{count}.{SUFFIX[kind]}"
    if path.exists():
        return path
    sys.path.insert(0, str(SRC))
    from rdstrust.certs import describe_once
    from rdstrust.stores import NewCert, StoreType, create_store, describe_der

    with describe_once():
        new = []
        for der in make_certificates(count, cache):
            info = describe_der(der)
            assert info is not None
            new.append(NewCert.from_info(info, alias=f"bench-{len(new):06d}"))
        password = None if kind == "pem" else PASSWORD
        path.write_bytes(create_store(StoreType(kind), new, password=password))
    return path


def bench_scale(args: argparse.Namespace, trees: dict[str, Path]) -> dict[str, object]:
    """Merge the bundle into large stores, then verify them; each tree on its own copies."""
    cache = Path(args.work_dir)
    cache.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for count in args.sizes:
        for kind in ("jks", "pkcs12", "pem"):
            store = make_store(kind, count, cache)
            for name, src in trees.items():
                rows.append(_scale_row(args, name, src, kind, count, store))
                print(f"  {json.dumps(rows[-1])}", file=sys.stderr)
    return {"rows": rows}


def _scale_row(
    args: argparse.Namespace, name: str, src: Path, kind: str, count: int, store: Path
) -> dict[str, object]:
    merges: list[Measure] = []
    verifies: list[Measure] = []
    password = [] if kind == "pem" else ["--storepass-env", "BENCH_STOREPASS"]
    for _ in range(args.scale_repeat):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / store.name
            shutil.copyfile(store, copy)
            merge = rdstrust(
                "merge", "--bundle", str(args.bundle), "-s", str(copy), "--no-backup", *password
            )
            merges.append(checked(measure(merge, env_for(src)), f"merge {kind} {count}"))
            verify = rdstrust("verify", "--bundle", str(args.bundle), "-s", str(copy), *password)
            verifies.append(checked(measure(verify, env_for(src)), f"verify {kind} {count}"))
    return {
        "tree": name,
        "type": kind,
        "entries": count,
        "merge_s": round(median(merges), 3),
        "merge_peak_mib": round(peak_mib(merges), 1),
        "verify_s": round(median(verifies), 3),
        "verify_peak_mib": round(peak_mib(verifies), 1),
    }


# --------------------------------------------------------------------------- report


def _print_human(report: dict[str, object]) -> None:
    print(f"# {report['date']} on {report['machine']}; bundle {report['bundle']}")
    for section, body in report["results"].items():  # type: ignore[attr-defined]
        print(f"\n## {section}")
        if section == "scale":
            print(
                f"{'tree':<10}{'type':<8}{'entries':>8}{'merge s':>9}{'MiB':>7}"
                f"{'verify s':>10}{'MiB':>7}"
            )
            for r in body["rows"]:
                print(
                    f"{r['tree']:<10}{r['type']:<8}{r['entries']:>8}{r['merge_s']:>9.2f}"
                    f"{r['merge_peak_mib']:>7.0f}{r['verify_s']:>10.2f}"
                    f"{r['verify_peak_mib']:>7.0f}"
                )
            continue
        for name, seconds in body["median_seconds"].items():
            rss = body.get("peak_rss_mib", {}).get(name)
            extra = f"  peak {rss:.0f} MiB" if rss else ""
            print(f"{name:<34}{seconds:>8.3f} s{extra}")
        for name, ratio in body.get("speedup_vs_aws_script", {}).items():
            print(f"{name} is {ratio:.0f}x faster than AWS's script")
    if report["targets"]:
        print("\n## targets (issue 12)")
    for t in report["targets"]:  # type: ignore[attr-defined]
        sign = "<=" if t["sense"] == "max" else ">="
        verdict = "met" if t["met"] else "NOT met"
        print(f"{t['target']:<28}{t['value']:>9.3f}  {sign} {t['bound']:<7.3g} {verdict}")


#: The issue's targets: (what, section, how to read the figure, bound, "max" or "min").
MIB_300_MB = 300e6 / 2**20


def _update_seconds(r: dict[str, Any]) -> float | None:
    return r.get("update", {}).get("median_seconds", {}).get("current")


def _startup(name: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda r: r.get("startup", {}).get("median_seconds", {}).get(f"current: {name}")


def _scale(kind: str, key: str) -> Callable[[dict[str, Any]], float | None]:
    def read(r: dict[str, Any]) -> float | None:
        rows = [
            row
            for row in r.get("scale", {}).get("rows", [])
            if row["tree"] == "current" and row["type"] == kind and row["entries"] == 50000
        ]
        return rows[0][key] if rows else None

    return read


TARGETS: list[tuple[str, Callable[[dict[str, Any]], float | None], float, str]] = [
    ("update median (s)", _update_seconds, 0.27, "max"),
    (
        "update vs AWS's script (x)",
        lambda r: r.get("update", {}).get("speedup_vs_aws_script", {}).get("current"),
        150.0,
        "min",
    ),
    ("--help (s)", _startup("--help"), 0.12, "max"),
    ("--version (s)", _startup("--version"), 0.05, "max"),
    *[
        (f"50k {kind} {what}", _scale(kind, key), bound, "max")
        for kind in ("jks", "pkcs12", "pem")
        for what, key, bound in (
            ("merge (s)", "merge_s", 2.0),
            ("merge peak (MiB)", "merge_peak_mib", MIB_300_MB),
            ("verify (s)", "verify_s", 2.0),
        )
    ],
]


def check_targets(results: dict[str, Any]) -> list[dict[str, object]]:
    """Each target the run measured, with its figure and whether it is met."""
    out: list[dict[str, object]] = []
    for name, read, bound, sense in TARGETS:
        value = read(results)
        if value is None:
            continue
        met = value <= bound if sense == "max" else value >= bound
        out.append({"target": name, "value": value, "bound": bound, "sense": sense, "met": met})
    return out


SECTIONS: dict[str, Callable[[argparse.Namespace, dict[str, Path]], dict[str, object]]] = {
    "update": bench_update,
    "startup": bench_startup,
    "scale": bench_scale,
}


def main() -> int:
    """Parse options, run the chosen sections, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="bundle (default: real global-2026-03)")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="JDK cacerts to copy")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="a section")
    parser.add_argument("--repeat", type=int, default=7, help="runs per rdstrust case (median)")
    parser.add_argument("--aws-repeat", type=int, default=3, help="runs of AWS's script")
    parser.add_argument("--scale-repeat", type=int, default=3, help="runs per scaling case")
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1000, 10000, 50000],
        help="store sizes for the scaling table",
    )
    parser.add_argument("--baseline", type=Path, help="another rdstrust src tree to compare")
    parser.add_argument("--work-dir", default="/tmp/rdstrust-bench", help="generated stores")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    args.bundle = args.bundle or next((p for p in DEFAULT_BUNDLES if p.exists()), None)
    if args.bundle is None:
        parser.error("no bundle found; pass --bundle")
    if shutil.which("keytool") is None:
        parser.error("keytool is not on PATH")
    trees = {"current": SRC}
    if args.baseline is not None:
        trees["baseline"] = args.baseline.resolve()
    for tree in trees.values():
        # As pip does at install time: without it, PYTHONDONTWRITEBYTECODE (set in some shells
        # and CI images) leaves stale bytecode beside edited sources and every run would be
        # measured compiling them (about 50 ms of an update on this machine).
        compileall.compile_dir(tree, quiet=1)
    results = {s: SECTIONS[s](args, trees) for s in (args.only or list(SECTIONS))}
    report = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load {os.getloadavg()[0]:.1f}",
        "bundle": str(args.bundle),
        "results": results,
        "targets": check_targets(results),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_human(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
