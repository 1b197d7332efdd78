"""Issue 12: every exit path ends clean. A replacement's health deadline < the restore state
machine's time-out < a lock's expiry, and the health check says when a deadline has passed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeboat import restore
from lifeboat.settings import Settings
from lifeboat.timeutil import iso
from tests.fakes.ports import fake_ports

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def test_deadlines_nest_under_the_time_out_and_the_lock() -> None:
    asl = json.loads((ROOT / "statemachines" / "restore.asl.json").read_text(encoding="utf-8"))
    timeout = timedelta(seconds=asl["TimeoutSeconds"])
    assert restore.RESTORE_TIMEOUT == timeout
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    for parameter in ("InstanceHealthDeadlineMinutes", "DatabaseHealthDeadlineMinutes"):
        block = template.split(f"  {parameter}:\n", 1)[1].split("Description", 1)[0]
        assert "MaxValue: 420" in block, parameter  # = MAX_HEALTH_DEADLINE
    assert restore.MAX_HEALTH_DEADLINE == timedelta(minutes=420) < timeout
    assert timedelta(seconds=restore.LOCK_SECONDS) > timeout
    defaults = Settings.model_validate({"CATALOG_TABLE": "catalog", "TOPIC_ARN": "arn:aws:sns:x"})
    assert defaults.database_health_minutes == 360 and defaults.instance_health_minutes == 60


class _Rds:
    def __init__(self, status: str) -> None:
        self.status = status

    def describe_db(self, identifier: str) -> dict[str, Any]:
        return {"DBInstanceIdentifier": identifier, "DBInstanceStatus": self.status}


def _check(status: str, after: timedelta, deadline: timedelta) -> dict[str, Any]:
    event = restore.TaskEvent.model_validate(
        {
            "state": {"launch": {"launched": {"kind": "db", "id": "elearn-db-restored-1"}}},
            "execution": {
                "Id": "arn:aws:states:us-east-1:1:execution:m:x",
                "Name": "x",
                "StartTime": iso(START),
                "Input": {"db_instance_id": "elearn-db"},
            },
        }
    )
    ports = fake_ports(rds=_Rds(status))
    return restore.check(event, ports, START + after, deadline).model_dump()


def test_a_database_restore_may_take_hours() -> None:
    six_hours = timedelta(hours=6)
    assert _check("creating", timedelta(hours=2), six_hours)["deadline_passed"] is False
    assert _check("creating", timedelta(hours=5, minutes=59), six_hours)["deadline_passed"] is False
    assert _check("creating", timedelta(hours=6, minutes=1), six_hours)["deadline_passed"] is True
    # healthy is never 'late'
    assert _check("available", timedelta(hours=7), six_hours)["deadline_passed"] is False
    # a configured deadline beyond the cap is capped under the state machine's time-out
    assert _check("creating", timedelta(hours=7, minutes=1), timedelta(hours=9))["deadline_passed"]
