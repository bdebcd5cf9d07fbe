"""Which trust store does my application really use? Read its JDBC URL and JVM options, name the
store the driver will load, check that store, and predict whether the connection will work.

The most common rotation outage is not a missing CA but an application that never reads the
store that was updated. This module encodes, per driver, where the trust anchors really come
from, and every rule below was either observed against the real driver (pgjdbc 42.5 on JDK 17,
``tests/test_doctor.py``) or is quoted from the driver's source or documentation (said so in the
comment):

* **pgjdbc** (``jdbc:postgresql:``): ``sslmode`` (default ``prefer``; ``ssl`` / ``ssl=true``
  without ``sslmode`` means ``verify-full``, unlike libpq). The default ``sslfactory``,
  ``LibPQFactory``, verifies only with ``verify-ca`` / ``verify-full``, and then against
  ``sslrootcert`` (default ``${user.home}/.postgresql/root.crt``), ignoring
  ``javax.net.ssl.trustStore``. ``DefaultJavaSSLFactory`` uses the JVM's trust store and checks
  the chain in *every* TLS mode, even ``require``; the host name only with ``verify-full``.
  ``NonValidatingFactory`` trusts everything.
* **The JVM's trust store** (``sun.security.ssl.TrustStoreManager``, JDK 11+): the first
  readable regular file of ``javax.net.ssl.trustStore`` (default
  ``$JAVA_HOME/lib/security/jssecacerts``) and ``cacerts``. A ``javax.net.ssl.trustStore`` that
  is missing, a directory or unreadable is skipped **without a word** and ``cacerts`` is used,
  with the type and password meant for the other file. ``NONE`` means no file (no anchors).
* **MySQL Connector/J** (``jdbc:mysql:``): ``sslMode`` (or the legacy ``useSSL`` /
  ``requireSSL`` / ``verifyServerCertificate``); only ``VERIFY_CA`` / ``VERIFY_IDENTITY`` check
  the certificate, against ``trustCertificateKeyStoreUrl`` when set, else (with
  ``fallbackToSystemTrustStore``, default true) the file ``javax.net.ssl.trustStore`` names,
  which Connector/J opens itself (no cacerts fallback; an empty password when none is set),
  else the JVM's default store (from Connector/J 8's source; no Connector/J jar was at hand to
  run).
* **MariaDB Connector/J** (``jdbc:mariadb:``): ``sslMode`` (3.x) or ``useSsl`` (2.x);
  ``trust`` / ``trustServerCertificate`` do not verify; ``serverSslCert`` (a PEM path, a
  ``file:`` URL, inline PEM, or ``classpath:``) replaces the JVM's store, else the JVM's store.

:func:`diagnose` returns a :class:`Diagnosis`: the trust source (kind, path, type, whether a
password is set — never its value), the fallbacks taken, rdstrust's verdict on the source, and a
:class:`Prediction`.
"""

from __future__ import annotations

import os
import pwd
import shlex
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from urllib.parse import unquote, unquote_plus, urlsplit

from rdstrust.certs import CertInfo
from rdstrust.errors import PasswordNeededError, StoreError, UsageError, WrongPasswordError
from rdstrust.options import VerifyOptions
from rdstrust.stores import StoreContents, StoreType, parse_store, read_store
from rdstrust.verify import VerifyReport, judge_store, verify_contents

#: A JDBC URL or a set of JVM options longer than this is not configuration but an attack.
MAX_TEXT = 64 * 1024
#: Query parameters (or ``-D`` options) beyond this many are refused.
MAX_PARAMETERS = 1000

PGJDBC_LIBPQ = "org.postgresql.ssl.LibPQFactory"
PGJDBC_JAVA = "org.postgresql.ssl.DefaultJavaSSLFactory"
PGJDBC_NONVALIDATING = "org.postgresql.ssl.NonValidatingFactory"
#: The deprecated pre-42 name of LibPQFactory, still accepted by pgjdbc 42.x.
_PGJDBC_LIBPQ_OLD = "org.postgresql.ssl.jdbc4.LibPQFactory"
#: pgjdbc's sslmode=allow tries a connection without TLS first.
_ALLOW_NOTE = (
    "sslmode=allow first tries WITHOUT TLS: against a server that accepts that (RDS without "
    "rds.force_ssl) nothing is encrypted or checked."
)
_PG_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_MYSQL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
_MARIADB_MODES = ("disable", "trust", "verify-ca", "verify-full")


class Driver(str, Enum):
    """The JDBC driver a URL selects."""

    PGJDBC = "pgjdbc"
    MYSQL = "mysql-connector-j"
    MARIADB = "mariadb-connector-j"

    def __str__(self) -> str:
        return self.value


