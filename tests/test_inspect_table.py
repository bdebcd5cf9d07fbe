"""``inspect``'s table on a real JDK cacerts with the real RDS bundle merged (246 entries):
fitted to the terminal width, sorted and filtered, with the full data kept in ``--json``."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import unicodedata
from pathlib import Path

import pytest
from conftest import missing, shared_bundle
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.certs import Generation
from rdstrust.cli import app
from rdstrust.cli.inspect import render_listing
from rdstrust.listing import ListedEntry, ListFilter, SortKey, StoreListing, select_entries
from rdstrust.merge import merge_store
from rdstrust.stores import EntryKind, StoreType

SYSTEM_CACERTS = Path("/etc/ssl/certs/java/cacerts")
runner = CliRunner()


def columns(text: str) -> int:
    """Terminal columns a line takes (East Asian wide characters count two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@pytest.fixture(scope="module")
def cacerts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the machine's JDK cacerts with the real global bundle merged into it."""
    if not SYSTEM_CACERTS.is_file():
        missing(f"{SYSTEM_CACERTS} (ca-certificates-java)")
    store = tmp_path_factory.mktemp("inspect") / "cacerts"
    shutil.copyfile(SYSTEM_CACERTS, store)  # a copy: the machine's own store is never written
    bundle = read_bundle(shared_bundle("global-2026-03.pem"))
    merge_store(store, bundle, password="changeit")
    return store


def inspect(store: Path, *args: str, width: int | None = None) -> tuple[int, str, str]:
    env = {"COLUMNS": str(width) if width else None, "RDSTRUST_STOREPASS": None}
    result = runner.invoke(app, ["inspect", str(store), *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def entries(store: Path, *args: str) -> list[dict[str, object]]:
    code, stdout, stderr = inspect(store, "--json", *args)
    assert code == 0, stderr
    listed = json.loads(stdout)["entries"]
    assert isinstance(listed, list)
    return listed


@pytest.mark.realdata
@pytest.mark.parametrize("width", [60, 80, 100, 132])
def test_every_row_fits_the_terminal_width(cacerts: Path, width: int) -> None:
    code, stdout, stderr = inspect(cacerts, width=width)
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert len(lines) == 1 + 246  # a header and one line per entry: nothing wrapped or lost
    assert max(columns(line) for line in lines) <= width
    assert "…" in stdout  # long subjects were cut, not wrapped
    assert "246 entries, 246 trusted, 102 Amazon RDS CAs" in stderr
    assert "shown" not in stderr  # no filter: every entry is shown


@pytest.mark.realdata
def test_wide_terminal_rows_are_whole_and_json_keeps_everything(cacerts: Path) -> None:
    # Control for the test above: with room enough nothing is cut, so the fitting did the work.
    code, stdout, _ = inspect(cacerts, width=1000)
    assert code == 0 and "…" not in stdout
    assert max(len(line) for line in stdout.splitlines()) > 132
    listed = entries(cacerts)
    assert len(listed) == 246
    assert all(len(str(e["sha256"])) == 64 for e in listed)
    # The table shows a 12-digit prefix of the fingerprint; JSON has all 64 digits.
    first = listed[0]
    assert str(first["sha256"])[:12] in stdout and str(first["sha256"]) not in stdout


@pytest.mark.realdata
def test_sort_orders(cacerts: Path) -> None:
    file_order = [e["alias"] for e in entries(cacerts)]
    by_alias = [str(e["alias"]) for e in entries(cacerts, "--sort", "alias")]
    assert by_alias == sorted(by_alias, key=lambda a: (a.casefold(), a))
    assert by_alias != file_order and sorted(by_alias) == sorted(map(str, file_order))
    expiry = [str(e["not_after"]) for e in entries(cacerts, "--sort", "expiry")]
    assert expiry == sorted(expiry)
    by_generation = entries(cacerts, "--sort", "generation")
    generations = [e["generation"] for e in by_generation]
    rank = [g.value for g in Generation]
    assert all(g is not None for g in generations[:102]) and set(generations[102:]) == {None}
    ranks = [rank.index(str(g)) for g in generations[:102]]
    assert ranks == sorted(ranks)
    regions = [str(e["region"]) for e in by_generation[:34]]  # the first generation's regions
    assert regions == sorted(regions, key=str.casefold)
    code, _, stderr = inspect(cacerts, "--sort", "size")
    assert code == 2 and "'size' is not one of" in stderr


@pytest.mark.realdata
def test_filters_and_the_summary(cacerts: Path) -> None:
    rds = entries(cacerts, "--rds-only")
    assert len(rds) == 102 and all(e["generation"] for e in rds)
    ecc = entries(cacerts, "--alias", "RDS-CA-ECC384-G1-*")  # a pattern, case ignored
    assert len(ecc) == 34 and all(str(e["alias"]).startswith("rds-ca-ecc384-g1-") for e in ecc)
    west = entries(cacerts, "--alias", "rds-ca-ecc384-g1-eu-west-?", "--sort", "alias")
    assert [e["alias"] for e in west] == [
        "rds-ca-ecc384-g1-eu-west-1",
        "rds-ca-ecc384-g1-eu-west-2",
        "rds-ca-ecc384-g1-eu-west-3",
    ]
    expired = entries(cacerts, "--expired")
    assert expired and all(e["status"] == "expired" for e in expired)
    # Everything still valid expires within a century: --expiring then shows all the others.
    expiring = entries(cacerts, "--expiring", "--expiring-days", "36500")
    assert len(expiring) + len(expired) == 246
    both = entries(cacerts, "--expired", "--expiring", "--expiring-days", "36500")
    assert len(both) == 246
    code, stdout, stderr = inspect(cacerts, "--rds-only", "--alias", "*eu-west-1", width=80)
    assert code == 0, stderr
    assert len(stdout.splitlines()) == 1 + 3
    assert "246 entries (3 shown), 246 trusted, 102 Amazon RDS CAs" in stderr
    code, stdout, stderr = inspect(cacerts, "--alias", "no-such-*", width=80)
    assert code == 0 and len(stdout.splitlines()) == 1 and "(0 shown)" in stderr


def _entry(alias: str, subject: str, generation: Generation | None = None) -> ListedEntry:
    return ListedEntry(
        alias=alias,
        kind=EntryKind.TRUSTED_CERT,
        subject=subject,
        generation=generation,
        region="us-east-1" if generation else None,
        known=True if generation else None,
        not_after=dt.datetime(2061, 5, 19, tzinfo=dt.timezone.utc),
        status="valid",
        sha256="ab" * 32,
        java_trusted=None,
        chain_length=1,
    )


def _listing(*listed: ListedEntry) -> StoreListing:
    return StoreListing(
        store="s.pem",
        real_path="/s.pem",
        type=StoreType.PEM,
        integrity_checked=True,
        entries=listed,
        trusted=len(listed),
        rds_cas=0,
        expired=0,
        expiring=0,
    )


def test_wide_characters_and_escapes_are_cut_by_the_columns_they_take() -> None:
    listing = _listing(
        _entry("東京-ca", "CN=東京都庁認証局 " * 8),
        _entry("evil\x1b[2J", "CN=\u202eevil\x07" * 10),
    )
    for width in (40, 57, 80):
        lines = render_listing(listing, width).splitlines()
        assert len(lines) == 3 and max(columns(line) for line in lines) <= width
        assert all(c.isprintable() for line in lines for c in line)
    whole = render_listing(listing, None)  # a pipe: whole rows
    assert "\\x1b[2J" in whole and ("CN=\\u202eevil\\x07" * 10) in whole


def test_select_entries_keeps_the_counts_of_the_whole_store() -> None:
    listing = _listing(
        _entry("b", "CN=b"), _entry("A", "CN=a", Generation.RSA2048_G1), _entry("c", "CN=c")
    )
    shown = select_entries(listing, ListFilter(rds_only=True), SortKey.ALIAS)
    assert [e.alias for e in shown.entries] == ["A"] and shown.total == 3
    assert [e.alias for e in select_entries(listing, None, "alias").entries] == ["A", "b", "c"]
    assert [e.alias for e in select_entries(listing).entries] == ["b", "A", "c"]
