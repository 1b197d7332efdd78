"""An adversary's review of ``lifeboat restore rollback`` and the restore's abort, through the
real restore state machine: nothing a restore did not create is ever deleted or terminated."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_INPUT, EXIT_OK, main
from tests.integration.helpers import address, instance, restore

pytestmark = pytest.mark.integration


def volumes_of(instance_id: str) -> dict[str, str]:
    found = client("ec2").describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["Volumes"]
    return {v["Attachments"][0]["Device"]: v["VolumeId"] for v in found}


def exists(volume_id: str) -> bool:
    found = client("ec2").describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])[
        "Volumes"
    ]
    return bool(found)


def test_rollback_never_deletes_a_volume_attached_to_the_replacement_after_the_restore(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    result = restore(stack, {"instance_id": web1}, "restore-foreign-volume")
    assert result["status"] == "SUCCEEDED", result
    arn, new = result["execution_arn"], result["output"]["replacement_id"]
    launched = volumes_of(new)
    assert {"/dev/sda1", "/dev/sdf"} <= set(launched)
    # Given, after the restore, a person attached their own volumes to the replacement: one as
    # attached (kept on termination), one they set to be deleted with it, and one carrying
    # this restore's tags copied by hand (a tag is no proof of who made it)
    time.sleep(1.1)  # made after the restore ended, to the second
    ec2 = client("ec2")
    az = instance(new)["Placement"]["AvailabilityZone"]
    forged = [{"Key": T.RESTORE_EXECUTION, "Value": arn}, {"Key": T.RESTORED_FROM, "Value": web1}]
    theirs = {
        "/dev/sdk": ec2.create_volume(AvailabilityZone=az, Size=5)["VolumeId"],
        "/dev/sdl": ec2.create_volume(AvailabilityZone=az, Size=5)["VolumeId"],
        "/dev/sdm": ec2.create_volume(
            AvailabilityZone=az,
            Size=5,
            TagSpecifications=[{"ResourceType": "volume", "Tags": forged}],
        )["VolumeId"],
    }
    for device, volume_id in theirs.items():
        ec2.attach_volume(VolumeId=volume_id, InstanceId=new, Device=device)
    ec2.modify_instance_attribute(
        InstanceId=new,
        BlockDeviceMappings=[{"DeviceName": "/dev/sdl", "Ebs": {"DeleteOnTermination": True}}],
    )

    # the dry run says the replacement's later volumes are kept
    assert main(["restore", "rollback", arn, "--dry-run"]) == EXIT_OK
    assert "attached after the restore" in capsys.readouterr().out

    assert main(["restore", "rollback", arn, "--yes"]) == EXIT_OK

    out = capsys.readouterr().out
    assert instance(new)["State"]["Name"] in ("shutting-down", "terminated")
    # Then every volume the restore launched is gone with its replacement, and theirs are kept
    assert not any(exists(v) for v in launched.values()), launched
    assert all(exists(v) for v in theirs.values()), out
    for volume_id in theirs.values():
        assert volume_id in out


def test_rollback_never_deletes_a_database_that_took_the_restored_name_later(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = restore(stack, {"db_instance_id": "elearn-db"}, "restore-db-forged")
    assert result["status"] == "SUCCEEDED", result
    arn, restored = result["execution_arn"], result["output"]["replacement_id"]
    rds = client("rds")
    # Given a person renamed the restored database aside and made another in its name,
    # carrying the restore's tags (as a restore from its snapshot would)
    rds.modify_db_instance(
        DBInstanceIdentifier=restored, NewDBInstanceIdentifier="kept-aside", ApplyImmediately=True
    )
    tags = rds.describe_db_instances(DBInstanceIdentifier="kept-aside")["DBInstances"][0]
    # (moto names its automated snapshot after the identifier and minute: make room for it)
    for snapshot in rds.describe_db_snapshots()["DBSnapshots"]:
        if snapshot["DBSnapshotIdentifier"].startswith(f"rds:{restored}"):
            rds.delete_db_snapshot(DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"])
    rds.create_db_instance(
        DBInstanceIdentifier=restored,
        Engine="mysql",
        DBInstanceClass="db.t3.micro",
        MasterUsername="admin",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        Tags=tags["TagList"],
    )

    assert main(["restore", "rollback", arn, "--yes"]) == EXIT_INPUT

    assert "was not made by" in capsys.readouterr().err
    left = {d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]}
    assert {restored, "kept-aside", "elearn-db"} <= left


def test_rollback_of_a_database_renamed_into_the_originals_place_is_refused(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = restore(stack, {"db_instance_id": "elearn-db"}, "restore-db-swapped")
    restored = result["output"]["replacement_id"]
    rds = client("rds")
    # Given the usual swap that keeps the endpoint: the original aside, the restored one in
    # its name
    for old, new in (("elearn-db", "elearn-db-old"), (restored, "elearn-db")):
        rds.modify_db_instance(
            DBInstanceIdentifier=old, NewDBInstanceIdentifier=new, ApplyImmediately=True
        )

    assert main(["restore", "rollback", result["execution_arn"], "--dry-run"]) == EXIT_INPUT

    assert "renamed into the original's name" in capsys.readouterr().err
    left = {d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]}
    assert {"elearn-db", "elearn-db-old"} <= left


def test_a_name_is_matched_exactly_never_as_a_wildcard(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # EC2 filters read * and ? as wildcards: 'web-1*' and 'web-?' must not name web-1
    for value in ("web-1*", "web-?", "*", "WEB-1"):
        assert main(["restore", "start", "--instance", value, "--dry-run"]) == EXIT_INPUT, value
        assert "no instance is named" in capsys.readouterr().err
        assert main(["recovery-points", "list", "--resource", value]) == EXIT_INPUT, value
        capsys.readouterr()


def test_an_instance_carrying_a_restores_tags_is_not_taken_for_its_replacement(
    stack: Any, backed_up: Any
) -> None:
    from datetime import UTC, datetime

    from lifeboat.aws.ec2 import Ec2Gateway
    from lifeboat.aws.restore_ops import Ec2Restorer

    web1 = backed_up.protected_instances["web-1"]
    result = restore(stack, {"instance_id": web1}, "restore-lookalike")
    arn, new = result["execution_arn"], result["output"]["replacement_id"]
    # Given a person launched "more like" the replacement: its tags, the execution's included
    described = instance(new)
    copy = client("ec2").run_instances(
        ImageId=described["ImageId"],
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=described["SubnetId"],
        TagSpecifications=[{"ResourceType": "instance", "Tags": described["Tags"]}],
    )["Instances"][0]["InstanceId"]
    ec2 = Ec2Restorer(Ec2Gateway())

    # Then the abort and clean-up's lookup finds only what the execution launched (its
    # RunInstances client token), and the copy is never terminated as the replacement
    found = ec2.replacement_of(arn)
    assert found is not None and found["InstanceId"] == new
    client("ec2").terminate_instances(InstanceIds=[new])
    assert ec2.replacement_of(arn) is None
    since = datetime.now(UTC)
    assert ec2.terminate_replacement(copy, arn, since, None) == "not-owned"
    assert instance(copy)["State"]["Name"] == "running"


def test_rollback_leaves_an_address_a_person_moved_elsewhere(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web1, web2 = backed_up.protected_instances["web-1"], backed_up.protected_instances["web-2"]
    eip = backed_up.elastic_ip["allocation_id"]
    result = restore(stack, {"instance_id": web1}, "restore-eip-moved")
    arn, new = result["execution_arn"], result["output"]["replacement_id"]
    # Given a person moved web-1's address to web-2 after the restore
    client("ec2").associate_address(AllocationId=eip, InstanceId=web2, AllowReassociation=True)

    assert main(["restore", "rollback", arn, "--dry-run"]) == EXIT_OK
    assert "move Elastic IP" not in capsys.readouterr().out
    assert main(["restore", "rollback", arn, "--yes"]) == EXIT_OK

    assert address(eip)["InstanceId"] == web2
    assert instance(new)["State"]["Name"] in ("shutting-down", "terminated")
    assert instance(web1)["State"]["Name"] in ("pending", "running")
