"""Restore into another AZ (and a database), through the real restore ASL in the emulator."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import SDK_MAX_ATTEMPTS, client
from lifeboat.cli import EXIT_FAILED, EXIT_INPUT, EXIT_OK, main
from lifeboat.local.bridge import BRIDGE
from tests.faults import FaultInjector, FaultRule
from tests.integration.helpers import (
    address,
    history,
    instance,
    live_instances,
    restore,
    run_schedule,
    targets,
)

pytestmark = pytest.mark.integration


def test_restores_into_another_az_with_newer_data_and_moves_traffic(
    stack: Any, backed_up: Any
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    catalog = Catalog(stack.outputs["CatalogTableName"])
    hourly = next(p for p in catalog.points_for_resource(web1) if p.kind.value == "ebs")
    data_snapshot = next(s.snapshot_id for s in hourly.snapshots if s.device_name == "/dev/sdf")

    result = restore(
        stack, {"instance_id": web1, "reason": "AZ a impaired", "requested_by": "test"}
    )

    assert result["status"] == "SUCCEEDED", result
    out = result["output"]
    new = out["replacement_id"]
    assert (
        out["availability_zone"] == "us-east-1b" and out["from_availability_zone"] == "us-east-1a"
    )
    replacement = instance(new)
    assert replacement["SubnetId"] == backed_up.subnets["web-b"]
    assert replacement["InstanceType"] == "t3.medium"
    assert [g["GroupId"] for g in replacement["SecurityGroups"]] == [
        backed_up.security_groups["web"]
    ]
    tags = T.to_dict(replacement["Tags"])
    assert tags[T.RESTORED_FROM] == web1 and tags[T.RESTORE_EXECUTION] == result["execution_arn"]
    # protected (the plan), but not a backup: a restored instance never carries lifeboat:managed
    assert tags["Name"] == "web-1" and tags[T.PLAN] == "standard" and T.MANAGED not in tags
    # the data volume comes from the hourly set, newer than the AMI
    volumes = client("ec2").describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [new]}]
    )["Volumes"]
    by_device = {v["Attachments"][0]["Device"]: v for v in volumes}
    assert by_device["/dev/sdf"]["SnapshotId"] == data_snapshot
    assert out["data_taken_at"] >= hourly.created_at.strftime("%Y-%m-%dT%H:%M")
    assert out["rpo_seconds"] >= 0 and out["rto_seconds"] >= 0
    # cut over: EIP and target group moved, the old instance fenced
    assert address(backed_up.elastic_ip["allocation_id"])["InstanceId"] == new
    assert targets(backed_up.target_group_arn) == {new, backed_up.protected_instances["web-2"]}
    old = instance(web1)
    assert T.to_dict(old["Tags"])[T.FENCED] and old["State"]["Name"] in ("stopping", "stopped")
    # stages in order, from the execution history
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in history(result["execution_arn"])
        if e["type"].endswith("StateEntered")
    ]
    assert entered[:6] == [
        "ValidateAndPlan",
        "IsDryRun",
        "Launch",
        "LaunchPaced",  # the shared pace had its RunInstances at once: no WaitForLaunchPace
        "CheckHealth",
        "IsHealthy",
    ]
    assert entered[-2:] == ["CutOver", "Finish"]


def _drain_run_instances(stack: Any, region: str, seconds: float) -> float:
    """Another execution of the stack has just taken ``seconds`` of the shared RunInstances
    bucket of ``region`` (its arrival time that far ahead); returns that time."""
    ahead = time.time() + seconds
    client("dynamodb").put_item(
        TableName=stack.outputs["CatalogTableName"],
        Item={
            "pk": {"S": f"PACE#{region}#RunInstances"},
            "sk": {"S": "PACE"},
            "tat": {"N": f"{ahead:.3f}"},
        },
    )
    return ahead


def _pace_of(stack: Any, region: str) -> float:
    item = client("dynamodb").get_item(
        TableName=stack.outputs["CatalogTableName"],
        Key={"pk": {"S": f"PACE#{region}#RunInstances"}, "sk": {"S": "PACE"}},
    )["Item"]
    return float(item["tat"]["N"])


def test_a_drained_pace_makes_the_launch_wait_in_the_state_machine(
    stack: Any, backed_up: Any
) -> None:
    # Given other executions of the stack (an AZ evacuation's restores) that have just taken a
    # minute of EC2's RunInstances bucket: the shared pace's arrival time a minute ahead
    web1 = backed_up.protected_instances["web-1"]
    ahead = _drain_run_instances(stack, "us-east-1", 60)
    launch = "lifeboat-RestoreLaunchFunction"
    before = BRIDGE.invocations.get(launch, 0)
    # When web-1 is restored
    result = restore(stack, {"instance_id": web1, "reason": "AZ a impaired"})
    # Then its Launch stopped for the pace (returned, not slept), the restore waited in
    # WaitForLaunchPace until the moment handed out, and Launch, called again, launched once
    assert result["status"] == "SUCCEEDED", result
    assert BRIDGE.invocations[launch] - before == 2
    events = history(result["execution_arn"])
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")
    ]
    assert entered[2:7] == ["Launch", "LaunchPaced", "WaitForLaunchPace", "Launch", "LaunchPaced"]
    assert entered[7] == "CheckHealth" and entered[-2:] == ["CutOver", "Finish"]
    (waited,) = [e for e in events if e["type"] == "WaitStateEntered"]
    wait_input = json.loads(waited["stateEnteredEventDetails"]["input"])
    stopped = wait_input["launch"]["launched"]
    assert stopped["deferred"] is True and stopped["reserved"] == {"RunInstances": 1}
    assert stopped["wait_until"].endswith("Z") and stopped["waits"] == 1
    out = result["output"]
    replacements = [
        i
        for i in live_instances()
        if T.to_dict(instance(i).get("Tags")).get(T.RESTORE_EXECUTION) == result["execution_arn"]
    ]
    assert replacements == [out["replacement_id"]]
    # and it drew one call from the bucket, after the minute the others took: the call
    # reserved before the wait was spent after it, not reserved again
    assert _pace_of(stack, "us-east-1") == pytest.approx(ahead + 1 / 1.6, abs=0.01)


def test_dry_run_plans_and_changes_nothing(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    before = live_instances()
    result = restore(stack, {"instance_id": web1, "dry_run": True})
    assert result["status"] == "SUCCEEDED"
    plan = result["output"]
    assert plan["dry_run"] is True and plan["candidates"][0]["availability_zone"] == "us-east-1b"
    sources = [v["source"].split()[0] for v in plan["volumes"]]
    assert sources == ["AMI", "EBS"]  # sda1 from the AMI, sdf from the newer snapshot set
    assert plan["instance_types"] == ["t3.medium", "t3a.medium", "m5.large"]
    assert live_instances() == before
    assert address(backed_up.elastic_ip["allocation_id"])["InstanceId"] == web1


def test_second_restore_is_refused_while_one_runs(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    catalog = Catalog(stack.outputs["CatalogTableName"])
    import time

    # Given a restore of web-1 holds the lock
    assert (
        catalog.acquire_lock(
            web1,
            "arn:aws:states:us-east-1:123456789012:execution:x:first",
            int(time.time()),
            600,
            {"requested_by": "alice"},
        )
        is None
    )
    before = live_instances()
    # When another is started
    result = restore(stack, {"instance_id": web1}, "second")
    # Then it is refused, naming the running one, and nothing changes
    assert result["status"] == "REFUSED" and result["error"] == "RestoreInProgressError"
    assert "first" in str(result["cause"]) and "alice" in str(result["cause"])
    assert live_instances() == before
    # and the first restore's lock is untouched
    assert catalog.acquire_lock(web1, "someone-else", int(time.time()), 600, {}) is not None


def test_launch_failure_leaves_nothing_behind(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    before = live_instances()
    with FaultInjector(
        [FaultRule("RunInstances", "InsufficientInstanceCapacity", times=99, message="no capacity")]
    ):
        result = restore(stack, {"instance_id": web1}, "no-capacity")
    assert result["status"] == "FAILED" and result["error"] == "NoCapacityError"
    assert live_instances() == before
    assert address(backed_up.elastic_ip["allocation_id"])["InstanceId"] == web1
    assert T.FENCED not in T.to_dict(instance(web1)["Tags"])
    # the lock was released: a new restore goes ahead
    assert restore(stack, {"instance_id": web1}, "after")["status"] == "SUCCEEDED"


def test_capacity_fallback_tries_other_types(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    rule = FaultRule(
        "RunInstances",
        "InsufficientInstanceCapacity",
        times=99,
        match={"InstanceType": "t3.medium"},
    )
    with FaultInjector([rule]):
        result = restore(stack, {"instance_id": web1}, "fallback")
    assert result["status"] == "SUCCEEDED"
    assert instance(result["output"]["replacement_id"])["InstanceType"] == "t3a.medium"
    assert result["output"]["capacity_fallbacks"][0]["error"] == "InsufficientInstanceCapacity"


def test_failure_after_launch_rolls_back(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    before = live_instances()
    with FaultInjector(
        [
            FaultRule(
                "AssociateAddress",
                "InvalidParameterValue",
                times=1,
                match={"AllocationId": backed_up.elastic_ip["allocation_id"]},
            )
        ]
    ):
        result = restore(stack, {"instance_id": web1}, "cutover-fails")
    assert result["status"] == "FAILED" and "InvalidParameterValue" in str(result["cause"])
    events = history(result["execution_arn"])
    aborted = [e for e in events if e["type"] == "TaskSucceeded"][-1]
    assert "terminated" in aborted["taskSucceededEventDetails"]["output"]
    assert live_instances() == before  # the replacement was terminated
    original = instance(web1)
    assert T.FENCED not in T.to_dict(original["Tags"])  # unfenced and started again
    assert original["State"]["Name"] in ("pending", "running")
    assert address(backed_up.elastic_ip["allocation_id"])["InstanceId"] == web1
    assert web1 in targets(backed_up.target_group_arn)


def test_keep_on_failure_keeps_the_replacement(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    before = live_instances()
    with FaultInjector([FaultRule("AssociateAddress", "InvalidParameterValue", times=1)]):
        result = restore(stack, {"instance_id": web1, "keep_on_failure": True}, "keep")
    assert result["status"] == "FAILED"
    assert len(live_instances() - before) == 1


def test_throttled_launch_is_retried_without_a_second_instance(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    before = live_instances()
    # Given RunInstances throttled for every attempt botocore makes in one task attempt (the
    # Retrier does not retry throttles: it hands them to the state machine's Retry)
    rule = FaultRule("RunInstances", "RequestLimitExceeded", times=SDK_MAX_ATTEMPTS, status=503)
    with FaultInjector([rule]):
        result = restore(stack, {"instance_id": web1}, "throttled")
    assert rule.injected == SDK_MAX_ATTEMPTS
    assert result["status"] == "SUCCEEDED"
    events = history(result["execution_arn"])
    assert any(
        e["type"] == "TaskFailed" and e["taskFailedEventDetails"]["error"] == "TransientAwsError"
        for e in events
    )
    assert len(live_instances() - before) == 1


@pytest.mark.parametrize(
    ("payload", "error", "fragment"),
    [
        ({"instance_id": "UNTAGGED"}, "InvalidInputError", "not protected"),
        ({"instance_id": "i-0123456789abcdef0"}, "InvalidInputError", "does not exist"),
        (
            {"instance_id": "WEB1", "target_az": "eu-west-1a"},
            "InvalidInputError",
            "not an Availability Zone",
        ),
        ({"instance_id": "WEB1", "target_az": "moon-1a"}, "InvalidInputError", "target_az"),
        ({"instance_id": "WEB1", "colour": "red"}, "InvalidInputError", "colour"),
        (
            {"instance_id": "WEB1", "db_instance_id": "elearn-db"},
            "InvalidInputError",
            "exactly one",
        ),
    ],
)
def test_rejected_before_anything_changes(
    stack: Any, backed_up: Any, payload: dict[str, Any], error: str, fragment: str
) -> None:
    ids = {
        "UNTAGGED": backed_up.other_instances["bastion (untagged)"],
        "WEB1": backed_up.protected_instances["web-1"],
    }
    payload = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
    before = live_instances()
    result = restore(stack, payload, "rejected")
    assert result["status"] == "REFUSED" and result["error"] == error
    assert fragment in str(result["cause"])
    assert live_instances() == before
    catalog = Catalog(stack.outputs["CatalogTableName"])
    assert catalog.records(f"LOCK#{backed_up.protected_instances['web-1']}") == []


def test_instance_that_is_gone_is_restored_from_the_catalog(stack: Any, backed_up: Any) -> None:
    web2 = backed_up.protected_instances["web-2"]
    client("ec2").terminate_instances(InstanceIds=[web2])
    result = restore(stack, {"instance_id": web2}, "gone")
    assert result["status"] == "SUCCEEDED", result
    out = result["output"]
    assert out["availability_zone"] == "us-east-1a"  # web-2 was in b
    assert web2 not in targets(backed_up.target_group_arn) and out["replacement_id"] in targets(
        backed_up.target_group_arn
    )


def test_no_matching_subnet_stops_before_launching(stack: Any, backed_up: Any) -> None:
    ec2 = client("ec2")
    solo = ec2.create_subnet(
        VpcId=backed_up.vpc_id,
        CidrBlock="10.20.50.0/24",
        AvailabilityZone="us-east-1c",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": "batch"}]}],
    )["Subnet"]["SubnetId"]
    image = ec2.describe_instances(InstanceIds=[backed_up.protected_instances["web-1"]])[
        "Reservations"
    ][0]["Instances"][0]["ImageId"]
    lone = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.small",
        MinCount=1,
        MaxCount=1,
        SubnetId=solo,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": T.PLAN, "Value": "standard"}]}
        ],
    )["Instances"][0]["InstanceId"]
    run_schedule(stack, "daily")
    before = live_instances()
    result = restore(stack, {"instance_id": lone}, "no-subnet")
    assert result["status"] == "REFUSED" and result["error"] == "NoTargetError"
    assert "--target-az" in str(result["cause"]) and live_instances() == before
    explicit = restore(
        stack,
        {
            "instance_id": lone,
            "target_az": "us-east-1b",
            "target_subnet": backed_up.subnets["app-b"],
        },
        "explicit",
    )
    assert (
        explicit["status"] == "SUCCEEDED"
        and explicit["output"]["availability_zone"] == "us-east-1b"
    )


def test_database_is_restored_into_another_az(stack: Any, backed_up: Any) -> None:
    result = restore(stack, {"db_instance_id": "elearn-db", "reason": "primary AZ lost"}, "db")
    assert result["status"] == "SUCCEEDED", result
    out = result["output"]
    restored = client("rds").describe_db_instances(DBInstanceIdentifier=out["replacement_id"])[
        "DBInstances"
    ][0]
    assert restored["AvailabilityZone"] != "us-east-1a"
    assert restored["DBInstanceClass"] == "db.t3.medium"
    assert restored["DBSubnetGroup"]["DBSubnetGroupName"] == "elearn-db"
    assert T.to_dict(restored["TagList"])[T.RESTORED_FROM] == "elearn-db"
    assert out["endpoint"]


def test_cli_restore_dry_run_then_wait(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    assert main(["restore", "start", "--instance", web1, "--dry-run", "--poll", "0.05"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "Would restore web-1" in text and "us-east-1b" in text and "nothing was changed" in text
    assert "Elastic IP" in text and "/dev/sdf" in text

    code = main(
        ["restore", "start", "--instance", web1, "--reason", "drill", "--wait", "--poll", "0.05"]
    )
    text = capsys.readouterr().out
    assert code == EXIT_OK and "→ CutOver" in text and "RESTORED" in text and "RPO" in text

    assert main(["restore", "start", "--instance", "i-nothere"]) == EXIT_INPUT
    capsys.readouterr()
    with FaultInjector([FaultRule("RunInstances", "InsufficientInstanceCapacity", times=99)]):
        code = main(
            [
                "restore",
                "start",
                "--instance",
                web1,
                "--force",
                "--wait",
                "--json",
                "--poll",
                "0.05",
            ]
        )
    assert code == EXIT_FAILED and json.loads(capsys.readouterr().out)["error"] == "NoCapacityError"
