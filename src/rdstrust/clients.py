"""How database clients use a trust store: the settings ``update`` prints for each store.

The password is never printed: settings show a placeholder a user fills in from where they keep
it (``--storepass-env`` names the variable, so we can point at it).

Only what applies to the store's format is given: libpq, the ``mysql`` / ``mariadb`` command-line
clients and MariaDB Connector/J's ``serverSslCert`` read PEM files; the JVM's
``javax.net.ssl.trustStore`` and MySQL Connector/J's ``trustCertificateKeyStoreUrl`` read
JKS / PKCS12 (and JCEKS) stores.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from rdstrust.errors import ToolMissingError
from rdstrust.stores import StoreType
from rdstrust.storespec import java_home

#: pgjdbc uses its own LibPQFactory by default, which ignores the javax.net.ssl.* properties;
#: only this factory makes it use the JVM's truststore (pgjdbc docs, "Configuring the client").
PGJDBC_JAVA_FACTORY = "org.postgresql.ssl.DefaultJavaSSLFactory"

#: MariaDB Connector/J 2.x ignores options it does not know without a word, and ``sslMode`` only
#: exists from 3.0: a 2.x driver given ``sslMode=verify-full`` connects WITHOUT TLS. ``useSsl=true``
#: is 2.x's switch, and 3.x still maps it to verify-full (Configuration.java, "for compatibility
#: with 2.x"), so that form is printed for 2.x (tested against Debian's 2.7.6).
MARIADB_2X_NOTE = (
    "MariaDB Connector/J 2.x silently ignores sslMode and then connects without TLS; with 2.x "
    "use the useSsl=true form."
)


@dataclass(frozen=True)
class ClientSettings:
    """Settings that make clients use one store, as lines a user can paste."""

    store: str
    type: StoreType
    java_options: tuple[str, ...]
    jdbc_url: str | None
    libpq: tuple[str, ...]
    notes: tuple[str, ...]
    #: MySQL Connector/J (``jdbc:mysql:``) URL; None for PEM stores, which it cannot read.
    mysql_jdbc_url: str | None = None
    #: MariaDB Connector/J (``jdbc:mariadb:``) URLs: the 3.x form first, then the 2.x form.
    mariadb_jdbc_urls: tuple[str, ...] = ()
    #: ``mariadb`` and ``mysql`` command-line options (PEM stores only).
    mysql_cli: tuple[str, ...] = ()
    #: What a MySQL / MariaDB user must know about the lines above.
    mysql_notes: tuple[str, ...] = ()
    #: The store is the JVM's own default truststore: Java uses it without ``java_options``
    #: (which are kept, for a JVM started elsewhere), so none need to be set.
    jvm_default: bool = False


#: Printed instead of the ``-D`` settings for the JVM's own default truststore.
JVM_DEFAULT_NOTE = "the JVM's default truststore: no -D settings needed"


def jvm_default_truststore(java: str | None = None) -> Path | None:
    """The real path of the truststore the JVM ``java`` names uses when no ``-D`` option is set.

    That is ``<java.home>/lib/security/jssecacerts`` if it exists, else ``.../cacerts`` (the
    JSSE reference guide's order), with every symlink resolved (Debian's ``cacerts`` is a link
    to ``/etc/ssl/certs/java/cacerts``). ``java`` is as for :func:`rdstrust.storespec.find_java`
    (``--java``, else ``JAVA_HOME``, else PATH); ``None`` when there is no JVM or no store.
    """
    try:
        security = java_home(java) / "lib" / "security"
    except ToolMissingError:
        return None
    for name in ("jssecacerts", "cacerts"):
        path = security / name
        if path.exists():
            return Path(os.path.realpath(path))
    return None


def client_settings(
    store: str | Path,
    store_type: StoreType,
    *,
    password_env: str | None = None,
    password_required: bool = True,
    jvm_default: bool = False,
) -> ClientSettings:
    """The Java / pgjdbc / libpq / MySQL / MariaDB settings that make a client trust ``store``.

    ``password_env`` names the environment variable holding the store password, if the user gave
    one; ``password_required`` is False for password-less PKCS12 stores; ``jvm_default`` says the
    store is the JVM's own default truststore (see :func:`jvm_default_truststore`).
    """
    path = str(Path(store).absolute())
    if store_type is StoreType.PEM:
        return _pem_settings(path)
    password = f"${password_env}" if password_env else "<store password>"
    options = [
        f"-Djavax.net.ssl.trustStore={path}",
        f"-Djavax.net.ssl.trustStoreType={store_type.value.upper()}",
    ]
    if password_required:
        options.append(f"-Djavax.net.ssl.trustStorePassword={password}")
    notes = (
        "pgjdbc ignores the -Djavax.net.ssl.* properties unless the URL sets "
        f"sslfactory={PGJDBC_JAVA_FACTORY}.",
    )
    # Connector/J reads its own trustCertificateKeyStore* options before the JVM's properties.
    mysql_query = [
        "sslMode=VERIFY_IDENTITY",
        f"trustCertificateKeyStoreUrl={Path(path).as_uri()}",
        f"trustCertificateKeyStoreType={store_type.value.upper()}",
    ]
    if password_required:
        mysql_query.append(f"trustCertificateKeyStorePassword={password}")
    return ClientSettings(
        store=path,
        type=store_type,
        jvm_default=jvm_default,
        java_options=tuple(options),
        jdbc_url=(
            f"jdbc:postgresql://HOST:5432/DB?sslmode=verify-full&sslfactory={PGJDBC_JAVA_FACTORY}"
        ),
        libpq=(),
        notes=notes,
        mysql_jdbc_url="jdbc:mysql://HOST:3306/DB?" + "&".join(mysql_query),
        # Without serverSslCert MariaDB Connector/J trusts the JVM's store: the Java options.
        mariadb_jdbc_urls=(
            "jdbc:mariadb://HOST:3306/DB?sslMode=verify-full",
            "jdbc:mariadb://HOST:3306/DB?useSsl=true",
        ),
        mysql_notes=(
            "MariaDB Connector/J uses the JVM's trust store (the Java line) when serverSslCert "
            "is not set.",
            MARIADB_2X_NOTE,
            "The mysql and mariadb command-line clients read PEM only (--ssl-ca); write a PEM "
            "store for them.",
        ),
    )


def _pem_settings(path: str) -> ClientSettings:
    """The settings for a PEM store: libpq's, pgjdbc's sslrootcert, MariaDB's, the CLIs'."""
    return ClientSettings(
        store=path,
        type=StoreType.PEM,
        java_options=(),
        jdbc_url=(f"jdbc:postgresql://HOST:5432/DB?sslmode=verify-full&sslrootcert={path}"),
        libpq=(
            f"sslmode=verify-full sslrootcert={path}",
            f"PGSSLMODE=verify-full PGSSLROOTCERT={path}",
        ),
        notes=(
            "libpq, psql, psycopg 3 and psycopg2 read a PEM store directly; "
            "pgjdbc's default factory reads it via sslrootcert.",
        ),
        mariadb_jdbc_urls=(
            f"jdbc:mariadb://HOST:3306/DB?sslMode=verify-full&serverSslCert={path}",
            f"jdbc:mariadb://HOST:3306/DB?useSsl=true&serverSslCert={path}",
        ),
        # Shell-quoted: these lines are pasted into a shell as they are.
        mysql_cli=(
            f"mariadb --ssl-ca={shlex.quote(path)} --ssl-verify-server-cert",
            f"mysql --ssl-mode=VERIFY_IDENTITY --ssl-ca={shlex.quote(path)}",
        ),
        mysql_notes=(
            MARIADB_2X_NOTE,
            "MySQL Connector/J cannot read a PEM file: give it a JKS or PKCS12 store "
            "(trustCertificateKeyStoreUrl).",
            "The mysql line is for MySQL's own client (5.7.11 and later); where mysql is "
            "MariaDB's client (Debian, Ubuntu) it rejects --ssl-mode: use the mariadb line.",
        ),
    )
