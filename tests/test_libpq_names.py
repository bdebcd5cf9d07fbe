"""Host name verdicts: rdstrust against real psql (libpq) and the JVM (pgjdbc's rule), case by case.

One table drives three tests. Each row is a server certificate (built here with cryptography), the
host name a client connects to, and what libpq and pgjdbc decide. The psql test installs the chain
in a real PostgreSQL server and runs ``psql "host=NAME hostaddr=127.0.0.1 sslmode=verify-full
sslrootcert=root.pem"``, so the name is checked without any /etc/hosts entry, and asserts that
rdstrust's PEM-store verdict (``Client.LIBPQ``) is psql's. The JVM test asserts that rdstrust's
Java-store verdict (``Client.PGJDBC``) is TrustCheck.java's on a JKS store; the rows where the two
clients differ (an IP host beside dNSName entries, an IPv6 address) are named in the result.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from namecerts import Built, LeafSpec, build
from pgserver import PgServer, _chown, _first_der, _served_leaf, pg_server  # noqa: F401
from support import require_tool

from rdstrust.bundle import parse_certificates
from rdstrust.certs import CertInfo, describe
from rdstrust.pathcheck import (
    Client,
    Divergence,
    PathFailure,
    PathResult,
    check_path,
    parse_chain,
)

DB = "db.example.test"
OTHER_LABEL = "Other Names Test"


@dataclass(frozen=True)
class Row:
    """A server certificate, the host a client asks for, and each client's verdict."""

    spec: LeafSpec
    host: str
    libpq: bool
    pgjdbc: bool
    #: Which CA the client trusts: the chain's own, or an unrelated one (the negative twin).
    trust_own_root: bool = True


ROWS = {
    "dns-exact": Row(LeafSpec(dns=(DB,)), DB, True, True),
    "dns-other-case": Row(LeafSpec(dns=(DB,)), "DB.Example.TEST", True, True),
    "untrusted-root": Row(LeafSpec(dns=(DB,)), DB, False, False, trust_own_root=False),
    "trailing-dot": Row(LeafSpec(dns=(DB,)), DB + ".", False, False),
    "wrong-name": Row(LeafSpec(dns=(DB,)), "other.example.test", False, False),
    "ip-in-dns-san": Row(LeafSpec(dns=("10.0.0.5",)), "10.0.0.5", True, True),
    "ip-in-ip-san": Row(LeafSpec(ips=("10.0.0.5",)), "10.0.0.5", True, True),
    "wrong-ip": Row(LeafSpec(ips=("10.0.0.5",)), "10.0.0.6", False, False),
    "ipv6-in-ip-san": Row(LeafSpec(ips=("::1",)), "::1", True, False),
    "ip-cn-beside-dns-san": Row(LeafSpec(dns=(DB,), cn="10.0.0.5"), "10.0.0.5", True, False),
    "no-aki": Row(LeafSpec(dns=(DB,), aki=False), DB, True, True),
    "cn-only": Row(LeafSpec(cn=DB), DB, True, True),
    "cn-only-wrong-name": Row(LeafSpec(cn=DB), "other.example.test", False, False),
    "cn-ignored-beside-dns-san": Row(
        LeafSpec(dns=("other.example.test",), cn=DB), DB, False, False
    ),
    "wildcard": Row(LeafSpec(dns=("*.example.test",)), DB, True, True),
    "wildcard-two-labels": Row(LeafSpec(dns=("*.example.test",)), "a." + DB, False, False),
    "wildcard-bare-domain": Row(LeafSpec(dns=("*.example.test",)), "example.test", False, False),
    # libpq's own quirk: the '*' may match a label that ends in a dot (its strchr test).
    "wildcard-empty-label": Row(LeafSpec(dns=("*.example.test",)), "a..example.test", True, False),
    "wildcard-cn-only": Row(LeafSpec(cn="*.example.test"), DB, True, True),
    "unknown-critical-extension": Row(LeafSpec(dns=(DB,), unknown_critical=True), DB, False, False),
}

#: Rows the JVM runs (each JVM start costs seconds): every rule, both differences, the controls.
JVM_ROWS = [
    "dns-exact",
    "untrusted-root",
    "trailing-dot",
    "ip-in-dns-san",
    "ipv6-in-ip-san",
    "ip-cn-beside-dns-san",
    "no-aki",
    "cn-only",
    "wildcard-two-labels",
    "wildcard-empty-label",
]


