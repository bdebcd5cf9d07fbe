"""``rdstrust doctor``: which trust store does my application really use, and does it trust RDS?"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from rdstrust.bundle import Bundle
from rdstrust.cli._common import (
    JSON,
    AcceptUnknownRdsOption,
    ChainOption,
    RequireOption,
    emit,
    exit_on_error,
    parse_generations,
    reference_or_download,
)
from rdstrust.cli._groups import Opt, Values, command
from rdstrust.doctor import (
    Diagnosis,
    DoctorOptions,
    Driver,
    SourceKind,
    diagnose,
    java_options_from_env,
    parse_jdbc_url,
    resolve,
)
from rdstrust.errors import ToolMissingError, UsageError
from rdstrust.fetch import check_region_code
from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.options import VerifyOptions
from rdstrust.passwords import PasswordSource
from rdstrust.pathcheck import Chain, read_chain
from rdstrust.probe import DEFAULT_TIMEOUT, StartTLS, parse_target, probe
from rdstrust.text import safe
from rdstrust.verify import required_cas


def _opt(name: str, flag: str, kind: object, help_text: str, *, default: object = None) -> Opt:
    metavar = None if kind is bool else name.upper().replace("_", "-")
    return Opt(
        name,
        Annotated[kind, typer.Option(flag, help=help_text, metavar=metavar, show_default=False)],
        default,
    )


#: The options only ``doctor`` has.
DOCTOR = (
    _opt("jdbc_url", "--jdbc-url", str, "The application's JDBC URL (pgjdbc, MySQL or MariaDB)."),
    _opt(
        "java_options",
        "--java-options",
        str | None,
        "The application's JVM options, as one string (-Djavax.net.ssl.trustStore=...).",
    ),
    _opt(
        "env",
        "--env",
        bool,
        "Also read JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS from the environment, as the JVM does.",
        default=False,
    ),
    _opt(
        "home",
        "--home",
        Path | None,
        "Home directory of the user running the application (pgjdbc's ~/.postgresql/root.crt; "
        "default: yours from the password database; $HOME is ignored, as the JVM ignores it).",
    ),
    _opt(
        "bundle",
        "--bundle",
        Path | None,
        "Reference bundle (default: the cached one, else the official bundle, downloaded).",
    ),
    Opt("accept_unknown_rds", AcceptUnknownRdsOption, False),
    Opt("require", RequireOption, None),
    _opt(
        "region",
        "--region",
        str | None,
        "Only require the CAs of this region (e.g. us-east-1; 'global': every region).",
    ),
    _opt(
        "storepass_env",
        "--storepass-env",
        str | None,
        "Environment variable holding the trust store password the application uses (when its "
        "options name it through a placeholder).",
    ),
    Opt("chain_file", ChainOption, None),
    _opt(
        "host",
        "--host",
        str | None,
        "Validate the chain this server sends: HOST[:PORT] (PostgreSQL or MySQL by the driver).",
    ),
    _opt(
        "server_name",
        "--server-name",
        str | None,
        "Host name to check the server certificate for when the driver checks names (default: "
        "--host, else the URL's first host).",
    ),
    Opt(
        "java",
        Annotated[
            str | None,
            typer.Option(
                "--java",
                metavar="PATH",
                envvar="RDSTRUST_JAVA",
                show_default=False,
                help="The application's java binary or JDK directory (its jssecacerts / cacerts; "
                "default: $JAVA_HOME/bin/java, then PATH).",
            ),
        ],
        None,
    ),
)


@command(DOCTOR, JSON)
def doctor(v: Values) -> None:
    """Find the trust store an application's JDBC driver really uses, and check it."""
    with exit_on_error(), accepting_unknown_rds(enabled=v["accept_unknown_rds"]):
        options = _options(v)
        # Every URL and option error before anything is probed, read or downloaded.
        resolution = resolve(options)
        url = parse_jdbc_url(options.jdbc_url)
        chain, hostname = _chain(v, url.driver, url.hosts)
        verify = replace(options.verify, chain=chain, hostname=hostname)
        required = required_cas(_reference(v["bundle"]), verify.generations, verify.region)
        result = diagnose(replace(options, verify=verify), required, resolution=resolution)
    emit(result, json=v["json"], human=render_doctor(result))
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _options(v: Values) -> DoctorOptions:
    """The library's options from the command line (the server chain comes later)."""
    if not v["jdbc_url"]:
        raise UsageError("Give the application's JDBC URL with --jdbc-url.")
    if v["chain_file"] is not None and v["host"] is not None:
        raise UsageError("Give either --chain or --host, not both.")
    if v["server_name"] is not None and v["chain_file"] is None and v["host"] is None:
        raise UsageError("--server-name needs --chain or --host.")
    texts = java_options_from_env() if v["env"] else ()
    if v["java_options"]:
        texts += (v["java_options"],)
    password = None
    if v["storepass_env"]:
        password = PasswordSource(env_var=v["storepass_env"]).resolve()
    region = check_region_code(v["region"]) if v["region"] is not None else None
    return DoctorOptions(
        jdbc_url=v["jdbc_url"],
        java_options=texts,
        home=v["home"],
        java_home=_java_home(v["java"]),
        password=password,
        verify=VerifyOptions(generations=parse_generations(v["require"]), region=region),
    )


