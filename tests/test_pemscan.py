"""The PEM scanner: framed as OpenSSL frames it, linear on hostile input, never a stray exception.

The agreement table writes each tricky shape to a file and compares the certificates rdstrust
reads with those real OpenSSL loads through ``PEM_X509_INFO_read_bio`` (the function libpq's
``sslrootcert`` uses; ``openssl crl2pkcs7 -certfile`` calls it too). Shapes where Java's
``CertificateFactory`` (pgjdbc) reads more than OpenSSL are refused, checked with a real JVM.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile import ca
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import require_tool
from test_hidden_ca import openssl_sees

from rdstrust.bundle import MAX_BUNDLE_BYTES, parse_bundle, parse_certificates
from rdstrust.errors import BundleError, StoreError
from rdstrust.pemscan import decode_body, openssl_stop, scan
from rdstrust.stores import detect_type, pem, read_store

CERT = ca("Scanner Test CA")
PEM = CERT.pem
FP = hashlib.sha256(CERT.der).hexdigest()


def _trusted(openssl: str, tmp: Path) -> bytes:
    # A real TRUSTED CERTIFICATE block: the certificate plus OpenSSL trust settings.
    src = tmp / "plain.pem"
    src.write_bytes(PEM)
    return subprocess.run(
        [openssl, "x509", "-in", str(src), "-addtrust", "serverAuth", "-trustout"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


SHAPES: dict[str, Callable[[], bytes]] = {
    "plain": lambda: PEM,
    "x509-label": lambda: PEM.replace(b"CERTIFICATE", b"X509 CERTIFICATE"),
    "crlf": lambda: PEM.replace(b"\n", b"\r\n"),
    "after-254-bytes-on-a-line": lambda: b"#" * 254 + PEM,  # fgets splits the line there
    "after-508-bytes-on-a-line": lambda: b"#" * 508 + PEM,
    "after-253-bytes-on-a-line": lambda: b"#" * 253 + PEM,  # not a line start: skipped
    "indented": lambda: b" " + PEM,
    "text-before": lambda: b"note: " + PEM,
    "nul-cuts-begin-line": lambda: PEM.replace(b"-----\n", b"-----\x00junk\n", 1),
    "nul-before-254": lambda: b"x\x00" + b"#" * 252 + PEM,
    "high-bytes-after-begin": lambda: PEM.replace(b"-----\n", b"-----\xc2\xa0\n", 1),
    "trailing-spaces": lambda: PEM.replace(b"\n", b"  \t\n"),
    "two-blocks-one-hidden-in-a-comment": lambda: (
        b"# x\n" + PEM.replace(b"CERTIFICATE", b"X509 CERTIFICATE") + b"# y\n" + ca("Other").pem
    ),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_rdstrust_reads_what_openssl_reads(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "store.pem"
    path.write_bytes(SHAPES[shape]())
    openssl = openssl_sees(path)
    try:
        mine = sorted(e.sha256 for e in pem.load(path.read_bytes(), source="s").entries)
    except StoreError:
        mine = None
    assert openssl is not None
    assert mine == openssl


# A line OpenSSL reads as starting with a NUL byte ends its reading: blocks after it are
# silently not loaded, a block it falls inside fails the file (file_gets returns strlen = 0).
OTHER = ca("Scanner Test CA after the NUL").pem
NUL_SHAPES: dict[str, Callable[[], bytes]] = {
    "nul-line-between-blocks": lambda: PEM + b"\x00\n" + OTHER,
    "nul-line-then-text": lambda: PEM + b"\x00 trailing text\n" + OTHER,
    "nul-at-a-254-byte-read": lambda: PEM + b"#" * 254 + b"\x00\n" + OTHER,
    "nul-at-a-508-byte-read": lambda: b"#" * 508 + b"\x00\n" + PEM,
    "nul-line-in-another-block": lambda: (
        PEM + b"-----BEGIN X-----\n\x00\n-----END X-----\n" + OTHER
    ),
    "nul-line-in-a-certificate": lambda: PEM.replace(b"\n", b"\n\x00\n", 3),
    "nul-at-the-end": lambda: PEM + OTHER + b"\x00",
}


@pytest.mark.parametrize("shape", sorted(NUL_SHAPES))
def test_openssl_stops_at_a_line_starting_with_nul_and_so_does_the_scan(
    tmp_path: Path, shape: str
) -> None:
    data = NUL_SHAPES[shape]()
    path = tmp_path / "store.pem"
    path.write_bytes(data)
    openssl = openssl_sees(path)
    found = scan(data)
    assert found.stop is not None and data[found.stop] == 0
    assert found == scan(data, exact_only=True)
    if openssl is None:
        assert found.problem is not None and "NUL byte" in found.problem
    else:
        assert found.problem is None
        blocks = [b for b in found.blocks if b.label == "CERTIFICATE"]
        mine = sorted(hashlib.sha256(decode_body(data, b)).hexdigest() for b in blocks)
        assert mine == openssl
    # A store OpenSSL stops reading early is refused: libpq would ignore what follows the NUL,
    # including any certificate rdstrust appended, while Java reads on.
    with pytest.raises(StoreError, match="NUL byte"):
        pem.load(data, source="s")


def test_a_nul_that_does_not_start_a_read_is_no_stop() -> None:
    assert openssl_stop(b"x\x00\n" + PEM) is None
    assert openssl_stop(b"#" * 253 + b"\x00\n" + PEM) is None
    assert openssl_stop(b"#" * 254 + b"\x00") == 254
    assert openssl_stop(b"\x00") == 0
    assert openssl_stop(b"a\n" * 3 + b"\x00") == 6
    assert openssl_stop(PEM) is None


def test_trusted_certificate_is_its_certificate(tmp_path: Path) -> None:
    path = tmp_path / "trusted.pem"
    path.write_bytes(_trusted(require_tool("openssl"), tmp_path))
    assert b"BEGIN TRUSTED CERTIFICATE" in path.read_bytes()
    entries = pem.load(path.read_bytes(), source="t").entries
    assert [e.sha256 for e in entries] == openssl_sees(path) == [FP]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(PEM.replace(b"-----END CERTIFICATE-----\n", b""), id="never-ends"),
        pytest.param(PEM.replace(b"END CERTIFICATE", b"END X509 CERTIFICATE"), id="other-end"),
        pytest.param(PEM + b"-----BEGIN FOO-----\nAAAA\n", id="other-block-never-ends"),
    ],
)
def test_files_openssl_refuses_are_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.pem"
    path.write_bytes(data)
    assert openssl_sees(path) is None
    with pytest.raises(StoreError, match="cannot load this file"):
        pem.load(data, source="bad.pem")


def test_body_openssl_reads_differently_is_refused() -> None:
    headers = PEM.replace(b"-----\n", b"-----\nProc-Type: 4,ENCRYPTED\n\n", 1)
    for data in (headers, PEM.replace(b"\n", b"\n\n", 3)):
        with pytest.raises(StoreError, match="plain base64"):
            pem.load(data, source="s")


# --- shapes only Java reads: refused ---------------------------------------------------------

_JAVA_COUNT = """
import java.io.*; import java.security.cert.*;
public class Count { public static void main(String[] a) throws Exception {
  try (InputStream in = new FileInputStream(a[0])) {
    CertificateFactory factory = CertificateFactory.getInstance("X.509");
    try { System.out.println(factory.generateCertificates(in).size()); }
    catch (CertificateException e) { System.out.println(-1); } } } }
