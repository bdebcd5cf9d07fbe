"""How database clients use a trust store: the settings ``update`` prints for each store.

The password is never printed: settings show a placeholder a user fills in from where they keep
it (``--storepass-env`` names the variable, so we can point at it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rdstrust.stores import StoreType

#: pgjdbc uses its own LibPQFactory by default, which ignores the javax.net.ssl.* properties;
#: only this factory makes it use the JVM's truststore (pgjdbc docs, "Configuring the client").
PGJDBC_JAVA_FACTORY = "org.postgresql.ssl.DefaultJavaSSLFactory"


@dataclass(frozen=True)
class ClientSettings:
    """Settings that make clients use one store, as lines a user can paste."""

    store: str
    type: StoreType
    java_options: tuple[str, ...]
    jdbc_url: str | None
    libpq: tuple[str, ...]
    notes: tuple[str, ...]


def client_settings(
    store: str | Path,
    store_type: StoreType,
    *,
    password_env: str | None = None,
    password_required: bool = True,
) -> ClientSettings:
    """The Java / pgjdbc / libpq settings that make a client trust ``store``.

    ``password_env`` names the environment variable holding the store password, if the user gave
    one; ``password_required`` is False for password-less PKCS12 stores.
    """
    path = str(Path(store).absolute())
    if store_type is StoreType.PEM:
        return ClientSettings(
            store=path,
            type=store_type,
            java_options=(),
            jdbc_url=(f"jdbc:postgresql://HOST:5432/DB?sslmode=verify-full&sslrootcert={path}"),
            libpq=(
                f"sslmode=verify-full sslrootcert={path}",
                f"PGSSLMODE=verify-full PGSSLROOTCERT={path}",
            ),
            notes=(
                "libpq, psql, psycopg 3 and psycopg2 read this PEM file directly; "
                "pgjdbc's default factory reads it via sslrootcert.",
            ),
        )
    password = f"${password_env}" if password_env else "<store password>"
    options = [
        f"-Djavax.net.ssl.trustStore={path}",
        f"-Djavax.net.ssl.trustStoreType={store_type.value.upper()}",
    ]
    if password_required:
        options.append(f"-Djavax.net.ssl.trustStorePassword={password}")
    notes = (
        f"pgjdbc ignores these properties unless the URL sets sslfactory={PGJDBC_JAVA_FACTORY}.",
    )
    return ClientSettings(
        store=path,
        type=store_type,
        java_options=tuple(options),
        jdbc_url=(
            f"jdbc:postgresql://HOST:5432/DB?sslmode=verify-full&sslfactory={PGJDBC_JAVA_FACTORY}"
        ),
        libpq=(),
        notes=notes,
    )
