"""Path validation: does a set of trusted certificates accept a server's chain, as a client would?

Two clients matter, and they differ in corner cases, so the caller says which one it stands for:

* :attr:`Client.LIBPQ` (PEM stores; psql and libpq with ``sslmode=verify-full sslrootcert=FILE``):
  OpenSSL's ``X509_verify_cert`` with default flags, then libpq's own host name check
  (``pgtls_verify_peer_name_matches_certificate_guts`` in ``fe-secure-openssl.c`` and
  ``pq_verify_peer_name_matches_certificate_name`` in ``fe-secure-common.c``).
* :attr:`Client.PGJDBC` (JKS / PKCS12 stores; a JVM running pgjdbc with ``sslmode=verify-full``):
  Java's PKIX trust manager, then pgjdbc's ``PGjdbcHostnameVerifier``.

The chain itself is validated with cryptography's RFC 5280 verifier
(:mod:`cryptography.x509.verification`), relaxed to what OpenSSL and Java's PKIX both accept:
the leaf needs neither an AuthorityKeyIdentifier nor a subjectAltName, a CA's key usage and basic
constraints may be non-critical. Names are then matched by rdstrust's copy of the client's own rule
(never by cryptography's RFC 6125 matcher, which strips a trailing dot and never compares an IP
address with a dNSName, where both clients compare strings).

What cryptography still refuses on its CA/B Forum profile (X.509 v1, odd serial numbers, SHA-1 or
Ed25519 signatures, RSA keys under 2048 bits, ...) while OpenSSL or Java may accept it, is not
silently decided: the result names it in :attr:`PathResult.differences`, and so does a host name
the other client would decide the other way. ``hostname=None`` gives ``verify-ca`` semantics.
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rdstrust.bundle import parse_certificates
from rdstrust.certs import DECODE_ERRORS, CertInfo, describe, utcnow
from rdstrust.errors import BundleError
from rdstrust.files import read_input
from rdstrust.names import fast_subject

if TYPE_CHECKING:
    from rdstrust.stores import StoreEntry

#: A chain file larger than this is not a server chain.
MAX_CHAIN_BYTES = 1024 * 1024
#: Names listed in a host-name-mismatch message (a certificate may carry thousands).
_SHOWN_NAMES = 5


class PathFailure(str, Enum):
    """Why a chain is not trusted, in the words a user acts on."""

    #: No certificate of the store issued the chain's top certificate.
    UNKNOWN_ISSUER = "unknown-issuer"
    #: The store holds the issuing CA, but it is expired (or not yet valid) at the time checked.
    CA_EXPIRED = "ca-expired"
    #: A certificate the server sent is expired (or not yet valid) at the time checked.
    EXPIRED = "expired"
    #: The chain is trusted but the server certificate is not valid for the host name.
    HOSTNAME_MISMATCH = "hostname-mismatch"
    #: The store has no trusted certificate at all.
    NO_ANCHORS = "no-anchors"
    #: Anything else the verifier rejects (key usage, signature algorithm, key size, ...).
    REJECTED = "rejected"

    def __str__(self) -> str:
        return self.value


class Client(str, Enum):
    """The client whose verdict :func:`check_path` reproduces."""

    #: libpq / psql over OpenSSL: what a PEM ``sslrootcert`` store is for.
    LIBPQ = "libpq"
    #: A JVM with pgjdbc: what a JKS or PKCS12 trust store is for.
    PGJDBC = "pgjdbc"

    def __str__(self) -> str:
        return self.value


class Divergence(str, Enum):
    """A named case in which rdstrust's verdict may not be the real client's."""

    #: cryptography refuses an X.509 v1 certificate; OpenSSL and Java accept a v1 root.
    X509_V1 = "x509-v1"
    #: A zero, negative or over-long serial number; OpenSSL and Java accept it.
    SERIAL_NUMBER = "serial-number"
    #: A signature algorithm outside the CA/B Forum list (SHA-1, Ed25519, DSA, ...).
    SIGNATURE_ALGORITHM = "signature-algorithm"
    #: A CA key algorithm outside the CA/B Forum list (Ed25519, DSA, a named curve, ...).
    KEY_ALGORITHM = "key-algorithm"
    #: An RSA CA key under 2048 bits (OpenSSL's security level decides; Java allows 1024).
    RSA_KEY_SIZE = "rsa-key-size"
    #: A validity date encoded as GeneralizedTime before 2050 (OpenSSL and Java read it).
    VALIDITY_ENCODING = "validity-encoding"
    #: More intermediates than cryptography's limit of 8 (OpenSSL allows 100, Java 5).
    CHAIN_DEPTH = "chain-depth"
    #: The other client's host name rule decides this name the other way.
    HOST_NAME_RULES = "host-name-rules"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ClientDifference:
    """One named way in which a real client may decide differently from this verdict."""

    name: Divergence
    #: The client that may decide differently.
    client: Client
    #: One sentence for a human.
    message: str


@dataclass(frozen=True)
class PathResult:
    """The verdict on one chain against one set of anchors."""

    trusted: bool
    #: Host name checked against the leaf, ``None`` when only the chain was checked (verify-ca).
    hostname: str | None
    #: The instant validity was evaluated at.
    at: datetime
    #: ``None`` when trusted; otherwise the main reason.
    failure: PathFailure | None
    #: One sentence: what was found, or why the chain fails.
    message: str
    #: Subjects of the validated path, leaf first, ending at the store's anchor (empty on failure).
    path: tuple[str, ...] = ()
    #: SHA-256 of the store certificate the path ends at.
    anchor_sha256: str | None = None
    #: The client whose rules this verdict follows.
    client: Client = Client.LIBPQ
    #: Known ways a real client may decide otherwise (empty when none applies).
    differences: tuple[ClientDifference, ...] = ()


@dataclass(frozen=True)
class NameMatch:
    """A client's host name verdict on one server certificate."""

    ok: bool
    #: The certificate names the client compared, in its order (subjectAltName, then CN).
    examined: tuple[str, ...]


