"""``verify``: membership, path, expiry and PKCS12 checks on real stores, and the command line.

Every "passes" case has its failing twin: a store without the new CA, with only the old CA, an
expired CA, a wrong host name, a chain from an unrelated CA.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import FIXTURES
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, NoEncryption
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.cache import BundleCache
from rdstrust.certs import CertInfo, Generation
from rdstrust.cli import app
from rdstrust.errors import BundleError, UsageError, WrongPasswordError
from rdstrust.options import VerifyOptions
from rdstrust.pathcheck import PathFailure, read_chain
from rdstrust.runner import Passwords
from rdstrust.stores import NewCert, StoreType, create_store, pkcs12
from rdstrust.verify import (
    check_warn_days,
    parse_time,
    required_cas,
    verify_store,
    verify_stores,
)

BUNDLES = FIXTURES / "bundles"
CHAINS = FIXTURES / "chains"
G1 = BUNDLES / "g1.pem"
OLD = BUNDLES / "old-2019.pem"
EXPIRED = BUNDLES / "expired-g1.pem"
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
PASSWORD = "changeit"
NEW_CA = "rds-ca-rsa2048-g1-us-east-1"

runner = CliRunner()


def certs(*files: Path, drop: Iterable[str] = ()) -> list[CertInfo]:
    """The certificates of bundle files, without the aliases in ``drop``."""
    dropped = set(drop)
    result: list[CertInfo] = []
    for f in files:
        result += [c for c in read_bundle(f, allow_foreign=True) if c.alias not in dropped]
    return result


def make_store(
    directory: Path, kind: str, infos: list[CertInfo], password: str | None = PASSWORD
) -> Path:
    """A store of ``kind``: pem, jks, pkcs12 (rdstrust's: MAC, Java attribute),
    pkcs12-encrypted (certificates encrypted, the pre-issue-11 shape), pkcs12-open (no
    password, Java attribute) or pkcs12-plain (no Java trusted-certificate attribute)."""
    name = {"pem": "store.pem", "jks": "store.jks"}.get(kind, f"{kind}.p12")
    path = directory / name
    if kind in {"pem", "jks", "pkcs12"}:
        store_type = {"pem": StoreType.PEM, "jks": StoreType.JKS, "pkcs12": StoreType.PKCS12}[kind]
        entries = [NewCert.from_info(c) for c in infos]
        path.write_bytes(create_store(store_type, entries, password=password))
    elif kind == "pkcs12-encrypted":
        entries = [NewCert.from_info(c) for c in infos]
        path.write_bytes(pkcs12.create(entries, password=password, encrypt_certificates=True))
    elif kind == "pkcs12-open":
        path.write_bytes(
            crypto_pkcs12.serialize_java_truststore(
                [crypto_pkcs12.PKCS12Certificate(c.certificate, c.alias.encode()) for c in infos],
                NoEncryption(),
            )
        )
    elif kind == "pkcs12-plain":
        encryption = BestAvailableEncryption(password.encode()) if password else NoEncryption()
        path.write_bytes(
            crypto_pkcs12.serialize_key_and_certificates(
                None, None, None, [c.certificate for c in infos], encryption
            )
        )
    else:
        raise AssertionError(kind)
    return path


def chain(name: str):  # type: ignore[no-untyped-def]
    return read_chain(CHAINS / name / "chain.pem")


@pytest.fixture(scope="module")
def g1_bundle():  # type: ignore[no-untyped-def]
    return read_bundle(G1)


STORE_KINDS = ["pem", "jks", "pkcs12", "pkcs12-open"]


def password_for(kind: str) -> str | None:
    """cryptography's password-less PKCS12 still has a MAC (under the empty password), which
    Java, like rdstrust, checks when given any other password: read it without one."""
    return None if kind == "pkcs12-open" else PASSWORD


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_store_with_g1_passes(tmp_path: Path, kind: str, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, kind, certs(G1))
    result = verify_stores(
        [store],
        g1_bundle,
        VerifyOptions(chain=chain("rsa2048-g1-us-east-1"), hostname="localhost", at=NOW),
        passwords=Passwords.of(password_for(kind)),
    )
    report = result.stores[0]
    assert result.passed and report.passed, report.reasons
    assert report.membership.ok and report.membership.required == 9
    assert {p.alias for p in report.membership.present} >= {NEW_CA}
    assert report.path is not None and report.path.trusted
    assert report.expiry.ok and not report.expiry.expired
    assert report.reasons == ()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_store_without_the_new_ca_fails(tmp_path: Path, kind: str, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, kind, certs(G1, drop=[NEW_CA]))
    report = verify_store(
        store,
        required_cas(g1_bundle),
        password=password_for(kind),
        options=VerifyOptions(chain=chain("rsa2048-g1-us-east-1"), hostname="localhost", at=NOW),
    )
    assert not report.passed
    assert [m.alias for m in report.membership.missing] == [NEW_CA]
    assert report.path is not None and report.path.failure is PathFailure.UNKNOWN_ISSUER
    assert any("missing 1 of 9" in r and NEW_CA in r for r in report.reasons)
    assert any(r.startswith("chain not trusted: unknown issuer") for r in report.reasons)


def test_store_with_only_the_old_ca_fails(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, "jks", certs(OLD))
    report = verify_store(
        store,
        required_cas(g1_bundle),
        password=PASSWORD,
        options=VerifyOptions(chain=chain("rsa2048-g1-us-east-1"), hostname="localhost", at=NOW),
    )
    assert not report.passed
    assert len(report.membership.missing) == 9 and not report.membership.present
    assert report.path is not None and report.path.failure is PathFailure.UNKNOWN_ISSUER
    # the old CAs expired in 2024: reported, but not what fails the store
    assert len(report.expiry.expired) == 4
    assert report.expiry.ok
    assert any("can be removed" in w for w in report.warnings)


def test_mixed_store_passes_with_a_note_about_expired_2019(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, "pem", certs(OLD, G1))
    report = verify_store(
        store,
        required_cas(g1_bundle),
        options=VerifyOptions(
            chain=chain("ecc384-g1-ap-southeast-2"),
            hostname="fixturedb.c9akciq32.ap-southeast-2.rds.amazonaws.com",
            at=NOW,
        ),
    )
    assert report.passed, report.reasons
    assert report.expiry.expired and all(
        e.generation is Generation.CA_2019 for e in report.expiry.expired
    )


def test_expired_required_ca_fails(tmp_path: Path) -> None:
    store = make_store(tmp_path, "pem", certs(G1, EXPIRED))
    reference = read_bundle(EXPIRED)
    report = verify_store(store, required_cas(reference), options=VerifyOptions(at=NOW))
    assert report.membership.ok  # it is there ...
    assert not report.passed  # ... but expired
    assert not report.expiry.ok
    assert [e.alias for e in report.expiry.expired] == ["rds-ca-ecc384-g1-us-west-2"]
    assert any(r.startswith("expired CA: rds-ca-ecc384-g1-us-west-2") for r in report.reasons)
    # negative control: the same store against the G1 reference has no expired required CA ...
    # ... except that the expired G1 root is of a required generation, so it still fails
    g1_report = verify_store(store, required_cas(read_bundle(G1)), options=VerifyOptions(at=NOW))
    assert not g1_report.expiry.ok
    clean = make_store(tmp_path, "jks", certs(G1))
    assert verify_store(
        clean, required_cas(read_bundle(G1)), password=PASSWORD, options=VerifyOptions(at=NOW)
    ).passed


def test_after_2061_the_rsa2048_roots_have_expired(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, "pkcs12", certs(G1))
    when = datetime(2061, 6, 1, tzinfo=timezone.utc)
    report = verify_store(
        store,
        required_cas(g1_bundle),
        password=PASSWORD,
        options=VerifyOptions(chain=chain("rsa2048-g1-us-east-1"), hostname="localhost", at=when),
    )
    assert not report.passed
    assert report.path is not None and report.path.failure is PathFailure.EXPIRED
    expired = {e.alias for e in report.expiry.expired}
    assert NEW_CA in expired and all("rsa2048" in a for a in expired)


def test_expiring_soon_is_a_warning_only(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, "pem", certs(G1))
    when = datetime(2061, 4, 1, tzinfo=timezone.utc)  # RSA2048 G1 roots end 2061-05-25
    report = verify_store(
        store, required_cas(g1_bundle), options=VerifyOptions(at=when, warn_days=90)
    )
    assert report.passed
    assert {e.alias for e in report.expiry.expiring} >= {NEW_CA}
    assert any(NEW_CA in w and "expires on 2061-05-25" in w for w in report.warnings)
    assert not verify_store(
        store, required_cas(g1_bundle), options=VerifyOptions(at=when, warn_days=10)
    ).warnings


def test_wrong_host_name_fails_and_no_hostname_passes(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, "jks", certs(G1))
    required = required_cas(g1_bundle)
    served = chain("rsa2048-g1-us-east-1")
    options = VerifyOptions(chain=served, at=NOW, hostname="db.example.com")
    bad = verify_store(store, required, password=PASSWORD, options=options)
    assert not bad.passed
    assert bad.path is not None and bad.path.failure is PathFailure.HOSTNAME_MISMATCH
    assert any("host name mismatch" in r for r in bad.reasons)
    ca_only = VerifyOptions(chain=served, at=NOW, hostname=None)
    assert verify_store(store, required, password=PASSWORD, options=ca_only).passed


def test_unrelated_chain_fails(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, "pem", certs(G1))
    report = verify_store(
        store,
        required_cas(g1_bundle),
        options=VerifyOptions(chain=chain("unrelated"), hostname="localhost", at=NOW),
    )
    assert report.membership.ok and not report.passed
    assert report.path is not None and report.path.failure is PathFailure.UNKNOWN_ISSUER
    assert "Unrelated Test" in report.path.message


def test_pkcs12_without_the_java_trust_attribute_fails(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, "pkcs12-plain", certs(G1))
    report = verify_store(
        store,
        required_cas(g1_bundle),
        password=PASSWORD,
        options=VerifyOptions(chain=chain("rsa2048-g1-us-east-1"), hostname="localhost", at=NOW),
    )
    assert not report.passed
    assert report.java_view is not None
    assert report.java_view.trusted_entries == 0
    assert report.java_view.without_trust_attribute == 9
    assert len(report.membership.without_trust_attribute) == 9
    assert any("trusted-certificate attribute" in r for r in report.reasons)
    # what Java cannot use is no anchor for rdstrust's path check either
    assert report.path is not None and not report.path.trusted


def test_pkcs12_password_needed_is_reported(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    encrypted = make_store(tmp_path, "pkcs12-encrypted", certs(G1))
    report = verify_store(
        encrypted, required_cas(g1_bundle), password=PASSWORD, options=VerifyOptions(at=NOW)
    )
    assert report.java_view is not None and report.java_view.password_required
    assert any("Java needs the store password" in w for w in report.warnings)
    with pytest.raises(WrongPasswordError):
        verify_store(
            encrypted, required_cas(g1_bundle), password=None, options=VerifyOptions(at=NOW)
        )
    open_store = make_store(tmp_path, "pkcs12-open", certs(G1))
    report = verify_store(
        open_store, required_cas(g1_bundle), password=None, options=VerifyOptions(at=NOW)
    )
    assert report.java_view is not None and not report.java_view.password_required
    assert report.passed


def test_region_narrows_the_requirement(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    us_east = [c for c in certs(G1) if c.region == "us-east-1"]
    store = make_store(tmp_path, "pem", us_east)
    assert verify_store(
        store, required_cas(g1_bundle, region="us-east-1"), options=VerifyOptions(at=NOW)
    ).passed
    assert not verify_store(store, required_cas(g1_bundle), options=VerifyOptions(at=NOW)).passed
    only_rsa2048 = required_cas(g1_bundle, ["rds-ca-rsa2048-g1"], "us-east-1")
    assert [c.alias for c in only_rsa2048] == [NEW_CA]


def test_reference_without_the_required_generation_is_a_bundle_error() -> None:
    with pytest.raises(BundleError, match="holds no CA certificate of rds-ca-rsa2048-g1"):
        required_cas(read_bundle(OLD))
    with pytest.raises(BundleError, match="for region mars-north-1"):
        required_cas(read_bundle(G1), region="mars-north-1")


def test_parse_time() -> None:
    assert parse_time("2061-06-01") == datetime(2061, 6, 1, tzinfo=timezone.utc)
    assert parse_time("2061-06-01T12:00:00Z").hour == 12
    assert parse_time("2061-06-01T12:00:00+02:00").hour == 10
    assert parse_time("1950-01-01") == datetime(1950, 1, 1, tzinfo=timezone.utc)
    assert parse_time("9000-12-31T23:59:59Z").year == 9000


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01",
        "1949-12-31T23:59:59Z",
        "9001-01-01",
        "9999-12-31T23:59:59",
        # The offset pushes it past datetime's range: OverflowError without the check.
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+05:00",
    ],
)
def test_parse_time_refuses_times_outside_1950_to_9000(text: str) -> None:
    with pytest.raises(UsageError):
        parse_time(text)


def test_warn_days_are_bounded(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    assert check_warn_days(0) == 0 and check_warn_days(36500) == 36500
    for bad in (-1, 36501, 10**20):
        with pytest.raises(UsageError):
            check_warn_days(bad)
    store = make_store(tmp_path, "pem", certs(G1))
    with pytest.raises(UsageError):
        verify_stores([store], g1_bundle, VerifyOptions(warn_days=-5, at=NOW))
    with pytest.raises(UsageError):
        verify_stores(
            [store], g1_bundle, VerifyOptions(at=datetime(9999, 12, 31, tzinfo=timezone.utc))
        )
    # The widest window at the latest time does not overflow.
    late = datetime(9000, 12, 31, tzinfo=timezone.utc)
    assert not verify_stores([store], g1_bundle, VerifyOptions(warn_days=36500, at=late)).passed


def test_a_ca_not_yet_valid_fails_the_store(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    # The fixture G1 roots are valid from 2021-05-25: in 1960 they are present but no client
    # would accept a chain ending at them.
    store = make_store(tmp_path, "pem", certs(G1))
    early = verify_store(
        store,
        required_cas(g1_bundle),
        options=VerifyOptions(at=datetime(1960, 1, 1, tzinfo=timezone.utc)),
    )
    assert not early.passed
    assert early.membership.ok  # present, but ...
    assert not early.expiry.ok
    assert len(early.expiry.not_yet_valid) == 9
    assert any(r.startswith("CA not yet valid: rds-ca-rsa2048-g1") for r in early.reasons)
    # ... and the control: the same store judged after 2021-05-25 passes.
    assert verify_store(store, required_cas(g1_bundle), options=VerifyOptions(at=NOW)).passed


def test_not_yet_valid_other_generation_warns(tmp_path: Path, g1_bundle) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path, "pem", certs(G1))
    required = required_cas(g1_bundle, ["rds-ca-rsa2048-g1"])
    report = verify_store(
        store, required, options=VerifyOptions(at=datetime(1960, 1, 1, tzinfo=timezone.utc))
    )
    assert any(w.startswith("CA not yet valid: rds-ca-ecc384-g1") for w in report.warnings)
    assert all("ecc384" not in r for r in report.reasons)


# --- the command line -------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["verify", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_pass_and_fail_exit_codes_and_json(tmp_path: Path) -> None:
    good = make_store(tmp_path, "pem", certs(G1))
    (tmp_path / "old").mkdir()
    bad = make_store(tmp_path / "old", "pem", certs(OLD))
    base = ["--bundle", str(G1), "--chain", str(CHAINS / "rsa2048-g1-us-east-1" / "chain.pem")]
    code, out, err = run("--store", str(good), "--server-name", "localhost", *base)
    assert code == 0, err
    assert out.startswith("reference") and "PASS" in out and "1 of 1 store(s) pass" in err

    code, out, err = run("-s", str(good), "-s", str(bad), *base, "--json")
    assert code == 1, err
    data = json.loads(out)
    assert data["passed"] is False
    assert [s["passed"] for s in data["stores"]] == [True, False]
    assert data["stores"][1]["path"]["failure"] == "unknown-issuer"
    assert data["hostname"] is None  # --chain without --server-name: verify-ca
    assert "der" not in json.dumps(data)  # no raw bytes in JSON


def test_cli_wrong_host_name_and_no_hostname(tmp_path: Path) -> None:
    good = make_store(tmp_path, "pem", certs(G1))
    base = ["-s", str(good), "--bundle", str(G1), "--chain"]
    chain_file = str(CHAINS / "rsa2048-g1-us-east-1" / "chain.pem")
    code, out, _ = run(*base, chain_file, "--server-name", "db.example.com")
    assert code == 1 and "host name mismatch" in out
    code, _, _ = run(*base, chain_file, "--server-name", "db.example.com", "--no-hostname")
    assert code == 0


def test_cli_at_after_expiry(tmp_path: Path) -> None:
    good = make_store(tmp_path, "pem", certs(G1))
    code, out, _ = run("-s", str(good), "--bundle", str(G1), "--at", "2061-06-01", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["at"] == "2061-06-01T00:00:00Z"
    assert any(r.startswith("expired CA") for r in data["stores"][0]["reasons"])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--bundle", "{missing}"], 3, "does not exist"),
        (["--bundle", str(BUNDLES / "leaf-only.pem")], 3, "no CA certificate"),
        (["--bundle", str(G1), "--chain", "{missing}"], 3, "does not exist"),
        (["--bundle", str(G1), "--chain", str(G1)], 3, "server certificate first"),
        (["--bundle", str(G1), "--require", "rds-ca-2019"], 3, "holds no CA certificate"),
        (["--bundle", str(G1), "--require", "rds-ca-nope"], 2, "Unknown CA generation"),
        (["--bundle", str(G1), "--at", "soon"], 2, "not a time"),
        (["--bundle", str(G1), "--chain", str(G1), "--host", "x"], 2, "either --chain or --host"),
        (["--bundle", str(G1), "--jvm", "--java", "{missing}"], 7, "--jvm needs Java"),
        (["--bundle", str(G1), "--at", "0001-01-01"], 2, "outside the years 1950 to 9000"),
        (["--bundle", str(G1), "--at", "9999-12-31T23:59:59"], 2, "outside the years"),
        (["--bundle", str(G1), "--region", "mars-1"], 2, "not a region code"),
        (["--bundle", str(G1), "--server-name", "db"], 2, "--server-name needs --chain"),
        (["--bundle", str(G1), "--host", "a..b"], 2, "not a host name or IP address"),
    ],
)
def test_cli_input_errors(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    store = make_store(tmp_path, "pem", certs(G1))
    args = [a.replace("{missing}", str(tmp_path / "missing")) for a in args]
    got, out, err = run("-s", str(store), *args)
    assert got == code, (out, err)
    assert out == ""
    assert message in err and err.startswith("rdstrust: error: ") and "Traceback" not in err


def test_cli_at_before_the_cas_exist_fails(tmp_path: Path) -> None:
    good = make_store(tmp_path, "pem", certs(G1))
    code, out, _ = run("-s", str(good), "--bundle", str(G1), "--at", "1960-01-01")
    assert code == 1
    assert "not yet valid" in out
    code, _, _ = run("-s", str(good), "--bundle", str(G1), "--at", "2030-01-01")
    assert code == 0


def test_cli_reference_line_names_the_cached_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without --bundle, verify uses what the last fetch cached, possibly from a mirror: the
    # report must say so.
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))
    url = "https://mirror.example/rds/global-bundle.pem"
    entry = BundleCache().store(url, G1.read_bytes(), etag=None, last_modified=None)
    good = make_store(tmp_path, "pem", certs(G1))
    code, out, err = run("-s", str(good))
    assert code == 0, err
    reference = out.splitlines()[0]
    assert f"cached from {url} at {entry.fetched_at}" in reference
    assert str(entry.path) in reference
    # With --bundle the line names that file only.
    code, out, _ = run("-s", str(good), "--bundle", str(G1))
    assert out.splitlines()[0].startswith(f"reference  {G1}:") and "cached" not in out


def test_cli_store_errors(tmp_path: Path) -> None:
    store = make_store(tmp_path, "pkcs12", certs(G1))
    code, out, err = run("-s", str(tmp_path / "nope.jks"), "--bundle", str(G1))
    assert code == 5 and "does not exist" in err and "ERROR" in out and "not checked" in out
    code, out, err = run("-s", str(store), "--bundle", str(G1), "--storepass", "wrong")
    assert code == 5 and "wrong password" in err and "PASS" not in out
    code, out, err = run("-s", str(store), "--bundle", str(G1), "--storepass", PASSWORD)
    assert code == 0, err


def test_an_unreadable_store_fails_alone(tmp_path: Path) -> None:
    """A store that cannot be read is that store's failure (exit 5); the others are checked."""
    good = make_store(tmp_path, "pem", certs(G1))
    missing = tmp_path / "missing.jks"
    code, out, err = run("-s", str(missing), "-s", str(good), "--bundle", str(G1), "--json")
    assert code == 5, err
    data = json.loads(out)
    assert [s["store"] for s in data["stores"]] == [str(good)]
    assert data["stores"][0]["passed"] is True
    assert [(f["store"], f["exit_code"]) for f in data["failed"]] == [(str(missing), 5)]


def test_verify_without_bundle_uses_what_fetch_source_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fetch --source`` caches the validated bundle; ``verify`` then needs no --bundle and no
    network, and its report names where the reference came from."""
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "cache"))
    store = make_store(tmp_path, "pem", certs(G1))
    fetched = runner.invoke(app, ["fetch", "--source", str(G1), "-o", str(tmp_path / "copy.pem")])
    assert fetched.exit_code == 0, fetched.output
    code, out, err = run("-s", str(store))
    assert code == 0, err
    assert f"cached from file://{G1.resolve()}" in out


def test_host_takes_host_colon_port(tmp_path: Path) -> None:
    """``verify --host HOST:PORT`` like ``probe``: the port in the value is the one dialled."""
    store = make_store(tmp_path, "pem", certs(G1))
    code, _, err = run("-s", str(store), "--bundle", str(G1), "--host", "127.0.0.1:1")
    assert code == 6 and "127.0.0.1:1" in err
    code, _, err = run("-s", str(store), "--bundle", str(G1), "--host", "127.0.0.1:99999")
    assert code == 2 and "not a port number" in err


def test_download_failure_hint_names_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --bundle and no cached bundle: verify downloads (and says so); when that fails, the
    sentence says how to verify offline. A proxy on a closed local port keeps it off the net."""
    monkeypatch.setenv("RDSTRUST_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    store = make_store(tmp_path, "pem", certs(G1))
    code, _, err = run("-s", str(store))
    assert code == 4, err
    assert "downloading the official global bundle" in err
    assert "give the bundle with --bundle FILE" in err
