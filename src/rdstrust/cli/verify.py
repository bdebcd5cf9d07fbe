"""``rdstrust verify``: do these trust stores trust the new RDS CAs (and a server's chain)?"""

from __future__ import annotations

from pathlib import Path

import typer

from rdstrust.amazon_roots import required_amazon_roots, split_require
from rdstrust.bundle import Bundle
from rdstrust.certs import G1_GENERATIONS
from rdstrust.cli._common import (
    JSON,
    PASSWORDS,
    STORES,
    AcceptUnknownRdsOption,
    ChainOption,
    ConnectTimeoutOption,
    RequireOption,
    StartTLSOption,
    WarnDaysOption,
    emit,
    err,
    exit_on_error,
    java_for,
    parse_generations,
    passwords_of,
    port_number,
    reference_or_download,
    stores_of,
)
from rdstrust.cli._groups import Opt, Values, command, option
from rdstrust.errors import UsageError
from rdstrust.fetch import check_region_code
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.options import DEFAULT_WARN_DAYS, VerifyOptions
from rdstrust.pathcheck import Chain, read_chain
from rdstrust.probe import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    StartTLS,
    default_port,
    parse_target,
    probe,
)
from rdstrust.runner import StoreFailure
from rdstrust.text import safe
from rdstrust.verify import VerifyReport, VerifyResult, parse_time, verify_stores

_G1_NAMES = ",".join(g.value for g in G1_GENERATIONS)


#: The options only ``verify`` has.
VERIFY = (
    option(
        "bundle",
        Path | None,
        None,
        "--bundle",
        metavar="FILE",
        help="Reference bundle (default: the one the last 'rdstrust fetch' cached, "
        "else the official global bundle, downloaded).",
        envvar="RDSTRUST_BUNDLE",
        show_default=False,
    ),
    Opt("accept_unknown_rds", AcceptUnknownRdsOption, False),
    Opt("require", RequireOption, None),
    option(
        "region",
        str | None,
        None,
        "--region",
        metavar="REGION",
        help="Only require the CAs of this region (e.g. us-east-1; 'global': every region).",
        show_default=False,
    ),
    Opt("chain_file", ChainOption, None),
    option(
        "host",
        str | None,
        None,
        "--host",
        metavar="HOST",
        help="Validate the chain this server sends: HOST or HOST:PORT ([v6-address]:PORT).",
        show_default=False,
    ),
    option(
        "port",
        int | None,
        None,
        "--port",
        metavar="PORT",
        help=f"Port of --host (1-65535; default {DEFAULT_PORT}, 3306 with --starttls mysql).",
        parser=port_number,
        show_default=False,
    ),
    Opt("starttls", StartTLSOption, None),
    Opt("timeout", ConnectTimeoutOption, None),
    option(
        "server_name",
        str | None,
        None,
        "--server-name",
        metavar="NAME",
        help="Host name the server certificate must be valid for (default: --host; with "
        "--chain and no --server-name the name is not checked).",
        show_default=False,
    ),
    option(
        "no_hostname",
        bool,
        False,
        "--no-hostname",
        help="Check the chain only, not the host name (libpq sslmode=verify-ca).",
    ),
    option(
        "at",
        str | None,
        None,
        "--at",
        metavar="TIMESTAMP",
        help="Evaluate validity at this time (ISO 8601, UTC by default, years 1950-9000) "
        "instead of now.",
        show_default=False,
    ),
    Opt("warn_days", WarnDaysOption, DEFAULT_WARN_DAYS),
    option(
        "jvm",
        bool,
        False,
        "--jvm",
        help="Also ask the JVM (KeyStore + default TrustManagerFactory) for its verdict.",
    ),
)


