"""Probe a live database endpoint: which chain does it send, and which RDS CA issued it?

The probe connects like a PostgreSQL client: it sends an ``SSLRequest`` (protocol 3, code
80877103), expects the single byte ``S``, then starts TLS on the same socket. With
``starttls=none`` it speaks TLS at once (PostgreSQL 17's ``sslnegotiation=direct``, with the ALPN
protocol ``postgresql`` that such servers require, or any plain TLS endpoint). With
``starttls=mysql`` it connects like a MySQL / MariaDB client (RDS MySQL, Aurora MySQL, RDS
MariaDB): it reads the server's greeting, sends the ``SSLRequest`` packet and starts TLS (see
:func:`_mysql_ssl_request`). ``starttls=auto`` (the default) picks ``mysql`` for port 3306 and
``postgres`` for every other port.

Nothing is verified here on purpose: the probe wants to *see* the chain even when no store
trusts it; judging it is :mod:`rdstrust.verify`'s job. The issuer of the server certificate tells
whether an instance has already rotated (``Amazon RDS us-east-1 Subordinate CA RSA2048 G1.A.1``
means rds-ca-rsa2048-g1; ``Amazon RDS us-east-1 2019 CA`` means rds-ca-2019).
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import struct
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from rdstrust.catalogue import SUBJECT_REGION
from rdstrust.certs import DECODE_ERRORS, CertInfo, Generation, classify, describe, utcnow
from rdstrust.endpoints import PROBE_TIMEOUT, check_host, check_port, check_timeout, is_ip

# Re-exported: StartTLS lives in endpoints so that the command line can offer it without
# loading this module's TLS machinery.
from rdstrust.endpoints import StartTLS as StartTLS
from rdstrust.errors import ProbeError, UsageError
from rdstrust.pathcheck import Chain, leaf_names

#: PostgreSQL's SSLRequest: length 8, then the magic code 1234 << 16 | 5679.
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
DEFAULT_PORT = 5432
#: The MySQL / MariaDB port; ``StartTLS.AUTO`` speaks MySQL's upgrade on it.
MYSQL_PORT = 3306
DEFAULT_TIMEOUT = PROBE_TIMEOUT


_SUBORDINATE = re.compile(
    rf"^Amazon RDS (?P<region>{SUBJECT_REGION}) Subordinate CA "
    r"(?P<g1>RSA2048|RSA4096|ECC384) G1(?:\.\S+)?$"
)
_G1 = {
    "RSA2048": Generation.RSA2048_G1,
    "RSA4096": Generation.RSA4096_G1,
    "ECC384": Generation.ECC384_G1,
}


@dataclass(frozen=True)
class ChainCertificate:
    """One certificate the server sent, as the probe reports it."""

    position: int
    subject: str
    issuer: str
    sha256: str
    key_type: str
    is_ca: bool
    not_before: datetime
    not_after: datetime
    days_left: int
    #: The RDS generation of this certificate's *issuer* (``unknown`` for a foreign CA).
    issued_by: Generation
    #: Host names and addresses (subjectAltName); empty for CA certificates.
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    """What a server sent and what it means for the CA rotation."""

    host: str
    port: int
    starttls: StartTLS
    tls_version: str
    cipher: str
    certificates: tuple[ChainCertificate, ...]
    #: The RDS CA generation that issued the server certificate, e.g. ``rds-ca-rsa2048-g1``.
    generation: Generation
    #: The region of that CA, where its name carries one.
    region: str | None
    #: Common name of the CA that issued the server certificate.
    issuer: str
    #: Host names the server certificate is valid for.
    names: tuple[str, ...]
    not_after: datetime
    notes: tuple[str, ...] = ()
    #: The chain as sent (leaf first), for ``verify`` and ``--save-chain``.
    chain: Chain = field(
        repr=False, compare=False, default=Chain("<none>", ()), metadata={"json": False}
    )
    #: The version a MySQL / MariaDB server announced in its greeting (escaped, shortened);
    #: None for PostgreSQL and plain TLS, which announce none before TLS.
    server_version: str | None = None

    @property
    def rotated(self) -> bool:
        """Whether the server certificate comes from one of the G1 CAs."""
        return self.generation in _G1.values()


def resolve_starttls(starttls: StartTLS | str | None, port: int) -> StartTLS:
    """The upgrade to speak on ``port``: ``starttls`` itself, unless it is ``auto`` or None.

    ``auto`` (what the CLI passes when ``--starttls`` is not given) means ``mysql`` on 3306, the
    port every MySQL / MariaDB / Aurora MySQL endpoint listens on by default, and ``postgres``
    everywhere else, which keeps what the probe always did on 5432 and custom ports.
    """
    chosen = StartTLS(starttls) if starttls is not None else StartTLS.AUTO
    if chosen is not StartTLS.AUTO:
        return chosen
    return StartTLS.MYSQL if port == MYSQL_PORT else StartTLS.POSTGRES


def default_port(starttls: StartTLS | str | None) -> int:
    """The port a ``HOST`` without ``:PORT`` means: 3306 with ``mysql``, else 5432."""
    if starttls is not None and StartTLS(starttls) is StartTLS.MYSQL:
        return MYSQL_PORT
    return DEFAULT_PORT


def parse_target(target: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """Split ``HOST[:PORT]`` (``[v6]:PORT`` for IPv6 addresses); raises :class:`UsageError`.

    The host must be a host name or an IP address (see :func:`check_host`); an IPv6 address
    without brackets takes no port (``::1`` is a host, ``db:5432:1`` is an error).
    """
    text = target.strip()
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError(f"'{target}' opens '[' without closing it; write [ADDRESS]:PORT.")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"'{target}' has text after ']' that is not ':PORT'.")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text and not is_ip(text):
        raise UsageError(
            f"'{target}' is not HOST[:PORT]: it has several ':'; write an IPv6 address in "
            "brackets, [ADDRESS]:PORT."
        )
    if not host:
        raise UsageError(f"'{target}' names no host; write HOST[:PORT].")
    host = check_host(host)
    if not port_text:
        return host, default_port
    return host, check_port(port_text, f"'{port_text}' in '{target}'")


def classify_issuer(name: x509.Name) -> tuple[Generation, str | None]:
    """The RDS generation (and region) of the CA named ``name``.

    Beside the roots and 2019 intermediates that :func:`rdstrust.certs.classify` knows, this
    recognises the G1 subordinate CAs that issue server certificates
    (``Amazon RDS us-east-1 Subordinate CA RSA2048 G1.A.1``), which never appear in a bundle.
    """
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if cns else None
    if isinstance(cn, str):
        match = _SUBORDINATE.match(cn)
        # certs.classify checks the RDS organisation (O/OU) and, not knowing the subordinate
        # pattern, calls such a name LEGACY; UNKNOWN means it is not an RDS name at all.
        generation, _ = classify(name)
        if match and generation is not Generation.UNKNOWN:
            return _G1[match.group("g1")], match.group("region")
    return classify(name)


def chain_generation(chain: Chain) -> tuple[Generation, str | None, str]:
    """Generation, region and common name of the CA that issued the chain's server certificate.

    Looks at the leaf's issuer name; when that is not recognisable but the server also sent
    its intermediate, the intermediate's issuer (the root) decides.
    """
    leaf = chain.leaf.certificate
    generation, region = classify_issuer(leaf.issuer)
    cns = leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    issuer_cn = str(cns[0].value) if cns else leaf.issuer.rfc4514_string()
    if generation is Generation.UNKNOWN and len(chain.certificates) > 1:
        generation, region = classify_issuer(chain.certificates[1].certificate.issuer)
    return generation, region, issuer_cn


def probe(
    host: str,
    port: int = DEFAULT_PORT,
    *,
    starttls: StartTLS = StartTLS.AUTO,
    timeout: float = DEFAULT_TIMEOUT,
    server_name: str | None = None,
) -> ProbeResult:
    """Connect to ``host:port``, record the TLS chain the server sends, and describe it.

    ``starttls`` says how TLS starts (``auto``: MySQL's upgrade on port 3306, PostgreSQL's
    everywhere else; the result carries the one used). ``server_name`` is sent as SNI (default:
    ``host`` unless it is an IP address). Raises :class:`ProbeError` (exit code 6) when the
    server cannot be reached, refuses TLS, is not the kind of server ``starttls`` names, or the
    handshake fails, and :class:`UsageError` (exit code 2) for a host that is not a host name or
    address, a port outside 1-65535, or a timeout that is not a finite number of seconds in
    (0, 3600].
    """
    host = check_host(host)
    port = check_port(port)
    starttls = resolve_starttls(starttls, port)
    timeout = check_timeout(timeout)
    if server_name:
        server_name = check_host(server_name)
    where = f"{host}:{port}"
    sock = _connect(host, port, timeout)
    try:
        server_version = None
        if starttls is StartTLS.POSTGRES:
            _ssl_request(sock, where, timeout)
        elif starttls is StartTLS.MYSQL:
            server_version = _mysql_ssl_request(sock, where, timeout)
        tls, notes = _handshake(sock, host, where, starttls, timeout, server_name)
        try:
            ders, chain_note = _peer_chain(tls)
            version = tls.version() or ""
            cipher_info = tls.cipher()
        finally:
            _close_quietly(tls)
    finally:
        _close_quietly(sock)
    if chain_note:
        notes.append(chain_note)
    if not ders:
        raise ProbeError(f"{where} completed TLS but sent no certificate.", host=host)
    infos = tuple(_describe_der(der, where, host) for der in ders)
    chain = Chain(source=where, certificates=infos)
    generation, region, issuer_cn = chain_generation(chain)
    now = utcnow()
    certificates = tuple(
        ChainCertificate(
            position=index,
            subject=info.subject,
            issuer=info.issuer,
            sha256=info.sha256,
            key_type=info.key_type,
            is_ca=info.is_ca,
            not_before=info.not_before,
            not_after=info.not_after,
            days_left=(info.not_after - now).days,
            issued_by=classify_issuer(info.certificate.issuer)[0],
            names=() if info.is_ca else leaf_names(info.certificate),
        )
        for index, info in enumerate(infos)
    )
    if infos[0].not_after < now:
        notes.append(f"the server certificate expired on {infos[0].not_after:%Y-%m-%d}")
    if generation is Generation.CA_2019:
        notes.append(
            "the server certificate is still issued by rds-ca-2019 (expired 2024-08-22); "
            "rotate the instance to rds-ca-rsa2048-g1"
        )
    return ProbeResult(
        host=host,
        port=port,
        starttls=starttls,
        tls_version=version,
        cipher=cipher_info[0] if cipher_info else "",
        certificates=certificates,
        generation=generation,
        region=region,
        issuer=issuer_cn,
        names=certificates[0].names,
        not_after=infos[0].not_after,
        notes=tuple(notes),
        chain=chain,
        server_version=server_version,
    )


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    where = f"{host}:{port}"
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise ProbeError(
            f"Cannot resolve host {host}: {exc.strerror or exc}; check the host name.", host=host
        ) from None
    except ConnectionRefusedError:
        raise ProbeError(
            f"Connection to {where} refused: nothing listens on that port; check host and port.",
            host=host,
        ) from None
    except TimeoutError:
        raise ProbeError(
            f"Connecting to {where} timed out after {timeout:g} s; check the address, the port "
            "and the security group or firewall.",
            host=host,
        ) from None
    except OSError as exc:
        raise ProbeError(f"Cannot connect to {where}: {exc.strerror or exc}.", host=host) from None


def _ssl_request(sock: socket.socket, where: str, timeout: float) -> None:
    host = where.rsplit(":", 1)[0]
    try:
        sock.sendall(SSL_REQUEST)
        answer = sock.recv(1)
    except TimeoutError:
        raise ProbeError(
            f"{where} did not answer PostgreSQL's SSLRequest within {timeout:g} s: it is not a "
            "PostgreSQL server (for a plain TLS endpoint use --starttls none).",
            host=host,
        ) from None
    except OSError as exc:
        raise ProbeError(
            f"{where} dropped the connection during PostgreSQL's SSLRequest "
            f"({exc.strerror or exc}): it is not a PostgreSQL server.",
            host=host,
        ) from None
    if answer == b"S":
        return
    if answer == b"N":
        raise ProbeError(
            f"{where} is a PostgreSQL server that refuses SSL (ssl = off); it has no "
            "certificate to check.",
            host=host,
        )
    if answer == b"":
        raise ProbeError(
            f"{where} closed the connection on PostgreSQL's SSLRequest: it is not a PostgreSQL "
            "server (for a plain TLS endpoint use --starttls none).",
            host=host,
        )
    if answer == b"E":
        raise ProbeError(
            f"{where} answered PostgreSQL's SSLRequest with an error message: a PostgreSQL "
            "server too old for SSL, or one that rejects this connection.",
            host=host,
        )
    # A MySQL server lands here: it speaks first, and the first byte of its greeting is a length.
    raise ProbeError(
        f"{where} answered PostgreSQL's SSLRequest with {answer!r}: it is not a PostgreSQL "
        "server (for MySQL / MariaDB use --starttls mysql, for a plain TLS endpoint "
        "--starttls none).",
        host=host,
    )


# --- MySQL / MariaDB ----------------------------------------------------------------------
#
# The connection phase, as documented by MySQL (Protocol::HandshakeV10 and Protocol::SSLRequest,
# dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_
# handshake_v10.html and ..._protocol_ssl_request.html) and MariaDB (mariadb.com/kb/en/
# connection/, "Initial handshake packet" and "SSLRequest packet"): every packet is a 3-byte
# little-endian payload length and a 1-byte sequence number. The server speaks first, with its
# greeting (protocol version 10, the server version up to a NUL byte, the connection id, 8 bytes
# of scramble, a filler byte, the low 16 capability bits, then optionally the character set,
# status flags and the high 16 capability bits), or with an ERR packet (0xFF, a 2-byte error
# code, the message) when it will not talk to this client at all ("Host ... is blocked", "Too
# many connections"). A client that wants TLS answers with the SSLRequest packet (sequence 1:
# its capability flags with CLIENT_SSL, the maximum packet size, a character set, 23 zero bytes)
# and starts TLS on the same socket.

#: Capability flags (include/mysql_com.h; the same bits in MariaDB).
CLIENT_LONG_PASSWORD = 0x0001
CLIENT_PROTOCOL_41 = 0x0200
CLIENT_SSL = 0x0800
CLIENT_SECURE_CONNECTION = 0x8000
#: What the probe says it speaks: what every MySQL 4.1+ / MariaDB client sends with CLIENT_SSL.
#: (For MariaDB, CLIENT_LONG_PASSWORD doubles as "CLIENT_MYSQL": the last 4 filler bytes are then
#: plain zeros rather than MariaDB's extended capabilities; both readings of zeros are fine.)
MYSQL_CLIENT_FLAGS = (
    CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION
)
#: utf8_general_ci: a collation every MySQL and MariaDB version knows.
_MYSQL_CHARSET = 33
_MYSQL_MAX_PACKET = 1 << 24
#: Longest greeting or ERR packet read. Real greetings are about 100 bytes and error messages
#: at most 512 (MYSQL_ERRMSG_SIZE); a peer claiming more is not a MySQL server's greeting.
MAX_MYSQL_GREETING = 4096
#: Longest piece of server-provided text (version, error message) put into a message.
_MAX_SHOWN = 200


def mysql_ssl_request_packet() -> bytes:
    """The SSLRequest packet (header + 32-byte payload) the probe sends after the greeting."""
    payload = struct.pack("<IIB23x", MYSQL_CLIENT_FLAGS, _MYSQL_MAX_PACKET, _MYSQL_CHARSET)
    return struct.pack("<I", len(payload))[:3] + b"\x01" + payload


def _mysql_ssl_request(sock: socket.socket, where: str, timeout: float) -> str:
    """Read the MySQL greeting, check the server offers TLS, send the SSLRequest.

    Returns the server version the greeting announced (escaped). Raises :class:`ProbeError`
    when the peer is not a MySQL server, refuses this client, or does not offer TLS.
    """
    host = where.rsplit(":", 1)[0]
    payload = _mysql_read_greeting(sock, where, timeout)
    if payload[0] == 0xFF:
        code, message = _mysql_error(payload)
        # 1129 ER_HOST_IS_BLOCKED: too many failed handshakes from this address.
        advice = (
            "its administrator can unblock it with FLUSH HOSTS (mariadb-admin flush-hosts)"
            if code == 1129
            else "ask its administrator to let this client's address connect"
        )
        raise ProbeError(
            f"{where} is a MySQL server that refused this connection before TLS (error {code}: "
            f"{message}); {advice}.",
            host=host,
        )
    if payload[0] != 10:
        if payload[0] == 9:
            raise ProbeError(
                f"{where} is a MySQL server of protocol version 9 (MySQL before 3.21), which "
                "does not offer TLS.",
                host=host,
            )
        raise ProbeError(
            f"{where} sent a greeting that is not MySQL's (protocol version byte "
            f"{payload[0]:#04x}, expected 0x0a): it is not a MySQL server.",
            host=host,
        )
    version, capabilities = _mysql_parse_greeting(payload, where, host)
    if not capabilities & CLIENT_SSL:
        raise ProbeError(
            f"{where} is a MySQL server ({version}) that does not offer TLS (CLIENT_SSL is not "
            "set: TLS is off or it has no certificate); it has no certificate to check.",
            host=host,
        )
    if not capabilities & CLIENT_PROTOCOL_41:
        raise ProbeError(
            f"{where} is a MySQL server ({version}) too old for the 4.1 protocol; rdstrust does "
            "not speak its TLS request.",
            host=host,
        )
    try:
        sock.sendall(mysql_ssl_request_packet())
    except OSError as exc:
        raise ProbeError(
            f"{where} dropped the connection during MySQL's SSL request ({exc.strerror or exc}).",
            host=host,
        ) from None
    return version


def _mysql_read_greeting(sock: socket.socket, where: str, timeout: float) -> bytes:
    """The payload of the server's first packet; the whole read is bounded by ``timeout``."""
    host = where.rsplit(":", 1)[0]
    deadline = time.monotonic() + timeout
    not_mysql = "(for PostgreSQL use --starttls postgres, for a plain TLS endpoint --starttls none)"
    try:
        header = _recv_exact(sock, 4, deadline)
        if header is None:
            raise ProbeError(
                f"{where} closed the connection without sending MySQL's greeting: it is not a "
                f"MySQL server {not_mysql}.",
                host=host,
            )
        length = int.from_bytes(header[:3], "little")
        if header[3] != 0 or not 0 < length <= MAX_MYSQL_GREETING:
            raise ProbeError(
                f"{where} sent {_escape(header)} where MySQL's greeting starts: it is not a "
                f"MySQL server {not_mysql}.",
                host=host,
            )
        payload = _recv_exact(sock, length, deadline)
    except TimeoutError:
        raise ProbeError(
            f"{where} sent no MySQL greeting within {timeout:g} s: it is not a MySQL server "
            f"(a MySQL server speaks first) {not_mysql}.",
            host=host,
        ) from None
    except OSError as exc:
        raise ProbeError(
            f"{where} dropped the connection before MySQL's greeting ({exc.strerror or exc}).",
            host=host,
        ) from None
    if payload is None:
        raise ProbeError(
            f"{where} closed the connection in the middle of MySQL's greeting: it is not a "
            "MySQL server, or it went away.",
            host=host,
        )
    return payload


