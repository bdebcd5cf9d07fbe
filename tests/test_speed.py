"""What makes rdstrust fast must not change what it does (the timings are scripts/bench.py's job).

* start-up: ``--version`` before Typer, ``import rdstrust`` without cryptography / requests /
  Typer, ``--help`` from the static table, commands without pydantic;
* work: entries described on first use and once per run, PEM labels read from the DER, PKCS12
  keys derived once, RDS CAs told from the bytes; each gives the same answers as before.
"""

from __future__ import annotations

import inspect
import json
import string
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from support import FIXTURES, SHARED_BUNDLES, der_certificate

import rdstrust
from rdstrust import certs
from rdstrust.certs import Generation, could_be_rds, describe
from rdstrust.cli import COMMANDS
from rdstrust.errors import RdsTrustError, WrongPasswordError
from rdstrust.merge import merge_store
from rdstrust.names import fast_names, fast_subject
from rdstrust.options import MergeOptions
from rdstrust.runcache import _RUN_CACHE, cached_description, describe_once
from rdstrust.stores import (
    KeyDeriver,
    NewCert,
    StoreEntry,
    StoreType,
    create_store,
    describe_der,
    parse_store,
    read_store,
)

G1 = FIXTURES / "bundles" / "g1.pem"
JDK_CACERTS = Path("/etc/ssl/certs/java/cacerts")
SYSTEM_PEM = Path("/etc/ssl/certs/ca-certificates.crt")
PW = "changeit"


