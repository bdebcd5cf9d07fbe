"""Path validation (rdstrust.pathcheck): every positive verdict beside its negative control."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from support import FIXTURES

from rdstrust.bundle import read_bundle
from rdstrust.certs import CertInfo
from rdstrust.errors import BundleError
from rdstrust.names import fast_subject
from rdstrust.pathcheck import (
    Client,
    PathFailure,
    anchors_for,
    check_path,
    parse_chain,
    read_chain,
)
from rdstrust.runcache import describe_once
from rdstrust.stores import StoreEntry, read_store
from rdstrust.verify import java_anchors

CHAINS = FIXTURES / "chains"
SYSTEM_PEM = Path("/etc/ssl/certs/ca-certificates.crt")
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def anchors(*files: Path) -> list[CertInfo]:
    result: list[CertInfo] = []
    for f in files:
        result.extend(read_bundle(f, allow_foreign=True).certificates)
    return result


def chain(name: str):  # type: ignore[no-untyped-def]
    return read_chain(CHAINS / name / "chain.pem")


G1 = FIXTURES / "bundles" / "g1.pem"
OLD = FIXTURES / "bundles" / "old-2019.pem"


@pytest.mark.parametrize(
    "name", ["rsa2048-g1-us-east-1", "rsa4096-g1-eu-west-1", "ecc384-g1-ap-southeast-2"]
)
def test_g1_store_trusts_g1_chain_and_old_store_does_not(name: str) -> None:
    ok = check_path(chain(name), anchors(G1), hostname="localhost", at=NOW)
    assert ok.trusted, ok.message
    assert ok.failure is None
    assert ok.path[0].startswith("CN=fixturedb")
    assert "Root CA" in ok.path[-1]
    assert ok.anchor_sha256 is not None

    bad = check_path(chain(name), anchors(OLD), hostname="localhost", at=NOW)
    assert not bad.trusted
    assert bad.failure is PathFailure.UNKNOWN_ISSUER
    assert "does not trust 'Amazon RDS" in bad.message and "Root CA" in bad.message


def test_root_alone_is_enough_not_a_region_of_another_generation() -> None:
    root = CHAINS / "rsa2048-g1-us-east-1" / "root.pem"
    other = CHAINS / "rsa4096-g1-us-east-1" / "root.pem"
    assert check_path(chain("rsa2048-g1-us-east-1"), anchors(root), hostname="localhost").trusted
    result = check_path(chain("rsa2048-g1-us-east-1"), anchors(other), hostname="localhost")
    assert result.failure is PathFailure.UNKNOWN_ISSUER


def test_unrelated_chain_is_unknown_issuer() -> None:
    result = check_path(chain("unrelated"), anchors(G1), hostname="localhost", at=NOW)
    assert not result.trusted
    assert result.failure is PathFailure.UNKNOWN_ISSUER
    assert "Unrelated Test" in result.message
    # ... and trusted by its own root (the negative control's control)
    own = anchors(CHAINS / "unrelated" / "root.pem")
    assert check_path(chain("unrelated"), own, hostname="localhost", at=NOW).trusted


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1", "fixturedb.c9akciq32.us-east-1.rds.amazonaws.com", "LOCALHOST"],
)
def test_host_names_in_the_san_match(host: str) -> None:
    assert check_path(chain("rsa2048-g1-us-east-1"), anchors(G1), hostname=host, at=NOW).trusted


@pytest.mark.parametrize(
    "host", ["wrong.example.com", "127.0.0.2", "fixturedb.c9akciq32.eu-west-1.rds.amazonaws.com"]
)
def test_wrong_host_name_fails_but_verify_ca_passes(host: str) -> None:
    result = check_path(chain("rsa2048-g1-us-east-1"), anchors(G1), hostname=host, at=NOW)
    assert not result.trusted
    assert result.failure is PathFailure.HOSTNAME_MISMATCH
    assert host in result.message and "localhost" in result.message
    # verify-ca: no name, the chain alone is trusted
    assert check_path(chain("rsa2048-g1-us-east-1"), anchors(G1), hostname=None, at=NOW).trusted


def test_verify_ca_still_rejects_an_untrusted_chain() -> None:
    result = check_path(chain("unrelated"), anchors(G1), hostname=None, at=NOW)
    assert result.failure is PathFailure.UNKNOWN_ISSUER


def test_after_the_leaf_expires_the_chain_fails_as_expired() -> None:
    when = datetime(2036, 1, 1, tzinfo=timezone.utc)
    result = check_path(chain("rsa2048-g1-us-east-1"), anchors(G1), hostname="localhost", at=when)
    assert result.failure is PathFailure.EXPIRED
    assert "server certificate" in result.message and "2035-01-01" in result.message


def test_before_the_ca_is_valid_the_chain_fails() -> None:
    when = datetime(2020, 1, 1, tzinfo=timezone.utc)
    result = check_path(chain("rsa2048-g1-us-east-1"), anchors(G1), hostname="localhost", at=when)
    assert not result.trusted
    assert result.failure is PathFailure.EXPIRED
    assert "not valid before" in result.message


def test_2019_chain_expired_in_2024_but_was_trusted_in_2023() -> None:
    old = chain("2019-us-east-1")
    then = datetime(2023, 6, 1, tzinfo=timezone.utc)
    assert check_path(old, anchors(OLD), hostname="localhost", at=then).trusted
    result = check_path(old, anchors(OLD), hostname="localhost", at=NOW)
    assert result.failure is PathFailure.EXPIRED


def test_no_anchors() -> None:
    result = check_path(chain("rsa2048-g1-us-east-1"), [], hostname="localhost")
    assert result.failure is PathFailure.NO_ANCHORS


def test_server_sending_its_root_too_still_validates() -> None:
    base = CHAINS / "rsa2048-g1-us-east-1"
    data = (base / "chain.pem").read_bytes() + (base / "root.pem").read_bytes()
    assert check_path(parse_chain(data), anchors(G1), hostname="localhost", at=NOW).trusted
    result = check_path(parse_chain(data), anchors(OLD), hostname="localhost", at=NOW)
    assert result.failure is PathFailure.UNKNOWN_ISSUER


def test_leaf_only_chain_needs_the_intermediate() -> None:
    leaf = read_chain(CHAINS / "rsa2048-g1-us-east-1" / "leaf.pem")
    result = check_path(leaf, anchors(G1), hostname="localhost", at=NOW)
    assert result.failure is PathFailure.UNKNOWN_ISSUER
    # the intermediate in the store is enough (as an anchor)
    inter = anchors(CHAINS / "rsa2048-g1-us-east-1" / "intermediate.pem")
    assert check_path(leaf, inter, hostname="localhost", at=NOW).trusted


def test_der_chain_reads(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    leaf = read_chain(CHAINS / "rsa2048-g1-us-east-1" / "leaf.pem").leaf
    path = tmp_path / "leaf.der"
    path.write_bytes(leaf.certificate.public_bytes(Encoding.DER))
    assert read_chain(path).leaf.sha256 == leaf.sha256


def test_chain_must_start_with_the_leaf() -> None:
    with pytest.raises(BundleError, match="server certificate first"):
        read_chain(CHAINS / "rsa2048-g1-us-east-1" / "intermediate.pem")


@pytest.mark.parametrize("content", [b"", b"<html><body>nope</body></html>", b"hello"])
def test_bad_chain_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "chain.pem"
    path.write_bytes(content)
    with pytest.raises(BundleError):
        read_chain(path)


def test_missing_chain_file(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        read_chain(tmp_path / "nope.pem")


def test_trailing_dot_is_refused_as_libpq_and_the_jvm_refuse_it() -> None:
    """libpq compares the host as written (pg_strcasecmp): 'name.' is not 'name'."""
    host = "fixturedb.c9akciq32.us-east-1.rds.amazonaws.com"
    for client in Client:
        result = check_path(
            chain("rsa2048-g1-us-east-1"), anchors(G1), hostname=host + ".", at=NOW, client=client
        )
        assert result.failure is PathFailure.HOSTNAME_MISMATCH, result.message
        assert f"connect to {host}" in result.message
        # Control: without the dot the same chain is trusted.
        assert check_path(
            chain("rsa2048-g1-us-east-1"), anchors(G1), hostname=host, at=NOW, client=client
        ).trusted


def test_differences_reach_json() -> None:
    from rdstrust.output import to_jsonable

    result = check_path(chain("rsa2048-g1-us-east-1"), anchors(G1), hostname="localhost", at=NOW)
    data = to_jsonable(result)
    assert data["client"] == "libpq" and data["differences"] == []


# --- anchors_for: only the entries a path can use are described, with the same verdicts ------


def _store_entries(*files: Path) -> list[StoreEntry]:
    entries: list[StoreEntry] = []
    for f in files:
        entries.extend(java_anchors(read_store(f, None)))
    return entries


_STORES = {
    "g1": (G1,),
    "old": (OLD,),
    "mixed": (FIXTURES / "bundles" / "mixed.pem",),
    "expired-g1": (FIXTURES / "bundles" / "expired-g1.pem",),
    "unrelated-root": (CHAINS / "unrelated" / "root.pem",),
    # The chain itself as the store: a path may end at a certificate the server sent.
    "the-chain": (CHAINS / "rsa2048-g1-us-east-1" / "chain.pem",),
    "system-and-g1": (SYSTEM_PEM, G1) if SYSTEM_PEM.exists() else (G1,),
    "nothing-usable": (OLD, CHAINS / "unrelated" / "root.pem"),
}


@pytest.mark.parametrize("store", sorted(_STORES))
def test_the_selected_anchors_give_the_whole_stores_verdict(store: str) -> None:
    entries = _store_entries(*_STORES[store])
    described = [e.info for e in entries if e.info is not None]
    for name in sorted(p.name for p in CHAINS.iterdir()):
        c = chain(name)
        selected = anchors_for(c, entries)
        assert len(selected) <= len(c.certificates) * 3
        for at in (
            NOW,
            datetime(2019, 6, 1, tzinfo=timezone.utc),
            datetime(2070, 1, 1, tzinfo=timezone.utc),
        ):
            for hostname, client in (("localhost", Client.LIBPQ), (None, Client.PGJDBC)):
                whole = check_path(c, described, hostname=hostname, at=at, client=client)
                part = check_path(
                    c,
                    selected,
                    hostname=hostname,
                    at=at,
                    client=client,
                    store_has_anchors=bool(selected) or bool(described),
                )
                assert part == whole, (store, name, at, hostname)


def test_anchors_for_describes_only_candidates() -> None:
    if not SYSTEM_PEM.exists():
        pytest.skip(f"{SYSTEM_PEM} is not here")
    entries = _store_entries(SYSTEM_PEM, G1)
    c = chain("rsa2048-g1-us-east-1")
    with describe_once():
        selected = anchors_for(c, entries)
        assert [s.common_name for s in selected] == ["Amazon RDS us-east-1 Root CA RSA2048 G1"]
        # Subjects are read from the DER: only the selected entry and those whose subject the
        # reader leaves to cryptography (non-ASCII text, other string types) are described.
        unusual = [e for e in entries if fast_subject(e.certificates[0], specials=True) is None]
        described = [e for e in entries if e._described is not None]
        assert len(described) <= len(unusual) + 1 < len(entries) // 2


def test_an_empty_selection_from_a_store_with_anchors_is_an_unknown_issuer() -> None:
    entries = _store_entries(OLD)
    c = chain("unrelated")
    assert anchors_for(c, entries) == []
    result = check_path(c, [], hostname="localhost", at=NOW, store_has_anchors=True)
    assert result.failure is PathFailure.UNKNOWN_ISSUER
    assert result == check_path(c, anchors(OLD), hostname="localhost", at=NOW)
    empty = check_path(c, [], hostname="localhost", at=NOW, store_has_anchors=False)
    assert empty.failure is PathFailure.NO_ANCHORS