def _recv_exact(sock: socket.socket, size: int, deadline: float) -> bytes | None:
    """``size`` bytes, or None on end of stream; raises TimeoutError once ``deadline`` passes.

    One deadline for the whole read: a per-recv timeout alone would let a peer that drips one
    byte at a time hold the probe for ``size`` times the timeout.
    """
    data = bytearray()
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _mysql_parse_greeting(payload: bytes, where: str, host: str) -> tuple[str, int]:
    """Server version (escaped) and capability flags of a protocol-10 greeting."""
    end = payload.find(b"\x00", 1)
    # After the version: connection id (4), scramble (8), filler (1), low capabilities (2).
    if end < 0 or len(payload) < end + 1 + 15:
        raise ProbeError(
            f"{where} sent a MySQL greeting that is cut short ({len(payload)} bytes): it is not "
            "a MySQL server.",
            host=host,
        )
    version = _escape(payload[1:end])
    at = end + 1 + 4 + 8 + 1
    capabilities = int.from_bytes(payload[at : at + 2], "little")
    # Character set (1) and status flags (2) come before the high capability bits, when present.
    high = payload[at + 5 : at + 7]
    if len(high) == 2:
        capabilities |= int.from_bytes(high, "little") << 16
    return version, capabilities


def _mysql_error(payload: bytes) -> tuple[int, str]:
    """Error code and (escaped) message of an ERR packet."""
    code = int.from_bytes(payload[1:3], "little") if len(payload) >= 3 else 0
    message = payload[3:]
    # With CLIENT_PROTOCOL_41 the message follows '#' and a 5-character SQL state; servers that
    # refuse a client before its handshake usually leave them out.
    if message[:1] == b"#" and len(message) >= 6:
        message = message[6:]
    return code, _escape(message) or "no message"


