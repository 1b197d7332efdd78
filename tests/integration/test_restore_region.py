"""Region lost: restores from the copies in us-west-2 through the real restore state machine.
The daily run's points are copied there; web-1 is restored into the DR VPC's web subnet from its
copied AMI, with the security group of the same name there, while the home web-1, its Elastic IP
and its target group are left exactly as they were; the database restores from its copied
snapshot into the DR subnet group with its security group by name; a failed restore there
removes only what it launched there; the lock is the one a home restore takes; a dry run
changes nothing; refusals name the field."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import executions
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_INPUT, EXIT_OK, main
from lifeboat.errors import ReplacementFailedError
from lifeboat.restore import health as health_stage
from lifeboat.restore.region import restored_in_key
from tests.integration.helpers import run_schedule, wait_copiers

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


def test_web_1_is_restored_in_the_dr_region_and_home_is_untouched(
    stack: Any, copied: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    before = home_view(copied)
    web = copied.protected_instances["web-1"]
    result = restore(stack, {"instance_id": web, "region": DR}, "region-web")
    assert result["status"] == "SUCCEEDED", result
    (replacement,) = dr_instances()
    dr = copied.dr
    assert replacement["SubnetId"] in (dr.subnets["web-a"], dr.subnets["web-b"])
    assert replacement["VpcId"] == dr.vpc_id
    assert [g["GroupId"] for g in replacement["SecurityGroups"]] == [dr.security_groups["web"]]
    assert replacement["Placement"]["AvailabilityZone"].startswith(DR)
    assert not replacement.get("KeyName")  # key pairs are per region: none named so there
    tags = T.to_dict(replacement.get("Tags"))
    assert tags[T.RESTORED_FROM] == web and tags["Name"] == "web-1"
    image = client("ec2", DR).describe_images(ImageIds=[replacement["ImageId"]])["Images"][0]
    assert T.to_dict(image["Tags"])[T.COPY_OF]  # launched from the copy, not a home AMI
    assert home_view(copied) == before  # running, not fenced, same address, same targets
    output = result["output"]
    assert output["region"] == DR and any("not fenced" in n for n in output["not_done"])
    # The home lineage is left as it was; the restore there is recorded apart.
    catalog = Catalog(stack.outputs["CatalogTableName"])
    assert not catalog.records(f"REPLACED#{web}")
    assert catalog.records(restored_in_key(DR, web))[0]["by"] == replacement["InstanceId"]
    # A second restore there while the first replacement stands is refused; at home web-1 is
    # still the server (a home restore plans as before, not "already replaced").
    capsys.readouterr()
    assert main(["restore", "start", "--instance", web, "--region", DR]) == EXIT_INPUT
    assert f"already restored in {DR} as {replacement['InstanceId']}" in capsys.readouterr().err
    assert main(["restore", "start", "--instance", web, "--dry-run"]) == EXIT_OK
    assert len(dr_instances()) == 1


def test_a_launch_there_waits_for_that_region_s_shared_pace(stack: Any, copied: Any) -> None:
    # Given the DR region's RunInstances bucket taken a minute ahead by other restores there
    # (the home region's bucket is free: a restore there never draws on it)
    table, ddb = stack.outputs["CatalogTableName"], client("dynamodb")

    def pace(region: str) -> float | None:
        key = {"pk": {"S": f"PACE#{region}#RunInstances"}, "sk": {"S": "PACE"}}
        item = ddb.get_item(TableName=table, Key=key).get("Item")
        return float(item["tat"]["N"]) if item else None

    ahead = time.time() + 60
    ddb.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"PACE#{DR}#RunInstances"},
            "sk": {"S": "PACE"},
            "tat": {"N": f"{ahead:.3f}"},
        },
    )
    home = pace("us-east-1")
    web = copied.protected_instances["web-1"]
    # When web-1 is restored there
    result = restore(stack, {"instance_id": web, "region": DR}, "region-paced")
    # Then the launch waited in the machine for the DR bucket, and launched there once
    assert result["status"] == "SUCCEEDED", result
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in executions.HistoryReader(result["execution_arn"]).new_events()
        if e["type"].endswith("StateEntered")
    ]
    assert entered.count("WaitForLaunchPace") == 1 and entered.count("Launch") == 2
    assert len(dr_instances()) == 1
    assert pace(DR) == pytest.approx(ahead + 1 / 1.6, abs=0.01)
    assert pace("us-east-1") == home


def test_the_database_is_restored_from_its_copy_in_the_dr_region(stack: Any, copied: Any) -> None:
    result = restore(stack, {"db_instance_id": "elearn-db", "region": DR}, "region-db")
    assert result["status"] == "SUCCEEDED", result
    dbs = client("rds", DR).describe_db_instances()["DBInstances"]
    (restored,) = [d for d in dbs if "restored" in d["DBInstanceIdentifier"]]
    assert restored["DBSubnetGroup"]["DBSubnetGroupName"] == "elearn-db"
    # its security group by the name recorded at backup (elearn-db), in the DR VPC
    groups = [g["VpcSecurityGroupId"] for g in restored["VpcSecurityGroups"]]
    assert groups == [copied.dr.security_groups["db"]]
    assert restored["AvailabilityZone"].startswith(DR)
    home = client("rds").describe_db_instances(DBInstanceIdentifier="elearn-db")["DBInstances"]
    assert home[0]["DBInstanceStatus"] == "available"


def test_a_failed_restore_there_removes_only_what_it_launched_there(
    stack: Any, copied: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = home_view(copied)
    web = copied.protected_instances["web-1"]
    ec2 = client("ec2", DR)
    image = ec2.describe_images(Owners=["self"])["Images"][0]["ImageId"]
    theirs = ec2.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        SubnetId=copied.dr.subnets["web-a"],
    )["Instances"][0]["InstanceId"]  # fmt: skip

    # Given a replacement there that stops before it is healthy
    def stopped(*_: Any) -> Any:
        raise ReplacementFailedError("replacement stopped (injected)")

    monkeypatch.setattr(health_stage, "_health", stopped)
    result = restore(stack, {"instance_id": web, "region": DR}, "region-failed")

    # Then it is terminated there, the other instance is not, home is untouched, no lock held
    assert result["status"] == "FAILED" and result["error"] == "ReplacementFailedError"
    assert [i["InstanceId"] for i in dr_instances()] == [theirs]
    assert home_view(copied) == before
    catalog = Catalog(stack.outputs["CatalogTableName"])
    assert not catalog.active_locks([web], int(time.time()))


def test_a_restore_there_waits_for_the_lock_a_home_restore_holds(
    stack: Any, copied: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web = copied.protected_instances["web-1"]
    catalog = Catalog(stack.outputs["CatalogTableName"])
    home = "arn:aws:states:us-east-1:123456789012:execution:lifeboat-restore:at-home"
    assert catalog.acquire_lock(web, home, int(time.time()), 600, {"requested_by": "t"}) is None
    capsys.readouterr()
    assert main(["restore", "start", "--instance", web, "--region", DR]) == EXIT_INPUT
    assert f"a restore of {web} is already running: {home}" in capsys.readouterr().err
    assert dr_instances() == []
    catalog.release_lock(web, home)


def test_dry_run_in_the_dr_region_plans_and_changes_nothing(
    stack: Any, copied: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    before = home_view(copied)
    web = copied.protected_instances["web-1"]
    capsys.readouterr()
    code = main(["restore", "start", "--instance", web, "--region", DR, "--dry-run"])
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    dr = copied.dr
    assert f"in {DR} from its copy there (us-east-1 presumed lost)" in out
    assert "the data lost if restored now (RPO)" in out
    assert f"of VPC {dr.vpc_id}" in out
    assert f"security groups elearn-web ({dr.security_groups['web']})" in out
    assert "NOT done" in out and "not fenced, stopped or even described" in out
    assert f"Elastic IP {copied.elastic_ip['public_ip']} stays in us-east-1" in out
    assert dr_instances() == [] and home_view(copied) == before
    catalog = Catalog(stack.outputs["CatalogTableName"])
    assert not catalog.active_locks([web], int(time.time()))


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
    # A DB subnet group missing there: refused before anything is restored, naming it
    client("rds", DR).delete_db_subnet_group(DBSubnetGroupName="elearn-db")
    assert main(["restore", "start", "--db", "elearn-db", "--region", DR]) == EXIT_INPUT
    assert "no DB subnet group named 'elearn-db' in us-west-2" in capsys.readouterr().err
    assert not [
        d
        for d in client("rds", DR).describe_db_instances()["DBInstances"]
        if "restored" in d["DBInstanceIdentifier"]
    ]


def test_the_runbooks_by_hand_filters_find_the_copies_there(stack: Any, copied: Any) -> None:
    """With Lifeboat's own region lost, the runbook's AWS CLI filters find each copy there."""
    web = copied.protected_instances["web-1"]
    images = client("ec2", DR).describe_images(
        Owners=["self"],
        Filters=[
            {"Name": "tag:lifeboat:source", "Values": [web]},
            {"Name": "tag-key", "Values": [T.COPY_POINT]},
        ],
    )["Images"]
    assert len(images) == 1 and images[0]["BlockDeviceMappings"]
    snapshots = client("rds", DR).describe_db_snapshots(
        DBInstanceIdentifier="elearn-db", SnapshotType="manual"
    )["DBSnapshots"]
    assert len(snapshots) == 1
    tags = client("rds", DR).list_tags_for_resource(ResourceName=snapshots[0]["DBSnapshotArn"])
    assert T.COPY_POINT in T.to_dict(tags["TagList"])
