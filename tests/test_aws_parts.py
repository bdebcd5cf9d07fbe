"""The AWS commands' parts that need no emulator, and the APIs moto lacks.

moto implements neither ``DescribePendingMaintenanceActions`` nor ``DescribeCertificates`` (its
server answers 500; tests/test_aws.py checks that ``instances`` says so and goes on). The
pending-actions code path is tested here against a small response written in the shape the RDS
API reference documents for that call, served through botocore's ``Stubber``: the one place these
tests use a stub, because no emulator answers it and AWS itself is never called from tests.
rdstrust does not call ``DescribeCertificates``: the CA in use and its validity come from each
instance's ``CACertificateIdentifier`` and ``CertificateDetails``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from support import FIXTURES, ROOT
from tls_server import HTTPSServer

from rdstrust.aws.client import clean
from rdstrust.aws.inventory import (
    CA_ROTATION_ACTION,
    DbResource,
    Inventory,
    ResourceKind,
    instance_resource,
    parse_pending_actions,
    with_pending,
)
from rdstrust.aws.readiness import ca_certificates, check_readiness
from rdstrust.aws.rotate import modify_request, plan_rotation, probe_endpoint
from rdstrust.bundle import read_bundle
from rdstrust.certs import Generation
from rdstrust.cli.instances import InstancesReport, render_instances
from rdstrust.errors import UsageError
from rdstrust.probe import StartTLS
from rdstrust.stores import NewCert, StoreType, create_store, read_store

MIXED = FIXTURES / "bundles" / "mixed.pem"
ARN = "arn:aws:rds:us-east-1:123456789012:db:db-2019"
WHEN = datetime(2027, 3, 1, 6, 0, tzinfo=timezone.utc)

#: DescribePendingMaintenanceActions in the documented shape: one CA rotation, one other action
#: that must not be reported as one, and a resource with only an OS upgrade.
RECORDED_PENDING = {
    "PendingMaintenanceActions": [
        {
            "ResourceIdentifier": ARN,
            "PendingMaintenanceActionDetails": [
                {
                    "Action": "ca-certificate-rotation",
                    "AutoAppliedAfterDate": WHEN,
                    "CurrentApplyDate": WHEN,
                    "Description": "Certificate rotation",
                },
                {"Action": "system-update", "Description": "New Operating System update"},
            ],
        },
        {
            "ResourceIdentifier": "arn:aws:rds:us-east-1:123456789012:db:other",
            "PendingMaintenanceActionDetails": [
                {"Action": "os-upgrade", "Description": "New Operating System update"}
            ],
        },
    ]
}


def resource(ca: str | None, region: str = "us-east-1", **kw: Any) -> DbResource:
    fields: dict[str, Any] = {
        "kind": ResourceKind.INSTANCE,
        "identifier": "db-2019",
        "region": region,
        "engine": "postgres",
        "endpoint": "127.0.0.1",
        "port": 5432,
        "ca": ca,
        "valid_till": None,
        "arn": ARN,
    }
    fields.update(kw)
    return DbResource(**fields)


def test_parse_pending_keeps_ca_rotations_only() -> None:
    found = parse_pending_actions(RECORDED_PENDING)
    assert list(found) == [ARN]
    (action,) = found[ARN]
    assert action.action == CA_ROTATION_ACTION and action.current_apply == WHEN


def test_pending_from_a_stubbed_client_reaches_the_table() -> None:
    botocore_stub = pytest.importorskip("botocore.stub")
    boto3 = pytest.importorskip("boto3")
    from rdstrust.aws.inventory import pending_ca_rotations

    client = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    ).client("rds")
    with botocore_stub.Stubber(client) as stub:
        stub.add_response("describe_pending_maintenance_actions", RECORDED_PENDING, {})
        actions, note = pending_ca_rotations(client, "us-east-1")
        stub.add_client_error(
            "describe_pending_maintenance_actions", "AccessDenied", "not authorized", 403
        )
        none, denied = pending_ca_rotations(client, "us-east-1")
    assert note is None and none == {}
    assert denied is not None and "AccessDenied" in denied
    rows = with_pending([resource("rds-ca-2019"), resource("x", arn="arn:other")], actions)
    report = InstancesReport(Inventory(("us-east-1",), rows, pending_known=True), None)
    lines = render_instances(report).splitlines()
    assert lines[1].endswith("ca-certificate-rotation 2027-03-01")
    assert lines[2].endswith(" -")  # known, none pending
    unknown = InstancesReport(Inventory(("us-east-1",), rows[1:], pending_known=False), None)
    assert render_instances(unknown).splitlines()[1].endswith(" unknown")


def test_instance_text_from_the_api_is_cleaned() -> None:
    row = instance_resource(
        {
            "DBInstanceIdentifier": "db\x1b[2J\u202e",
            "Engine": "postgres",
            "Endpoint": {"Address": "h" * 1000, "Port": 99999},
            "CACertificateIdentifier": "rds-ca-rsa2048-g1",
        },
        "us-east-1",
    )
    assert row.identifier == "db\\u001b[2J\\u202e"
    assert len(row.endpoint or "") == 259 and row.port is None
    assert clean("a b") == "a b" and clean(None) == ""


@pytest.mark.parametrize(
    ("ca", "region", "common_name"),
    [
        ("rds-ca-rsa2048-g1", "eu-west-1", "Amazon RDS eu-west-1 Root CA RSA2048 G1"),
        ("RDS-CA-ECC384-G1", "us-east-1", "Amazon RDS us-east-1 Root CA ECC384 G1"),
        ("rds-ca-rsa4096-g1", "ap-southeast-2", "Amazon RDS ap-southeast-2 Root CA RSA4096 G1"),
        ("rds-ca-2019", "eu-west-1", "Amazon RDS Root 2019 CA"),
    ],
)
def test_ca_identifier_maps_to_the_regions_root(ca: str, region: str, common_name: str) -> None:
    (cert,) = ca_certificates(read_bundle(MIXED), ca, region)
    assert cert.common_name == common_name


def test_unknown_ca_or_region_maps_to_nothing_and_fails_the_target() -> None:
    bundle = read_bundle(MIXED)
    assert ca_certificates(bundle, "rds-ca-default", "us-east-1") == ()
    assert ca_certificates(bundle, "rds-ca-rsa2048-g1", "sa-east-1") == ()
    full = read_store(FIXTURES / "bundles" / "mixed.pem", None)
    result = check_readiness([resource("rds-ca-default", "sa-east-1")], [full], bundle)
    (row,) = result.resources
    assert row.stores[0].current is None and row.stores[0].target is False
    assert not result.ready
    assert any("rdstrust does not know" in n for n in row.notes)


def test_modify_request_passes_the_options_through(tmp_path: Path) -> None:
    bundle = read_bundle(MIXED)
    store = tmp_path / "s.pem"
    store.write_bytes(
        create_store(StoreType.PEM, [NewCert.from_info(c) for c in bundle], password=None)
    )
    contents = [read_store(store, None)]
    plan = plan_rotation(
        resource("rds-ca-2019"), contents, bundle, "rds-ca-rsa2048-g1", no_restart=True
    )
    assert modify_request(plan) == (
        "modify_db_instance",
        {
            "DBInstanceIdentifier": "db-2019",
            "CACertificateIdentifier": "rds-ca-rsa2048-g1",
            "ApplyImmediately": False,
            "CertificateRotationRestart": False,
        },
    )
    plain = plan_rotation(resource("rds-ca-2019"), contents, bundle, "rds-ca-rsa2048-g1")
    assert "CertificateRotationRestart" not in modify_request(plain)[1]
    with pytest.raises(UsageError, match="sqlserver-ee cannot rotate"):
        plan_rotation(
            resource("rds-ca-2019", engine="sqlserver-ee"),
            contents,
            bundle,
            "rds-ca-rsa2048-g1",
            no_restart=True,
        )


@pytest.mark.parametrize(
    ("chain", "generation"),
    [("rsa2048-g1-us-east-1", Generation.RSA2048_G1), ("2019-us-east-1", Generation.CA_2019)],
)
def test_probe_after_rotation_reports_the_issuing_generation(
    chain: str, generation: Generation
) -> None:
    """The endpoint is a real local TLS server (TLS at once: --starttls none)."""
    with HTTPSServer(chain=chain) as server:
        summary = probe_endpoint(
            resource("rds-ca-rsa2048-g1", port=server.port), starttls=StartTLS.NONE, timeout=10
        )
    assert summary.generation is generation
    assert summary.region == "us-east-1" and summary.port == server.port


def _run_without_boto3(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter where importing boto3 or botocore fails, as when the
    extra is not installed."""
    code = (
        "import sys\n"
        "sys.modules['boto3'] = None\n"
        "sys.modules['botocore'] = None\n"
        "import atexit\n"
        "def report():\n"  # run however the command line exits
        "    boto = [m for m, mod in sys.modules.items() if m.startswith('boto') and mod]\n"
        "    print('LOADED' if boto else 'CLEAN')\n"
        "atexit.register(report)\n"
        "from rdstrust.cli import main\n"
        f"sys.argv = ['rdstrust', *{list(args)!r}]\n"
        "main()\n"
    )
    env = {**os.environ, "RDSTRUST_STOREPASS": ""}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_without_the_aws_extra_each_command_names_it(tmp_path: Path) -> None:
    store = tmp_path / "s.pem"
    store.write_bytes((FIXTURES / "bundles" / "g1.pem").read_bytes())
    for args in (
        ["instances", "--region", "us-east-1"],
        [
            "rotate",
            "--instance",
            "db",
            "--region",
            "us-east-1",
            "-s",
            str(store),
            "--bundle",
            str(MIXED),
        ],
    ):
        done = _run_without_boto3(*args)
        assert done.returncode == 7, done.stderr
        assert done.stderr.strip() == (
            "rdstrust: error: This command needs boto3, which is not installed; install "
            "'rdstrust[aws]' (pip install 'rdstrust[aws]')."
        )
        assert done.stdout.strip() == "CLEAN"


