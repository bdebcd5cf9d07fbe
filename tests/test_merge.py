"""Merge rules and failure behaviour without a JVM (keytool: test_merge_keytool.py)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.certs import describe
from rdstrust.cli import app
from rdstrust.errors import StoreError, UsageError, WrongPasswordError
from rdstrust.merge import merge_store, merge_stores, plan_merge
from rdstrust.options import MergeOptions
from rdstrust.passwords import PasswordSource
from rdstrust.runner import Passwords, StoreFailure
from rdstrust.stores import (
    CREATABLE_TYPES,
    LoadedStore,
    NewCert,
    StoreType,
    create_store,
    parse_store,
    read_store,
)
from rdstrust.storespec import StoreSpec

PW = "changeit"
BUNDLES = FIXTURES / "bundles"
G1 = BUNDLES / "g1.pem"
OLD = BUNDLES / "old-2019.pem"
MIXED = BUNDLES / "mixed.pem"
SUFFIX = {StoreType.JKS: "jks", StoreType.PKCS12: "p12", StoreType.PEM: "pem"}
runner = CliRunner()


def _store(tmp_path: Path, store_type: StoreType, bundle: Path = OLD, name: str = "s") -> Path:
    path = tmp_path / f"{name}.{SUFFIX[store_type]}"
    certs = [NewCert.from_info(c) for c in read_bundle(bundle)]
    path.write_bytes(create_store(store_type, certs, password=PW))
    return path


def _expired_foreign_ca() -> NewCert:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Expired Corporate Root")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2010, 1, 1, tzinfo=dt.timezone.utc))
        .not_valid_after(dt.datetime(2015, 1, 1, tzinfo=dt.timezone.utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return NewCert.from_info(describe(cert), alias="corp-root")


@pytest.mark.parametrize("store_type", CREATABLE_TYPES)
def test_merge_adds_new_keeps_old_and_is_idempotent(tmp_path: Path, store_type: StoreType) -> None:
    store = _store(tmp_path, store_type)
    before = read_store(store, PW)
    original = store.read_bytes()
    result = merge_store(store, read_bundle(MIXED), password=PW)
    assert len(result.already_present) == 4 and len(result.added) == 9
    assert result.kept == 4 and result.written and result.backup
    assert Path(result.backup).read_bytes() == original  # the backup is the store before
    assert store.read_bytes() != original
    after = read_store(store, PW)
    assert after.entries[:4] == before.entries  # same aliases, same certificates, same order
    assert after.fingerprints() == {c.sha256 for c in read_bundle(MIXED)}
    data = store.read_bytes()
    again = merge_store(store, read_bundle(MIXED), password=PW)
    assert not again.written and not again.added and store.read_bytes() == data


def test_output_is_byte_identical_for_the_same_inputs(tmp_path: Path) -> None:
    for store_type in CREATABLE_TYPES:
        a = _store(tmp_path, store_type, name="a")
        b = _store(tmp_path, store_type, name="b")
        merge_store(a, read_bundle(G1), password=PW, options=MergeOptions(backup=False))
        merge_store(b, read_bundle(G1), password=PW, options=MergeOptions(backup=False))
        assert a.read_bytes() == b.read_bytes()


def test_alias_taken_by_another_certificate_is_never_overwritten(tmp_path: Path) -> None:
    g1 = read_bundle(G1)
    first = g1.certificates[0]
    store = tmp_path / "s.jks"
    impostor = _expired_foreign_ca()
    store.write_bytes(
        create_store(
            StoreType.JKS,
            [NewCert(first.alias, impostor.der, "x", impostor.not_before)],
            password=PW,
        )
    )
    result = merge_store(store, g1, password=PW)
    new_alias = next(a.alias for a in result.added if a.sha256 == first.sha256)
    assert new_alias != first.alias and new_alias.startswith(first.alias)
    entries = {e.alias: e.sha256 for e in read_store(store, PW).entries}
    assert entries[first.alias] == impostor_sha(impostor)
    assert entries[new_alias] == first.sha256


def impostor_sha(cert: NewCert) -> str:
    import hashlib

    return hashlib.sha256(cert.der).hexdigest()


@pytest.mark.parametrize("store_type", CREATABLE_TYPES)
def test_prune_expired_removes_only_expired_rds_cas(tmp_path: Path, store_type: StoreType) -> None:
    store = tmp_path / f"s.{SUFFIX[store_type]}"
    old = [NewCert.from_info(c) for c in read_bundle(OLD)]
    store.write_bytes(create_store(store_type, [_expired_foreign_ca(), *old], password=PW))
    plan = plan_merge(store, read_bundle(G1), password=PW, options=MergeOptions(prune_expired=True))
    assert {p.alias for p in plan.pruned} == {c.alias for c in old}
    result = merge_store(
        store, read_bundle(G1), password=PW, options=MergeOptions(prune_expired=True)
    )
    aliases = [e.alias for e in read_store(store, PW).entries]
    assert aliases[0] == "corp-root"  # expired, but not an RDS CA: never removed
    assert len(aliases) == 1 + len(result.added) == 10
    # Without --prune-expired nothing is ever removed.
    merge_store(store, read_bundle(OLD), password=PW)
    assert len(read_store(store, PW).entries) == 14


def test_pem_text_is_kept_and_new_blocks_are_named(tmp_path: Path) -> None:
    store = tmp_path / "ca.pem"
    original = b"# my company bundle\r\n" + (BUNDLES / "old-2019.pem").read_bytes().replace(
        b"\n", b"\r\n"
    )
    store.write_bytes(original)
    result = merge_store(store, read_bundle(G1), password=None)
    text = store.read_bytes()
    assert text.startswith(original)
    for added in result.added:
        assert f"# {added.alias}: ".encode() in text
    assert b"\n" not in text.replace(b"\r\n", b"")  # line ends stay CRLF


def _pem_blocks(bundle: Path) -> list[bytes]:
    text = bundle.read_bytes()
    end = b"-----END CERTIFICATE-----\n"
    return [block + end for block in text.split(end) if block.strip()]


def test_pem_header_comment_is_not_a_label_and_is_never_pruned(tmp_path: Path) -> None:
    # The reviewer's case: a file header right above the first certificate.
    header = b"# Corporate trust bundle - do not edit by hand\n"
    store = tmp_path / "ca.pem"
    store.write_bytes(header + OLD.read_bytes())
    old = read_bundle(OLD)
    assert [e.alias for e in read_store(store, None).entries] == [c.alias for c in old]
    result = merge_store(
        store, read_bundle(G1), password=None, options=MergeOptions(prune_expired=True)
    )
    assert len(result.pruned) == 4 and len(result.added) == 9
    text = store.read_bytes()
    assert text.startswith(header + b"# rds-ca-rsa2048-g1")  # the header stays, blocks go
    assert b"2019" not in text


def test_pruning_pem_removes_only_rdstrusts_own_label_with_its_block(tmp_path: Path) -> None:
    root, east, west, south = read_bundle(OLD).certificates
    blocks = _pem_blocks(OLD)
    own = f"# rds-ca-2019-root: {root.subject}\n".encode()
    other = f"# legacy: {east.subject}\n".encode()  # an rdstrust label, but of another cert
    cn = f"{west.common_name}\n".encode()  # names its certificate, but is not rdstrust's
    note = b"# installed by ops, ticket 1234\n"
    store = tmp_path / "ca.pem"
    store.write_bytes(own + blocks[0] + other + blocks[2] + cn + blocks[2] + note + blocks[3])
    # blocks[2] twice: the second copy's label is its CN; the "other" label names east, not west.
    entries = read_store(store, None).entries
    assert [e.alias for e in entries] == [
        "rds-ca-2019-root",
        west.alias,
        west.common_name,
        south.alias,
    ]
    merge_store(
        store,
        read_bundle(G1),
        password=None,
        options=MergeOptions(prune_expired=True, backup=False),
    )
    text = store.read_bytes()
    # Everything that is not a pruned block or rdstrust's own label of it is still there.
    assert text.startswith(other + cn + note + b"# rds-ca-rsa2048-g1")
    assert text.count(b"BEGIN CERTIFICATE") == 9


def test_unparseable_certificates_are_carried_byte_for_byte(tmp_path: Path) -> None:
    odd = NewCert("odd", b"\x30\x06\x02\x01\x00\x02\x01\x00", "?", dt.datetime(2020, 1, 1))
    for store_type in (StoreType.JKS, StoreType.PKCS12):
        store = tmp_path / f"odd.{SUFFIX[store_type]}"
        store.write_bytes(create_store(store_type, [odd], password=PW))
        result = merge_store(store, read_bundle(G1), password=PW)
        assert any("cannot be decoded" in n for n in result.notes)
        entry = read_store(store, PW).entries[0]
        assert entry.alias == "odd" and entry.info is None and entry.certificates == (odd.der,)


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[None]:
    """Make a directory unwritable, even for root (chattr +i), and undo it afterwards."""
    if os.geteuid() == 0:
        from test_atomic import chattr_immutable

        chattr = chattr_immutable(path)  # skips with the reason when chattr +i fails
        try:
            yield
        finally:
            subprocess.run([chattr, "-i", str(path)], check=True)
    else:
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(0o755)


@pytest.mark.parametrize("store_type", [StoreType.JKS, StoreType.PKCS12])
def test_failures_leave_the_file_unchanged(tmp_path: Path, store_type: StoreType) -> None:
    store = _store(tmp_path, store_type)
    data = store.read_bytes()
    with pytest.raises(WrongPasswordError, match="wrong password"):
        merge_store(store, read_bundle(G1), password="not-it")
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0x01
    store.write_bytes(bytes(tampered))
    with pytest.raises(StoreError):
        merge_store(store, read_bundle(G1), password=PW)
    assert store.read_bytes() == bytes(tampered)
    store.write_bytes(data)
    with pytest.raises(StoreError, match="password"):
        merge_store(store, read_bundle(G1), password=None)
    sub = tmp_path / "ro"
    sub.mkdir()
    ro_store = sub / store.name
    ro_store.write_bytes(data)
    with read_only_dir(sub), pytest.raises(StoreError, match=r"left unchanged|nothing was changed"):
        merge_store(ro_store, read_bundle(G1), password=PW)
    assert ro_store.read_bytes() == data
    assert sorted(p.name for p in sub.iterdir()) == [store.name]  # no temporary left behind


def test_writes_go_through_symlinks_and_keep_the_mode(tmp_path: Path) -> None:
    real_dir = tmp_path / "etc"
    real_dir.mkdir()
    real = _store(real_dir, StoreType.JKS, name="cacerts")
    real.chmod(0o640)
    link = tmp_path / "cacerts"
    link.symlink_to(real)
    result = merge_store(link, read_bundle(G1), password=PW)
    assert link.is_symlink() and link.resolve() == real
    assert result.real_path == str(real) and result.backup == str(real) + ".bak"
    assert (real.stat().st_mode & 0o777) == 0o640
    assert len(read_store(link, PW).entries) == 13


def test_new_store_type_comes_from_option_or_extension(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--store-type"):
        merge_store(tmp_path / "store", read_bundle(G1), password=PW)
    result = merge_store(
        tmp_path / "store",
        read_bundle(G1),
        password=PW,
        options=MergeOptions(store_type=StoreType.JKS),
    )
    assert result.created and result.type is StoreType.JKS
    with pytest.raises(StoreError, match="not PEM"):
        merge_store(
            tmp_path / "store",
            read_bundle(G1),
            password=PW,
            options=MergeOptions(store_type=StoreType.PEM),
        )


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path, StoreType.PKCS12)
    data = store.read_bytes()
    result = merge_store(store, read_bundle(G1), password=PW, options=MergeOptions(dry_run=True))
    assert result.dry_run and not result.written and len(result.added) == 9
    assert store.read_bytes() == data and not Path(str(store) + ".bak").exists()
    missing = tmp_path / "new.pem"
    assert merge_store(
        missing, read_bundle(G1), password=None, options=MergeOptions(dry_run=True)
    ).created
    assert not missing.exists()


def test_pkcs12_profile_change_rewrites_once(tmp_path: Path) -> None:
    store = _store(tmp_path, StoreType.PKCS12)
    first = merge_store(
        store, read_bundle(OLD), password=PW, options=MergeOptions(pkcs12_profile="legacy")
    )
    assert first.written and not first.added
    second = merge_store(
        store, read_bundle(OLD), password=PW, options=MergeOptions(pkcs12_profile="legacy")
    )
    assert not second.written
    assert len(read_store(store, PW).entries) == 4


def test_concurrent_merges_into_one_store_both_land(tmp_path: Path) -> None:
    store = _store(tmp_path, StoreType.JKS, bundle=MIXED)
    certs = [NewCert.from_info(c) for c in read_bundle(OLD)]
    store.write_bytes(create_store(StoreType.JKS, certs[:1], password=PW))
    env = {**os.environ, "RDSTRUST_STOREPASS": PW}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rdstrust", "merge", "-b", str(b), "-s", str(store), "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for b in (OLD, G1)
    ]
    for proc in procs:
        _out, errors = proc.communicate(timeout=120)
        assert proc.returncode == 0, errors
    assert read_store(store, PW).fingerprints() == {c.sha256 for c in read_bundle(MIXED)}


def test_cli_merge_json_and_exit_codes(tmp_path: Path) -> None:
    store = _store(tmp_path, StoreType.JKS)
    data = store.read_bytes()
    args = ["merge", "--bundle", str(G1), "--store", str(store)]
    wrong = runner.invoke(app, [*args, "--storepass", "nope"])
    assert wrong.exit_code == 5 and "wrong password" in wrong.output
    assert "nope" not in wrong.output
    assert store.read_bytes() == data
    bad_bundle = runner.invoke(app, ["merge", "-b", str(tmp_path), "-s", str(store)])
    assert bad_bundle.exit_code == 3
    no_var = runner.invoke(app, [*args, "--storepass-env", "RDSTRUST_TEST_UNSET"])
    assert no_var.exit_code == 2
    pwfile = tmp_path / "pw"
    pwfile.write_text(PW + "\n")
    dry = runner.invoke(app, [*args, "--storepass-file", str(pwfile), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert store.read_bytes() == data
    ok = runner.invoke(app, [*args, "--json"], env={"RDSTRUST_STOREPASS": PW})
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    assert report["stores"][0]["written"] is True
    assert len(report["stores"][0]["added"]) == 9
    assert PW not in ok.output
    human = runner.invoke(app, args, env={"RDSTRUST_STOREPASS": PW})
    assert human.exit_code == 0 and "already present" in human.output


def test_cli_merge_refuses_a_device_as_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["merge", "-b", str(G1), "-s", "/dev/full", "--store-type", "pem"])
    assert result.exit_code == 5, result.output
    assert "/dev/full is not a regular file" in result.output
    fifo = tmp_path / "rds-ca.pem"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["merge", "-b", str(G1), "-s", str(fifo)])
    assert result.exit_code == 5 and "not a regular file" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rds-ca.pem"]  # nothing written


def test_cli_failed_write_keeps_the_existing_backup(tmp_path: Path) -> None:
    # The reviewer's case: an immutable store with a .bak from an earlier run.
    from test_atomic import immutable

    store = _store(tmp_path, StoreType.PKCS12, name="imm")
    data = store.read_bytes()
    bak = tmp_path / "imm.p12.bak"
    bak.write_bytes(b"OLDBACKUP\n")
    with immutable(store):
        result = runner.invoke(
            app, ["merge", "-b", str(G1), "-s", str(store), "--storepass-env", "SP"], env={"SP": PW}
        )
    assert result.exit_code == 5, result.output
    assert f"Cannot write {store}: permission denied; the file was left unchanged." in result.output
    assert store.read_bytes() == data and bak.read_bytes() == b"OLDBACKUP\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imm.p12", "imm.p12.bak"]


def test_cli_new_store_honours_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        result = runner.invoke(app, ["merge", "-b", str(G1), "-s", str(tmp_path / "new.pem")])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new.pem").stat().st_mode & 0o777 == 0o600


def test_jceks_store_is_merged_as_jceks_and_never_created(tmp_path: Path) -> None:
    from rdstrust.clients import client_settings
    from rdstrust.jvm import keystore_type
    from rdstrust.stores import jks

    store = tmp_path / "s.jceks"
    old = [NewCert.from_info(c) for c in read_bundle(OLD)]
    store.write_bytes(
        jks._assemble(jks.MAGIC_JCEKS, 2, [jks._trusted_entry(c, 2) for c in old], PW)
    )
    result = merge_store(store, read_bundle(G1), password=PW)
    assert result.type is StoreType.JCEKS and result.written and len(result.added) == 9
    assert store.read_bytes()[:4] == b"\xce\xce\xce\xce"  # still JCEKS
    assert read_store(store, PW).type is StoreType.JCEKS
    assert keystore_type(StoreType.JCEKS) == "JCEKS"
    java_options = client_settings(store, StoreType.JCEKS).java_options
    assert "-Djavax.net.ssl.trustStoreType=JCEKS" in java_options
    # New stores: jks, pkcs12 or pem only, from the name or from --store-type.
    refused = runner.invoke(
        app,
        ["merge", "-b", str(G1), "-s", str(tmp_path / "new.jceks")],
        env={"RDSTRUST_STOREPASS": PW},
    )
    assert refused.exit_code == 2, refused.output
    assert "rdstrust creates jks, pkcs12 or pem stores" in refused.output
    # --store-type offers only what can be created: jceks is not one of its choices.
    refused = runner.invoke(
        app,
        ["merge", "-b", str(G1), "-s", str(tmp_path / "new"), "--store-type", "jceks"],
        env={"RDSTRUST_STOREPASS": PW},
    )
    assert refused.exit_code == 2
    assert "'jceks' is not one of 'jks', 'pkcs12', 'pem'" in refused.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jceks", "s.jceks.bak"]


@pytest.mark.parametrize(
    ("name", "content", "store_type", "expected"),
    [
        ("rds-ca.pem", b"", None, StoreType.PEM),
        ("rds-ca.crt", b"\n  \n", None, StoreType.PEM),
        ("truststore.jks", b"", None, StoreType.JKS),
        ("truststore.p12", b"\n", None, StoreType.PKCS12),
        ("truststore", b"", StoreType.PKCS12, StoreType.PKCS12),
    ],
)
def test_empty_file_is_filled_as_a_new_store(
    tmp_path: Path, name: str, content: bytes, store_type: StoreType | None, expected: StoreType
) -> None:
    store = tmp_path / name
    store.write_bytes(content)
    store.chmod(0o640)
    result = merge_store(
        store, read_bundle(G1), password=PW, options=MergeOptions(store_type=store_type)
    )
    assert result.type is expected and result.created and result.written
    assert any("is empty" in n for n in result.notes)
    contents = read_store(store, PW)
    assert contents.type is expected and len(contents.entries) == 9
    assert store.stat().st_mode & 0o777 == 0o640  # the existing file's mode is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no .bak of nothing


def test_empty_file_without_a_type_and_bytes_still_decide(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.write_bytes(b"")
    with pytest.raises(UsageError, match="is empty and its name does not tell"):
        merge_store(store, read_bundle(G1), password=PW)
    assert store.read_bytes() == b""
    # A file with bytes is read as what the bytes are, whatever the name or --store-type says.
    pem = tmp_path / "s.jks"
    pem.write_bytes(G1.read_bytes())
    with pytest.raises(StoreError, match="is a PEM store, not JKS"):
        merge_store(
            pem, read_bundle(G1), password=PW, options=MergeOptions(store_type=StoreType.JKS)
        )
    assert merge_store(pem, read_bundle(G1), password=PW).type is StoreType.PEM


def test_cli_merge_into_an_empty_pem_file(tmp_path: Path) -> None:
    store = tmp_path / "rds-ca.pem"
    store.write_bytes(b"")
    result = runner.invoke(app, ["merge", "-b", str(G1), "-s", str(store)])
    assert result.exit_code == 0, result.output
    assert "rds-ca.pem (pem): 9 added" in result.output
    assert read_store(store, None).fingerprints() == {c.sha256 for c in read_bundle(G1)}


def test_dry_run_fails_where_the_real_run_fails(tmp_path: Path) -> None:
    store = _store(tmp_path, StoreType.JKS)
    data = store.read_bytes()
    args = ["merge", "-b", str(G1), "-s", str(store)]
    env = {"RDSTRUST_STOREPASS": None}
    real = runner.invoke(app, args, env=env)
    dry = runner.invoke(app, [*args, "--dry-run"], env=env)
    assert real.exit_code == dry.exit_code == 5, dry.output
    assert "its password is needed to write it" in dry.output
    assert store.read_bytes() == data and sorted(p.name for p in tmp_path.iterdir()) == ["s.jks"]
    with pytest.raises(StoreError, match="A new JKS store needs a password"):
        merge_store(
            tmp_path / "new.jks", read_bundle(G1), password=None, options=MergeOptions(dry_run=True)
        )
    # With the password the dry run passes and still writes nothing.
    assert runner.invoke(app, [*args, "--dry-run"], env={"RDSTRUST_STOREPASS": PW}).exit_code == 0
    assert store.read_bytes() == data


def test_merge_stores_collects_each_failure_and_goes_on(tmp_path: Path) -> None:
    good = _store(tmp_path, StoreType.JKS, name="good")
    locked = _store(tmp_path, StoreType.PKCS12, name="locked")
    pem = tmp_path / "new.pem"
    before = locked.read_bytes()
    told: list[StoreFailure] = []
    # The locked store has its own (wrong) password; the others take the run's default.
    own = StoreSpec(locked, PasswordSource(literal="wrong"))
    run = merge_stores(
        [good, own, str(pem)], read_bundle(G1), passwords=Passwords.of(PW), on_failure=told.append
    )
    assert [r.store for r in run.stores] == [str(good), str(pem)]
    assert all(r.written and len(r.added) == 9 for r in run.stores)
    assert run.bundle == str(G1)
    (failure,) = run.failed
    assert told == [failure]
    assert failure.store == str(locked) and failure.exit_code == 5
    assert "wrong password" in failure.message
    assert locked.read_bytes() == before  # the failed store is untouched


def test_merge_stores_lets_a_password_error_fail_only_that_store(tmp_path: Path) -> None:
    first, second = (_store(tmp_path, StoreType.JKS, name=n) for n in ("a", "b"))

    unset = StoreSpec(first, PasswordSource(env_var="RDSTRUST_TEST_NEVER_SET"))
    run = merge_stores(
        [unset, second], read_bundle(G1), MergeOptions(dry_run=True), passwords=Passwords.of(PW)
    )
    assert [(f.store, f.exit_code) for f in run.failed] == [(str(first), 2)]
    assert "RDSTRUST_TEST_NEVER_SET" in run.failed[0].message
    assert [r.store for r in run.stores] == [str(second)] and run.stores[0].dry_run


class DroppingStore:
    """A real loaded store whose render loses its first entry: the bug the safety net catches."""

    def __init__(self, real: LoadedStore) -> None:
        self.real = real
        self.entries = real.entries
        self.password_required = real.password_required
        self.verified = real.verified

    @property
    def password_less(self) -> bool:
        return self.real.password_less

    @property
    def profile(self) -> str | None:
        return self.real.profile

    def render(
        self,
        *,
        remove: frozenset[int],
        add: Sequence[NewCert],
        password: str | None,
        profile: str | None = None,
    ) -> bytes:
        return self.real.render(remove=remove | {0}, add=add, password=password, profile=profile)


@pytest.mark.parametrize("store_type", CREATABLE_TYPES)
def test_a_render_that_loses_an_entry_is_refused_and_nothing_is_written(
    tmp_path: Path, store_type: StoreType, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rdstrust.merge

    store = _store(tmp_path, store_type)
    original = store.read_bytes()

    def parse_losing(data: bytes, **kwargs: Any) -> tuple[StoreType, LoadedStore]:
        kind, loaded = parse_store(data, **kwargs)
        # Only the store as read from disk is wrapped; the read-back check parses for real.
        return kind, DroppingStore(loaded) if data == original else loaded

    monkeypatch.setattr(rdstrust.merge, "parse_store", parse_losing)
    with pytest.raises(StoreError) as caught:
        merge_store(store, read_bundle(G1), password=PW)
    assert caught.value.message == (
        f"Refusing to write {store}: the rewritten store would not hold exactly the original "
        "entries plus the new certificates (please report this as a bug)."
    )
    assert store.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == [store.name]  # no .bak, no temporary
    # Negative control: the same real store, not wrapped, merges.
    monkeypatch.undo()
    assert merge_store(store, read_bundle(G1), password=PW).written


def test_a_store_the_os_regenerates_is_named_in_the_notes() -> None:
    """Debian's Java cacerts is rebuilt by ca-certificates-java: the plan says so (a dry run,
    which writes nothing, on the machine's real file)."""
    real = Path("/etc/ssl/certs/java/cacerts")
    if not real.exists():
        pytest.skip("no Debian Java cacerts on this machine")
    before = real.read_bytes()
    result = runner.invoke(
        app, ["merge", "-b", str(G1), "-s", str(real), "--dry-run", "--json"],
        env={"RDSTRUST_STOREPASS": "changeit"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (store,) = json.loads(result.stdout)["stores"]
    assert any("rdstrust os-trust" in note for note in store["notes"])
    assert real.read_bytes() == before
