"""Helpers for integration tests against the emulator (loopback only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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