class SourceKind(str, Enum):
    """Where the driver takes its trust anchors from."""

    #: A PEM file the driver reads itself (pgjdbc ``sslrootcert``, MariaDB ``serverSslCert``).
    PEM_FILE = "pem-file"
    #: PEM text inside the URL (MariaDB ``serverSslCert=-----BEGIN ...``).
    INLINE_PEM = "inline-pem"
    #: A keystore the driver loads itself (Connector/J ``trustCertificateKeyStoreUrl``).
    DRIVER_KEYSTORE = "driver-keystore"
    #: The JVM's default trust store (``javax.net.ssl.trustStore``, jssecacerts or cacerts).
    JVM_TRUSTSTORE = "jvm-truststore"
    #: Something doctor cannot read: a classpath resource, a custom factory, a remote URL.
    UNCHECKABLE = "uncheckable"
    #: Nothing: the JVM was told ``javax.net.ssl.trustStore=NONE`` or found no readable file.
    EMPTY = "empty"

    def __str__(self) -> str:
        return self.value


class Prediction(str, Enum):
    """What the application's next connection to an RDS endpoint will do."""

    CONNECTS = "connects"
    FAILS = "fails"
    NO_VERIFICATION = "connects without verification"
    #: The trust source cannot be read by rdstrust (classpath, custom factory).
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class JdbcUrl:
    """A parsed JDBC URL: driver, hosts, database and query parameters (last one wins)."""

    driver: Driver
    hosts: tuple[str, ...]
    database: str
    parameters: tuple[tuple[str, str], ...] = field(metadata={"json": False})

    def get(self, name: str) -> str | None:
        """The value of parameter ``name`` (the last one given, as every driver does)."""
        found = None
        for key, value in self.parameters:
            if key == name:
                found = value
        return found

    def first(self, *names: str) -> tuple[str, str] | None:
        """The first of ``names`` (aliases, in the driver's order) that is set, with its value."""
        for name in names:
            value = self.get(name)
            if value is not None:
                return name, value
        return None

    @property
    def shown(self) -> str:
        """The URL as reports show it: parameters that hold a password are masked."""
        query = "&".join(
            f"{k}=***" if "password" in k.lower() else (f"{k}={v}" if v else k)
            for k, v in self.parameters
        )
        host = ",".join(self.hosts)
        prefix = {Driver.PGJDBC: "postgresql", Driver.MYSQL: "mysql", Driver.MARIADB: "mariadb"}
        return f"jdbc:{prefix[self.driver]}://{host}/{self.database}" + (
            f"?{query}" if query else ""
        )


@dataclass(frozen=True)
class TrustSource:
    """The store a driver will load its trust anchors from."""

    kind: SourceKind
    #: The file (``None`` for inline PEM, an empty source, or one that is not a file).
    path: str | None
    #: The setting that named it (``sslrootcert``, ``javax.net.ssl.trustStore``, ``cacerts``).
    origin: str
    #: The keystore type the loader is told (``javax.net.ssl.trustStoreType``); ``None``: default.
    declared_type: str | None = None
    #: The type rdstrust finds in the bytes (``None`` until read, or unreadable).
    detected_type: StoreType | None = None
    #: Whether a password is configured for it. The value itself is never kept here.
    password_present: bool = False
    #: Inline PEM text (MariaDB ``serverSslCert=-----BEGIN``): read, never shown.
    inline: str | None = field(default=None, repr=False, metadata={"json": False})


@dataclass(frozen=True)
class Resolution:
    """What the driver will do, before any file is read."""

    driver: Driver
    #: The TLS mode as the driver names it (``verify-full``, ``VERIFY_IDENTITY``, ...).
    mode: str
    tls: bool
    verification: bool
    hostname_check: bool
    source: TrustSource | None
    #: Settings the driver or the JVM replaced on its own (a missing trustStore, ...).
    fallbacks: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: The password of the source (from the options, or ``--storepass-env``): never in JSON.
    password: str | None = field(default=None, repr=False, metadata={"json": False})


@dataclass(frozen=True)
class Diagnosis:
    """Doctor's answer: what the driver uses, rdstrust's verdict on it, and the prediction."""

    driver: Driver
    url: str
    mode: str
    tls: bool
    verification: bool
    hostname_check: bool
    source: TrustSource | None
    fallbacks: tuple[str, ...]
    notes: tuple[str, ...]
    #: rdstrust's verdict on the source (``None`` when it could not be read or is not used).
    verify: VerifyReport | None
    #: Why the source could not be checked, when it could not.
    problem: str | None
    prediction: Prediction
    #: The one-paragraph explanation (also the human rendering).
    explanation: str
    exit_code: int


