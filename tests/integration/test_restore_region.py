"""Region lost: restores from the copies in us-west-2 through the real restore state machine.
The daily run's points are copied there; web-1 is restored into the DR VPC's web subnet from its
copied AMI, with the security group of the same name there, while the home web-1, its Elastic IP
and its target group are left exactly as they were; the database restores from its copied
snapshot into the DR subnet group; a dry run changes nothing; refusals name the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import executions
from lifeboat import tags as T
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_INPUT, EXIT_OK, main
from tests.integration.helpers import run_schedule
from tests.integration.test_copies import wait_copiers

pytestmark = pytest.mark.integration
DR = "us-west-2"


@pytest.fixture
def copied(stack: Any, elearn: Any) -> Any:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    assert run_schedule(stack, "daily", now - timedelta(minutes=5))["status"] == "SUCCEEDED"
    assert all(r["status"] == "SUCCEEDED" for r in wait_copiers(stack))
    return elearn


def restore(stack: Any, payload: dict[str, Any], name: str) -> dict[str, Any]:
    arn = executions.start(stack.outputs["RestoreStateMachineArn"], payload, name)
    return executions.wait(arn, timeout=120, poll=0.05)


def dr_instances() -> list[dict[str, Any]]:
    live = ["pending", "running", "stopping", "stopped"]
    reservations = client("ec2", DR).describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": live}]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def home_view(seeded: Any) -> tuple[Any, ...]:
    ec2, web = client("ec2"), seeded.protected_instances["web-1"]
    found = ec2.describe_instances(InstanceIds=[web])["Reservations"][0]["Instances"][0]
    address = ec2.describe_addresses(AllocationIds=[seeded.elastic_ip["allocation_id"]])
    health = client("elbv2").describe_target_health(TargetGroupArn=seeded.target_group_arn)
    return (
        found["State"]["Name"],
        T.to_dict(found.get("Tags")).get(T.FENCED),
        address["Addresses"][0].get("InstanceId"),
        sorted(d["Target"]["Id"] for d in health["TargetHealthDescriptions"]),
    )


def test_web_1_is_restored_in_the_dr_region_and_home_is_untouched(stack: Any, copied: Any) -> None:
    before = home_view(copied)
    web = copied.protected_instances["web-1"]
    result = restore(stack, {"instance_id": web, "region": DR}, "region-web")
    assert result["status"] == "SUCCEEDED", result
    (replacement,) = dr_instances()
    dr = copied.dr
    assert replacement["SubnetId"] in (dr.subnets["web-a"], dr.subnets["web-b"])
    assert [g["GroupId"] for g in replacement["SecurityGroups"]] == [dr.security_groups["web"]]
    assert replacement["Placement"]["AvailabilityZone"].startswith(DR)
    assert not replacement.get("KeyName")  # key pairs are per region
    tags = T.to_dict(replacement.get("Tags"))
    assert tags[T.RESTORED_FROM] == web and tags["Name"] == "web-1"
    image = client("ec2", DR).describe_images(ImageIds=[replacement["ImageId"]])["Images"][0]
    assert T.to_dict(image["Tags"])[T.COPY_OF]  # launched from the copy, not a home AMI
    assert home_view(copied) == before  # running, not fenced, same address, same targets


def test_the_database_is_restored_from_its_copy_in_the_dr_region(stack: Any, copied: Any) -> None:
    result = restore(stack, {"db_instance_id": "elearn-db", "region": DR}, "region-db")
    assert result["status"] == "SUCCEEDED", result
    dbs = client("rds", DR).describe_db_instances()["DBInstances"]
    (restored,) = [d for d in dbs if "restored" in d["DBInstanceIdentifier"]]
    assert restored["DBSubnetGroup"]["DBSubnetGroupName"] == "elearn-db"
    home = client("rds").describe_db_instances(DBInstanceIdentifier="elearn-db")["DBInstances"]
    assert home[0]["DBInstanceStatus"] == "available"


def test_dry_run_in_the_dr_region_plans_and_changes_nothing(
    stack: Any, copied: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web = copied.protected_instances["web-1"]
    capsys.readouterr()
    code = main(["restore", "start", "--instance", web, "--region", DR, "--dry-run"])
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert f"in {DR}, from the copy there" in out and "NOT fenced" in out
    assert dr_instances() == []


def test_refusals_name_the_field_and_change_nothing(
    stack: Any, copied: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web = copied.protected_instances["web-1"]
    capsys.readouterr()
    assert main(["restore", "start", "--instance", web, "--region", "us-east-1"]) == EXIT_INPUT
    assert "region" in capsys.readouterr().err
    assert main(["restore", "start", "--instance", web, "--region", "eu-west-1"]) == EXIT_INPUT
    assert "no completed copy in eu-west-1" in capsys.readouterr().err
    foreign = ["--security-group", "sg-0123456789abcdef0"]
    assert main(["restore", "start", "--instance", web, "--region", DR, *foreign]) == EXIT_INPUT
    assert "security_groups" in capsys.readouterr().err
    assert dr_instances() == []
    code = main(
        [
            "restore",
            "start",
            "--db",
            "elearn-db",
            "--region",
            DR,
            "--json",
            "--restore-time",
            "2026-11-28T00:00:00Z",
        ]
    )
    assert code == EXIT_INPUT
    json.loads(capsys.readouterr().out or "{}")
