"""No hidden CA in a PEM store: rdstrust sees exactly the certificates OpenSSL and libpq load.

The attack (issue 8.1): a CA whose subject carries a complete PEM block, labelled ``X509
CERTIFICATE``, was written raw into the ``# alias: subject`` comment of a PEM store; OpenSSL
read the planted block as a trust anchor, rdstrust's read-back did not. Each test compares
rdstrust with real OpenSSL (``openssl crl2pkcs7 -certfile`` reads a file with the same
``PEM_X509_INFO_read_bio`` as libpq's ``sslrootcert``) or with real psql.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from hostile import Issued, ca, hidden_root, leaf, smuggler
from pgserver import PgServer, pg_server  # noqa: F401  (session fixture)
from support import require_tool
from typer.testing import CliRunner

from rdstrust.cli import app
from rdstrust.errors import StoreError
from rdstrust.stores import NewCert, pem

runner = CliRunner()


def sha(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def openssl_sees(path: Path) -> list[str] | None:
    """SHA-256 of each certificate OpenSSL loads from a PEM file; ``None`` when it refuses it."""
    openssl = require_tool("openssl")
    proc = subprocess.run(
        [openssl, "crl2pkcs7", "-nocrl", "-certfile", str(path), "-outform", "DER"],
        capture_output=True,
        timeout=60,
    )
    if proc.returncode != 0:
        return None
    with warnings.catch_warnings():
        # OpenSSL does not sort the certificate SET; cryptography then warns and reads it as BER.
        warnings.simplefilter("ignore")
        certs = pkcs7.load_der_pkcs7_certificates(proc.stdout)
    return sorted(sha(c.public_bytes(Encoding.DER)) for c in certs)


def rdstrust_sees(path: Path) -> list[str]:
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return sorted(e["sha256"] for e in json.loads(result.stdout)["entries"])


def merge(bundle: Path, store: Path) -> None:
    result = runner.invoke(
        app, ["merge", "--bundle", str(bundle), "--store", str(store), "--allow-foreign"]
    )
    # A newline in a subject used to fail every PEM merge ("please report this as a bug").
    assert result.exit_code == 0, result.output


def old_style_store(path: Path, smuggling: Issued) -> None:
    """The store rdstrust wrote before the fix: the subject raw in the comment line."""
    path.write_bytes(
        f"# hostile-root-ca: {smuggling.cert.subject.rfc4514_string()}\n".encode() + smuggling.pem
    )


@pytest.fixture(scope="module")
def hidden() -> Issued:
    return hidden_root()


@pytest.mark.parametrize("label", ["X509 CERTIFICATE", "CERTIFICATE", "TRUSTED CERTIFICATE"])
def test_merge_writes_no_block_from_a_subject(tmp_path: Path, hidden: Issued, label: str) -> None:
    bad = smuggler(hidden, label=label, rds=False)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(bad.pem)
    store = tmp_path / "store.pem"
    merge(bundle, store)
    text = store.read_bytes()
    # One comment line of printable ASCII, the subject's newlines shown as \n.
    assert all(line.isascii() and line.decode().isprintable() for line in text.splitlines())
    assert b"\\n-----BEGIN " + label.encode() in text
    assert openssl_sees(store) == rdstrust_sees(store) == [sha(bad.der)]


def test_existing_store_with_a_planted_block_shows_it(tmp_path: Path, hidden: Issued) -> None:
    store = tmp_path / "old.pem"
    bad = smuggler(hidden)
    old_style_store(store, bad)
    # What OpenSSL loads from the store the old rdstrust wrote: the hidden root too ...
    assert openssl_sees(store) == sorted([sha(bad.der), sha(hidden.der)])
    # ... and rdstrust now lists the same two certificates.
    assert rdstrust_sees(store) == openssl_sees(store)


def test_writer_refuses_a_store_with_a_hidden_block(
    tmp_path: Path, hidden: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Put the old, raw comment writer back: the read-back guard must still catch it.
    def raw_comment(cert: NewCert) -> bytes:
        return f"# {cert.alias}: {cert.subject}".encode()

    monkeypatch.setattr(pem, "_comment", raw_comment)
    bad = smuggler(hidden)
    subject = bad.cert.subject.rfc4514_string()
    info = NewCert("hostile", bad.der, subject, bad.cert.not_valid_before_utc)
    with pytest.raises(StoreError, match="hidden PEM block") as error:
        pem.create([info])
    assert "\n" not in str(error.value)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(bad.pem)
    store = tmp_path / "store.pem"
    result = runner.invoke(
        app, ["merge", "--bundle", str(bundle), "--store", str(store), "--allow-foreign"]
    )
    assert result.exit_code == 5, result.output
    assert "hidden PEM block" in result.output
    assert not store.exists()


# --- libpq: a server whose chain ends at the hidden root ----------------------------------


def _chain_dir(base: Path, root: Issued) -> Path:
    server = leaf(root, "localhost")
    chain = base / "hidden-chain"
    chain.mkdir()
    (chain / "server.pem").write_bytes(server.pem)
    (chain / "leaf.key").write_bytes(server.key_pem())
    chain.chmod(0o755)
    return chain


def _psql(pg: PgServer, store: Path) -> subprocess.CompletedProcess[str]:
    psql = require_tool("psql")
    store.chmod(0o644)
    dsn = pg.dsn(host="localhost", hostaddr=pg.host, sslmode="verify-full", sslrootcert=str(store))
    return subprocess.run(
        [psql, dsn, "-Atc", "select 1"], capture_output=True, text=True, timeout=60
    )


@pytest.mark.postgres
def test_psql_refuses_the_hidden_root_after_a_merge(
    pg_server: PgServer,  # noqa: F811
    tmp_path: Path,
    hidden: Issued,
) -> None:
    bad = smuggler(hidden)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(bad.pem)
    merged = tmp_path / "merged.pem"
    merge(bundle, merged)
    planted = tmp_path / "planted.pem"  # as the old rdstrust wrote it
    old_style_store(planted, bad)
    really = tmp_path / "really.pem"  # the hidden root, in the store in plain sight
    really.write_bytes(bad.pem + hidden.pem)
    pg_server.use_chain(str(_chain_dir(tmp_path, hidden)))
    try:
        refused = _psql(pg_server, merged)
        planted_result = _psql(pg_server, planted)
        accepted = _psql(pg_server, really)
    finally:
        pg_server.use_chain("rsa2048-g1-us-east-1")
    assert refused.returncode != 0 and "certificate verify failed" in refused.stderr
    # Negative twins: the root, when it is in the store, is what makes psql accept ...
    assert accepted.returncode == 0, accepted.stderr
    # ... and the old raw comment line did plant it, which rdstrust now reports.
    assert planted_result.returncode == 0, planted_result.stderr
    assert sha(hidden.der) in rdstrust_sees(planted)
    assert sha(hidden.der) not in rdstrust_sees(merged)


def test_control_ca_counts_agree(tmp_path: Path) -> None:
    # A plain store: both readers see the same single certificate (the comparisons above are
    # not vacuous).
    plain = ca("Plain CA")
    store = tmp_path / "plain.pem"
    store.write_bytes(plain.pem)
    assert openssl_sees(store) == rdstrust_sees(store) == [sha(plain.der)]
