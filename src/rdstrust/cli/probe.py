"""``rdstrust probe``: which chain does a database endpoint send, and which RDS CA issued it?"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from rdstrust.atomic import write_bytes_atomic
from rdstrust.cli._common import (
    ConnectTimeoutOption,
    JsonOption,
    StartTLSOption,
    emit,
    err,
    exit_on_error,
)
from rdstrust.cli._groups import Opt, Values, command, option
from rdstrust.fetch import check_output_path
from rdstrust.probe import DEFAULT_TIMEOUT, ProbeResult, StartTLS, default_port, parse_target
from rdstrust.probe import probe as run_probe
from rdstrust.text import safe

#: The options of ``probe``.
PROBE = (
    Opt(
        "target",
        Annotated[
            str,
            typer.Argument(
                metavar="HOST[:PORT]",
                help="HOST[:PORT] of the PostgreSQL or MySQL endpoint "
                "([v6-address]:PORT; default port "
                "5432, 3306 with --starttls mysql).",
                show_default=False,
            ),
        ],
        ...,
    ),
    Opt("starttls", StartTLSOption, None),
    Opt("timeout", ConnectTimeoutOption, None),
    option(
        "server_name",
        str | None,
        None,
        "--server-name",
        metavar="NAME",
        help="Name to send as SNI (default: the host, unless it is an IP address).",
        show_default=False,
    ),
    option(
        "save_chain",
        Path | None,
        None,
        "--save-chain",
        metavar="FILE",
        help="Write the chain the server sent (PEM, leaf first) to this file for 'verify --chain'.",
        show_default=False,
    ),
    Opt("json", JsonOption, False),
)


@command(PROBE)
def probe(v: Values) -> None:
    """Connect like a PostgreSQL (or MySQL) client, show the server's chain and its RDS CA.

    Exit codes: 0 the chain was read, 2 bad HOST[:PORT] or option value, 5 --save-chain not
    writable, 6 the server is unreachable, refuses TLS, or is not PostgreSQL (MySQL with
    --starttls mysql or port 3306).
    """
    with exit_on_error():
        host, port = parse_target(v["target"], default_port(v["starttls"]))
        if v["save_chain"] is not None:
            # Before connecting: a chain that cannot be saved is not worth a handshake.
            check_output_path(v["save_chain"], "--save-chain")
        result = run_probe(
            host,
            port,
            starttls=v["starttls"] or StartTLS.AUTO,
            timeout=DEFAULT_TIMEOUT if v["timeout"] is None else v["timeout"],
            server_name=v["server_name"],
        )
        if v["save_chain"] is not None:
            write_bytes_atomic(v["save_chain"], result.chain.to_pem())
    emit(result, json=v["json"], human=render_probe(result))
    if v["save_chain"] is not None:
        err(
            f"chain of {len(result.certificates)} certificate(s) written to {safe(v['save_chain'])}"
        )


def render_probe(result: ProbeResult) -> str:
    """The issuing generation first, then one block per certificate sent.

    Everything here came from the server: each value is shown through :func:`safe`.
    """
    rotated = "yes" if result.rotated else "no"
    region = f" ({safe(result.region)})" if result.region else ""
    lines = [
        f"server      {safe(result.host)}:{result.port} ({safe(result.tls_version)}, "
        f"{safe(result.cipher)})",
        f"issued by   {safe(result.issuer)}",
        f"generation  {safe(result.generation)}{region}",
        f"rotated     {rotated} (to a G1 CA)",
        f"valid for   {_names(result.names) or '(no subjectAltName)'}",
        f"expires     {result.not_after:%Y-%m-%d}",
    ]
    for cert in result.certificates:
        role = "server certificate" if cert.position == 0 else "CA certificate"
        lines += [
            "",
            f"[{cert.position}] {role}: {safe(cert.subject)}",
            f"    issuer     {safe(cert.issuer)} ({safe(cert.issued_by)})",
            f"    key        {safe(cert.key_type)}",
            f"    valid      {cert.not_before:%Y-%m-%d} .. {cert.not_after:%Y-%m-%d} "
            f"({cert.days_left} days left)",
            f"    sha256     {cert.sha256}",
        ]
        if cert.names:
            lines.append(f"    names      {_names(cert.names)}")
    lines += [f"note: {safe(n)}" for n in result.notes]
    return "\n".join(lines)


def _names(names: Sequence[str]) -> str:
    return ", ".join(safe(n) for n in names)