@dataclass(frozen=True)
class Chain:
    """A server's certificate chain, leaf first, as read from a file or a live server."""

    source: str
    certificates: tuple[CertInfo, ...]

    @property
    def leaf(self) -> CertInfo:
        """The server certificate."""
        return self.certificates[0]

    @property
    def intermediates(self) -> tuple[CertInfo, ...]:
        """Everything the server sent after its own certificate."""
        return self.certificates[1:]

    def to_pem(self) -> bytes:
        """The chain as PEM, leaf first (what ``verify --chain`` reads)."""
        return b"".join(c.pem() for c in self.certificates)


def read_chain(path: str | Path) -> Chain:
    """Read a chain file (PEM or DER, leaf first); raises :class:`BundleError`."""
    p = Path(path)
    data = read_input(
        p,
        limit=MAX_CHAIN_BYTES,
        what="Chain file",
        error=BundleError,
        missing_hint="save one with 'rdstrust probe HOST --save-chain FILE' or give its path",
    )
    return parse_chain(data, source=str(p))


def parse_chain(data: bytes, *, source: str = "<bytes>") -> Chain:
    """Parse chain bytes, leaf first. Unlike a bundle, a chain starts with a non-CA certificate."""
    _fmt, pairs = parse_certificates(data, source=source)
    infos = []
    for index, (cert, der) in enumerate(pairs, start=1):
        try:
            infos.append(describe(cert, der))
        except DECODE_ERRORS as exc:  # a field we read cannot be decoded
            raise BundleError(
                f"{source}: certificate {index} cannot be decoded ({exc}); the chain file is "
                "damaged.",
                source=source,
            ) from None
    if infos[0].is_ca:
        raise BundleError(
            f"{source} starts with a CA certificate ({infos[0].common_name or infos[0].subject}); "
            "a chain lists the server certificate first, as servers send it.",
            source=source,
        )
    return Chain(source=source, certificates=tuple(infos))


def leaf_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The DNS names and IP addresses a server certificate is valid for (its subjectAltName)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return ()
    names: list[str] = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return tuple(names)


# --- host names, as each client matches them -------------------------------------------------