def certs_of(pem: bytes) -> list[CertInfo]:
    _fmt, pairs = parse_certificates(pem, source="test")
    return [describe(cert, der) for cert, der in pairs]


def built(row: Row) -> tuple[Built, bytes]:
    """The row's chain and the root PEM the client trusts."""
    chain = build(row.spec)
    root = chain.root_pem if row.trust_own_root else build(row.spec, label=OTHER_LABEL).root_pem
    return chain, root


def verdict(row: Row, client: Client) -> PathResult:
    chain, root = built(row)
    return check_path(
        parse_chain(chain.chain_pem), certs_of(root), hostname=row.host, client=client
    )


@pytest.mark.parametrize("case", sorted(ROWS))
def test_rdstrust_follows_each_clients_rule(case: str) -> None:
    """The table (confirmed against psql below) holds for both clients' rules."""
    row = ROWS[case]
    for client, expected in ((Client.LIBPQ, row.libpq), (Client.PGJDBC, row.pgjdbc)):
        result = verdict(row, client)
        assert result.trusted is expected, (client, result.message)
        assert result.client is client
        names = {d.name for d in result.differences}
        # A difference between the two clients is named, on both sides, and only then.
        assert (Divergence.HOST_NAME_RULES in names) is (row.libpq != row.pgjdbc), names


def test_trailing_dot_says_what_to_do() -> None:
    result = verdict(ROWS["trailing-dot"], Client.LIBPQ)
    assert result.failure is PathFailure.HOSTNAME_MISMATCH
    assert "trailing dot" in result.message and f"connect to {DB}" in result.message


def test_ip_in_dns_san_no_longer_contradicts_itself() -> None:
    """Before: 'valid for 10.0.0.5, not for 10.0.0.5'. libpq compares dNSName strings."""
    assert verdict(ROWS["ip-in-dns-san"], Client.LIBPQ).trusted
    wrong = Row(LeafSpec(dns=("10.0.0.5",)), "10.0.0.6", False, False)
    result = verdict(wrong, Client.LIBPQ)
    assert result.failure is PathFailure.HOSTNAME_MISMATCH
    assert "10.0.0.6" in result.message and "10.0.0.5" in result.message


def test_untrusted_root_is_an_unknown_issuer_not_a_name_problem() -> None:
    result = verdict(ROWS["untrusted-root"], Client.LIBPQ)
    assert result.failure is PathFailure.UNKNOWN_ISSUER


def test_a_profile_rule_only_cryptography_enforces_is_named() -> None:
    """An RSA-1024 intermediate: cryptography's CA/B profile refuses it; the result says so."""
    from datetime import datetime, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(subject, issuer, key, signer, ca):  # type: ignore[no-untyped-def]
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime(2025, 1, 1, tzinfo=timezone.utc))
            .not_valid_after(datetime(2045, 1, 1, tzinfo=timezone.utc))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(DB)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    weak = rsa.generate_private_key(65537, 1024)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = cert("Weak Root", "Weak Root", weak, weak, True)
    leaf = cert(DB, "Weak Root", leaf_key, weak, False)
    pem = serialization.Encoding.PEM
    result = check_path(
        parse_chain(leaf.public_bytes(pem)), certs_of(root.public_bytes(pem)), hostname=DB
    )
    assert result.failure is PathFailure.REJECTED
    assert [d.name for d in result.differences] == [Divergence.RSA_KEY_SIZE]
    assert "rsa-key-size" in result.message
    # Control: the same shape with a P-256 root is trusted and names no difference.
    good_key = ec.generate_private_key(ec.SECP256R1())
    root = cert("Good Root", "Good Root", good_key, good_key, True)
    leaf = cert(DB, "Good Root", leaf_key, good_key, False)
    ok = check_path(
        parse_chain(leaf.public_bytes(pem)), certs_of(root.public_bytes(pem)), hostname=DB
    )
    assert ok.trusted and ok.differences == ()


# --- against real psql ------------------------------------------------------------------------