def _escape(data: bytes, limit: int = _MAX_SHOWN) -> str:
    """Server-provided bytes as safe one-line text: control and non-ASCII-printable characters
    escaped (``\\x1b``), at most ``limit`` characters, marked ``...`` when cut.

    The text comes from whatever listens on the port; it must not move the cursor, clear the
    terminal or forge extra output lines. (Private here: no shared escaping module exists yet.)
    """
    text = data.decode("utf-8", errors="replace")
    shown = "".join(
        ch if ch.isprintable() and ch not in "\\" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _handshake(
    sock: socket.socket,
    host: str,
    where: str,
    starttls: StartTLS,
    timeout: float,
    server_name: str | None,
) -> tuple[ssl.SSLSocket, list[str]]:
    # No verification here: we want the chain even when nothing trusts it (verify judges it).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if starttls is StartTLS.NONE:
        # PostgreSQL 17 refuses direct TLS without this ALPN protocol; other servers ignore it.
        context.set_alpn_protocols(["postgresql"])
    sni = server_name or (None if is_ip(host) else host)
    sock.settimeout(timeout)
    try:
        return context.wrap_socket(sock, server_hostname=sni), []
    except TimeoutError:
        raise ProbeError(
            f"TLS handshake with {where} timed out after {timeout:g} s.", host=host
        ) from None
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        hint = ""
        if reason in {
            "WRONG_VERSION_NUMBER",
            "UNEXPECTED_EOF_WHILE_READING",
            "RECORD_LAYER_FAILURE",
        }:
            hint = ": it does not speak TLS" + (
                " (for a PostgreSQL server drop --starttls none)"
                if starttls is StartTLS.NONE
                else ""
            )
        raise ProbeError(
            f"TLS handshake with {where} failed ({reason}){hint}.", host=host
        ) from None
    except OSError as exc:
        raise ProbeError(
            f"{where} dropped the connection during the TLS handshake ({exc.strerror or exc}).",
            host=host,
        ) from None


def _peer_chain(tls: ssl.SSLSocket) -> tuple[list[bytes], str | None]:
    """DER certificates the server sent, leaf first.

    Python exposes the whole chain publicly only from 3.13 (``SSLSocket.get_unverified_chain``);
    on 3.10-3.12 the C-level ``_sslobj`` has the same method (it returns ``_ssl.Certificate``
    objects). Without either, only the leaf is visible and the result says so.
    """
    getter: Any = getattr(tls, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        try:
            raw = getter() or []
        except (ssl.SSLError, ValueError, AttributeError):
            raw = []
        ders = [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in raw]  # type: ignore[attr-defined]
        if ders:
            return ders, None
    leaf = tls.getpeercert(binary_form=True)
    note = (
        "this Python cannot show the certificates the server sent after its own; only the "
        "server certificate is reported"
    )
    return ([leaf] if leaf else []), note


def _describe_der(der: bytes, where: str, host: str) -> CertInfo:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return describe(x509.load_der_x509_certificate(der), der)
        except DECODE_ERRORS as exc:
            raise ProbeError(
                f"{where} sent a certificate that cannot be decoded ({exc}).", host=host
            ) from None


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
