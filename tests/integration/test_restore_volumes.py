"""A restore brings back every volume of the server: a data volume attached after the last AMI
comes from the newest EBS set, through the real restore state machine (issue 20, item 13)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_OK, main
from tests.faults import FaultInjector, FaultRule
from tests.integration.helpers import restore, run_schedule

pytestmark = pytest.mark.integration


def attach_data_volume(instance_id: str, device: str = "/dev/sdg") -> str:
    """A new encrypted volume attached by hand to ``instance_id`` (as an operator would)."""
    ec2 = client("ec2")
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    az = described["Instances"][0]["Placement"]["AvailabilityZone"]
    volume = ec2.create_volume(AvailabilityZone=az, Size=30, VolumeType="gp3", Encrypted=True)
    ec2.attach_volume(VolumeId=volume["VolumeId"], InstanceId=instance_id, Device=device)
    return str(volume["VolumeId"])


def volumes_of(instance_id: str) -> dict[str, dict[str, Any]]:
    found = client("ec2").describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["Volumes"]
    return {v["Attachments"][0]["Device"]: v for v in found}


def made_by(execution_arn: str) -> list[dict[str, Any]]:
    """Volumes the restore execution created that still exist (any state)."""
    found = client("ec2").describe_volumes(
        Filters=[{"Name": f"tag:{T.RESTORE_EXECUTION}", "Values": [execution_arn]}]
    )["Volumes"]
    return [v for v in found if v["State"] != "deleted"]


@pytest.fixture
def attached_after_ami(stack: Any, elearn: Any) -> tuple[Any, str]:
    """web-1 got /dev/sdg after the daily AMI; the hourly set after it includes it."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    assert run_schedule(stack, "daily", now - timedelta(minutes=30))["status"] == "SUCCEEDED"
    attach_data_volume(elearn.protected_instances["web-1"])
    assert run_schedule(stack, "hourly", now)["status"] == "SUCCEEDED"
    return elearn, "/dev/sdg"


def test_a_volume_attached_after_the_ami_is_restored_from_the_newest_set(
    stack: Any, attached_after_ami: tuple[Any, str]
) -> None:
    seeded, device = attached_after_ami
    web1 = seeded.protected_instances["web-1"]
    hourly = client("ec2").describe_snapshots(
        Filters=[
            {"Name": f"tag:{T.SOURCE}", "Values": [web1]},
            {"Name": f"tag:{T.KIND}", "Values": ["ebs"]},
        ]
    )["Snapshots"]
    original = volumes_of(web1)[device]
    snapshot = next(s for s in hourly if s["VolumeId"] == original["VolumeId"])

    # the plan names it
    planned = restore(stack, {"instance_id": web1, "dry_run": True}, "plan-sdg")
    volume = next(v for v in planned["output"]["volumes"] if v["device_name"] == device)
    assert volume["snapshot_id"] == snapshot["SnapshotId"] and volume["not_in_image"] is True
    assert volume["delete_on_termination"] is False  # as attached by hand: kept on termination

    result = restore(stack, {"instance_id": web1, "reason": "AZ a impaired"}, "restore-sdg")

    assert result["status"] == "SUCCEEDED", result
    restored = volumes_of(result["output"]["replacement_id"])
    assert restored[device]["SnapshotId"] == snapshot["SnapshotId"]
    assert restored[device]["AvailabilityZone"] == result["output"]["availability_zone"]
    assert restored[device]["Encrypted"] is True  # like the source
    assert restored[device]["Size"] == 30 and restored[device]["VolumeType"] == "gp3"
    tags = T.to_dict(restored[device]["Tags"])  # tagged at creation
    assert tags[T.RESTORED_FROM] == web1 and tags[T.RESTORE_EXECUTION] == result["execution_arn"]
    assert T.MANAGED not in tags
    assert set(restored) >= {"/dev/sdf", device}


def test_a_failed_restore_removes_every_volume_it_created(
    stack: Any, attached_after_ami: tuple[Any, str]
) -> None:
    seeded, _device = attached_after_ami
    web1 = seeded.protected_instances["web-1"]
    # Given the cut-over fails after the replacement (with its added volume) was launched
    with FaultInjector([FaultRule("AssociateAddress", "InvalidParameterValue", times=1)]):
        result = restore(stack, {"instance_id": web1}, "sdg-fails")
    assert result["status"] == "FAILED"
    # Then the abort terminated it with every volume it was launched with (one kept on
    # termination, as the original's hand-attached volume was, included)
    assert made_by(result["execution_arn"]) == []


def test_a_volume_no_backup_holds_is_named_by_the_plan_and_the_report(
    stack: Any, attached_after_ami: tuple[Any, str], capsys: pytest.CaptureFixture[str]
) -> None:
    seeded, _device = attached_after_ami
    web1 = seeded.protected_instances["web-1"]
    # Given /dev/sdh was attached after the newest backup
    sdh = attach_data_volume(web1, "/dev/sdh")

    planned = restore(stack, {"instance_id": web1, "dry_run": True}, "plan-sdh")

    # Then the plan warns (the restore would not bring it back) and the report names it
    assert any(f"/dev/sdh ({sdh})" in w for w in planned["output"]["warnings"])
    assert main(["report", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    rows = [r for az in report["az_failures"] for r in az["servers"] if r["id"] == web1]
    assert rows and all(any(f"/dev/sdh ({sdh})" in p for p in r["problems"]) for r in rows)
    assert not any("/dev/sdg" in p for r in rows for p in r["problems"])  # the set holds it
