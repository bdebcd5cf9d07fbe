"""``rdstrust instances`` and ``rdstrust rotate`` against a local AWS emulator.

moto's server mode runs as a subprocess on 127.0.0.1 (tests/motoserver.py) and rdstrust reaches
it over real HTTP through ``--endpoint-url`` / ``RDSTRUST_AWS_ENDPOINT_URL``, with fake
credentials: never AWS itself. The fleet: three DB instances in three regions, on rds-ca-2019,
rds-ca-rsa2048-g1 and rds-ca-ecc384-g1; the stores are built from the fixture PKI, each missing
one specific CA, so every "it trusts" has its "and without that CA it does not" twin.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import FIXTURES, missing
from typer.testing import CliRunner

from rdstrust.bundle import read_bundle
from rdstrust.certs import CertInfo
from rdstrust.cli import app
from rdstrust.errors import AwsError
from rdstrust.stores import NewCert, StoreType, create_store

try:
    import boto3
    import moto  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    boto3 = None

MIXED = FIXTURES / "bundles" / "mixed.pem"
G1 = FIXTURES / "bundles" / "g1.pem"
PASSWORD = "changeit"
runner = CliRunner()

#: identifier -> (region, CA identifier)
FLEET = {
    "db-2019": ("us-east-1", "rds-ca-2019"),
    "db-rsa": ("eu-west-1", "rds-ca-rsa2048-g1"),
    "db-ecc": ("ap-southeast-2", "rds-ca-ecc384-g1"),
}
REGIONS = ["--region", "us-east-1", "--region", "eu-west-1", "--region", "ap-southeast-2"]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Any]:
    if boto3 is None:
        missing("boto3 and moto (pip install -e '.[test]')")
    from motoserver import MotoServer

    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Fake credentials and the emulator's URL; no user AWS config can leak in."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("RDSTRUST_AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.delenv("RDSTRUST_STOREPASS", raising=False)
    monkeypatch.setenv("STOREPASS", PASSWORD)
    return moto_server


@pytest.fixture
def fleet(aws_env: Any) -> Any:
    """The three instances; made again only after a test that changed the emulator's state
    (each region's first use after a reset costs moto about a second)."""
    if getattr(aws_env, "fleet_ready", False) and not getattr(aws_env, "dirty", True):
        return aws_env
    aws_env.reset()
    for identifier, (region, ca) in FLEET.items():
        aws_env.client(region).create_db_instance(
            DBInstanceIdentifier=identifier,
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="admin_user",
            MasterUserPassword="not-a-secret-1",
            CACertificateIdentifier=ca,
        )
    aws_env.fleet_ready, aws_env.dirty = True, False
    return aws_env


@pytest.fixture
def mutable_fleet(fleet: Any) -> Iterator[Any]:
    """The fleet, for a test that changes it (the next test gets a fresh one)."""
    fleet.dirty = True
    yield fleet


def described_ca(server: Any, identifier: str) -> str:
    region = FLEET[identifier][0]
    items = server.client(region).describe_db_instances(DBInstanceIdentifier=identifier)
    return str(items["DBInstances"][0]["CACertificateIdentifier"])


def state(server: Any, region: str) -> list[dict[str, Any]]:
    """What the emulator holds for a region (less the clock moto advances on every call)."""
    items = server.client(region).describe_db_instances()["DBInstances"]
    return [{k: v for k, v in i.items() if k != "LatestRestorableTime"} for i in items]


def certs(path: Path, drop: tuple[str, ...] = ()) -> list[CertInfo]:
    found = [c for c in read_bundle(path) if c.alias not in drop]
    assert len(found) == len(read_bundle(path)) - len(drop), "a dropped alias does not exist"
    return found


def store(path: Path, infos: list[CertInfo], kind: StoreType = StoreType.PEM) -> Path:
    password = PASSWORD if kind is not StoreType.PEM else None
    path.write_bytes(create_store(kind, [NewCert.from_info(c) for c in infos], password=password))
    return path


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    """Four stores: everything, no 2019 root, no ECC384 ap-southeast-2 (PKCS12 with a password),
    no RSA2048 eu-west-1."""
    return {
        "full": store(tmp_path / "full.pem", certs(MIXED)),
        "g1only": store(tmp_path / "g1only.pem", certs(G1)),
        "no-ecc": store(
            tmp_path / "no-ecc.p12",
            certs(MIXED, ("rds-ca-ecc384-g1-ap-southeast-2",)),
            StoreType.PKCS12,
        ),
        "no-rsa-eu": store(
            tmp_path / "no-rsa-eu.pem", certs(MIXED, ("rds-ca-rsa2048-g1-eu-west-1",))
        ),
    }


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def store_args(stores: dict[str, Path], *names: str) -> list[str]:
    args = ["--bundle", str(MIXED), "--storepass-env", "STOREPASS"]
    for name in names:
        args += ["--store", str(stores[name])]
    return args


# --- instances -------------------------------------------------------------------------------


def test_instances_lists_the_fleet_with_its_cas(mutable_fleet: Any) -> None:
    fleet = mutable_fleet
    fleet.client("eu-west-1").create_db_cluster(
        DBClusterIdentifier="aurora-1",
        Engine="aurora-postgresql",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-secret-1",
    )
    code, out, err = cli("instances", *REGIONS, "--json")
    assert code == 0, err
    data = json.loads(out)
    rows = {r["identifier"]: r for r in data["inventory"]["resources"]}
    assert {k: (r["region"], r["ca"]) for k, r in rows.items() if r["kind"] == "instance"} == FLEET
    assert (
        rows["aurora-1"]["kind"] == "cluster" and rows["aurora-1"]["engine"] == "aurora-postgresql"
    )
    assert rows["db-rsa"]["endpoint"].endswith(".eu-west-1.rds.amazonaws.com")
    assert rows["db-rsa"]["port"] == 5432
    assert data["readiness"] is None
    # moto does not implement DescribePendingMaintenanceActions: said, not fatal.
    assert data["inventory"]["pending_known"] is False
    assert "pending maintenance actions unknown in us-east-1" in err

    code, out, err = cli("instances", "--region", "eu-west-1")
    assert code == 0, err
    header, *lines = out.splitlines()
    assert header.split()[:3] == ["IDENTIFIER", "KIND", "REGION"]
    assert [line.split()[0] for line in lines] == ["db-rsa", "aurora-1"]
    assert "rds-ca-rsa2048-g1" in lines[0] and "unknown" in lines[0]


def test_instances_region_comes_from_the_environment(
    fleet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = cli("instances")
    assert code == 2 and "--region" in err
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    code, out, err = cli("instances", "--json")
    assert code == 0, err
    assert [r["identifier"] for r in json.loads(out)["inventory"]["resources"]] == ["db-ecc"]


def test_instances_store_flags_exactly_the_stores_lacking_each_ca(
    fleet: Any, stores: dict[str, Path]
) -> None:
    names = ["full", "g1only", "no-ecc", "no-rsa-eu"]
    code, out, err = cli("instances", *REGIONS, *store_args(stores, *names), "--json")
    assert code == 1, err
    data = json.loads(out)["readiness"]
    assert data["target"] == "rds-ca-rsa2048-g1" and data["ready"] is False
    verdicts = {
        r["identifier"]: {Path(s["store"]).name: (s["current"], s["target"]) for s in r["stores"]}
        for r in data["resources"]
    }
    ok = (True, True)
    assert verdicts == {
        "db-2019": {
            "full.pem": ok,
            "g1only.pem": (False, True),
            "no-ecc.p12": ok,
            "no-rsa-eu.pem": ok,
        },
        "db-ecc": {
            "full.pem": ok,
            "g1only.pem": ok,
            "no-ecc.p12": (False, True),
            "no-rsa-eu.pem": ok,
        },
        "db-rsa": {
            "full.pem": ok,
            "g1only.pem": ok,
            "no-ecc.p12": ok,
            "no-rsa-eu.pem": (False, False),
        },
    }
    # The CA of each row is the region's root of that generation (the 2019 root for 2019).
    refs = {r["identifier"]: r["current_certificates"][0]["common_name"] for r in data["resources"]}
    assert refs == {
        "db-2019": "Amazon RDS Root 2019 CA",
        "db-ecc": "Amazon RDS ap-southeast-2 Root CA ECC384 G1",
        "db-rsa": "Amazon RDS eu-west-1 Root CA RSA2048 G1",
    }

    code, out, err = cli("instances", *REGIONS, *store_args(stores, *names))
    assert code == 1
    readiness = out.split("stores against the CA in use now", 1)[1].splitlines()
    table = {line.split()[0]: line.split()[3:] for line in readiness if line.startswith("db-")}
    assert table == {
        "db-2019": ["ok", "BREAKS:now", "ok", "ok"],
        "db-ecc": ["ok", "ok", "BREAKS:now", "ok"],
        "db-rsa": ["ok", "ok", "ok", "BREAKS:now+target"],
    }
    assert "  S4 = " + str(stores["no-rsa-eu"].resolve()) in out
    assert "3 of 3 would break a store" in err


def test_instances_store_passes_when_every_store_has_every_ca(
    fleet: Any, stores: dict[str, Path]
) -> None:
    code, out, err = cli("instances", *REGIONS, *store_args(stores, "full"), "--json")
    assert code == 0, err
    assert json.loads(out)["readiness"]["ready"] is True
    # ... and the same store without the one root db-rsa's region needs does not.
    code, out, _ = cli("instances", "--region", "eu-west-1", *store_args(stores, "no-rsa-eu"))
    assert code == 1


def test_instances_target_changes_what_is_required(fleet: Any, stores: dict[str, Path]) -> None:
    args = ["--region", "ap-southeast-2", "--target", "rds-ca-ecc384-g1", "--json"]
    code, out, _ = cli("instances", *args, *store_args(stores, "no-rsa-eu"))
    assert code == 0
    code, out, _ = cli("instances", *args, *store_args(stores, "no-ecc"))
    assert code == 1
    (row,) = json.loads(out)["readiness"]["resources"]
    assert (row["stores"][0]["current"], row["stores"][0]["target"]) == (False, False)
    code, _, err = cli("instances", "--region", "us-east-1", "--target", "rds-ca-2019")
    assert code == 2 and "not a CA to rotate to" in err


def test_instances_aws_errors_are_one_sentence_exit_9(
    aws_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on this port: the connection is refused at once, without retries to AWS.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = cli(
        "instances", "--region", "us-east-1", "--endpoint-url", f"http://127.0.0.1:{port}"
    )
    assert code == 9 and out == ""
    assert err.startswith("rdstrust: error: Cannot reach the RDS API") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, _, err = cli("instances", "--region", "us-east-1")
    assert code == 9 and "No AWS credentials found" in err

    code, _, err = cli("instances", "--region", "us-east-1", "--profile", "nope")
    assert code == 9 and "profile 'nope' is not configured" in err
    code, _, err = cli("instances", "--region", "mars")
    assert code == 2 and "not an AWS region code" in err


# --- rotate ----------------------------------------------------------------------------------


def test_rotate_checks_the_region_of_the_instance(
    mutable_fleet: Any, stores: dict[str, Path]
) -> None:
    """no-rsa-eu lacks the eu-west-1 RSA2048 root only: a us-east-1 instance may rotate."""
    code, out, err = cli(
        "rotate",
        "--instance",
        "db-2019",
        "--region",
        "us-east-1",
        *store_args(stores, "full", "no-rsa-eu"),
        "--yes",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["applied"] is True
    assert described_ca(mutable_fleet, "db-2019") == "rds-ca-rsa2048-g1"


def test_rotate_to_the_ca_in_use(fleet: Any, stores: dict[str, Path]) -> None:
    base = [
        "rotate",
        "--instance",
        "db-ecc",
        "--region",
        "ap-southeast-2",
        "--to",
        "rds-ca-ecc384-g1",
    ]
    code, out, err = cli(*base, *store_args(stores, "full", "no-rsa-eu"), "--yes")
    assert code == 0, err
    assert "already uses rds-ca-ecc384-g1; nothing to change" in err
    assert "status: nothing to do" in out
    # A store that does not trust the CA in use is still refused: it is broken today.
    code, out, err = cli(*base, *store_args(stores, "full", "no-ecc"), "--yes")
    assert code == 1 and "no-ecc.p12" in err
    assert described_ca(fleet, "db-ecc") == "rds-ca-ecc384-g1"


def test_rotate_refused_names_the_store_and_leaves_the_emulator_unchanged(
    mutable_fleet: Any, stores: dict[str, Path]
) -> None:
    fleet = mutable_fleet
    fleet.client("eu-west-1").modify_db_instance(
        DBInstanceIdentifier="db-rsa", CACertificateIdentifier="rds-ca-2019", ApplyImmediately=True
    )
    before = state(fleet, "eu-west-1")
    code, out, err = cli(
        "rotate",
        "--instance",
        "db-rsa",
        "--region",
        "eu-west-1",
        "--to",
        "rds-ca-rsa2048-g1",
        *store_args(stores, "full", "no-rsa-eu"),
        "--yes",
        "--apply-immediately",
    )
    assert code == 1, err
    assert "Refused" in err and str(stores["no-rsa-eu"].resolve()) in err
    assert str(stores["full"].resolve()) not in err.split("Refused", 1)[1]
    assert "status: REFUSED" in out
    after = state(fleet, "eu-west-1")
    assert after == before and described_ca(fleet, "db-rsa") == "rds-ca-2019"
    # Its twin: without that store the same command goes ahead.
    code, out, err = cli(
        "rotate",
        "--instance",
        "db-rsa",
        "--region",
        "eu-west-1",
        *store_args(stores, "full"),
        "--yes",
        "--apply-immediately",
    )
    assert code == 0, err
    assert described_ca(fleet, "db-rsa") == "rds-ca-rsa2048-g1"


def test_rotate_without_yes_plans_only(fleet: Any, stores: dict[str, Path]) -> None:
    code, out, err = cli(
        "rotate",
        "--instance",
        "db-2019",
        "--region",
        "us-east-1",
        *store_args(stores, "full"),
        "--no-restart",
        "--apply-immediately",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["applied"] is False
    plan = data["plan"]
    assert (plan["current_ca"], plan["target_ca"], plan["restart"]) == (
        "rds-ca-2019",
        "rds-ca-rsa2048-g1",
        False,
    )
    assert plan["blocking"] == [] and plan["apply_immediately"] is True
    assert "Plan only: nothing was changed" in err
    assert described_ca(fleet, "db-2019") == "rds-ca-2019"


def test_rotate_with_yes_applies_and_waits(mutable_fleet: Any, stores: dict[str, Path]) -> None:
    fleet = mutable_fleet
    code, out, err = cli(
        "rotate",
        "--instance",
        "db-2019",
        "--region",
        "us-east-1",
        *store_args(stores, "full", "no-ecc"),
        "--yes",
        "--apply-immediately",
        "--no-restart",
        "--wait",
        "--wait-interval",
        "0.2",
        "--wait-timeout",
        "20",
    )
    assert code == 0, err
    assert "status: applied" in out and "reported CA: rds-ca-rsa2048-g1" in out
    assert described_ca(fleet, "db-2019") == "rds-ca-rsa2048-g1"
    assert described_ca(fleet, "db-ecc") == "rds-ca-ecc384-g1"  # only the named one


def test_rotate_a_cluster(mutable_fleet: Any, stores: dict[str, Path]) -> None:
    aws_env = mutable_fleet
    aws_env.client("us-east-1").create_db_cluster(
        DBClusterIdentifier="aurora-1",
        Engine="aurora-postgresql",
        MasterUsername="admin_user",
        MasterUserPassword="not-a-secret-1",
    )
    base = ["rotate", "--cluster", "aurora-1", "--region", "us-east-1"]
    code, out, err = cli(*base, *store_args(stores, "g1only"), "--no-restart")
    assert code == 2 and "DB instances only" in err
    code, out, err = cli(*base, *store_args(stores, "g1only"), "--yes", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["applied"] is True and data["plan"]["kind"] == "cluster"
    code, out, err = cli(*base, *store_args(stores, "g1only"), "--to", "rds-ca-ecc384-g1")
    assert code == 0, err


def test_rotate_unknown_instance_and_usage_errors(aws_env: Any, stores: dict[str, Path]) -> None:
    code, _, err = cli(
        "rotate", "--instance", "nope", "--region", "us-east-1", *store_args(stores, "full")
    )
    assert code == 9 and "There is no DB instance 'nope' in us-east-1" in err
    code, _, err = cli("rotate", "--region", "us-east-1", *store_args(stores, "full"))
    assert code == 2 and "exactly one of --instance" in err
    code, _, err = cli("rotate", "--instance", "x", "--cluster", "y", *store_args(stores, "full"))
    assert code == 2
    code, _, err = cli("rotate", "--instance", "x", "--wait", *store_args(stores, "full"))
    assert code == 2 and "--wait needs --yes and --apply-immediately" in err
    code, _, err = cli(
        "rotate", "--instance", "x", "--to", "rds-ca-2019", *store_args(stores, "full")
    )
    assert code == 2


def test_wait_polls_the_emulator_until_the_new_ca_shows(mutable_fleet: Any) -> None:
    """The rotation shows up only after a delay (another thread changes it, as AWS would)."""
    fleet = mutable_fleet
    from rdstrust.aws.client import AwsOptions, boto3_session
    from rdstrust.aws.inventory import ResourceKind
    from rdstrust.aws.rotate import fetch_resource, wait_for_ca

    options = AwsOptions(endpoint_url=fleet.url)
    fetch = fetch_resource(
        boto3_session(options), options, ResourceKind.INSTANCE, "db-2019", "us-east-1"
    )
    calls = []

    def counted() -> Any:
        calls.append(time.monotonic())
        return fetch()

    def later() -> None:
        time.sleep(1.0)
        fleet.client("us-east-1").modify_db_instance(
            DBInstanceIdentifier="db-2019",
            CACertificateIdentifier="rds-ca-rsa4096-g1",
            ApplyImmediately=True,
        )

    thread = threading.Thread(target=later)
    thread.start()
    try:
        resource, waited = wait_for_ca(counted, "rds-ca-rsa4096-g1", timeout=15, interval=0.2)
    finally:
        thread.join()
    assert resource.ca == "rds-ca-rsa4096-g1"
    assert waited >= 0.9 and len(calls) >= 3

    with pytest.raises(AwsError, match="still reports CA rds-ca-rsa4096-g1"):
        wait_for_ca(fetch, "rds-ca-ecc384-g1", timeout=1.0, interval=0.3)


def test_all_regions_skips_a_region_that_refuses(fleet: Any) -> None:
    """--all-regions includes opt-in regions an account may not have enabled: such a region is
    a note, not the end of the run. The emulator refuses a region it does not know the same way
    (an error answer), which stands in for one here."""
    from rdstrust.aws.client import AwsOptions, boto3_session
    from rdstrust.aws.inventory import list_resources

    options = AwsOptions(endpoint_url=fleet.url)
    session = boto3_session(options)
    regions = ["us-east-1", "xx-nowhere-1"]
    inventory = list_resources(session, options, regions, pending=False, skip_failing=True)
    assert [r.identifier for r in inventory.resources] == ["db-2019"]
    assert inventory.regions == ("us-east-1",)
    assert inventory.skipped_regions == ("xx-nowhere-1",)
    assert inventory.notes[0].startswith("skipped xx-nowhere-1: The RDS API answered")
    with pytest.raises(AwsError, match="xx-nowhere-1"):
        list_resources(session, options, regions, pending=False)
    with pytest.raises(AwsError, match="xx-nowhere-1"):
        list_resources(session, options, regions[1:], pending=False, skip_failing=True)