def run_python(code: str, *args: str) -> str:
    """Run ``code`` in a fresh interpreter (so sys.modules starts empty); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


LOADED = "import sys, json; print(json.dumps(sorted(m for m in {names} if m in sys.modules)))"
# The same report printed by an atexit handler, which runs however the command line exits.
LOADED_AT_EXIT = (
    "import atexit, sys, json\n"
    "atexit.register(lambda: print(json.dumps(sorted(m for m in {names} if m in sys.modules))))\n"
)


# --------------------------------------------------------------------------- start-up


def test_version_is_answered_before_typer_is_imported() -> None:
    out = run_python(
        "import sys; sys.argv = ['rdstrust', '--version']\n"
        + LOADED_AT_EXIT.format(
            names="('typer', 'click', 'cryptography', 'pydantic', 'rdstrust.cli._lazy')"
        )
        + "from rdstrust.cli import main\nmain()\n"
    )
    version, loaded = out.splitlines()
    assert version == f"rdstrust {rdstrust.__version__}"
    assert json.loads(loaded) == []


def test_import_rdstrust_loads_no_heavy_library_and_every_name_resolves() -> None:
    out = run_python(
        "import rdstrust\n" + LOADED.format(names="('cryptography', 'requests', 'typer')")
    )
    assert json.loads(out) == []
    import importlib

    for name in rdstrust.__all__:
        value = getattr(rdstrust, name)
        module = rdstrust._LAZY.get(name)
        if module is not None:
            assert value is getattr(importlib.import_module(module), name.replace("-", "_")), name
    with pytest.raises(AttributeError):
        _ = rdstrust.no_such_name  # type: ignore[attr-defined]


def test_probe_stays_the_function_after_its_module_is_imported() -> None:
    out = run_python(
        "import rdstrust.probe\nfrom rdstrust import probe\nimport rdstrust\n"
        "print(callable(probe), rdstrust.probe is probe, type(probe).__name__)"
    )
    assert out.split() == ["True", "True", "function"]


def test_root_help_lists_every_command_with_its_docstring_without_importing_them() -> None:
    out = run_python(
        "import sys\nsys.argv = ['rdstrust', '--help']\n"
        + LOADED_AT_EXIT.format(names=(*(f"rdstrust.cli.{n}" for n in COMMANDS), "cryptography"))
        + "from rdstrust.cli import main\nmain()\n"
    )
    *help_lines, loaded = out.splitlines()
    assert json.loads(loaded) == []
    listed = [line.split()[0] for line in help_lines if line.startswith("  ") and line.split()]
    assert [n for n in listed if n in COMMANDS] == list(COMMANDS)
    import importlib

    for name, (module, one_line) in COMMANDS.items():
        function = getattr(importlib.import_module(module), name.replace("-", "_"))
        first = inspect.getdoc(function).split("\n\n")[0]  # type: ignore[union-attr]
        assert one_line == " ".join(first.split()), name
        shown = next(line for line in help_lines if line.startswith(f"  {name} "))
        assert one_line.startswith(shown.split(None, 1)[1].rstrip(".").rstrip()), shown


#: What ``update --source FILE`` never needs: pydantic (Typer's coercion), the HTTP stack (no
#: download), the AWS SDK, the probe's TLS machinery, path checks (no --chain), the JVM runner
#: (java is only located), the OS trust-store installer, cryptography's key serialization
#: (certificates come as DER), importlib.resources (package data is read with
#: pkgutil.get_data), or logging (only a refused cache part logs).
NOT_FOR_UPDATE = (
    "pydantic",
    "requests",
    "boto3",
    "http.client",
    "rdstrust.transport",
    "rdstrust.probe",
    "rdstrust.cli.probe",
    "rdstrust.pathcheck",
    "rdstrust.jvm",
    "rdstrust.ostrust",
    "cryptography.hazmat.primitives.serialization",
    "importlib.resources",
    "logging",
)


def test_a_command_runs_without_pydantic_or_requests(tmp_path: Path) -> None:
    pytest.importorskip("typer._coercion", reason="Typer without per-option pydantic coercion")
    out = run_python(
        "import sys\nsys.argv = ['rdstrust', 'update', '--source', sys.argv[1], '--create', "
        "'-s', sys.argv[2], '-s', sys.argv[3], '--storepass', 'changeit', '--json']\n"
        + LOADED_AT_EXIT.format(names=repr(NOT_FOR_UPDATE))
        + "from rdstrust.cli import main\nmain()\n",
        str(G1),
        str(tmp_path / "a.p12"),
        str(tmp_path / "a.pem"),
    )
    assert json.loads(out.splitlines()[-1]) == []
    assert json.loads("\n".join(out.splitlines()[:-1]))["stores"][0]["status"] == "created"


# --------------------------------------------------------------------------- describing lazily


@pytest.fixture(autouse=True)
def _quiet_serial_zero() -> Iterator[None]:
    # Debian's cacerts has certificates with serial number 0, which cryptography warns about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _certificates() -> list[bytes]:
    ders = [e.certificates[0] for e in read_store(FIXTURES / "bundles" / "mixed.pem", None).entries]
    for path in (JDK_CACERTS, SYSTEM_PEM):
        if path.exists():
            ders += [
                e.certificates[0]
                for e in read_store(path, PW if path == JDK_CACERTS else None).entries
            ]
    return ders


def test_lazy_entries_describe_as_the_certificate_does() -> None:
    ders = _certificates()
    assert len(ders) > 5
    for der in ders:
        info = describe_der(der)
        fresh = describe(x509.load_der_x509_certificate(der), der)
        assert info == fresh


def test_the_run_cache_is_scoped_to_the_run() -> None:
    der = _certificates()[0]
    assert _RUN_CACHE.get() is None
    with describe_once():
        first = describe_der(der)
        with describe_once():  # nested: the same cache
            assert describe_der(der) is first
        assert cached_description(der) == (True, first)
    assert _RUN_CACHE.get() is None
    assert cached_description(der) == (False, None)
    # Outside a run nothing is kept: each call describes again.
    assert describe_der(der) is not describe_der(der)


def test_the_fast_subject_is_cryptographys() -> None:
    checked = 0
    for der in _certificates():
        fast = fast_subject(der)
        if fast is None:
            continue
        cert = x509.load_der_x509_certificate(der)
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert fast == (cert.subject.rfc4514_string(), cns[0].value if cns else None)
        checked += 1
    assert checked > 5


def test_describing_reads_plain_names_from_the_der_as_cryptography_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # describe() takes subject, issuer, common name, generation, region and is_root from the DER
    # for plain names; with that path switched off it asks cryptography: the same CertInfo.
    ders = _certificates() + [
        e.certificates[0]
        for path in sorted(SHARED_BUNDLES.glob("*.pem"))
        for e in _entries_or_none(path)
    ]
    fast = [describe(x509.load_der_x509_certificate(d), d) for d in ders]
    assert sum(fast_names(d) is not None for d in ders) > len(ders) // 2
    monkeypatch.setattr(certs, "fast_names", lambda der: None)
    slow = [describe(x509.load_der_x509_certificate(d), d) for d in ders]
    assert fast == slow
    assert any(i.generation is not Generation.UNKNOWN for i in fast)


def _entries_or_none(path: Path) -> tuple[StoreEntry, ...]:
    try:
        return read_store(path, None).entries
    except RdsTrustError:
        return ()  # the real broken files beside the bundles


@pytest.mark.parametrize(
    ("subject", "issuer", "is_root"),
    [
        ([("CN", "A", "utf8")], [("CN", "A", "printable")], True),  # equal values, two string types
        (
            [("CN", "A", "utf8"), ("O", "B", "utf8")],
            [("O", "B", "utf8"), ("CN", "A", "utf8")],
            False,
        ),
        ([("CN", "A", "utf8")], [("CN", "A ", "utf8")], False),
        ([("CN", "A", "utf8")], [("CN", "A", "bmp")], True),  # BMPString: cryptography's path
        ([("O", "Amazon Web Services, Inc.", "utf8")], [("CN", "x", "utf8")], False),  # escaped
    ],
)
def test_names_and_is_root_agree_with_cryptography(
    monkeypatch: pytest.MonkeyPatch,
    subject: list[tuple[str, str, str]],
    issuer: list[tuple[str, str, str]],
    is_root: bool,
) -> None:
    der = _issued(subject, issuer)
    fast = describe(x509.load_der_x509_certificate(der), der)
    monkeypatch.setattr(certs, "fast_names", lambda der: None)
    slow = describe(x509.load_der_x509_certificate(der), der)
    assert fast == slow and fast.is_root is is_root


_OIDS = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME}
_STRING_TYPES = {
    "utf8": _ASN1Type.UTF8String,
    "printable": _ASN1Type.PrintableString,
    "bmp": _ASN1Type.BMPString,
}


def _issued(subject: list[tuple[str, str, str]], issuer: list[tuple[str, str, str]]) -> bytes:
    def name(attrs: list[tuple[str, str, str]]) -> x509.Name:
        return x509.Name(
            [x509.NameAttribute(_OIDS[k], v, _type=_STRING_TYPES[t]) for k, v, t in attrs]
        )

    return der_certificate(name(subject), name(issuer))


_PRINTABLE = set(string.ascii_letters + string.digits + " '()+,-./:=?")
_TYPES = [_ASN1Type.UTF8String, _ASN1Type.PrintableString, _ASN1Type.BMPString, _ASN1Type.IA5String]


def _cert(attributes: list[x509.NameAttribute]) -> bytes:
    return der_certificate(x509.Name(attributes))


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    NameOID.COMMON_NAME,
                    NameOID.ORGANIZATION_NAME,
                    NameOID.LOCALITY_NAME,
                    NameOID.SERIAL_NUMBER,
                ]
            ),
            st.text(
                alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                min_size=1,
                max_size=12,
            )
            | st.sampled_from(["#x", " lead", "trail ", "a,b", "a+b", 'q"', "é"]),
            st.sampled_from(range(len(_TYPES))),
        ),
        min_size=0,
        max_size=4,
    )
)
def test_the_fast_subject_agrees_with_cryptography_on_any_name(values: list) -> None:
    attributes = []
    for oid, text, kind in values:
        kind_ = _TYPES[kind]
        if (kind_ is _ASN1Type.IA5String and not text.isascii()) or (
            kind_ is _ASN1Type.PrintableString and not set(text) <= _PRINTABLE
        ):
            kind_ = _ASN1Type.UTF8String
        attributes.append(x509.NameAttribute(oid, text, _type=kind_))
    der = _cert(attributes)
    fast = fast_subject(der)
    if fast is not None:
        cert = x509.load_der_x509_certificate(der)
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert fast == (cert.subject.rfc4514_string(), cns[0].value if cns else None)


def test_rds_cas_are_told_from_the_bytes_in_every_string_type() -> None:
    for der in _certificates():
        if not could_be_rds(der):
            assert describe_der(der) is None or not describe_der(der).is_rds  # type: ignore[union-attr]
    for kind in (_ASN1Type.UTF8String, _ASN1Type.BMPString, _ASN1Type.UniversalString):
        der = _cert(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon Web Services, Inc."),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Amazon RDS", _type=kind),
                x509.NameAttribute(NameOID.COMMON_NAME, "Amazon RDS us-east-1 Root CA RSA2048 G1"),
            ]
        )
        info = describe_der(der)
        assert info is not None and info.is_rds and could_be_rds(der), kind


def test_pem_labels_and_merges_are_what_eager_description_gave(tmp_path: Path) -> None:
    """A PEM store written by rdstrust reads back with its labels as aliases, and a second
    merge finds everything present (the fingerprint path) and writes nothing."""
    store = tmp_path / "rds.pem"
    first = merge_store(
        store, rdstrust.read_bundle(G1), password=None, options=MergeOptions(backup=False)
    )
    assert first.written and first.added
    entries = read_store(store, None).entries
    assert [e.alias for e in entries] == [a.alias for a in first.added]
    again = merge_store(store, rdstrust.read_bundle(G1), password=None)
    assert not again.written and not again.added
    assert {p.alias for p in again.already_present} == {a.alias for a in first.added}


# --------------------------------------------------------------------------- PKCS12 keys


def test_pkcs12_keys_are_derived_once_and_still_checked() -> None:
    bundle = rdstrust.read_bundle(G1)
    add = [NewCert.from_info(c) for c in bundle.certificates]
    keys = KeyDeriver()
    data = create_store(StoreType.PKCS12, add, password=PW, keys=keys)
    assert keys.runs == 1  # the MAC key
    _, back = parse_store(data, source="new.p12", password=PW, keys=keys)
    assert keys.runs == 1 and len(back.entries) == len(add)
    # The shared keys do not weaken the read-back: a changed byte or password still fails.
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 1
    with pytest.raises((WrongPasswordError, rdstrust.StoreError)):
        parse_store(bytes(tampered), source="new.p12", password=PW, keys=keys)
    with pytest.raises(WrongPasswordError):
        parse_store(data, source="new.p12", password="wrong", keys=keys)
