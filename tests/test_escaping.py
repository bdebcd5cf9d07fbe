"""No control bytes on a terminal: values from certificates, stores and servers are escaped.

A certificate whose subject holds a clear-screen sequence, an OSC 8 hyperlink, BEL, CR, C1
controls and bidi overrides goes through ``inspect``, ``probe`` (from a real TLS server),
``split``, ``merge`` and the error path; neither the human output nor ``--json`` may carry one
of those characters raw.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hostile import RAW_CONTROLS, TERMINAL_ATTACK, Issued, ca, leaf
from tls_server import HTTPSServer
from typer.testing import CliRunner

from rdstrust.cli import app
from rdstrust.output import dumps, internal, to_jsonable
from rdstrust.text import safe

runner = CliRunner()
#: The attack as a subject string shows it (RFC 4514 escapes ';').
RFC4514_ATTACK = TERMINAL_ATTACK.replace(";", "\\;")


def assert_clean(text: str) -> None:
    raw = [c for c in RAW_CONTROLS if c in text]
    assert not raw, f"raw control characters {raw!r} in output"


# --- the function ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]8;;http://x/\x07y", "\\x1b]8;;http://x/\\x07y"),
        ("a\rb\nc\td\x00", "a\\rb\\nc\\td\\x00"),
        ("\x7f\x85\u009b", "\\x7f\\x85\\x9b"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),
        (
            "\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
            "\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f\\u061c",
        ),
        ("\u2028\u2029", "\\u2028\\u2029"),
        (
            "CN=Amazon RDS us-east-1 Root CA RSA2048 G1",
            "CN=Amazon RDS us-east-1 Root CA RSA2048 G1",
        ),
        ("CN=a\\,b", "CN=a\\,b"),
        ("Zürich 東京", "Zürich 東京"),
    ],
)
def test_safe_shows_every_control_as_an_escape(raw: str, shown: str) -> None:
    assert safe(raw) == shown
    assert safe(raw).isprintable()


def test_safe_ascii_for_files() -> None:
    assert safe("Zürich\n東京", ascii=True) == "Z\\xfcrich\\n\\u6771\\u4eac"
    assert safe("\U0001f600", ascii=True) == "\\U0001f600"
    assert safe(TERMINAL_ATTACK, ascii=True).isascii()


def test_json_escapes_controls_and_bidi_and_keeps_text_readable() -> None:
    value = {"subject": TERMINAL_ATTACK + " Zürich", "tag": "\U000e0041"}
    text = dumps(value)
    assert_clean(text)
    assert "\\u009b" in text and "\\u202e" in text and "\\u007f" in text
    assert "Zürich" in text  # readable non-ASCII stays as it is
    assert "\\udb40\\udc41" in text  # a non-BMP format character as a surrogate pair
    assert json.loads(text) == value


def test_json_fields_are_chosen_by_metadata() -> None:
    @dataclasses.dataclass(frozen=True)
    class Result:
        name: str
        blob: bytes = internal(default=b"\x01")
        hidden_from_repr_only: str = dataclasses.field(
            default="shown", repr=False, metadata={"json": True}
        )

    assert to_jsonable(Result("x")) == {"name": "x", "hidden_from_repr_only": "shown"}
    assert "blob" not in repr(Result("x"))


# --- the commands ---------------------------------------------------------------------------


def hostile_ca() -> Issued:
    return ca(
        "Evil\x1b[2J\u202eCA\x07",
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, TERMINAL_ATTACK),
    )


def test_inspect_escapes_subjects_and_aliases(tmp_path: Path) -> None:
    evil = hostile_ca()
    store = tmp_path / "store.pem"
    # A line that is exactly the common name names the block: the alias comes from the file.
    store.write_bytes(
        evil.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value.encode()
        + b"\n"
        + evil.pem
    )
    human = runner.invoke(app, ["inspect", str(store)])
    assert human.exit_code == 0, human.output
    assert_clean(human.stdout + human.stderr)
    assert "Evil\\x1b[2J\\u202eCA\\x07" in human.stdout  # the alias, escaped
    assert "evil.example/\\x07click" in human.stdout  # the subject's OSC 8
    assert len(human.stdout.splitlines()) == 2  # header and one row: no line break smuggled
    as_json = runner.invoke(app, ["inspect", str(store), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert_clean(as_json.stdout)
    entry = json.loads(as_json.stdout)["entries"][0]
    assert RFC4514_ATTACK in entry["subject"]  # JSON escapes, the value is intact


def test_merge_refusal_escapes_the_foreign_name(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(hostile_ca().pem)
    result = runner.invoke(
        app, ["merge", "--bundle", str(bundle), "--store", str(tmp_path / "s.pem")]
    )
    assert result.exit_code == 3, result.output
    assert_clean(result.output)
    assert "Evil\\x1b[2J" in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_split_escapes_what_it_prints(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(hostile_ca().pem)
    out = tmp_path / "out"
    result = runner.invoke(app, ["split", str(bundle), "--out-dir", str(out), "--allow-foreign"])
    assert result.exit_code == 0, result.output
    assert_clean(result.output)
    as_json = runner.invoke(
        app, ["split", str(bundle), "--out-dir", str(out), "--allow-foreign", "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    assert_clean(as_json.stdout)


def test_probe_escapes_a_live_servers_certificate(tmp_path: Path) -> None:
    root = hostile_ca()
    server_cert = leaf(root, "localhost")
    chain = tmp_path / "chain"
    chain.mkdir()
    (chain / "server.pem").write_bytes(server_cert.pem + root.pem)
    (chain / "leaf.key").write_bytes(server_cert.key_pem())
    with HTTPSServer(chain=str(chain)) as server:
        target = f"127.0.0.1:{server.port}"
        human = runner.invoke(app, ["probe", target, "--starttls", "none"])
        as_json = runner.invoke(app, ["probe", target, "--starttls", "none", "--json"])
    assert human.exit_code == 0, human.output
    assert_clean(human.stdout + human.stderr)
    assert "Evil\\x1b[2J\\u202eCA\\x07" in human.stdout  # the issuer, from the wire
    assert "evil.example/\\x07click" in human.stdout
    assert as_json.exit_code == 0, as_json.output
    assert_clean(as_json.stdout)
    assert json.loads(as_json.stdout)["certificates"][1]["subject"].count(RFC4514_ATTACK) == 1