@command(STORES, VERIFY, PASSWORDS, JSON)
def verify(v: Values) -> None:
    """Check that trust stores hold the required RDS CAs and trust a server's chain."""
    with exit_on_error(), accepting_unknown_rds(enabled=v["accept_unknown_rds"]):
        _check_combination(v)
        when = parse_time(v["at"]) if v["at"] is not None else None
        region_code = check_region_code(v["region"]) if v["region"] is not None else "global"
        require, amazon = split_require(v["require"])
        generations = parse_generations(require)
        specs = stores_of(v)
        passwords = passwords_of(v, specs)
        java_path = java_for(jvm=v["jvm"], java=v["java"])
        reference = _reference(v["bundle"])
        chain: Chain | None = None
        target = None
        if v["chain_file"] is not None:
            chain = read_chain(v["chain_file"])
        elif v["host"] is not None:
            port = default_port(v["starttls"]) if v["port"] is None else v["port"]
            target = parse_target(v["host"], port)
            chain = probe(
                *target,
                # auto: MySQL's upgrade on port 3306, PostgreSQL's anywhere else.
                starttls=v["starttls"] or StartTLS.AUTO,
                timeout=DEFAULT_TIMEOUT if v["timeout"] is None else v["timeout"],
            ).chain
        options = VerifyOptions(
            generations=generations,
            region=region_code,
            chain=chain,
            hostname=None
            if v["no_hostname"]
            else (v["server_name"] or (target[0] if target else None)),
            at=when,
            warn_days=v["warn_days"],
            java=java_path,
        )

        def report(failure: StoreFailure) -> None:
            err(f"rdstrust: error: {safe(failure.message)}")

        result = verify_stores(
            specs,
            reference,
            options,
            passwords=passwords,
            on_failure=report,
            also_required=required_amazon_roots(reference) if amazon else (),
        )
    emit(result, json=v["json"], human=render_verify(result))
    passed = sum(1 for r in result.stores if r.passed)
    err(f"{passed} of {len(result.stores) + len(result.failed)} store(s) pass.")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _check_combination(v: Values) -> None:
    chain_file, host = v["chain_file"], v["host"]
    if chain_file is not None and host is not None:
        raise UsageError("Give either --chain or --host, not both.")
    if v["server_name"] is not None and chain_file is None and host is None:
        raise UsageError(
            "--server-name needs --chain or --host: it is the name the server certificate "
            "must be valid for."
        )
    if host is None and any(v[k] is not None for k in ("port", "starttls", "timeout")):
        raise UsageError("--port, --starttls and --timeout go with --host; add --host HOST.")


def _reference(given: Path | None) -> Bundle:
    found: Bundle = reference_or_download(given, "verify")
    return found


def _mark(ok: bool | None) -> str:  # noqa: FBT001  # a table cell for a tri-state check
    return "-" if ok is None else ("ok" if ok else "FAIL")


def render_verify(result: VerifyResult) -> str:
    """Per store: one line per check (membership, path, expiry, Java), then reasons."""
    ref = result.reference
    lines = [
        f"reference  {safe(ref.bundle)}: {len(ref.required)} required CA(s) of "
        f"{', '.join(g.value for g in ref.generations)}"
        + (f" in {ref.region}" if ref.region else ""),
        f"time       {result.at:%Y-%m-%d %H:%M:%S} UTC",
    ]
    if result.chain is not None:
        checked = result.hostname or "not checked (verify-ca)"
        lines.append(f"chain      {safe(result.chain)}; host name {safe(checked)}")
    for report in result.stores:
        lines.append("")
        lines.extend(_render_store(report))
    for failure in result.failed:
        lines += [
            "",
            f"ERROR {safe(failure.store)}: not checked",
            f"  error: {safe(failure.message)}",
        ]
    return "\n".join(lines)


def _render_store(report: VerifyReport) -> list[str]:
    verdict = "PASS" if report.passed else "FAIL"
    rows: list[tuple[str, str, str]] = []
    m = report.membership
    rows.append(("membership", _mark(m.ok), f"{len(m.present)}/{m.required} required CAs trusted"))
    if report.path is not None:
        rows.append(("path", _mark(report.path.trusted), safe(report.path.message)))
    else:
        rows.append(("path", "-", "no chain given (--chain or --host)"))
    e = report.expiry
    if e.expired or e.expiring or e.not_yet_valid:
        detail = f"{len(e.expired)} expired, {len(e.expiring)} expiring within {e.warn_days} days"
        if e.not_yet_valid:
            detail += f", {len(e.not_yet_valid)} not yet valid"
    else:
        detail = f"no RDS CA expires within {e.warn_days} days"
    rows.append(("expiry", _mark(e.ok), detail))
    if report.java_view is not None:
        v = report.java_view
        detail = f"{v.trusted_entries} Java trust anchor(s)"
        if v.without_trust_attribute:
            detail += f", {v.without_trust_attribute} certificate(s) without the trust attribute"
        detail += "; password needed" if v.password_required else "; readable without password"
        rows.append(("pkcs12", _mark(not m.without_trust_attribute), detail))
    if report.java is not None:
        verdict_j = report.java.verdict
        if verdict_j is None:
            rows.append(("jvm", "-", report.java.note or ""))
        else:
            agree = {True: "agrees", False: "DISAGREES", None: ""}[report.java.agrees]
            rows.append(
                (
                    "jvm",
                    _mark(verdict_j.ok),
                    f"Java {verdict_j.java_version}, {verdict_j.anchors} anchor(s): "
                    f"{safe(verdict_j.message)}" + (f" ({agree})" if agree else ""),
                )
            )
    lines = [f"{verdict}  {safe(report.store)} ({report.type}, {report.entries} entries)"]
    lines += [f"  {name:<10} {mark:<4} {text}" for name, mark, text in rows]
    lines += [f"  reason: {safe(r)}" for r in report.reasons]
    lines += [f"  note: {safe(w)}" for w in report.warnings]
    return lines
