"""Password sources: one source at a time, bounded files, empty means unset for the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from rdstrust import UsageError
from rdstrust.passwords import ENV_VAR, PasswordSource


def test_first_line_of_a_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\nignored\n")
    assert PasswordSource(file=secret).resolve({}) == "s3cret"


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "is empty"), (b"\n", "is empty"), (b"\xff\xfe", "not UTF-8")],
)
def test_bad_password_files(tmp_path: Path, content: bytes, words: str) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(content)
    with pytest.raises(UsageError, match=words):
        PasswordSource(file=secret).resolve({})


def test_password_file_must_be_a_small_regular_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a regular file"):
        PasswordSource(file=Path("/dev/zero")).resolve({})
    with pytest.raises(UsageError, match="does not exist"):
        PasswordSource(file=tmp_path / "missing").resolve({})
    with pytest.raises(UsageError, match="directory"):
        PasswordSource(file=tmp_path).resolve({})
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100_000)
    with pytest.raises(UsageError, match="larger than"):
        PasswordSource(file=big).resolve({})


def test_environment_sources() -> None:
    assert PasswordSource(env_var="PW").resolve({"PW": "a"}) == "a"
    assert PasswordSource().resolve({ENV_VAR: "b"}) == "b"
    # An exported but empty default variable (an unset CI secret) means no password.
    assert PasswordSource().resolve({ENV_VAR: ""}) is None
    assert PasswordSource().resolve({}) is None
    with pytest.raises(UsageError, match="PW"):
        PasswordSource(env_var="PW").resolve({})


def test_only_one_source() -> None:
    with pytest.raises(UsageError, match="one way only"):
        PasswordSource(literal="a", env_var="PW").resolve({"PW": "b"})


def test_passwords_that_are_not_utf8_are_refused() -> None:
    # What Python makes of the byte 0xff in argv or the environment: a lone surrogate.
    bad = b"\xff".decode("utf-8", "surrogateescape")
    with pytest.raises(UsageError, match="--storepass is not valid UTF-8"):
        PasswordSource(literal=bad).resolve({})
    with pytest.raises(UsageError, match="PW is not valid UTF-8"):
        PasswordSource(env_var="PW").resolve({"PW": bad})
    with pytest.raises(UsageError, match=f"{ENV_VAR} is not valid UTF-8"):
        PasswordSource().resolve({ENV_VAR: bad})


def test_an_empty_storepass_env_variable_is_reported_as_empty() -> None:
    with pytest.raises(UsageError, match="PW \\(from --storepass-env\\) is set but empty"):
        PasswordSource(env_var="PW").resolve({"PW": ""})
    # Control: unset is its own message, and a set value is taken as it is.
    with pytest.raises(UsageError, match="PW \\(from --storepass-env\\) is not set"):
        PasswordSource(env_var="PW").resolve({})
    assert PasswordSource(env_var="PW").resolve({"PW": " "}) == " "


@pytest.mark.parametrize("how", ["option", "suffix"])
def test_cli_empty_storepass_env_is_not_a_wrong_password(tmp_path: Path, how: str) -> None:
    from typer.testing import CliRunner

    from rdstrust.cli import app

    store = tmp_path / "trust.jks"
    bundle = Path(__file__).resolve().parent.parent / "fixtures" / "bundles" / "g1.pem"
    made = CliRunner().invoke(
        app,
        ["merge", "-b", str(bundle), "-s", str(store), "--storepass", "changeit"],
        env={"RDSTRUST_ACCEPT_UNKNOWN_RDS": "1"},
    )
    assert made.exit_code == 0, made.output
    before = store.read_bytes()
    spec = [str(store)] if how == "option" else [f"{store},storepass:env=APP_PW"]
    extra = ["--storepass-env", "APP_PW"] if how == "option" else []
    args = ["merge", "-b", str(bundle), "-s", *spec, *extra]
    env = {"RDSTRUST_ACCEPT_UNKNOWN_RDS": "1", "RDSTRUST_STOREPASS": None}
    empty = CliRunner().invoke(app, args, env={**env, "APP_PW": ""})
    assert empty.exit_code == 2, empty.output
    assert "APP_PW (from --storepass-env) is set but empty" in empty.stderr
    assert "password" in empty.stderr and "wrong" not in empty.stderr.lower()
    # Control: a wrong (non-empty) password is reported as a wrong password, exit 5.
    wrong = CliRunner().invoke(app, args, env={**env, "APP_PW": "nope"})
    assert wrong.exit_code == 5, wrong.output
    assert "set but empty" not in wrong.stderr
    assert store.read_bytes() == before
