"""The README's "The whole procedure", run from the README itself, in its order, end to end.

The commands are taken from the section's shell blocks and run with bash, with only these
substitutions (everything else is as written):

- the endpoint ``mydb.xxxx.us-east-1.rds.amazonaws.com`` is a local PostgreSQL server serving a
  fixture RDS chain (``localhost:PORT``; for ``PGHOST=`` the port goes to ``PGPORT``);
- ``/etc/rds/`` and ``/srv/app/`` are directories under the test's tmp dir, holding stores that
  trust only rds-ca-2019 at the start, as a fleet's would;
- ``--watch 1h --interval 5`` samples for 2 seconds, every 0.5 s, instead of for an hour;
- AWS is moto's server mode on 127.0.0.1 (``RDSTRUST_AWS_ENDPOINT_URL``) with a DB instance
  ``mydb`` on rds-ca-2019, the bundle comes from a local HTTPS mirror (``RDSTRUST_BUNDLE_URL``),
  and ``--java-cacerts`` finds a copy of Debian's cacerts through ``JAVA_HOME``.

Before step 2, the same ``rotate`` command refuses and changes nothing (the negative twin);
after it, it applies. moto reports an endpoint that does not resolve, so ``rotate --probe``
ends with exit 6 after applying the change; ``probe`` itself then runs against the local
server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, ROOT, missing
from pgserver import PgServer, pg_server  # noqa: F401  (session fixture)
from recipe_parts import bash, fenced_blocks, recipe_env
from test_recipes import DEBIAN_CACERTS, fake_jdk
from tls_server import HTTPSServer, Reply

pytestmark = [pytest.mark.postgres, pytest.mark.jvm]

HOST = "mydb.xxxx.us-east-1.rds.amazonaws.com"
MIXED = FIXTURES / "bundles" / "mixed.pem"
OLD = FIXTURES / "bundles" / "old-2019.pem"
ROOT_CA = FIXTURES / "chains" / "rsa2048-g1-us-east-1" / "root.pem"
PASSWORD = "app-truststore-secret"


def procedure_commands() -> list[str]:
    """The section's command lines, continuations joined, in order."""
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## The whole procedure\n")
    section = text[start : text.index("\n## ", start + 1)]
    lines = []
    for block in fenced_blocks(section, "sh"):
        lines += [ln for ln in block.replace("\\\n", " ").splitlines() if ln.strip()]
    return lines


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    try:
        import boto3  # noqa: F401
        import moto  # noqa: F401
    except ImportError:
        missing("boto3 and moto (pip install -e '.[test]')")
    from motoserver import MotoServer

    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()


def described_ca(emulator: Any) -> str:
    items = emulator.client("us-east-1").describe_db_instances(DBInstanceIdentifier="mydb")
    return str(items["DBInstances"][0]["CACertificateIdentifier"])


def test_the_whole_procedure(
    emulator: Any,
    pg_server: PgServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    if not DEBIAN_CACERTS.is_file():
        missing(f"{DEBIAN_CACERTS} (Debian package ca-certificates-java)")
    emulator.reset()
    emulator.client("us-east-1").create_db_instance(
        DBInstanceIdentifier="mydb",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin_user",
        MasterUserPassword="not-a-secret-1",
        CACertificateIdentifier="rds-ca-2019",
    )
    pg_server.create_role("admin")
    java_home = tmp_path / "jdk"
    fake_jdk(java_home)
    shutil.copyfile(DEBIAN_CACERTS, java_home / "lib/security/cacerts")
    etc, srv = tmp_path / "etc-rds", tmp_path / "srv-app"
    etc.mkdir()
    srv.mkdir()

    lines = procedure_commands()
    # `export` lines set the shell up for the commands after them, as in a terminal
    exports = "".join(line + "\n" for line in lines if line.startswith("export "))
    commands = [line for line in lines if not line.startswith("export ")]
    names = [c.split("rdstrust ", 1)[1].split()[0] for c in commands]
    assert names == ["audit", "audit", "update", "verify", "instances", "rotate", "probe"]

    def local(command: str) -> str:
        command = command.replace(
            f"PGHOST={HOST}", f"PGHOST=localhost PGPORT={pg_server.port}"
        ).replace(HOST, f"localhost:{pg_server.port}")
        command = command.replace("/etc/rds/", f"{etc}/").replace("/srv/app/", f"{srv}/")
        return command.replace("--watch 1h --interval 5", "--watch 2 --interval 0.5")

    data = MIXED.read_bytes()
    with HTTPSServer("rsa2048-g1-us-east-1") as mirror:
        mirror.route("/global/global-bundle.pem", Reply(body=data))
        env = recipe_env(
            tmp_path / "home",
            mirror.url("/global/global-bundle.pem"),
            mirror.ca_file,
            JAVA_HOME=str(java_home),
            APP_TRUSTSTORE_PASSWORD=PASSWORD,
            PGSSLROOTCERT=str(ROOT_CA),
            PGDATABASE="postgres",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            RDSTRUST_AWS_ENDPOINT_URL=emulator.url,
        )

        def step(command: str) -> subprocess.CompletedProcess[str]:
            return bash(local(exports + command), env, tmp_path)

        # the stores as they are before a rotation: rds-ca-2019 only
        made = step(
            f"rdstrust merge -b {OLD} -s /etc/rds/rds-ca.pem -s /srv/app/truststore.p12 "
            "--storepass-env APP_TRUSTSTORE_PASSWORD"
        )
        assert made.returncode == 0, made.stderr

        # 1. who connects with SSL
        audit = step(commands[0])
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert "ssl            on" in audit.stdout, audit.stdout
        watched = step(commands[1])
        assert watched.returncode == 0, watched.stderr
        assert json.loads((tmp_path / "clients.json").read_text())["server"]["ssl"] in ("on", True)

        # the negative twin: before step 2, rotate refuses (rotate maps CA identifiers with
        # the cached bundle, which step 2 leaves behind; here a fetch caches it first)
        assert step("rdstrust fetch -o early-bundle.pem").returncode == 0
        refused = step(commands[5])
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert described_ca(emulator) == "rds-ca-2019"  # nothing changed

        # 2. update every store, keeping the old CAs; verify against the endpoint
        updated = step(commands[2])
        assert updated.returncode == 0, updated.stdout + updated.stderr
        verified = step(commands[3])
        assert verified.returncode == 0, verified.stdout + verified.stderr

        # 3. the fleet is ready; rotate, then confirm with probe
        ready = step(commands[4])
        assert ready.returncode == 0, ready.stdout + ready.stderr
        rotated = step(commands[5])
        assert described_ca(emulator) == "rds-ca-rsa2048-g1", rotated.stdout + rotated.stderr
        # moto's endpoint does not resolve, so --probe cannot reach it: exit 6, and it says so
        assert rotated.returncode == 6, rotated.stdout + rotated.stderr
        assert "The rotation was applied, but probing the endpoint failed" in rotated.stderr
        probed = step(commands[6])
        assert probed.returncode == 0, probed.stderr
        assert "rds-ca-rsa2048-g1" in probed.stdout, probed.stdout
