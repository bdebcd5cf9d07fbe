"""Reading the recipes of docs/recipes the way their tools would, so tests run what users copy.

A Dockerfile's logical lines (continuations joined, comments dropped), the ``run:`` steps of a
GitHub Actions job with its ``${{ ... }}`` expressions filled in, the shell lines of a GitLab CI
job, fenced code blocks of a Markdown page, and a bash runner with an environment in which the
``rdstrust`` of this checkout answers and downloads go to a local HTTPS mirror.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "docs" / "recipes"
#: The directory of this interpreter: the venv whose ``rdstrust`` the recipes must run.
VENV_BIN = Path(sys.executable).parent
#: Variables of the caller that would change what a recipe does; the recipe's own env decides.
_DROPPED = re.compile(
    r"\A(RDSTRUST_.*|JAVA_HOME|JAVA_TOOL_OPTIONS|PG.*|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|"
    r"(?i:https?_proxy|all_proxy|no_proxy)|XDG_CACHE_HOME)\Z"
)


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: ``RUN``, ``ENV``, ... and the rest of its logical line."""

    name: str
    args: str


def dockerfile(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, with backslash continuations joined (as Docker does)."""
    out: list[Instruction] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not pending and not stripped):
            continue  # Docker drops comment lines, also inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical = (pending + stripped).strip()
        pending = ""
        name, _, args = logical.partition(" ")
        out.append(Instruction(name.upper(), args.strip()))
    assert not pending, f"{path}: the last instruction ends with a backslash"
    return out


def load_yaml(path: Path) -> Any:
    """The single YAML document in ``path``."""
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    """Every YAML document in ``path``."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def github_expressions(text: str, values: dict[str, str]) -> str:
    """Replace each ``${{ name }}`` by ``values[name]``; an unknown expression fails the test."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        assert name in values, f"no test value for the expression ${{{{ {name} }}}}"
        return values[name]

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def fenced_blocks(markdown: str, language: str) -> list[str]:
    """The bodies of the fenced code blocks of ``language`` in a Markdown text, in order
    (dedented: a block inside a list item is indented)."""
    pattern = rf"^[ ]*```{re.escape(language)}\n(.*?)^[ ]*```"
    return [textwrap.dedent(body) for body in re.findall(pattern, markdown, re.M | re.S)]


def recipe_env(home: Path, bundle_url: str, ca_file: Path, **extra: str) -> dict[str, str]:
    """An environment for running a recipe's shell lines.

    ``rdstrust`` is this checkout's; the official bundle URL is replaced by ``bundle_url`` through
    ``RDSTRUST_BUNDLE_URL`` (so the recipe's command line stays as written), trusted through
    ``REQUESTS_CA_BUNDLE``; the fixture PKI's CAs are accepted through the environment, as the
    suite does everywhere (real images take the official bundle and need neither).
    """
    env = {k: v for k, v in os.environ.items() if not _DROPPED.match(k)}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        HOME=str(home),
        RDSTRUST_BUNDLE_URL=bundle_url,
        REQUESTS_CA_BUNDLE=str(ca_file),
        NO_PROXY="*",
        RDSTRUST_ACCEPT_UNKNOWN_RDS="1",
    )
    env.update(extra)
    return env


def bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` as GitHub Actions and GitLab run a step: bash, errexit and pipefail."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


def keytool_fingerprints(keytool: str, store: Path, password: str | None) -> tuple[set[str], str]:
    """The SHA-256 fingerprints (lower-case hex, no colons) of the trusted certificate entries
    keytool lists in ``store``, and keytool's whole output."""
    args = [keytool, "-list", "-keystore", str(store)]
    if password is not None:
        args += ["-storepass", password]
    proc = subprocess.run(
        args, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = set()
    lines = proc.stdout.splitlines()
    for entry, fingerprint in pairwise(lines):
        if "trustedCertEntry" in entry and fingerprint.startswith("Certificate fingerprint"):
            found.add(fingerprint.split(": ", 1)[1].replace(":", "").lower())
    return found, proc.stdout + proc.stderr
