"""``--help``: examples and exit codes from the one table, ``-h``, readable metavars, completion."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from rdstrust.cli import app
from rdstrust.cli._help import HELP
from rdstrust.errors import EXIT_MEANINGS, ExitCode

runner = CliRunner()


@pytest.mark.parametrize("command", sorted(HELP))
def test_each_command_shows_examples_and_its_exit_codes(command: str) -> None:
    result = runner.invoke(app, [command, "-h"])
    assert result.exit_code == 0, result.output
    examples, codes = HELP[command]
    assert "Examples:" in result.output and "Exit codes:" in result.output
    for example in examples:
        assert example in result.output
    for code in codes:
        assert f"  {int(code):<3} {EXIT_MEANINGS[code]}" in result.output
    # No Python type leaks into the help as a placeholder.
    assert not re.search(
        r"<(str|list\[\w+\]|path|int|float)>",
        result.output.split("Examples:")[0].split("Options:")[1],
    )


def test_every_registered_command_has_help_entries() -> None:
    listed = runner.invoke(app, ["-h"]).output
    names = re.findall(r"^  (\w[\w-]*)\s{2,}", listed.split("Commands:")[1], re.M)
    assert names and set(names) <= set(HELP), names


def test_readme_exit_code_table_is_the_one_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Exit codes")[1].split("\n## ")[0]
    codes = [int(c) for c in re.findall(r"^\| (\d+) \|", table, re.M)]
    assert codes == [int(c) for c in ExitCode]
    assert set(EXIT_MEANINGS) == set(ExitCode)


def test_shell_completion_is_offered() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rdstrust", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "complete" in result.stdout and "rdstrust" in result.stdout.lower()
    listed = runner.invoke(app, ["--help"]).output
    assert "--install-completion" in listed and "--show-completion" in listed