def host_matches(cert: x509.Certificate, hostname: str, client: Client) -> NameMatch:
    """Whether ``client`` accepts ``cert`` for ``hostname`` (its ``verify-full`` name check).

    The name is compared as given, like the clients do: a trailing dot is not removed. A
    bracketed IPv6 literal (``[::1]``, as written in ``host:port``) is unbracketed first.
    """
    host = hostname[1:-1] if hostname.startswith("[") and hostname.endswith("]") else hostname
    if not host:
        return NameMatch(ok=False, examined=())  # libpq: "host name must be specified"
    try:
        sans = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        sans = []
    except DECODE_ERRORS:
        # Both clients fail the name check on a subjectAltName they cannot parse.
        return NameMatch(ok=False, examined=())
    try:
        cns = [
            a.value if isinstance(a.value, str) else a.value.decode("latin-1")
            for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
    except DECODE_ERRORS:
        cns = []
    if client is Client.PGJDBC:
        return _pgjdbc_matches(sans, cns, host)
    return _libpq_matches(sans, cns, host)


def _ascii_lower(text: str) -> str:
    # pg_strcasecmp folds ASCII letters only.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _libpq_is_ip(host: str) -> bool:
    # fe-secure-openssl.c is_ip_address(): inet_aton() (so "10.1" and "0x7f.1" count too),
    # or inet_pton(AF_INET6). Python's socket.inet_aton calls the C library's inet_aton.
    try:
        socket.inet_aton(host)
        return True
    except (OSError, ValueError):
        pass
    try:
        socket.inet_pton(socket.AF_INET6, host)
        return True
    except (OSError, ValueError):
        return False


def _libpq_name(name: str, host: str) -> int:
    """fe-secure-common.c pq_verify_peer_name_matches_certificate_name: 1, 0 or -1 (error)."""
    if "\0" in name:
        return -1  # "SSL certificate's name contains embedded null" (CVE-2009-4034)
    if _ascii_lower(name) == _ascii_lower(host):
        return 1
    # wildcard_certificate_match(): only a leading "*." ; '*' matches one label, never a dot.
    if len(name) < 3 or not name.startswith("*."):
        return 0
    if len(name) > len(host):
        return 0
    suffix = name[1:]
    if _ascii_lower(host[len(host) - len(suffix) :]) != _ascii_lower(suffix):
        return 0
    # "If there is a dot left of where the pattern started to match, we don't match", exactly
    # as written: strchr(string, '.') < string + lenstr - lenpat.
    first_dot = host.find(".")
    return 0 if 0 <= first_dot < len(host) - len(name) else 1


def _libpq_ip(value: object, host: str) -> int:
    """fe-secure-common.c pq_verify_peer_name_matches_certificate_ip: 1, 0 or -1 (error)."""
    if isinstance(value, IPv4Address):
        try:
            return int(socket.inet_aton(host) == value.packed)
        except (OSError, ValueError):
            return 0
    if isinstance(value, IPv6Address):
        try:
            return int(socket.inet_pton(socket.AF_INET6, host) == value.packed)
        except (OSError, ValueError):
            return 0
    return -1  # "certificate contains IP address with invalid length"


def _libpq_matches(sans: list[x509.GeneralName], cns: list[str], host: str) -> NameMatch:
    """fe-secure-openssl.c pgtls_verify_peer_name_matches_certificate_guts, rule for rule.

    SAN entries in order: dNSName entries are compared as strings whatever the host is (so an
    IP address written as a dNSName matches), iPAddress entries as bytes. The first CN is used
    only when no SAN entry has the host's own type (an IP host may fall back to the CN even
    beside dNSName entries). An error (embedded NUL, odd address length) ends the check failed.
    """
    host_type: type[x509.GeneralName] = x509.IPAddress if _libpq_is_ip(host) else x509.DNSName
    check_cn = True
    examined: list[str] = []
    rc = 0
    for name in sans:
        if isinstance(name, host_type):
            check_cn = False
        if isinstance(name, x509.DNSName):
            examined.append(name.value)
            rc = _libpq_name(name.value, host)
        elif isinstance(name, x509.IPAddress):
            examined.append(str(name.value))
            rc = _libpq_ip(name.value, host)
        if rc != 0:
            check_cn = False
            break
    if check_cn and cns:
        examined.append(cns[0])
        rc = _libpq_name(cns[0], host)
    return NameMatch(ok=rc == 1, examined=tuple(examined))


def _java_ip_string(value: object) -> str:
    # What X509Certificate.getSubjectAlternativeNames() gives for an iPAddress: IPv4 dotted,
    # IPv6 as eight uncompressed hex groups ("0:0:0:0:0:0:0:1"), an IPv4-mapped one as IPv4.
    if isinstance(value, IPv6Address):
        if value.ipv4_mapped is not None:
            return str(value.ipv4_mapped)
        groups = [int.from_bytes(value.packed[i : i + 2], "big") for i in range(0, 16, 2)]
        return ":".join(f"{g:x}" for g in groups)
    return str(value)


def _is_ipv6(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6, host)
    except (OSError, ValueError):
        return False
    return True


def _pgjdbc_verify_host_name(host: str, pattern: str) -> bool:
    """pgjdbc PGjdbcHostnameVerifier.verifyHostName: '*' only as the whole first label."""
    last_star = pattern.rfind("*")
    if last_star == -1:
        return host.lower() == pattern.lower()
    if last_star > 0 or "." not in pattern or len(host) < len(pattern) - 1:
        return False
    offset = len(host) - len(pattern) + 1
    if "." in host[:offset]:
        return False
    return host[offset:].lower() == pattern[1:].lower()


def _pgjdbc_specificity(name: str) -> tuple[int, int, int]:
    # HOSTNAME_PATTERN_COMPARATOR: more dots, then fewer stars, then longer is more specific.
    return (name.count("."), -name.count("*"), len(name))


def _pgjdbc_matches(sans: list[x509.GeneralName], cns: list[str], host: str) -> NameMatch:
    """pgjdbc PGjdbcHostnameVerifier.verify, rule for rule.

    Every dNSName and iPAddress entry is compared as a string with the host (Java's string
    form of an address); any dNSName entry forbids the CN fallback; otherwise the most specific
    CN is compared. A non-ASCII host is converted with IDNA first, as java.net.IDN does.
    """
    try:
        canonical = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        return NameMatch(ok=False, examined=())
    labels = canonical.split(".")
    if labels[-1] == "":
        labels.pop()  # java.net.IDN keeps one trailing dot
    if not _is_ipv6(canonical) and any(not 0 < len(label) <= 63 for label in labels):
        return NameMatch(ok=False, examined=())  # IDN.toASCII throws: pgjdbc says no
    examined: list[str] = []
    any_dns = False
    for name in sans:
        if isinstance(name, x509.DNSName):
            value = name.value
            any_dns = True
        elif isinstance(name, x509.IPAddress):
            value = _java_ip_string(name.value)
        else:
            continue
        examined.append(value)
        if _pgjdbc_verify_host_name(canonical, value):
            return NameMatch(ok=True, examined=tuple(examined))
    if any_dns or not cns:
        return NameMatch(ok=False, examined=tuple(examined))
    # Collections.sort is stable and pgjdbc takes the last: the last of the most specific.
    common_name = max(reversed(cns), key=_pgjdbc_specificity)
    examined.append(common_name)
    return NameMatch(ok=_pgjdbc_verify_host_name(canonical, common_name), examined=tuple(examined))


# --- the chain --------------------------------------------------------------------------------


def _server_eku(
    _policy: verification.Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    # What OpenSSL's "sslserver" purpose (libpq) and SunJSSE's EndEntityChecker require: no EKU
    # at all, or one that allows serverAuth. OpenSSL applies the same rule to CAs (check_ssl_ca).
    if eku is None:
        return
    if ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return
    raise ValueError("the certificate's extended key usage does not allow TLS server use")


def _ca_key_usage(
    _policy: verification.Policy, _cert: x509.Certificate, usage: x509.KeyUsage | None
) -> None:
    # OpenSSL (check_issued: X509_V_ERR_KEYUSAGE_NO_CERTSIGN) and Java's PKIX KeyChecker refuse
    # an issuer whose key usage lacks keyCertSign; neither requires the extension to exist.
    if usage is not None and not usage.key_cert_sign:
        raise ValueError("the CA's key usage does not allow signing certificates")


def _ca_basic_constraints(
    _policy: verification.Policy, _cert: x509.Certificate, bc: x509.BasicConstraints | None
) -> None:
    # Both require cA=TRUE on an issuer; neither requires the extension to be critical.
    if bc is None or not bc.ca:
        raise ValueError("the issuer is not marked as a CA (basicConstraints cA)")


def _policies() -> tuple[verification.ExtensionPolicy, verification.ExtensionPolicy]:
    agnostic = verification.Criticality.AGNOSTIC
    ca = (
        verification.ExtensionPolicy.webpki_defaults_ca()
        .require_present(x509.BasicConstraints, agnostic, _ca_basic_constraints)
        .may_be_present(x509.KeyUsage, agnostic, _ca_key_usage)
        .may_be_present(x509.AuthorityKeyIdentifier, agnostic, None)
        .may_be_present(x509.ExtendedKeyUsage, agnostic, _server_eku)
    )
    # The leaf: libpq (X509_verify_cert with default flags) and Java's PKIX require no
    # AuthorityKeyIdentifier and no subjectAltName (the CN fallback covers names), so this
    # permits every extension and checks only the EKU. The host name is checked separately.
    ee = verification.ExtensionPolicy.permit_all().may_be_present(
        x509.ExtendedKeyUsage, agnostic, _server_eku
    )
    return ca, ee


def _verify(
    chain: Chain, anchors: Sequence[x509.Certificate], at: datetime
) -> list[x509.Certificate]:
    """The validated path, leaf first; raises ``VerificationError``. Names are not checked here.

    cryptography's server verifier always matches a subject with its own RFC 6125 rules, so
    the client verifier (which checks no name) is used with server-side extension policies.
    """
    ca_policy, ee_policy = _policies()
    builder = (
        verification.PolicyBuilder()
        .store(verification.Store(list(anchors)))
        .time(at)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
    )
    leaf = chain.leaf.certificate
    intermediates = [c.certificate for c in chain.intermediates]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # serial-number oddities of real-world roots
        return builder.build_client_verifier().verify(leaf, intermediates).chain


def anchors_for(chain: Chain, entries: Sequence[StoreEntry]) -> list[CertInfo]:
    """The store's trusted ``entries`` that can take part in validating ``chain``, described.

    A path ends at a store certificate whose subject is the issuer of a certificate of the chain
    (cryptography's trust store looks anchors up by their DER subject), or at a certificate of the
    chain the store holds; :func:`check_path`'s diagnosis looks at exactly the entries whose
    RFC 4514 subject is such an issuer's, or that are in the chain. Equal DER names spell the
    same RFC 4514 string, so this selection holds every anchor either can use, and
    ``check_path(chain, anchors_for(chain, entries), store_has_anchors=...)`` gives the verdict
    the whole store gives. Each subject is read from the DER (:mod:`rdstrust.names`)
    rather than by describing every entry: ``verify --chain`` on a 50,000-entry store no longer
    loads 50,000 certificates. A subject that reader leaves to cryptography is described.
    """
    issuers = {c.issuer for c in chain.certificates}
    in_chain = {c.sha256 for c in chain.certificates}
    found: list[CertInfo] = []
    for entry in entries:
        if entry.sha256 not in in_chain:
            der = entry.certificates[0] if entry.certificates else None
            names = fast_subject(der, specials=True) if der is not None else None
            if names is None:
                info = entry.info
                names = (info.subject, None) if info is not None else None
            if names is None or names[0] not in issuers:
                continue
        if entry.info is not None:
            found.append(entry.info)
    return found


def check_path(
    chain: Chain,
    anchors: Sequence[CertInfo],
    *,
    hostname: str | None,
    at: datetime | None = None,
    client: Client = Client.LIBPQ,
    store_has_anchors: bool | None = None,
) -> PathResult:
    """Validate ``chain`` against ``anchors`` at ``at`` (default now), checking ``hostname``.

    ``client`` picks whose rules decide: libpq's (PEM stores, the default) or the JVM with
    pgjdbc's (JKS and PKCS12 stores). ``hostname=None`` checks only the chain (libpq
    ``sslmode=verify-ca``). Never raises for an untrusted chain: the result says why.
    ``anchors`` is the store's trusted certificates (described), or only those
    :func:`anchors_for` selects; then ``store_has_anchors`` says whether the store has any (an
    empty selection from a store with anchors is an unknown issuer, not a store that trusts
    nothing).
    """
    when = at or utcnow()
    if not anchors:
        if store_has_anchors:
            # What the verifier and the diagnosis conclude from the whole store: no anchor is
            # named as any issuer of the chain (a cryptography Store cannot be built empty).
            failure, message = _diagnose(chain, anchors, when, "")
        else:
            failure = PathFailure.NO_ANCHORS
            message = "the store has no trusted certificates, so it trusts no server at all"
        return PathResult(
            trusted=False,
            hostname=hostname,
            at=when,
            failure=failure,
            message=message,
            client=client,
        )
    try:
        verified = _verify(chain, [a.certificate for a in anchors], when)
    except verification.VerificationError as exc:
        failure, message = _diagnose(chain, anchors, when, str(exc))
        differences = _profile_differences(str(exc)) if failure is PathFailure.REJECTED else ()
        if differences:
            message += f" ({differences[0].message})"
        return PathResult(
            trusted=False,
            hostname=hostname,
            at=when,
            failure=failure,
            message=message,
            client=client,
            differences=differences,
        )
    top = verified[-1]
    anchor = next((a for a in anchors if a.certificate == top), None)
    issuer_cn = anchor.common_name if anchor else top.subject.rfc4514_string()
    base = PathResult(
        trusted=True,
        hostname=hostname,
        at=when,
        failure=None,
        message=f"trusted through {issuer_cn}",
        path=tuple(c.subject.rfc4514_string() for c in verified),
        anchor_sha256=anchor.sha256 if anchor else None,
        client=client,
    )
    if hostname is None:
        return base
    match = host_matches(chain.leaf.certificate, hostname, client)
    differences = _name_differences(chain.leaf.certificate, hostname, client, ok=match.ok)
    if match.ok:
        return replace(
            base, message=f"trusted for {hostname} through {issuer_cn}", differences=differences
        )
    return replace(
        base,
        trusted=False,
        failure=PathFailure.HOSTNAME_MISMATCH,
        message=_mismatch_message(chain.leaf.certificate, hostname, client, match),
        differences=differences,
    )


def _mismatch_message(
    cert: x509.Certificate, hostname: str, client: Client, match: NameMatch
) -> str:
    shown = ", ".join(match.examined[:_SHOWN_NAMES])
    if len(match.examined) > _SHOWN_NAMES:
        shown += f" and {len(match.examined) - _SHOWN_NAMES} more"
    if not shown:
        shown = "no name at all"
    message = (
        f"host name mismatch: {client} compares {hostname} with the server certificate's "
        f"{shown}, and none matches"
    )
    stripped = hostname.rstrip(".")
    if stripped != hostname and stripped and host_matches(cert, stripped, client).ok:
        message += (
            f"; {client} compares the name as written, trailing dot included: connect to {stripped}"
        )
    return message


def _name_differences(
    cert: x509.Certificate, hostname: str, client: Client, *, ok: bool
) -> tuple[ClientDifference, ...]:
    other = Client.PGJDBC if client is Client.LIBPQ else Client.LIBPQ
    if host_matches(cert, hostname, other).ok == ok:
        return ()
    verdict = "accepts" if not ok else "refuses"
    return (
        ClientDifference(
            name=Divergence.HOST_NAME_RULES,
            client=other,
            message=(
                f"{other} {verdict} this certificate for {hostname}: its host name rule differs "
                f"from {client}'s"
            ),
        ),
    )


# cryptography's CA/B Forum profile checks that OpenSSL (libpq) or Java's PKIX may not make,
# recognised by the verifier's message (cryptography-x509-verification, policy/mod.rs).
_PROFILE_RULES = (
    ("must be an X509v3", Divergence.X509_V1, "an X.509 v1 certificate"),
    ("must have a serial", Divergence.SERIAL_NUMBER, "a zero or over-long serial number"),
    ("serial number cannot be negative", Divergence.SERIAL_NUMBER, "a negative serial number"),
    ("Forbidden signature algorithm", Divergence.SIGNATURE_ALGORITHM, "its signature algorithm"),
    ("Forbidden public key algorithm", Divergence.KEY_ALGORITHM, "a CA key algorithm"),
    ("RSA key is too weak", Divergence.RSA_KEY_SIZE, "an RSA CA key under 2048 bits"),
    ("must be UtcTime", Divergence.VALIDITY_ENCODING, "a validity date's encoding"),
    ("exceeds max depth", Divergence.CHAIN_DEPTH, "more than 8 intermediate CAs"),
)


def _profile_differences(raw: str) -> tuple[ClientDifference, ...]:
    for needle, name, what in _PROFILE_RULES:
        if needle in raw:
            return (
                ClientDifference(
                    name=name,
                    client=Client.LIBPQ,
                    message=(
                        f"{name}: rdstrust's strict verifier refuses {what}, which OpenSSL "
                        "(libpq) or Java may accept; check with the client itself"
                    ),
                ),
            )
    return ()


def _valid_at(info: CertInfo, at: datetime) -> bool:
    return info.not_before <= at <= info.not_after


def _diagnose(
    chain: Chain, anchors: Sequence[CertInfo], at: datetime, raw: str
) -> tuple[PathFailure, str]:
    """Turn the verifier's terse error into the reason a human acts on.

    cryptography reports the first failure it meets while building paths ("candidates
    exhausted", "cert is not valid at validation time"); this re-derives the cause from the
    certificates themselves, in the order a user should fix things. (Host names are checked
    only after the chain validated, so a failure here is never a name mismatch.)
    """
    when = at.strftime("%Y-%m-%d %H:%M UTC")
    # Which store certificates could have issued the top of the chain (by name; the verifier
    # has already checked signatures, this only explains its verdict).
    top = chain.certificates[-1]
    issuers = [
        a
        for a in anchors
        if a.subject in {top.issuer, *(c.issuer for c in chain.certificates)}
        or a.sha256 in {c.sha256 for c in chain.certificates}
    ]
    if not issuers:
        return (
            PathFailure.UNKNOWN_ISSUER,
            f"unknown issuer: the store does not trust '{_issuer_cn(top)}', the CA that "
            f"issued '{top.common_name or top.subject}'",
        )
    for info in chain.certificates:
        if not _valid_at(info, at):
            state = "expired on" if at > info.not_after else "is not valid before"
            date = info.not_after if at > info.not_after else info.not_before
            what = "server certificate" if info is chain.leaf else "intermediate CA"
            return (
                PathFailure.EXPIRED,
                f"the {what} '{info.common_name or info.subject}' {state} "
                f"{date:%Y-%m-%d} (checked at {when})",
            )
    usable = [a for a in issuers if _valid_at(a, at)]
    if not usable:
        a = issuers[0]
        state = "expired on" if at > a.not_after else "is not valid before"
        date = a.not_after if at > a.not_after else a.not_before
        return (
            PathFailure.CA_EXPIRED,
            f"the trusted CA '{a.common_name or a.subject}' {state} {date:%Y-%m-%d} "
            f"(checked at {when})",
        )
    return PathFailure.REJECTED, f"the chain is rejected: {_short(raw)}"


def _issuer_cn(info: CertInfo) -> str:
    values = info.certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    if values and isinstance(values[0].value, str):
        return values[0].value
    return info.issuer


def _short(raw: str) -> str:
    # "validation failed: X (encountered processing <Certificate(...)>)" -> "X"
    text = raw.removeprefix("validation failed: ")
    return text.split(" (encountered processing", 1)[0]