def test_help_never_imports_boto3() -> None:
    done = _run_without_boto3("--help")
    assert done.returncode == 0, done.stderr
    assert "instances" in done.stdout and "rotate" in done.stdout
    assert done.stdout.strip().endswith("CLEAN")
    done = _run_without_boto3("instances", "--help")
    assert done.returncode == 0 and "--all-regions" in done.stdout


def test_all_regions_is_botocore_s_list_for_the_partition() -> None:
    boto3 = pytest.importorskip("boto3")
    from rdstrust.aws.client import resolve_regions

    gov = boto3.session.Session(region_name="us-gov-west-1")
    assert set(resolve_regions(gov, [], all_regions=True)) == {"us-gov-east-1", "us-gov-west-1"}
    commercial = boto3.session.Session(region_name="eu-west-1")
    regions = resolve_regions(commercial, [], all_regions=True)
    assert "us-east-1" in regions and "us-gov-west-1" not in regions
    with pytest.raises(UsageError, match="not both"):
        resolve_regions(commercial, ["us-east-1"], all_regions=True)
    assert (
        json.dumps(resolve_regions(commercial, ["US-EAST-1", "us-east-1"], all_regions=False))
        == '["us-east-1"]'
    )


def test_apply_refuses_a_plan_the_stores_do_not_allow(tmp_path: Path) -> None:
    """The library guards the change too, before any AWS call (no session is even needed)."""
    from rdstrust.aws.client import AwsOptions
    from rdstrust.aws.rotate import apply_rotation

    bundle = read_bundle(MIXED)
    old_only = [c for c in bundle if c.generation is Generation.CA_2019]
    store = tmp_path / "old.pem"
    store.write_bytes(
        create_store(StoreType.PEM, [NewCert.from_info(c) for c in old_only], password=None)
    )
    plan = plan_rotation(
        resource("rds-ca-2019"), [read_store(store, None)], bundle, "rds-ca-rsa2048-g1"
    )
    assert not plan.allowed and plan.blocking == (str(store.resolve()),)
    with pytest.raises(UsageError, match="Refusing to rotate"):
        apply_rotation(None, AwsOptions(), plan)


def test_endpoint_url_must_be_http() -> None:
    from typer.testing import CliRunner

    from rdstrust.cli import app

    result = CliRunner().invoke(
        app, ["instances", "--region", "us-east-1", "--endpoint-url", "file:///etc/passwd"]
    )
    assert result.exit_code == 2
    assert "is not an http:// or https:// URL" in result.stderr


def test_rotate_probes_an_engine_in_its_own_protocol_by_default() -> None:
    """``rotate --probe`` without --starttls: a MySQL/MariaDB endpoint (3306) gets MySQL's TLS
    upgrade, a PostgreSQL one PostgreSQL's (before, every endpoint got PostgreSQL's)."""
    from rdstrust.aws.rotate import ResourceKind, RotateOptions
    from rdstrust.probe import StartTLS, resolve_starttls

    request = RotateOptions(kind=ResourceKind.INSTANCE, identifier="db", target="rds-ca-rsa2048-g1")
    assert resolve_starttls(request.starttls, 3306) is StartTLS.MYSQL
    assert resolve_starttls(request.starttls, 5432) is StartTLS.POSTGRES
