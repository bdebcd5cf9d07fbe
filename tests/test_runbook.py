"""The runbook and the README's "The whole procedure" say only what is true.

- Every ``rdstrust`` command in their shell blocks is a real command, with only options that
  command has (checked against the command line's own definition, so a renamed option fails
  here), ``rdstrust doctor`` included.
- The failure messages the runbook quotes are the ones real clients print: psql, psycopg 3,
  psycopg2 and pgjdbc are run against a local PostgreSQL server with a PEM file that lacks the
  server's CA, with no root file at all, and with a PKCS12 made by ``openssl pkcs12 -export``
  (which Java sees as empty). Each run has its twin with the right store, which connects.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from pgserver import PgServer, pg_server  # noqa: F401  (session fixture)
from recipe_parts import fenced_blocks
from support import FIXTURES, ROOT, missing, require_tool
from test_recipes import PG_MANY, PGJDBC

from rdstrust.cli import app

RUNBOOK = ROOT / "docs" / "rotation-runbook.md"
README = ROOT / "README.md"
CHAINS = FIXTURES / "chains"
NEW_ROOT = CHAINS / "rsa2048-g1-us-east-1" / "root.pem"
OLD_ROOT = CHAINS / "2019-us-east-1" / "root.pem"
#: Commands documented before they exist (the runbook says which engineer's work they await).
NOT_YET: set[str] = set()
BIN = Path(sys.executable).parent  # this checkout's rdstrust


def procedure_section() -> str:
    text = README.read_text()
    start = text.index("\n## The whole procedure\n")
    return text[start : text.index("\n## ", start + 1)]


def shell_commands(markdown: str) -> list[list[str]]:
    """Every ``rdstrust`` command line in the Markdown's sh blocks, continuations joined,
    environment assignments and comments dropped."""
    found = []
    for block in fenced_blocks(markdown, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words and re.match(r"\A[A-Z_][A-Z0-9_]*=", words[0]):
                words = words[1:]
            if words and words[0] == "rdstrust":
                found.append(words)
    return found


def check_command(words: list[str]) -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    name = words[1]
    assert name in group.commands, f"no command rdstrust {name}: {shlex.join(words)}"
    options = {opt for p in group.commands[name].params for opt in (*p.opts, *p.secondary_opts)}
    for word in words[2:]:
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            assert flag in options, f"rdstrust {name} has no option {flag}: {shlex.join(words)}"


@pytest.mark.parametrize("where", ["runbook", "readme"])
def test_documented_commands_are_real(where: str) -> None:
    text = RUNBOOK.read_text() if where == "runbook" else procedure_section()
    commands = shell_commands(text)
    assert len(commands) >= (15 if where == "runbook" else 7), commands
    names = {words[1] for words in commands}
    # the procedure's three steps are all there, in AWS's order
    assert {"audit", "update", "verify", "instances", "rotate", "probe"} <= names
    for words in commands:
        if words[1] in NOT_YET:
            continue
        check_command(words)
    if where == "readme":
        order = [w[1] for w in commands]
        assert order.index("audit") < order.index("update") < order.index("rotate")
        rotate = next(w for w in commands if w[1] == "rotate")
        for flag in ("--yes", "--apply-immediately", "--wait", "--probe", "--to", "--store"):
            assert flag in rotate
        assert rotate[rotate.index("--to") + 1] == "rds-ca-rsa2048-g1"


def test_the_check_refuses_an_option_a_command_lacks() -> None:
    """Negative control for the check above."""
    with pytest.raises(AssertionError, match="has no option --no-such-flag"):
        check_command(["rdstrust", "update", "--no-such-flag"])
    with pytest.raises(AssertionError, match="no command"):
        check_command(["rdstrust", "rotate-everything"])


def test_the_runbook_starts_troubleshooting_with_doctor() -> None:
    text = RUNBOOK.read_text()
    assert "rdstrust doctor --jdbc-url" in text.split("## Troubleshooting")[1]


# --- the quoted messages are the clients' own -------------------------------------------------


def quoted(fragment: str) -> str:
    """``fragment`` as the runbook shows it; fails when the runbook no longer quotes it."""
    flowing = " ".join(RUNBOOK.read_text().split())  # prose wraps; the words must stay
    assert fragment in flowing, f"the runbook no longer quotes {fragment!r}"
    return fragment


def libpq_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["HOME"] = str(home)  # no ~/.postgresql/root.crt of the real user
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.postgres
def test_libpq_messages(pg_server: PgServer, tmp_path: Path) -> None:  # noqa: F811
    psql = require_tool("psql")
    env = libpq_env(tmp_path)

    def dsn(root: Path | None) -> str:
        extra = {"sslrootcert": str(root)} if root else {}
        return pg_server.dsn(host="localhost", sslmode="verify-full", **extra)

    ok = run([psql, dsn(NEW_ROOT), "-Atc", "select 1"], env)
    assert ok.returncode == 0, ok.stderr
    bad = run([psql, dsn(OLD_ROOT), "-Atc", "select 1"], env)
    assert bad.returncode != 0
    assert quoted("failed: SSL error: certificate verify failed") in bad.stderr
    none = run([psql, dsn(None), "-Atc", "select 1"], env)
    expected = f'root certificate file "{tmp_path}/.postgresql/root.crt" does not exist'
    assert expected in none.stderr, none.stderr
    assert quoted('root certificate file "/root/.postgresql/root.crt" does not exist')

    for module, prefix in (("psycopg", "connection failed: "), ("psycopg2", "")):
        code = f"import {module}; {module}.connect({dsn(OLD_ROOT)!r})"
        proc = run([sys.executable, "-c", code], env)
        assert proc.returncode != 0
        assert f"OperationalError: {prefix}" in proc.stderr, proc.stderr
        assert "SSL error: certificate verify failed" in proc.stderr, proc.stderr
        good = run(
            [sys.executable, "-c", f"import {module}; {module}.connect({dsn(NEW_ROOT)!r})"], env
        )
        assert good.returncode == 0, good.stderr
    assert quoted("psycopg 3 prefixes it with `connection failed:`")


def openssl_pkcs12(path: Path) -> None:
    """A PKCS12 as ``openssl pkcs12 -export`` makes it: no Java trust attribute."""
    proc = run(
        [
            *(require_tool("openssl"), "pkcs12", "-export", "-nokeys"),
            *("-in", str(NEW_ROOT), "-out", str(path), "-passout", "pass:changeit"),
        ],
        dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.postgres
@pytest.mark.jvm
def test_pgjdbc_messages(pg_server: PgServer, tmp_path: Path) -> None:  # noqa: F811
    if not PGJDBC.exists():
        missing("pgjdbc (Debian package libpostgresql-jdbc-java)")
    java = require_tool("java")
    program = tmp_path / "PgMany.java"
    program.write_text(PG_MANY)
    empty_for_java = tmp_path / "openssl.p12"
    openssl_pkcs12(empty_for_java)
    base = pg_server.jdbc_url(host="localhost", sslmode="verify-full")
    urls = [
        f"{base}&sslrootcert={OLD_ROOT}",  # a PEM without the server's CA
        base,  # no sslrootcert: ~/.postgresql/root.crt, which does not exist
        f"{base}&sslfactory=org.postgresql.ssl.DefaultJavaSSLFactory",  # the openssl PKCS12
        f"{base}&sslrootcert={NEW_ROOT}",  # the twin that works
    ]
    proc = run(
        [
            *(java, f"-Duser.home={tmp_path}", "-cp", str(PGJDBC)),
            f"-Djavax.net.ssl.trustStore={empty_for_java}",
            "-Djavax.net.ssl.trustStorePassword=changeit",
            "-Djavax.net.ssl.trustStoreType=PKCS12",
            *(str(program), *urls),
        ],
        {k: v for k, v in os.environ.items() if k != "JAVA_TOOL_OPTIONS"},
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == 4, proc.stdout + proc.stderr
    pkix, no_file, no_anchors, ok = lines
    assert (
        quoted(
            "SSL error: (certificate_unknown) PKIX path building failed: "
            "sun.security.provider.certpath.SunCertPathBuilderException: "
            "unable to find valid certification path to requested target"
        )
        in pkix
    )
    assert f"Could not open SSL root certificate file {tmp_path}/.postgresql/root.crt." in no_file
    assert quoted("Could not open SSL root certificate file /root/.postgresql/root.crt.")
    assert (
        quoted(
            "SSL error: (internal_error) Unexpected error: java.security."
            "InvalidAlgorithmParameterException: the trustAnchors parameter must be non-empty"
        )
        in no_anchors
    )
    assert ok == "OK"

    # rdstrust's diagnosis of the PKCS12 Java sees as empty, and its fix
    verify = run(
        [
            *("rdstrust", "verify", "-s", f"{empty_for_java},storepass:env=STOREPASS"),
            *("--bundle", str(FIXTURES / "bundles" / "g1.pem"), "--region", "us-east-1"),
            *("--require", "rds-ca-rsa2048-g1"),
        ],
        {**os.environ, "STOREPASS": "changeit", "PATH": f"{BIN}:{os.environ['PATH']}"},
    )
    assert verify.returncode == 1, verify.stdout + verify.stderr
    reason = "lack Java's trusted-certificate attribute, so Java ignores them"
    assert quoted(reason) in verify.stdout, verify.stdout
    merge = run(
        [
            *("rdstrust", "merge", "-b", str(FIXTURES / "bundles" / "g1.pem")),
            *("-s", str(empty_for_java), "--storepass-env", "STOREPASS"),
        ],
        {**os.environ, "STOREPASS": "changeit", "PATH": f"{BIN}:{os.environ['PATH']}"},
    )
    assert merge.returncode == 0, merge.stderr

    def with_store(*password: str) -> subprocess.CompletedProcess[str]:
        return run(
            [
                *(java, "-cp", str(PGJDBC), f"-Djavax.net.ssl.trustStore={empty_for_java}"),
                *("-Djavax.net.ssl.trustStoreType=PKCS12", *password),
                *(str(program), urls[2]),
            ],
            {k: v for k, v in os.environ.items() if k != "JAVA_TOOL_OPTIONS"},
        )

    fixed = with_store("-Djavax.net.ssl.trustStorePassword=changeit")
    assert fixed.returncode == 0 and fixed.stdout.split() == ["OK"], fixed.stdout + fixed.stderr
    # openssl encrypted this store's certificates; rdstrust keeps that shape, so Java still
    # needs the password for it, as the runbook says
    still = with_store()
    assert still.returncode == 1 and "trustAnchors parameter must be non-empty" in still.stdout
    assert quoted("an existing store whose certificates are encrypted keeps that shape")


@pytest.mark.parametrize(
    "page", ["README.md", "docs/rotation-runbook.md", "docs/recipes/README.md"]
)
def test_relative_links_resolve(page: str) -> None:
    path = ROOT / page
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    local = [link for link in links if "://" not in link]
    assert local or page == "README.md", "no links found: the pattern is wrong"
    for link in local:
        assert (path.parent / link).exists(), f"{page}: broken link {link}"
