"""PKCS12 details: password encodings and OpenSSL interop."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, require_tool
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.cli import app
from rdstrust.errors import WrongPasswordError
from rdstrust.stores import NewCert, StoreType, create_store, parse_store, pkcs12, read_store
from rdstrust.stores import _der as der

PW = "changeit"
G1 = FIXTURES / "bundles" / "g1.pem"
runner = CliRunner()


def _certs(bundle: Path = G1) -> list[NewCert]:
    return [NewCert.from_info(c) for c in read_bundle(bundle)]


def _openssl_p12(tmp_path: Path, name: str, password: str, *extra: str) -> Path:
    """A certificates-only PKCS12 made by ``openssl pkcs12 -export`` from the G1 fixtures."""
    out = tmp_path / name
    subprocess.run(
        [require_tool("openssl"), "pkcs12", "-export", "-nokeys", "-in", str(G1),
         "-passout", f"pass:{password}", "-out", str(out), *extra],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return out


# --------------------------------------------------------------------------- passwords


@pytest.mark.parametrize(
    ("store_type", "profile"),
    [(StoreType.PKCS12, "modern"), (StoreType.PKCS12, "legacy"), (StoreType.JKS, None)],
)
def test_password_that_is_not_text_is_one_sentence(
    tmp_path: Path, store_type: StoreType, profile: str | None
) -> None:
    # RDSTRUST_STOREPASS=$'\xff' reaches Python as the lone surrogate U+DCFF.
    bad = "\udcff"
    path = tmp_path / "s"
    path.write_bytes(create_store(store_type, _certs(), password=PW, profile=profile))
    with pytest.raises(WrongPasswordError, match=r"holds bytes that are not UTF-8 text"):
        read_store(path, bad)
    with pytest.raises(WrongPasswordError, match=r"not UTF-8 text"):
        create_store(store_type, _certs(), password=bad, profile=profile)
    _, loaded = parse_store(path.read_bytes(), source=str(path), password=PW)
    with pytest.raises(WrongPasswordError, match=rf"given for {path} holds bytes"):
        loaded.render(remove=frozenset(), add=[], password=bad)


@pytest.mark.parametrize("legacy", [False, True], ids=["modern", "legacy"])
def test_openssl_store_with_the_empty_password_is_read(tmp_path: Path, legacy: bool) -> None:
    # RFC 7292 B.1: "" is the BMPString 00 00; OpenSSL keys both MAC and PBE with it.
    store = _openssl_p12(tmp_path, "e.p12", "", *(["-legacy"] if legacy else []))
    contents = read_store(store, "")
    assert contents.fingerprints() == {c.sha256 for c in read_bundle(G1)}
    with pytest.raises(WrongPasswordError):
        read_store(store, "x")  # negative control: any other password is wrong
    result = runner.invoke(app, ["inspect", str(store), "--storepass", ""])
    assert result.exit_code == 0, result.output
    assert "9 trusted" in result.output


def test_empty_password_is_written_as_openssl_reads_it(tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    store = tmp_path / "e.p12"
    store.write_bytes(create_store(StoreType.PKCS12, _certs(), password="", profile="legacy"))

    def openssl_reads(password: str) -> bool:
        proc = subprocess.run(
            [openssl, "pkcs12", "-in", str(store), "-passin", f"pass:{password}", "-nokeys"],
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0 and proc.stdout.count(b"BEGIN CERTIFICATE") == 9

    assert openssl_reads("")
    assert not openssl_reads("x")
    # The MAC is keyed with the BMPString 00 00 itself, not with no bytes (which OpenSSL and
    # Java only accept on a retry).
    pfx = der.parse(store.read_bytes()).children()
    auth_safe = pfx[1].children()[1].children()[0].content
    digest_info, salt, count = pfx[2].children()
    mac = pkcs12._Mac("sha1", salt.content, der.to_int(count))
    stored = digest_info.children()[1].content
    assert pkcs12._mac_value(mac, b"\x00\x00", auth_safe) == stored


def test_empty_password_without_the_terminator_is_still_read() -> None:
    # What rdstrust wrote before: the MAC keyed with no bytes at all instead of 00 00.
    bags = [pkcs12._cert_bag(c) for c in _certs()]
    auth_safe = der.seq(pkcs12._envelope(bags, None, None))
    mac = pkcs12._Mac("sha256", b"0123456789abcdef", 2048)
    value = pkcs12._mac_value(mac, b"", auth_safe)
    digest_info = der.seq(
        der.seq(der.oid("2.16.840.1.101.3.4.2.1"), der.encode(der.NULL, b"")), der.octets(value)
    )
    pfx = der.seq(
        der.integer(3),
        der.seq(der.oid(pkcs12.OID_DATA), der.explicit0(der.octets(auth_safe))),
        der.seq(digest_info, der.octets(mac.salt), der.integer(mac.iterations)),
    )
    _, loaded = parse_store(pfx, source="old.p12", password="")
    assert len(loaded.entries) == 9
    with pytest.raises(WrongPasswordError):
        parse_store(pfx, source="old.p12", password="x")
