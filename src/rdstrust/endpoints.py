"""Checks for the network endpoints a user names: host names, ports and timeouts.

``probe``, ``verify --host``, ``fetch --url`` and the command line all validate what they are
given here, once, so a typo gets the same one-sentence answer everywhere and never reaches the
resolver or the socket layer as an encoding error or an overflow.
"""

from __future__ import annotations

import ipaddress
import math
import re
from enum import Enum

from rdstrust.errors import UsageError

#: Longest accepted timeout in seconds: a huge one overflows the socket's deadline
#: (``OverflowError: timestamp out of range``).
MAX_TIMEOUT = 3600.0
#: Seconds ``probe`` waits for the connection and each step unless told otherwise.
PROBE_TIMEOUT = 10.0

# One DNS label (letters, digits, '-', and '_' which some internal zones use).
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (brackets allowed)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def check_host(host: str) -> str:
    """Return ``host`` if it is an IP address or a syntactically valid host name.

    Raises :class:`UsageError` otherwise (empty labels, spaces, names over 253 characters),
    before the resolver gets a chance to fail with an encoding error. International names are
    accepted in their IDNA (``xn--``) form or as Unicode.
    """
    text = host.strip()
    if is_ip(text):
        return text.strip("[]")
    try:
        ascii_name = text.encode("idna").decode("ascii") if text else ""
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.rstrip(".").split(".")
    if not ascii_name or len(ascii_name) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
        raise UsageError(
            f"{host!r} is not a host name or IP address; check for typos such as spaces or "
            "an empty part between dots."
        )
    return text


def is_host(host: str) -> bool:
    """Whether :func:`check_host` accepts ``host``."""
    try:
        check_host(host)
    except UsageError:
        return False
    return True


def check_port(port: int | str, shown: str | None = None) -> int:
    """Return ``port`` as an int if it is 1-65535; raises :class:`UsageError` otherwise."""
    text = str(port).strip()
    if not (text.isdigit() and 0 < int(text) < 65536):
        raise UsageError(f"{shown or repr(str(port))} is not a port number (1-65535).")
    return int(text)


def check_timeout(timeout: float, option: str = "Timeout") -> float:
    """Return ``timeout`` if it is a finite number of seconds in (0, :data:`MAX_TIMEOUT`].

    Raises :class:`UsageError` otherwise: ``0`` would make a socket non-blocking ("Operation
    now in progress"), and ``inf`` or ``nan`` are no timeouts at all.
    """
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout)) or not (
        0 < timeout <= MAX_TIMEOUT
    ):
        raise UsageError(
            f"{option} {timeout!r} is not a number of seconds greater than 0 and at most "
            f"{MAX_TIMEOUT:g}."
        )
    return float(timeout)


class StartTLS(str, Enum):
    """How TLS starts on the connection."""

    #: PostgreSQL's SSLRequest, then TLS (every PostgreSQL version; what libpq does by default).
    POSTGRES = "postgres"
    #: TLS from the first byte (PostgreSQL 17 direct TLS, or a plain TLS endpoint).
    NONE = "none"
    #: MySQL's upgrade: the server's greeting, the client's SSLRequest packet, then TLS
    #: (MySQL, MariaDB, Aurora MySQL).
    MYSQL = "mysql"
    #: ``mysql`` on port 3306, ``postgres`` on any other port (see :func:`resolve_starttls`).
    AUTO = "auto"

    def __str__(self) -> str:
        return self.value