def serve(server: PgServer, chain: Built) -> None:
    """Install a generated chain in the running server and wait until it is served."""
    for data, name in ((chain.chain_pem, "server.crt"), (chain.key_pem, "server.key")):
        tmp = server.base / f"{name}.new"
        tmp.write_bytes(data)
        os.chmod(tmp, 0o600)  # PostgreSQL refuses a key readable by others
        _chown(tmp)
        os.replace(tmp, server.base / name)
    server._pg_ctl("reload")
    leaf = chain.chain_pem.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    expected = _der(leaf)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _served_leaf(server.host, server.port) == expected:
            return
        time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL did not switch to the generated chain; see {server.logfile}")


def _der(pem: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


@pytest.fixture(scope="module")
def psql() -> str:
    return require_tool("psql")


@pytest.fixture
def generated_server(pg_server: PgServer):  # type: ignore[no-untyped-def]  # noqa: F811
    """The shared server, switched back to its fixture chain afterwards."""
    original = pg_server.chain
    try:
        yield pg_server
    finally:
        pg_server.use_chain(original)


@pytest.mark.postgres
def test_rdstrust_matches_psql_on_every_row(
    generated_server: PgServer, psql: str, tmp_path: Path
) -> None:
    """One server, every row: psql's verdict is rdstrust's (PEM store: the libpq rule)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["HOME"] = str(tmp_path)  # no ~/.postgresql/root.crt or root.crl of the test runner
    mismatches = []
    for case in sorted(ROWS):
        row = ROWS[case]
        chain, root = built(row)
        root_file = tmp_path / f"{case}.pem"
        root_file.write_bytes(root)
        serve(generated_server, chain)
        dsn = generated_server.dsn(
            host=row.host, hostaddr="127.0.0.1", sslmode="verify-full", sslrootcert=str(root_file)
        )
        proc = subprocess.run(
            [psql, dsn, "-XAtqc", "select 1"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        psql_ok = proc.returncode == 0 and proc.stdout.strip() == "1"
        ours = verdict(row, Client.LIBPQ)
        if psql_ok != ours.trusted or psql_ok != row.libpq:
            mismatches.append((case, psql_ok, ours.trusted, ours.message, proc.stderr.strip()))
        elif not psql_ok:
            # The same reason, too: a name refusal is psql's "does not match host name".
            name_refusal = "does not match host name" in proc.stderr
            assert name_refusal is (ours.failure is PathFailure.HOSTNAME_MISMATCH), (
                case,
                proc.stderr,
                ours.message,
            )
    assert not mismatches, mismatches


# --- against the JVM --------------------------------------------------------------------------


@pytest.mark.jvm
@pytest.mark.parametrize("case", JVM_ROWS)
def test_rdstrust_java_side_matches_the_jvm(case: str, tmp_path: Path) -> None:
    from support import missing

    from rdstrust.jvm import find_java, java_trust_check
    from rdstrust.stores import NewCert, StoreType, create_store

    java = find_java()
    if java is None:
        missing("the 'java' program")
    assert java is not None
    row = ROWS[case]
    chain, root = built(row)
    store = tmp_path / "store.jks"
    entries = [NewCert.from_info(c) for c in certs_of(root)]
    store.write_bytes(create_store(StoreType.JKS, entries, password="changeit"))
    java_verdict = java_trust_check(
        store,
        StoreType.JKS,
        parse_chain(chain.chain_pem),
        java=java,
        password="changeit",
        hostname=row.host,
    )
    ours = verdict(row, Client.PGJDBC)
    assert java_verdict.ok is ours.trusted is row.pgjdbc, (java_verdict.message, ours.message)
    if ours.failure is PathFailure.HOSTNAME_MISMATCH:
        assert java_verdict.trusted and java_verdict.hostname_ok is False


def test_a_named_difference_reaches_json() -> None:
    from rdstrust.output import to_jsonable

    data = to_jsonable(verdict(ROWS["ip-cn-beside-dns-san"], Client.LIBPQ))
    assert data["trusted"] is True and data["client"] == "libpq"
    assert [(d["name"], d["client"]) for d in data["differences"]] == [
        ("host-name-rules", "pgjdbc")
    ]
    assert "pgjdbc refuses this certificate for 10.0.0.5" in data["differences"][0]["message"]
