"""Every command against bad input: the documented exit code, one clear error, nothing written.

One table drives all seven commands with missing files, directories where files belong, option
values out of range, unknown choices and conflicting options. For each case the test asserts the
exit code, that stderr carries exactly one ``rdstrust: error:`` line (or, for values the option
parser refuses, Click's usage error naming the option), that no traceback shows, and that the
scratch directory (the current directory, holding every file the case names) is byte for byte
and mtime for mtime what it was. Nothing here touches the network: bundles come from
``--source`` and hosts are 127.0.0.1, refused before any connection is made.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from support import FIXTURES
from typer.testing import CliRunner

from rdstrust.cli import app

runner = CliRunner()
G1 = FIXTURES / "bundles" / "g1.pem"
CHAIN = FIXTURES / "chains" / "rsa2048-g1-us-east-1" / "chain.pem"
PASSWORD = "changeit"
COMMANDS = (
    "update",
    "fetch",
    "split",
    "merge",
    "inspect",
    "verify",
    "probe",
    "instances",
    "rotate",
    "audit",
    "os-trust",
    "doctor",
)
# Environment that would change what a case does; each test starts without it.
_ENV = (
    "RDSTRUST_BUNDLE",
    "RDSTRUST_BUNDLE_URL",
    "RDSTRUST_REGION",
    "RDSTRUST_PARTITION",
    "RDSTRUST_EXPECT_SHA256",
    "RDSTRUST_JAVA",
    "RDSTRUST_STOREPASS",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@dataclass(frozen=True)
class Case:
    """One bad invocation and what it must produce."""

    args: tuple[str, ...]
    code: int
    #: Words the error must contain (for parser errors: what the option accepts).
    words: str
    #: The option parser refuses it: Click's "Invalid value for '--x'" instead of our line.
    parser: bool = False
    #: ``update``, ``merge`` and ``verify`` report per store on stdout even when a store fails.
    report: bool = False


def c(line: str, code: int, words: str, *, parser: bool = False, report: bool = False) -> Case:
    """A case from a shell-like argument line (placeholders in braces, see below)."""
    return Case(tuple(shlex.split(line)), code, words, parser, report)


# Placeholders, replaced per test: {dir} an empty directory, {missing} a file that does not
# exist, {store} a PEM store, {p12} a PKCS12 store with password "changeit", {out} a file to
# create, {g1} the fixture bundle, {chain} a fixture server chain.
SRC = "--source {g1} -s {out}"
VFY = "-s {store} --bundle {g1}"
DAYS = "from 0 to 36500"
SECONDS = "greater than 0 and at most 3600"
PG = "'host=127.0.0.1 port=1'"  # audit: never reached, every case fails before connecting
CASES: dict[str, list[Case]] = {
    "update": [
        c("--source {missing} -s {out}", 3, "does not exist"),
        c("--source {dir} -s {out}", 3, "is a directory"),
        c("--source {g1} -s {dir}", 5, "is a directory", report=True),
        c("--source {g1} -s {p12} --storepass wrong", 5, "password", report=True),
        c(f"{SRC} --warn-days 99999999999", 2, DAYS, parser=True),
        c(f"{SRC} --warn-days -5", 2, DAYS, parser=True),
        c(f"{SRC} --timeout nan", 2, SECONDS, parser=True),
        c(f"{SRC} --store-type bogus", 2, "'jks'", parser=True),
        c(f"{SRC} --pkcs12-profile bogus", 2, "'modern', 'legacy'", parser=True),
        c(f"{SRC} --partition bogus", 2, "'aws', 'aws-us-gov', 'aws-cn'", parser=True),
        c(f"{SRC} --format bogus", 2, "'pem', 'p7b'", parser=True),
        c(f"{SRC} --retries -1", 2, "from 0 to 10", parser=True),
        c(f"{SRC} --server-name db", 2, "--server-name needs --chain"),
        c(f"{SRC} --jvm", 2, "--jvm needs --chain"),
        c(f"{SRC} --url https://127.0.0.1:1/b.pem", 2, "either --url or --source"),
        c(f"{SRC} --region mars-1", 2, "not a region code"),
        c(f"{SRC} --region us-west-2", 3, "for region us-west-2"),
        c(f"{SRC} --require bogus", 2, "Unknown CA generation"),
        c(f"{SRC} --chain {{dir}}", 3, "is a directory"),
        c(f"{SRC} --storepass-file {{missing}}", 2, "does not exist"),
        c("--url https://[::1 -s {out}", 2, "not a valid URL"),
        c("--url https://127.0.0.1:99999/x -s {out}", 2, "Port out of range"),
        c("--url https://127.0.0.1:1/x --ca-bundle {missing} -s {out}", 2, "does not exist"),
    ],
    "fetch": [
        c("--source {missing} -o {out}", 3, "does not exist"),
        c("--source {dir} -o {out}", 3, "is a directory"),
        c("--source {g1} -o {dir}", 5, "is a directory"),
        c("--source {g1} -o {dir}/sub/x.pem", 5, "does not exist"),
        c("--source {g1} -o {out} --timeout inf", 2, SECONDS, parser=True),
        c("--source {g1} -o {out} --timeout 0", 2, SECONDS, parser=True),
        c(
            "--source {g1} -o {out} --retries 99",
            2,
            "'99' is not a whole number from 0 to 10.",
            parser=True,
        ),
        c("--source {g1} -o {out} --format der", 2, "'pem', 'p7b'", parser=True),
        c("--source {g1} -o {out} --region mars-1", 2, "not a region code"),
        c("--source {g1} -o {out} --expect-sha256 zz", 2, "not a SHA-256 digest"),
        c("--source {g1} -o - --json", 2, "cannot go with --json"),
        c("--url https://[::1 -o {out}", 2, "Invalid IPv6 URL"),
        c("--url https://127.0.0.1:99999/x -o {out}", 2, "Port out of range"),
        c("--url 'https://a b/x' -o {out}", 2, "does not name a valid host"),
        c("--url https://127.0.0.1:1/x --ca-bundle {missing} -o {out}", 2, "--ca-bundle file"),
        c("--url http://127.0.0.1:1/x -o {out}", 2, "only fetched over HTTPS"),
    ],
    "split": [
        c("{missing} -d {out}", 3, "does not exist"),
        c("{dir} -d {out}", 3, "is a directory"),
        c("{g1} -d {store}", 5, "{store}"),
    ],
    "merge": [
        c("-b {missing} -s {out}", 3, "does not exist"),
        c("-b {dir} -s {out}", 3, "is a directory"),
        c("-b {g1} -s {dir}", 5, "is a directory", report=True),
        c("-b {g1} -s {out} --store-type bogus", 2, "'jks'", parser=True),
        c("-b {g1} -s {out} --pkcs12-profile bogus", 2, "'modern', 'legacy'", parser=True),
        c("-b {g1} -s {out} --storepass-file {missing}", 2, "does not exist"),
        c("-b {g1} -s {out} --storepass-file {dir}", 2, "is a directory"),
        c("-b {g1} -s {out} --storepass-env NO_SUCH_VAR_FOR_RDSTRUST", 2, "NO_SUCH_VAR"),
        c("-b {g1} -s {p12} --storepass wrong", 5, "password", report=True),
    ],
    "inspect": [
        c("{missing}", 5, "does not exist"),
        c("{dir}", 5, "is a directory"),
        c("{p12} --storepass wrong", 5, "password"),
        c("{store} --expiring-days 99999999999999999999", 2, DAYS, parser=True),
        c("{store} --expiring-days -1", 2, DAYS, parser=True),
    ],
    "verify": [
        c("-s {missing} --bundle {g1}", 5, "does not exist", report=True),
        c("-s {dir} --bundle {g1}", 5, "is a directory", report=True),
        c("-s {p12} --bundle {g1} --storepass wrong", 5, "password", report=True),
        c("-s {store} --bundle {missing}", 3, "does not exist"),
        c("-s {store} --bundle {dir}", 3, "is a directory"),
        c(f"{VFY} --chain {{dir}}", 3, "is a directory"),
        c(f"{VFY} --chain {{missing}}", 3, "does not exist"),
        c(f"{VFY} --warn-days 3000000", 2, DAYS, parser=True),
        c(f"{VFY} --warn-days -5", 2, DAYS, parser=True),
        c(f"{VFY} --at 9999-12-31T23:59:59", 2, "outside the years 1950 to 9000"),
        c(f"{VFY} --at 0001-01-01", 2, "outside the years 1950 to 9000"),
        c(f"{VFY} --at soon", 2, "not a time"),
        c(f"{VFY} --host 127.0.0.1 --timeout -1", 2, SECONDS, parser=True),
        c(f"{VFY} --host 127.0.0.1 --port 99999", 2, "not a port number (1-65535)", parser=True),
        c(f"{VFY} --host 127.0.0.1 --starttls bogus", 2, "'postgres', 'none'", parser=True),
        c(f"{VFY} --host a..b", 2, "not a host name"),
        c(f"{VFY} --region mars-1", 2, "not a region code"),
        c(f"{VFY} --chain {{chain}} --host 127.0.0.1", 2, "either --chain or --host"),
        c(f"{VFY} --server-name db", 2, "--server-name needs --chain or --host"),
        c(f"{VFY} --port 6432", 2, "go with --host"),
        c(f"{VFY} --starttls none", 2, "go with --host"),
        c(f"{VFY} --timeout 10", 2, "go with --host"),
        c(f"{VFY} --require bogus", 2, "Unknown CA generation"),
        c(f"{VFY} --chain {{chain}} --jvm --java {{missing}}", 7, "--jvm needs Java"),
    ],
    "probe": [
        c("127.0.0.1:5432:1", 2, "is not HOST[:PORT]"),
        c("a..b", 2, "not a host name"),
        c("127.0.0.1:99999", 2, "not a port number"),
        c("[::1", 2, "without closing it"),
        c("127.0.0.1:1 --timeout -1", 2, SECONDS, parser=True),
        c("127.0.0.1:1 --timeout nan", 2, SECONDS, parser=True),
        c("127.0.0.1:1 --timeout 1e309", 2, SECONDS, parser=True),
        c("127.0.0.1:1 --timeout 0", 2, SECONDS, parser=True),
        c("127.0.0.1:1 --starttls bogus", 2, "'postgres', 'none'", parser=True),
        c("127.0.0.1:1 --server-name a..b", 2, "not a host name"),
        c("127.0.0.1:1 --save-chain {dir}", 5, "give a file name with --save-chain"),
        c("127.0.0.1:1 --save-chain {dir}/sub/chain.pem", 5, "does not exist"),
    ],
    # Refused before any AWS call (no network, no credentials needed).
    "instances": [
        c("--region mars", 2, "not an AWS region code"),
        c("--region us-east-1 --all-regions", 2, "not both"),
        c("--region us-east-1 --storepass-env X", 2, "go with --store"),
        c("--region us-east-1 --target rds-ca-2019", 2, "not a CA to rotate to"),
        c("--region us-east-1 --endpoint-url ftp://x", 2, "not an http"),
        c("--region us-east-1 -s {missing} --bundle {g1}", 5, "does not exist"),
    ],
    "rotate": [
        c("--instance a --cluster b -s {store}", 2, "exactly one of"),
        c("-s {store}", 2, "exactly one of"),
        c("--instance a -s {store} --wait", 2, "--wait needs --yes"),
        c("--instance a -s {store} --yes --apply-immediately --probe", 2, "goes with --wait"),
        c("--instance a -s {store} --to rds-ca-2019", 2, "not a CA to rotate to"),
        c("--instance a -s {missing} --bundle {g1}", 5, "does not exist"),
        c("--instance a -s {store} --wait-timeout 0", 2, SECONDS, parser=True),
    ],
    "audit": [
        c(f"{PG} --watch 0", 2, "not a duration greater than 0 and at most 24h", parser=True),
        c(f"{PG} --watch 25h", 2, "not a duration", parser=True),
        c(f"{PG} --watch 3 --interval 0.01", 2, "from 0.1 to 3600", parser=True),
        c(f"{PG} --watch 1 --interval 2", 2, "longer than the watch window"),
        c(f"{PG} --interval 1", 2, "only applies with --watch"),
        c(f"{PG} --sslmode bogus", 2, "'verify-full'", parser=True),
        c(f"{PG} --timeout nan", 2, SECONDS, parser=True),
        c(f"{PG} --password-file {{missing}}", 2, "does not exist"),
        c(f"{PG} --password-file {{dir}}", 2, "is a directory"),
        c("'host=127.0.0.1 port=1 password=hunter2'", 2, "holds a password"),
        c('"host=127.0.0.1 port=\'1"', 2, "connection string cannot be parsed"),
        c("'host=127.0.0.1 colour=blue'", 2, "an unknown parameter"),
    ],
    # Every case fails before anything is written; --root always names the scratch tree.
    "os-trust": [
        c("--source {missing} --root {dir}", 3, "does not exist"),
        c("--source {g1} --root {dir}", 2, "no etc/os-release"),
        c("--source {g1} --root {missing}", 2, "is not a directory"),
        c("--source {g1} --root {dir} --include bogus", 2, "Unknown --include"),
        c("--source {g1} --root {dir} --update-command '\"'", 2, "cannot be split"),
    ],
    "doctor": [
        c("--bundle {g1}", 2, "with --jdbc-url"),
        c("--jdbc-url postgresql://db/x --bundle {g1}", 2, "must start with jdbc:postgresql:"),
        c("--jdbc-url 'jdbc:postgresql://db/x?sslmode=bogus' --bundle {missing}", 2, "sslmode"),
        c('--jdbc-url jdbc:postgresql://db/x --java-options "-Dx=\'a"', 2, "split like a shell"),
        c("--jdbc-url jdbc:postgresql://db/x --chain {chain} --host db", 2, "not both"),
        c("--jdbc-url jdbc:postgresql://db/x --storepass-env NO_SUCH_VAR_X", 2, "is not set"),
        c("--jdbc-url jdbc:postgresql://db/x --bundle {missing}", 3, "does not exist"),
    ],
}

TABLE = [
    pytest.param(command, case, id=f"{command}-{index}")
    for command in COMMANDS
    for index, case in enumerate(CASES[command])
]


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The scratch directory (also the current one) and what the placeholders stand for."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "scratch"
    work.mkdir()
    (work / "dir").mkdir()
    shutil.copyfile(G1, work / "store.pem")
    p12 = work / "trust.p12"
    made = runner.invoke(app, ["merge", "-b", str(G1), "-s", str(p12), "--storepass", PASSWORD])
    assert made.exit_code == 0, made.stderr
    monkeypatch.chdir(work)
    return {
        "{dir}": str(work / "dir"),
        "{missing}": str(work / "missing.pem"),
        "{store}": str(work / "store.pem"),
        "{p12}": str(p12),
        "{out}": str(work / "out.pem"),
        "{g1}": str(G1),
        "{chain}": str(CHAIN),
    }


def snapshot(root: Path) -> dict[str, tuple[str, bytes, int, int]]:
    """Every entry under ``root``: kind, bytes, mode and modification time."""
    result = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        data = path.read_bytes() if path.is_file() else b""
        kind = "dir" if path.is_dir() else "file"
        result[str(path.relative_to(root))] = (kind, data, stat.st_mode, stat.st_mtime_ns)
    return result


def fill(text: str, places: dict[str, str]) -> str:
    for key, value in places.items():
        text = text.replace(key, value)
    return text


@pytest.mark.parametrize(("command", "case"), TABLE)
def test_bad_input(command: str, case: Case, scratch: dict[str, str]) -> None:
    work = Path.cwd()
    before = snapshot(work)
    args = [fill(a, scratch) for a in case.args]
    result = runner.invoke(app, [command, *args])
    stderr = result.stderr
    assert result.exit_code == case.code, (result.stdout, stderr)
    assert "Traceback" not in stderr + result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    errors = [line for line in stderr.splitlines() if line.startswith("rdstrust: error: ")]
    words = fill(case.words, scratch)
    if case.parser:
        # Click's usage error: the usage line, the hint, and one "Error:" line that names the
        # option and what it accepts (no pydantic "Value error," noise).
        assert errors == [], stderr
        (message,) = [line for line in stderr.splitlines() if line.startswith("Error: ")]
        option = next(a for a in reversed(case.args) if a.startswith("--"))
        assert message.startswith(f"Error: Invalid value for '{option}'"), stderr
        assert words in message, stderr
        assert "Value error" not in stderr and "Input should be" not in stderr
    else:
        assert len(errors) == 1, stderr
        assert words in errors[0], stderr
        assert errors[0].endswith(".") and not errors[0].endswith(".."), errors[0]
    if not case.report:
        assert result.stdout == ""
    assert snapshot(work) == before


def test_every_command_is_covered() -> None:
    # The root group lists its commands from a static table (commands load when they run).
    registered = set(typer.main.get_command(app).commands)
    assert registered == set(COMMANDS) == set(CASES)


@pytest.mark.parametrize(
    ("command", "args", "option", "allowed"),
    [
        ("fetch", ["--format", "bogus"], "--format", "'pem', 'p7b'"),
        ("fetch", ["--partition", "bogus"], "--partition", "'aws', 'aws-us-gov', 'aws-cn'"),
        ("update", ["-s", "x.pem", "--format", "bogus"], "--format", "'pem', 'p7b'"),
        ("update", ["-s", "x.pem", "--store-type", "bogus"], "--store-type", "'pem'"),
        ("update", ["-s", "x.pem", "--pkcs12-profile", "bogus"], "--pkcs12-profile", "'legacy'"),
        ("merge", ["-b", "b.pem", "-s", "x.pem", "--store-type", "bogus"], "--store-type", "'jks'"),
        (
            "merge",
            ["-b", "b.pem", "-s", "x.pem", "--pkcs12-profile", "bogus"],
            "--pkcs12-profile",
            "'modern', 'legacy'",
        ),
        ("probe", ["127.0.0.1", "--starttls", "bogus"], "--starttls", "'postgres', 'none'"),
        ("verify", ["-s", "x.pem", "--starttls", "bogus"], "--starttls", "'postgres', 'none'"),
    ],
)
def test_bad_choice_names_the_option_and_the_allowed_values(
    command: str, args: list[str], option: str, allowed: str, scratch: dict[str, str]
) -> None:
    result = runner.invoke(app, [command, *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert f"Error: Invalid value for '{option}'" in result.stderr
    assert "'bogus' is not one of" in result.stderr and allowed in result.stderr
    assert "Value error" not in result.stderr


def test_choices_accept_any_case(scratch: dict[str, str]) -> None:
    out = Path(scratch["{dir}"]) / "trust.p12"
    args = ["-b", scratch["{g1}"], "-s", str(out), "--store-type", "PKCS12"]
    result = runner.invoke(app, ["merge", *args, "--pkcs12-profile", "Legacy", "--storepass", "x"])
    assert result.exit_code == 0, result.stderr
    assert out.exists()


def test_every_error_class_names_its_own_exit_code() -> None:
    """The base error has no default code: a new kind of error cannot silently exit 5."""
    from rdstrust.errors import RdsTrustError

    with pytest.raises(TypeError, match="must set exit_code"):

        class Forgotten(RdsTrustError):
            pass

    with pytest.raises(TypeError, match="subclass"):
        RdsTrustError("no code")