"""

JAVA_ONLY = {
    "other-label": lambda: PEM.replace(b"CERTIFICATE", b"FOO"),
    "lowercase-label": lambda: PEM.replace(b"CERTIFICATE", b"Certificate"),
    "bare-cr": lambda: b"# note\r" + PEM,
}


@pytest.mark.jvm
@pytest.mark.parametrize("shape", sorted(JAVA_ONLY))
def test_certificates_only_java_reads_are_refused(tmp_path: Path, shape: str) -> None:
    java = require_tool("java")
    source = tmp_path / "Count.java"
    source.write_text(_JAVA_COUNT)
    path = tmp_path / "store.pem"
    path.write_bytes(JAVA_ONLY[shape]())
    out = subprocess.run(
        [java, str(source), str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "1"  # Java trusts one certificate ...
    assert openssl_sees(path) == []  # ... libpq none
    with pytest.raises(StoreError, match="Java"):
        pem.load(path.read_bytes(), source="s")


def test_pkcs7_block_in_a_store_is_refused(tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    src = tmp_path / "c.pem"
    src.write_bytes(PEM)
    p7 = subprocess.run(
        [openssl, "crl2pkcs7", "-nocrl", "-certfile", str(src)],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    with pytest.raises(StoreError, match="PKCS7 block"):
        pem.load(PEM + p7, source="s")


# --- bounded work ----------------------------------------------------------------------------

_SIZE = 5 * 1024 * 1024
HOSTILE = {
    "unterminated-begin-lines": b"-----BEGIN CERTIFICATE-----\n" * (_SIZE // 28),
    "begin-then-short-lines": b"-----BEGIN CERTIFICATE-----\n" + b"A\n" * (_SIZE // 2),
    "begins-on-one-line": b"x-----BEGIN CERTIFICATE-----" * (_SIZE // 29),
    "begin-no-newline": b"-----BEGIN " * (_SIZE // 11),
    "empty-blocks": b"-----BEGIN X-----\n-----END X-----\n" * (_SIZE // 34),
    "newlines": b"\n" * _SIZE,
    "long-line-then-block": b"#" * _SIZE + PEM,
    # The fast path reads a body up to its first '-': here 5 MB, then one backtrack over it.
    "begin-then-one-long-body": b"-----BEGIN CERTIFICATE-----\n" + b"A" * (_SIZE - 40) + b"\n",
    "nuls-on-one-long-line": b"x\x00" * (_SIZE // 2),
    "long-bodies-then-other-end": (
        b"-----BEGIN CERTIFICATE-----\n" + b"A" * 1000 + b"\n-----END X-----\n"
    )
    * (_SIZE // 1050),
    # Real certificates are each described (parsed, named): 1 MB of them, about 1,800.
    "real-blocks-1mb": PEM * (_SIZE // len(PEM) // 5),
}


@pytest.mark.parametrize("shape", sorted(HOSTILE))
@pytest.mark.parametrize("reader", ["scan", "bundle", "store", "detect"])
def test_five_megabytes_of_hostile_pem_in_bounded_time(shape: str, reader: str) -> None:
    data = HOSTILE[shape]
    assert len(data) <= MAX_BUNDLE_BYTES
    parse = {
        "scan": lambda: scan(data),
        "bundle": lambda: parse_certificates(data, source="x"),
        "store": lambda: pem.load(data, source="x"),
        "detect": lambda: detect_type(data),
    }[reader]
    began = time.perf_counter()
    with contextlib.suppress(BundleError, StoreError):
        parse()
    # The old regex took 49 s on 400 KB of unterminated BEGIN lines (hours on 5 MB); one
    # linear pass takes well under a second on an idle machine, 5 s leaves room for a busy one.
    assert time.perf_counter() - began < 5.0


# Bodies the fast path takes (anything up to the first '-') although decode_body refuses most:
# the framing must still be the exact path's, block for block.
_ODD_BODIES = {
    "long-line": b"A" * 600 + b"\n",
    "nul": b"MIIB\x00AAAA\n",
    "blank-line": b"MIIB\n\nAAAA\n",
    "cr-only": b"MIIB\rAAAA\r\n",
    "spaces": b"  MIIB AAAA \n",
    "latin-1": b"\xe9\xff\n",
    "empty": b"",
    "no-final-lf": b"MIIB",
    "headers": b"Proc-Type: 4,ENCRYPTED\n\nMIIB\n",
}


@pytest.mark.parametrize("body", sorted(_ODD_BODIES))
def test_fast_framing_is_the_exact_framing_whatever_the_body(body: str) -> None:
    block = b"-----BEGIN CERTIFICATE-----\n" + _ODD_BODIES[body] + b"-----END CERTIFICATE-----\n"
    for data in (block, PEM + block + PEM, b"# label\n" + block * 3):
        assert scan(data) == scan(data, exact_only=True)


# --- property: anything parses or raises rdstrust's own error --------------------------------

_PIECES = st.sampled_from(
    [
        b"-----BEGIN CERTIFICATE-----\n",
        b"-----BEGIN X509 CERTIFICATE-----\n",
        b"-----BEGIN TRUSTED CERTIFICATE-----\n",
        b"-----BEGIN PKCS7-----\n",
        b"-----END CERTIFICATE-----\n",
        b"-----END PKCS7-----\n",
        b"-----BEGIN ",
        b"-----END ",
        b"-----",
        b"\n",
        b"\r",
        b"\x00",
        b" ",
        b"#" * 253,
        b"MIIB",
        b"====",
        b"Proc-Type: 4,ENCRYPTED\n",
        PEM,
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=40), _PIECES), max_size=14))
def test_any_bytes_parse_or_raise_our_error(parts: list[bytes]) -> None:
    data = b"".join(parts)
    found = scan(data)
    # The fast path for well-formed blocks frames exactly as the exact, line-by-line path.
    assert found == scan(data, exact_only=True)
    assert all(b.start < b.body_start <= b.body_end < b.end <= len(data) for b in found.blocks)
    try:
        parse_bundle(data, source="fuzz", allow_foreign=True)
    except BundleError as exc:
        assert "\n" not in str(exc)
    try:
        pem.load(data, source="fuzz")
    except StoreError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(min_size=1, max_size=40), _PIECES), min_size=1, max_size=8))
def test_any_shape_repeated_to_a_megabyte_stays_linear(parts: list[bytes]) -> None:
    # Whatever the shape, 1 MB of it is read (or refused) in one pass: a quadratic reader
    # spends minutes on a megabyte of the wrong shape.
    unit = b"".join(parts)
    data = unit * (1024 * 1024 // len(unit) + 1)
    began = time.perf_counter()
    scan(data)
    with contextlib.suppress(BundleError):
        parse_certificates(data, source="fuzz")
    with contextlib.suppress(StoreError):
        pem.load(data, source="fuzz")
    assert time.perf_counter() - began < 5.0


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"# a comment\x00 with a NUL\n" + PEM, id="nul-mid-line"),
        pytest.param(PEM + b"\x00\n" + OTHER, id="nul-line-after-a-block"),
    ],
)
def test_pem_with_a_nul_near_its_start_is_refused_by_name(tmp_path: Path, data: bytes) -> None:
    # Type detection takes a NUL in the first 64 KiB for a binary file; the refusal still says
    # what is wrong when OpenSSL reads certificates from the text.
    path = tmp_path / "store.pem"
    path.write_bytes(data)
    with pytest.raises(StoreError, match=r"PEM text with a NUL byte on line \d+.*remove the NUL"):
        read_store(path, None)


def test_a_binary_file_is_still_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x00\x01binary" * 100)
    with pytest.raises(StoreError, match="is not a JKS, JCEKS, PKCS12 or PEM trust store"):
        read_store(path, None)


@pytest.mark.parametrize("shape", ["nul-line-between-blocks", "nul-at-the-end"])
def test_merge_into_a_store_openssl_stops_reading_changes_nothing(
    tmp_path: Path, shape: str
) -> None:
    store = tmp_path / "store.pem"
    data = NUL_SHAPES[shape]()
    store.write_bytes(data)
    bundle = Path(__file__).resolve().parent.parent / "fixtures" / "bundles" / "g1.pem"
    done = subprocess.run(
        [sys.executable, "-m", "rdstrust", "merge", "--bundle", str(bundle), "-s", str(store)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "RDSTRUST_ACCEPT_UNKNOWN_RDS": "1"},
    )
    assert done.returncode == 5, done.stderr
    assert "NUL byte" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert store.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.pem"]