@dataclass(frozen=True)
class DoctorOptions:
    """Everything doctor needs besides the required CAs.

    ``java_options`` are option strings in the order the JVM reads them (``JAVA_TOOL_OPTIONS``,
    then ``JDK_JAVA_OPTIONS``, then the command line; a later ``-D`` wins). ``home`` is the home
    directory of the user running the application (default: this user's from the password
    database, which is what the JVM uses for ``user.home``; ``$HOME`` is ignored, as the JVM
    ignores it). ``java_home`` is the application's JVM (for jssecacerts / cacerts).
    ``password`` overrides the trust store password found in the options (for options that
    name it through a placeholder).
    """

    jdbc_url: str
    java_options: tuple[str, ...] = ()
    home: Path | None = None
    java_home: Path | None = None
    password: str | None = field(default=None, repr=False, metadata={"json": False})
    verify: VerifyOptions = field(default_factory=VerifyOptions)


# --- parsing ----------------------------------------------------------------------------------


def _bounded(text: str, what: str) -> str:
    if len(text) > MAX_TEXT:
        raise UsageError(f"The {what} is longer than {MAX_TEXT} characters; check what was given.")
    if "\x00" in text:
        raise UsageError(f"The {what} contains a NUL character; check what was given.")
    return text


_SCHEMES: tuple[tuple[str, Driver], ...] = (
    ("jdbc:postgresql:", Driver.PGJDBC),
    ("jdbc:mysql+srv:", Driver.MYSQL),
    ("jdbc:mysql:", Driver.MYSQL),
    ("jdbc:mariadb:", Driver.MARIADB),
)


def parse_jdbc_url(text: str) -> JdbcUrl:
    """Parse a pgjdbc, MySQL Connector/J or MariaDB Connector/J URL.

    pgjdbc and Connector/J percent-decode parameter values the way Java's ``URLDecoder`` does
    (``+`` is a space); MariaDB Connector/J takes them as written. Raises :class:`UsageError`
    for anything that is not such a URL.
    """
    url = _bounded(text.strip(), "JDBC URL")
    driver = None
    rest = ""
    for prefix, candidate in _SCHEMES:
        if url.lower().startswith(prefix):
            driver, rest = candidate, url[len(prefix) :]
            break
    if driver is None:
        raise UsageError(
            "The JDBC URL must start with jdbc:postgresql:, jdbc:mysql: or jdbc:mariadb: "
            f"(got {url[:40]!r}); give the URL the application uses."
        )
    # Connector/J and MariaDB name a connection type after the scheme: jdbc:mysql:replication://
    if driver is not Driver.PGJDBC and not rest.startswith("//") and ":" in rest.split("/")[0]:
        rest = rest.split(":", 1)[1]
    body, _, query = rest.partition("?")
    hosts: tuple[str, ...] = ()
    database = body
    if body.startswith("//"):
        authority, _, database = body[2:].partition("/")
        hosts = tuple(h for h in _split_hosts(authority) if h)
    elif driver is not Driver.PGJDBC:
        raise UsageError(f"A {driver} URL needs //HOST after the scheme; check the JDBC URL.")
    return JdbcUrl(driver, hosts, database, _parameters(query, driver))


def _split_hosts(authority: str) -> list[str]:
    # Connector/J allows "(host=a,port=1),(host=b)" and "address=(host=a)": split on top-level
    # commas only.
    hosts, depth, current = [], 0, ""
    for char in authority:
        depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            hosts.append(current)
            current = ""
        else:
            current += char
    hosts.append(current)
    return hosts


def _parameters(query: str, driver: Driver) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for token in query.split("&") if query else ():
        if not token:
            continue
        key, _, value = token.partition("=")
        if driver is Driver.MARIADB:
            # MariaDB Connector/J splits on & and = and takes the value as written.
            pairs.append((key, value))
        else:
            pairs.append((_java_decode(key, token), _java_decode(value, token)))
        if len(pairs) > MAX_PARAMETERS:
            raise UsageError(f"The JDBC URL has more than {MAX_PARAMETERS} parameters.")
    return tuple(pairs)


def _java_decode(value: str, token: str) -> str:
    # java.net.URLDecoder: '+' is a space, and a malformed %-escape makes the driver refuse the
    # URL (pgjdbc's parseURL returns null: "No suitable driver").
    for i, char in enumerate(value):
        escape = value[i + 1 : i + 3]
        if char == "%" and (len(escape) < 2 or not all(c in string.hexdigits for c in escape)):
            raise UsageError(f"JDBC URL parameter {token!r} has a malformed %-escape.")
    return unquote_plus(value)


def parse_java_options(*texts: str) -> dict[str, str]:
    """The ``-D`` system properties of JVM option strings (shell-like quoting), later ones win.

    Pass them in the JVM's order: ``JAVA_TOOL_OPTIONS``, ``JDK_JAVA_OPTIONS``, the command line.
    Other options are ignored. Raises :class:`UsageError` for unbalanced quotes.
    """
    properties: dict[str, str] = {}
    for text in texts:
        try:
            tokens = shlex.split(_bounded(text, "Java options"))
        except ValueError as exc:
            raise UsageError(
                f"The Java options cannot be split like a shell would: {exc}."
            ) from None
        for token in tokens:
            if token.startswith("-D") and len(token) > 2:
                key, _, value = token[2:].partition("=")
                properties[key] = value
        if len(properties) > MAX_PARAMETERS:
            raise UsageError(f"The Java options set more than {MAX_PARAMETERS} properties.")
    return properties


