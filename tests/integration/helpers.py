"""Helpers for integration tests against the emulator (loopback only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import executions
from lifeboat.aws.clients import client
from lifeboat.local.harness import fire_schedule

# The daily slot (02:45 UTC) at or before now: a scheduled_time must lie within Scheduler's
# delivery window (never in the future, at most 25 hours old).
_NOW = datetime.now(UTC)
SCHEDULED = _NOW.replace(hour=2, minute=45, second=0, microsecond=0) - timedelta(
    days=1 if _NOW.hour * 60 + _NOW.minute < 2 * 60 + 45 else 0
)


def schedule_name(stack: Any, rule: str) -> str:
    return str(next(n for n in stack.schedules if n.lower().endswith(rule)))


def run_schedule(stack: Any, rule: str, when: datetime = SCHEDULED) -> dict[str, Any]:
    arn = fire_schedule(schedule_name(stack, rule), when)
    return executions.wait(arn, timeout=120, poll=0.05)


def start(stack: Any, payload: dict[str, Any], name: str = "test") -> dict[str, Any]:
    arn = executions.start(stack.outputs["BackupStateMachineArn"], payload, name)
    return executions.wait(arn, timeout=120, poll=0.05)


def history(execution_arn: str) -> list[dict[str, Any]]:
    reader = executions.HistoryReader(execution_arn)
    return list(reader.new_events())


def managed_images() -> list[dict[str, Any]]:
    flt = [{"Name": "tag:lifeboat:managed", "Values": ["true"]}]
    return list(client("ec2").describe_images(Owners=["self"], Filters=flt)["Images"])


def managed_snapshots(kind: str | None = None) -> list[dict[str, Any]]:
    flt = [{"Name": "tag:lifeboat:managed", "Values": ["true"]}]
    if kind:
        flt.append({"Name": "tag:lifeboat:kind", "Values": [kind]})
    return list(client("ec2").describe_snapshots(OwnerIds=["self"], Filters=flt)["Snapshots"])


def manual_db_snapshots() -> list[dict[str, Any]]:
    return list(client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"])


def first_volume(instance_id: str) -> str:
    """The id of an instance's first EBS volume."""
    found = client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(found[0]["Instances"][0]["BlockDeviceMappings"][0]["Ebs"]["VolumeId"])


@contextmanager
def create_task_dies_after_its_calls() -> Iterator[None]:
    """A create task killed (Lambda time-out) after its create calls returned and its intents
    were recorded, before it recorded what the calls made."""
    from lifeboat.aws.catalog import Catalog

    real_put = Catalog.put_points

    def dies_after_creating(self: Catalog, points: list[Any]) -> None:
        if any(p.artifact_ids() for p in points):
            raise TimeoutError("Task timed out after 900.00 seconds")
        real_put(self, points)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Catalog, "put_points", dies_after_creating)
        yield


def restore(stack: Any, payload: dict[str, Any], name: str = "restore-test") -> dict[str, Any]:
    arn = executions.start(stack.outputs["RestoreStateMachineArn"], payload, name)
    return executions.wait(arn, timeout=120, poll=0.05)


def instance(instance_id: str) -> dict[str, Any]:
    found = client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return dict(found[0]["Instances"][0])


def live_instances() -> set[str]:
    reservations = client("ec2").describe_instances(
        Filters=[
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}
        ]
    )["Reservations"]
    return {i["InstanceId"] for r in reservations for i in r["Instances"]}


def address(allocation_id: str) -> dict[str, Any]:
    return dict(client("ec2").describe_addresses(AllocationIds=[allocation_id])["Addresses"][0])


def targets(group_arn: str) -> set[str]:
    health = client("elbv2").describe_target_health(TargetGroupArn=group_arn)
    return {d["Target"]["Id"] for d in health["TargetHealthDescriptions"]}


def copier_runs(stack: Any) -> list[dict[str, Any]]:
    sfn = client("stepfunctions")
    arn = stack.outputs["CopierStateMachineArn"]
    return list(sfn.list_executions(stateMachineArn=arn)["executions"])


def wait_copiers(stack: Any) -> list[dict[str, Any]]:
    found = []
    for run in copier_runs(stack):
        found.append(executions.wait(run["executionArn"], timeout=120, poll=0.05))
    return found
