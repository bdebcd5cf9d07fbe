"""Path validation: does a set of trusted certificates accept a server's chain, as a client would?

rdstrust validates with cryptography's RFC 5280 / CA/B Forum verifier
(:mod:`cryptography.x509.verification`): the chain the server sends (leaf first), the store's
trusted certificates as anchors, a validation time (now, or ``at`` to look into the future), and
the host name checked like libpq's ``sslmode=verify-full`` (``hostname=None`` gives
``verify-ca`` semantics: the chain only).

That verifier's web-PKI policy is stricter than Java's PKIX or OpenSSL (libpq) for some odd
real-world certificates (for example a leaf without subjectAltName, which libpq accepts through
its CN fallback, or an RSA key under 2048 bits). rdstrust therefore offers the JVM's own verdict
as a second opinion (:mod:`rdstrust.jvm`), and a failure here names the reason so that such a
difference is visible rather than silent.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rdstrust.bundle import parse_certificates
from rdstrust.certs import DECODE_ERRORS, CertInfo, describe, utcnow
from rdstrust.errors import BundleError
from rdstrust.files import read_input

#: A chain file larger than this is not a server chain.
MAX_CHAIN_BYTES = 1024 * 1024


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


def subject_for(hostname: str) -> verification.Subject:
    """The verifier subject for a host name or an IP address literal."""
    try:
        return x509.IPAddress(ipaddress.ip_address(hostname.strip("[]")))
    except ValueError:
        return x509.DNSName(hostname.rstrip(".").lower())


def leaf_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The DNS names and IP addresses a server certificate is valid for (its subjectAltName)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return ()
    names: list[str] = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return tuple(names)


def _server_eku(
    _policy: verification.Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    # What OpenSSL's "sslserver" purpose (libpq) and SunJSSE's EndEntityChecker require: no EKU
    # at all, or one that allows serverAuth.
    if eku is None:
        return
    if ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return
    raise ValueError("the certificate's extended key usage does not allow TLS server use")


def _verify(
    chain: Chain, anchors: Sequence[x509.Certificate], hostname: str | None, at: datetime
) -> list[x509.Certificate]:
    builder = verification.PolicyBuilder().store(verification.Store(list(anchors))).time(at)
    leaf = chain.leaf.certificate
    intermediates = [c.certificate for c in chain.intermediates]
    if hostname is not None:
        return builder.build_server_verifier(subject_for(hostname)).verify(leaf, intermediates)
    # verify-ca: the chain without a name. A server verifier always checks a subject, so use
    # the client verifier (cryptography >= 45), which checks no name, with the end-entity
    # policy's EKU rule replaced by the server one (its default demands clientAuth).
    ee_policy = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _server_eku
    )
    builder = builder.extension_policies(
        ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy
    )
    return builder.build_client_verifier().verify(leaf, intermediates).chain


def check_path(
    chain: Chain,
    anchors: Sequence[CertInfo],
    *,
    hostname: str | None,
    at: datetime | None = None,
) -> PathResult:
    """Validate ``chain`` against ``anchors`` at ``at`` (default now), checking ``hostname``.

    ``hostname=None`` checks only the chain (libpq ``sslmode=verify-ca``). Never raises for an
    untrusted chain: the result says why.
    """
    when = at or utcnow()
    if not anchors:
        return PathResult(
            trusted=False,
            hostname=hostname,
            at=when,
            failure=PathFailure.NO_ANCHORS,
            message="the store has no trusted certificates, so it trusts no server at all",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # serial-number oddities of real-world roots
            verified = _verify(chain, [a.certificate for a in anchors], hostname, when)
    except verification.VerificationError as exc:
        failure, message = _diagnose(chain, anchors, hostname, when, str(exc))
        return PathResult(
            trusted=False, hostname=hostname, at=when, failure=failure, message=message
        )
    top = verified[-1]
    anchor = next((a for a in anchors if a.certificate == top), None)
    issuer_cn = anchor.common_name if anchor else top.subject.rfc4514_string()
    names = f" for {hostname}" if hostname else ""
    return PathResult(
        trusted=True,
        hostname=hostname,
        at=when,
        failure=None,
        message=f"trusted{names} through {issuer_cn}",
        path=tuple(c.subject.rfc4514_string() for c in verified),
        anchor_sha256=anchor.sha256 if anchor else None,
    )


def _valid_at(info: CertInfo, at: datetime) -> bool:
    return info.not_before <= at <= info.not_after


def _diagnose(
    chain: Chain, anchors: Sequence[CertInfo], hostname: str | None, at: datetime, raw: str
) -> tuple[PathFailure, str]:
    """Turn the verifier's terse error into the reason a human acts on.

    cryptography reports the first failure it meets while building paths ("candidates
    exhausted", "cert is not valid at validation time"); this re-derives the cause from the
    certificates themselves, in the order a user should fix things.
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
    if hostname is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _verify(chain, [a.certificate for a in anchors], None, at)
        except verification.VerificationError:
            pass
        else:
            names = ", ".join(leaf_names(chain.leaf.certificate)) or "no names (no subjectAltName)"
            return (
                PathFailure.HOSTNAME_MISMATCH,
                f"host name mismatch: the server certificate is valid for {names}, "
                f"not for {hostname}",
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