def java_options_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """``JAVA_TOOL_OPTIONS`` then ``JDK_JAVA_OPTIONS`` (the JVM's order) from the environment.

    ``JDK_JAVA_OPTIONS`` is read by the ``java`` launcher of JDK 9+ only (not by other launchers
    or JDK 8); both are read as a JVM of today would.
    """
    env = os.environ if environ is None else environ
    return tuple(env[k] for k in ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS") if env.get(k))


# --- where the trust comes from ---------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    url: JdbcUrl
    props: Mapping[str, str]
    options: DoctorOptions


def resolve(options: DoctorOptions) -> Resolution:
    """Work out the driver's mode and trust source from the URL and JVM options (no file read
    beyond checking which files exist). Raises :class:`UsageError` for a URL the driver
    refuses."""
    url = parse_jdbc_url(options.jdbc_url)
    ctx = _Context(url, parse_java_options(*options.java_options), options)
    if url.driver is Driver.PGJDBC:
        return _pgjdbc(ctx)
    if url.driver is Driver.MYSQL:
        return _mysql(ctx)
    return _mariadb(ctx)


def _pgjdbc(ctx: _Context) -> Resolution:
    url = ctx.url
    mode = _pg_mode(url)
    factory = url.get("sslfactory") or PGJDBC_LIBPQ
    base = Resolution(
        Driver.PGJDBC, mode, tls=mode != "disable", verification=False, hostname_check=False,
        source=None,
    )  # fmt: skip
    if mode == "disable":
        return replace(base, notes=("sslmode=disable: no TLS at all.",))
    if factory == PGJDBC_NONVALIDATING:
        return replace(
            base,
            notes=(
                f"sslfactory={PGJDBC_NONVALIDATING} trusts EVERY certificate: anyone between "
                "the application and the database can impersonate it; remove it.",
            ),
        )
    if factory == PGJDBC_JAVA:
        # Observed with pgjdbc 42.5: the JVM's default SSLSocketFactory checks the chain in every
        # TLS mode (require and prefer fail against an untrusted server); pgjdbc adds the host
        # name check for verify-full only (MakeSSL.verifyPeerName).
        resolved = _jvm_truststore(ctx)
        return replace(
            resolved,
            driver=Driver.PGJDBC,
            mode=mode,
            tls=True,
            verification=True,
            hostname_check=mode == "verify-full",
            notes=resolved.notes + _pg_weak_mode_notes(mode),
        )
    if factory not in (PGJDBC_LIBPQ, _PGJDBC_LIBPQ_OLD):
        source = TrustSource(SourceKind.UNCHECKABLE, None, f"sslfactory={factory}")
        return replace(
            base,
            # Whether it checks anything is the factory's business: the answer is "unknown".
            verification=True,
            source=source,
            notes=(f"A custom sslfactory ({factory}) decides what it trusts; doctor cannot tell.",),
        )
    return _pgjdbc_libpq(ctx, base)


def _pg_weak_mode_notes(mode: str) -> tuple[str, ...]:
    notes: tuple[str, ...] = ()
    if mode in ("allow", "prefer", "require"):
        notes += (f"sslmode={mode} still checks the chain with {PGJDBC_JAVA} (not the host name).",)
    if mode == "allow":
        notes += (_ALLOW_NOTE,)
    return notes


def _pg_mode(url: JdbcUrl) -> str:
    # pgjdbc docs ("Configuring the Client"): ssl=true alone means verify-full, unlike libpq;
    # observed: "ssl" and "ssl=" also mean verify-full, ssl=false means prefer; sslmode wins;
    # its value is case-insensitive; an unknown value is refused ("Invalid sslmode value").
    value = url.get("sslmode")
    if value is None:
        ssl = url.get("ssl")
        return "verify-full" if ssl is not None and ssl.lower() != "false" else "prefer"
    mode = value.lower()
    if mode not in _PG_MODES:
        raise UsageError(
            f"pgjdbc refuses sslmode={value!r} (Invalid sslmode value); use one of "
            + ", ".join(_PG_MODES)
            + "."
        )
    return mode


def _pgjdbc_libpq(ctx: _Context, base: Resolution) -> Resolution:
    mode = base.mode
    if mode not in ("verify-ca", "verify-full"):
        # Observed: LibPQFactory with allow / prefer / require accepts any certificate, even
        # with a root.crt that does not match (pgjdbc docs: "in this mode we will accept all
        # server certificates").
        unchecked: tuple[str, ...] = (
            f"sslmode={mode} with pgjdbc's default factory encrypts but checks NO certificate; "
            "use sslmode=verify-full.",
        )
        if mode == "allow":
            unchecked += (_ALLOW_NOTE,)
        return replace(base, notes=unchecked)
    given = ctx.url.get("sslrootcert")
    fallbacks: tuple[str, ...] = ()
    notes: list[str] = []
    if given is not None:
        path, origin = given, "sslrootcert"
    else:
        home, how = _user_home(ctx)
        path = str(Path(home) / ".postgresql" / "root.crt")
        origin = f"default sslrootcert, user.home from {how}"
        fallbacks = ("no sslrootcert in the URL: pgjdbc uses ${user.home}/.postgresql/root.crt",)
    if ctx.props.get("javax.net.ssl.trustStore") is not None:
        notes.append(
            "javax.net.ssl.trustStore is set but pgjdbc's default factory ignores it; add "
            f"sslfactory={PGJDBC_JAVA} to use it."
        )
    source = TrustSource(SourceKind.PEM_FILE, path, origin)
    return replace(
        base,
        verification=True,
        hostname_check=mode == "verify-full",
        source=source,
        fallbacks=fallbacks,
        notes=tuple(notes),
    )


def _user_home(ctx: _Context) -> tuple[str, str]:
    # pgjdbc: System.getProperty("user.home") + "/.postgresql/". The JVM takes user.home from the
    # password database, not $HOME (observed with JDK 17: HOME=/tmp/x java ... still reads
    # /root/.postgresql/root.crt).
    prop = ctx.props.get("user.home")
    if prop is not None:
        return prop, "-Duser.home"
    if ctx.options.home is not None:
        return str(ctx.options.home), "--home"
    try:
        return pwd.getpwuid(os.getuid()).pw_dir, "home directory of the user running doctor"
    except KeyError:
        return str(Path("~").expanduser()), "$HOME"


def _jvm_truststore(ctx: _Context, driver: Driver = Driver.PGJDBC) -> Resolution:
    """The JVM's default trust store (sun.security.ssl.TrustStoreManager, JDK 11+):
    javax.net.ssl.trustStore (default jssecacerts), else cacerts: the first that is a readable
    regular file. Type and password apply to whichever file is used."""
    props = ctx.props
    declared = props.get("javax.net.ssl.trustStoreType") or None
    password = props.get("javax.net.ssl.trustStorePassword") or None
    if ctx.options.password is not None:
        password = ctx.options.password
    base = Resolution(
        driver, "", tls=True, verification=True, hostname_check=False, source=None,
        password=password,
    )  # fmt: skip
    configured = props.get("javax.net.ssl.trustStore")
    if configured == "NONE":
        source = TrustSource(SourceKind.EMPTY, None, "javax.net.ssl.trustStore=NONE", declared)
        return replace(base, source=source)
    security = _java_home(ctx) / "lib" / "security"
    first = configured if configured is not None else str(security / "jssecacerts")
    first_origin = "javax.net.ssl.trustStore" if configured is not None else "jssecacerts"
    fallbacks: list[str] = []
    for path, origin in ((first, first_origin), (str(security / "cacerts"), "cacerts")):
        if _readable(path):
            source = TrustSource(
                SourceKind.JVM_TRUSTSTORE, path, origin, declared,
                password_present=password is not None,
            )  # fmt: skip
            return replace(base, source=source, fallbacks=tuple(fallbacks))
        if origin == "javax.net.ssl.trustStore":
            what = "does not exist" if not os.path.lexists(path) else "is not a readable file"
            fallbacks.append(
                f"javax.net.ssl.trustStore={path} {what}: the JVM silently uses cacerts instead "
                "(with the trustStoreType and trustStorePassword meant for that file)"
            )
    source = TrustSource(SourceKind.EMPTY, None, "no readable jssecacerts or cacerts", declared)
    return replace(base, source=source, fallbacks=tuple(fallbacks))


def _readable(path: str) -> bool:
    # What TrustStoreManager asks: File.isFile() && File.canRead(), for the user running doctor
    # (run doctor as the application's user for the same answer).
    return Path(path).is_file() and os.access(path, os.R_OK)


def _java_home(ctx: _Context) -> Path:
    if ctx.options.java_home is not None:
        return ctx.options.java_home
    from rdstrust.storespec import java_home

    return java_home(None)


def _mysql(ctx: _Context) -> Resolution:
    url = ctx.url
    mode = _mysql_mode(url)
    verifies = mode in ("VERIFY_CA", "VERIFY_IDENTITY")
    base = Resolution(
        Driver.MYSQL, mode, tls=mode != "DISABLED", verification=verifies,
        hostname_check=mode == "VERIFY_IDENTITY", source=None,
    )  # fmt: skip
    if not verifies:
        return replace(base, notes=(f"sslMode={mode} checks no certificate; use VERIFY_IDENTITY.",))
    # Connector/J 8 (ExportControlled.getTrustStoreConfigurations / SslContextBuilder.build):
    # trustCertificateKeyStoreUrl, else (fallbackToSystemTrustStore, default true) the values of
    # javax.net.ssl.trustStore / Type / Password, which Connector/J opens ITSELF (no silent
    # cacerts fallback: a missing file is "Cannot open ..."); only when that property is unset
    # does the JVM's default TrustManagerFactory (jssecacerts / cacerts) decide. With the
    # fallback off and no store, no X.509 trust manager is found and the connection fails.
    store = _mysql_store(ctx)
    if store is not None:
        return replace(base, source=store[0], password=store[1], notes=store[2])
    if _java_bool(url.get("fallbackToSystemTrustStore"), default=True) is False:
        source = TrustSource(SourceKind.EMPTY, None, "fallbackToSystemTrustStore=false")
        return replace(base, source=source)
    resolved = _jvm_truststore(ctx, Driver.MYSQL)
    return replace(
        resolved, mode=mode, verification=True, hostname_check=base.hostname_check,
    )  # fmt: skip


def _mysql_store(ctx: _Context) -> tuple[TrustSource, str, tuple[str, ...]] | None:
    """The keystore Connector/J opens itself, with the password it uses, or ``None``."""
    url, props = ctx.url, ctx.props
    notes: tuple[str, ...] = (
        "Connector/J rules from its source (ExportControlled); not run against the driver here.",
    )
    location = url.get("trustCertificateKeyStoreUrl")
    if location:
        origin = "trustCertificateKeyStoreUrl"
        declared = url.get("trustCertificateKeyStoreType") or "JKS"
        password = url.get("trustCertificateKeyStorePassword")
        if props.get("javax.net.ssl.trustStore") is not None:
            notes += ("javax.net.ssl.trustStore is ignored: trustCertificateKeyStoreUrl wins.",)
    elif _java_bool(url.get("fallbackToSystemTrustStore"), default=True) and props.get(
        "javax.net.ssl.trustStore"
    ):
        location = props["javax.net.ssl.trustStore"]
        origin = "javax.net.ssl.trustStore (opened by Connector/J itself)"
        declared = props.get("javax.net.ssl.trustStoreType") or "JKS"
        password = props.get("javax.net.ssl.trustStorePassword")
    else:
        return None
    if ctx.options.password is not None:
        password = ctx.options.password
    path = _file_url(location)
    kind = SourceKind.DRIVER_KEYSTORE if path is not None else SourceKind.UNCHECKABLE
    source = TrustSource(kind, path, origin, declared, password_present=password is not None)
    if password is None:
        # Connector/J loads the store with new char[0], not null: a password-protected JKS
        # or PKCS12 then fails its integrity check.
        notes += ("No trust store password: Connector/J loads the store with an empty one.",)
    return source, password or "", notes


def _mysql_mode(url: JdbcUrl) -> str:
    value = url.get("sslMode")
    if value is not None:
        mode = value.upper()
        if mode not in _MYSQL_MODES:
            raise UsageError(
                f"Connector/J refuses sslMode={value!r}; use one of {', '.join(_MYSQL_MODES)}."
            )
        return mode
    # Connector/J 8.0.13+ translates the legacy properties when sslMode is not set.
    if _java_bool(url.get("useSSL"), default=True) is False:
        return "DISABLED"
    if _java_bool(url.get("verifyServerCertificate"), default=False):
        return "VERIFY_CA"
    if _java_bool(url.get("requireSSL"), default=False):
        return "REQUIRED"
    return "PREFERRED"


def _mariadb(ctx: _Context) -> Resolution:
    url = ctx.url
    mode, notes = _mariadb_mode(url)
    verifies = mode in ("verify-ca", "verify-full")
    base = Resolution(
        Driver.MARIADB, mode, tls=mode != "disable", verification=verifies,
        hostname_check=mode == "verify-full", source=None, notes=notes,
    )  # fmt: skip
    if not verifies:
        return base
    # MariaDB Connector/J 3.x DefaultTlsSocketPlugin: serverSslCert (URL, inline PEM or file)
    # becomes the only trust anchors; without it the SSLContext's default trust store is used.
    cert = url.get("serverSslCert")
    if cert is None:
        resolved = _jvm_truststore(ctx, Driver.MARIADB)
        return replace(
            resolved, mode=mode, verification=True, hostname_check=base.hostname_check,
            notes=notes + resolved.notes,
        )  # fmt: skip
    if cert.startswith("-----"):
        source = TrustSource(SourceKind.INLINE_PEM, None, "serverSslCert (inline)", inline=cert)
    elif cert.startswith("classpath:"):
        source = TrustSource(SourceKind.UNCHECKABLE, None, f"serverSslCert={cert}")
    else:
        path = _file_url(cert)
        kind = SourceKind.PEM_FILE if path is not None else SourceKind.UNCHECKABLE
        source = TrustSource(kind, path, "serverSslCert")
    if ctx.props.get("javax.net.ssl.trustStore") is not None:
        notes += ("javax.net.ssl.trustStore is ignored: serverSslCert replaces it.",)
    return replace(base, source=source, notes=notes)


def _mariadb_mode(url: JdbcUrl) -> tuple[str, tuple[str, ...]]:
    value = url.get("sslMode")
    legacy = url.first("useSsl", "useSSL")
    if value is not None:
        mode = value.lower().replace("_", "-")
        mode = {"disabled": "disable", "verify-identity": "verify-full"}.get(mode, mode)
        if mode not in _MARIADB_MODES:
            raise UsageError(
                f"MariaDB Connector/J refuses sslMode={value!r}; use one of "
                f"{', '.join(_MARIADB_MODES)}."
            )
        notes: tuple[str, ...] = ()
        if legacy is None:
            notes = (
                "MariaDB Connector/J 2.x ignores sslMode and connects WITHOUT TLS; with 2.x "
                "use useSsl=true.",
            )
        return mode, notes
    if legacy is None or not _java_bool(legacy[1], default=False):
        return "disable", ("No sslMode / useSsl: MariaDB Connector/J does not use TLS.",)
    if _java_bool(url.get("trustServerCertificate"), default=False):
        return "trust", ("trustServerCertificate=true: any certificate is accepted.",)
    if _java_bool(url.get("disableSslHostnameVerification"), default=False):
        return "verify-ca", ()
    return "verify-full", ()


def _java_bool(value: str | None, *, default: bool) -> bool:
    if value is None:
        return default
    text = value.strip().lower()
    if text in ("", "true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    return default


def _file_url(text: str) -> str | None:
    """A local path from a ``file:`` URL or a plain path; ``None`` for other URL schemes."""
    if text.lower().startswith("file:"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            return None
        return unquote(parts.path)
    scheme = text.split(":", 1)[0]
    if ":" in text and len(scheme) > 1 and scheme.isalpha():
        return None  # http:, https:, classpath: ...
    return text


# --- checking the source ----------------------------------------------------------------------

#: The keystore files each declared type reads on JDK 9+ with keystore.type.compat=true (the
#: default): JKS and PKCS12 read each other's files; JCEKS reads JKS too.
_READS: dict[str | None, tuple[StoreType, ...]] = {
    None: (StoreType.JKS, StoreType.PKCS12),
    "jks": (StoreType.JKS, StoreType.PKCS12),
    "pkcs12": (StoreType.JKS, StoreType.PKCS12),
    "jceks": (StoreType.JCEKS, StoreType.JKS),
}


@dataclass(frozen=True)
class SourceCheck:
    """rdstrust's verdict on a trust source, or why it could not judge it."""

    report: VerifyReport | None
    problem: str | None
    detected: StoreType | None = None
    #: The source could not be read at all by rdstrust (exit 5) rather than not trusting.
    unreadable: bool = True


def check_source(
    resolution: Resolution, required: Sequence[CertInfo], options: VerifyOptions
) -> SourceCheck:
    """Read the trust source as its loader would and judge it against ``required``."""
    source = resolution.source
    if source is None:
        return SourceCheck(None, None, unreadable=False)
    if source.kind is SourceKind.EMPTY:
        return SourceCheck(None, f"the trust store is empty ({source.origin})", unreadable=False)
    if source.kind is SourceKind.UNCHECKABLE:
        return SourceCheck(None, f"doctor cannot read the trust source ({source.origin})")
    if source.kind is SourceKind.INLINE_PEM:
        return _check_inline(source, required, options)
    assert source.path is not None
    path = source.path
    if not _readable(path):
        what = "does not exist" if not os.path.lexists(path) else "is not a readable file"
        return SourceCheck(None, f"{path} {what}")
    java = source.kind in (SourceKind.JVM_TRUSTSTORE, SourceKind.DRIVER_KEYSTORE)
    try:
        contents = read_store(path, resolution.password if java else None)
    except PasswordNeededError:
        return SourceCheck(None, f"{path} needs its password, and none is configured")
    except WrongPasswordError:
        if not source.password_present:
            return SourceCheck(None, f"{path} needs a password, and the loader is given none")
        return SourceCheck(
            None, f"{path}: the configured password is wrong (the loader refuses it)"
        )
    except StoreError as exc:
        return SourceCheck(None, exc.message)
    problem = _type_problem(source, contents.type, java=java)
    if problem is not None:
        return SourceCheck(None, problem, contents.type)
    report = judge_store(path, contents, required, password=resolution.password, options=options)
    return SourceCheck(report, None, contents.type, unreadable=False)


def _type_problem(source: TrustSource, found: StoreType, *, java: bool) -> str | None:
    if not java:
        if found is not StoreType.PEM:
            return (
                f"{source.path} is a {found.value.upper()} keystore, but {source.origin} must "
                "be a PEM file (the driver reads it with CertificateFactory)"
            )
        return None
    declared = source.declared_type.lower() if source.declared_type else None
    readable = _READS.get(declared)
    if readable is None:
        return f"the JVM has no keystore type {source.declared_type!r} that reads {source.path}"
    if found not in readable:
        told = f"as {source.declared_type}" if declared else "with the default type (PKCS12)"
        return f"{source.path} is {found.value.upper()}; the JVM cannot load it {told}"
    return None


def _check_inline(
    source: TrustSource, required: Sequence[CertInfo], options: VerifyOptions
) -> SourceCheck:
    data = (source.inline or "").encode("utf-8", "replace")
    try:
        kind, loaded = parse_store(data, source="serverSslCert", password=None)
    except StoreError as exc:
        return SourceCheck(None, exc.message)
    if kind is not StoreType.PEM:
        return SourceCheck(None, "the inline serverSslCert is not PEM", kind)
    contents = StoreContents("serverSslCert", kind, loaded.entries)
    return SourceCheck(verify_contents(contents, required, options), None, kind, unreadable=False)


# --- the answer -------------------------------------------------------------------------------


def diagnose(
    options: DoctorOptions,
    required: Sequence[CertInfo],
    *,
    resolution: Resolution | None = None,
) -> Diagnosis:
    """Resolve the application's trust source (unless ``resolution`` is the one already made
    from ``options``), check it, and predict the connection.

    Exit codes: 0 the source trusts the required CAs (and ``--chain``); 1 it does not, is
    empty, or the driver verifies nothing; 5 the source cannot be read (missing, wrong password,
    wrong type, classpath). Raises :class:`UsageError` for a URL the driver refuses.
    """
    if resolution is None:
        resolution = resolve(options)
    verify_opts = options.verify
    if not resolution.hostname_check:
        verify_opts = replace(verify_opts, hostname=None)
    check = check_source(resolution, required, verify_opts) if resolution.verification else None
    source = resolution.source
    if check is not None and source is not None and check.detected is not None:
        source = replace(source, detected_type=check.detected)
    prediction, code = _predict(resolution, check)
    resolution = replace(resolution, source=source)
    return Diagnosis(
        driver=resolution.driver,
        url=parse_jdbc_url(options.jdbc_url).shown,
        mode=resolution.mode,
        tls=resolution.tls,
        verification=resolution.verification,
        hostname_check=resolution.hostname_check,
        source=source if resolution.verification else None,
        fallbacks=resolution.fallbacks,
        notes=resolution.notes,
        verify=check.report if check else None,
        problem=check.problem if check else None,
        prediction=prediction,
        explanation=explain(resolution, check, prediction),
        exit_code=code,
    )


def _predict(resolution: Resolution, check: SourceCheck | None) -> tuple[Prediction, int]:
    if not resolution.verification or check is None:
        return Prediction.NO_VERIFICATION, 1
    source = resolution.source
    if source is not None and source.kind is SourceKind.UNCHECKABLE:
        return Prediction.UNKNOWN, 5
    if check.report is not None:
        return (Prediction.CONNECTS, 0) if check.report.passed else (Prediction.FAILS, 1)
    return Prediction.FAILS, 5 if check.unreadable else 1


def explain(resolution: Resolution, check: SourceCheck | None, prediction: Prediction) -> str:
    """One short paragraph: mode, source, fallbacks, verdict, prediction."""
    r = resolution
    parts = [f"{r.driver} with {'sslMode' if r.driver is not Driver.PGJDBC else 'sslmode'}="
             f"{r.mode}"]  # fmt: skip
    if not r.tls:
        parts.append("uses no TLS, so no certificate is checked.")
    elif not r.verification:
        parts.append("encrypts but does NOT check the server certificate: no trust store is used.")
    elif r.source is not None and r.source.origin.startswith("sslfactory="):
        parts.append(f"leaves every certificate check to {r.source.origin}.")
    elif r.source is not None:
        what = {True: "the chain and host name", False: "the chain only"}[r.hostname_check]
        where = f"{r.source.path} ({r.source.origin})" if r.source.path else r.source.origin
        parts.append(f"checks {what} against {where}.")
    text = " ".join(parts)
    if r.fallbacks:
        text += " Fallback: " + "; ".join(r.fallbacks) + "."
    if check is not None and check.problem is not None:
        text += f" Problem: {check.problem}."
    elif check is not None and check.report is not None:
        report = check.report
        if report.passed:
            text += " That store trusts the required RDS CAs."
        else:
            text += " That store fails: " + "; ".join(report.reasons) + "."
    return text + f" Prediction: {prediction}."


__all__ = [
    "Diagnosis",
    "DoctorOptions",
    "Driver",
    "JdbcUrl",
    "Prediction",
    "Resolution",
    "SourceCheck",
    "SourceKind",
    "TrustSource",
    "check_source",
    "diagnose",
    "explain",
    "java_options_from_env",
    "parse_java_options",
    "parse_jdbc_url",
    "resolve",
]