def _java_home(java: str | None) -> Path | None:
    """The JVM home of ``--java`` (``None``: found only if the driver uses the JVM's store)."""
    if java is None:
        return None
    from rdstrust.storespec import java_home

    try:
        return java_home(java)
    except ToolMissingError:
        raise UsageError(f"--java {java} is not a java binary or JDK directory.") from None


def _chain(v: Values, driver: Driver, hosts: tuple[str, ...]) -> tuple[Chain | None, str | None]:
    url_host = _bare_host(hosts[0]) if hosts else None
    if v["chain_file"] is not None:
        return read_chain(v["chain_file"]), v["server_name"] or url_host
    if v["host"] is None:
        return None, None
    starttls = StartTLS.POSTGRES if driver is Driver.PGJDBC else StartTLS.MYSQL
    target = parse_target(v["host"], 5432 if driver is Driver.PGJDBC else 3306)
    chain = probe(*target, starttls=starttls, timeout=DEFAULT_TIMEOUT).chain
    # The driver checks the name in the URL, so that is the default, not the address probed.
    return chain, v["server_name"] or url_host or target[0]


def _bare_host(host: str) -> str | None:
    if host.startswith("["):
        return host[1:].split("]", 1)[0] or None
    if "(" in host or "=" in host:
        return None  # Connector/J's address=(host=...) forms: give --server-name
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host or None


def _reference(given: Path | None) -> Bundle:
    found: Bundle = reference_or_download(given, "run")
    return found


def render_doctor(result: Diagnosis) -> str:
    """The explanation paragraph, then the facts one per line."""
    lines = [safe(result.explanation), ""]
    lines.append(f"driver        {result.driver}  ({safe(result.url)})")
    check = "chain + host name" if result.hostname_check else "chain"
    if not result.verification:
        check = "off"
    tls = "on" if result.tls else "off"
    lines.append(f"mode          {safe(result.mode)}; TLS {tls}; verification {check}")
    source = result.source
    if source is not None:
        found = source.detected_type.value.upper() if source.detected_type else "-"
        lines.append(f"trust source  {source.kind}: {safe(source.path or source.origin)}")
        if source.kind in (SourceKind.JVM_TRUSTSTORE, SourceKind.DRIVER_KEYSTORE):
            told = safe(source.declared_type or "default")
            password = "set" if source.password_present else "not set"
            detail = f"type {told} (file: {found}); password {password}"
        else:
            detail = f"file: {found}"
        lines.append(f"              from {safe(source.origin)}; {detail}")
    lines += [f"fallback      {safe(f)}" for f in result.fallbacks]
    lines += [f"note          {safe(n)}" for n in result.notes]
    if result.problem:
        lines.append(f"problem       {safe(result.problem)}")
    if result.verify is not None:
        lines.append(f"verify        {'PASS' if result.verify.passed else 'FAIL'}")
        lines += [f"  reason: {safe(r)}" for r in result.verify.reasons]
    lines.append(f"prediction    {result.prediction}")
    return "\n".join(lines)
