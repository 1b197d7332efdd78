"""Evacuations that never reached their abort step (timed out, or stopped by a person): their
status change event (EventBridge) is routed to the abort function, which rolls back what they
changed and releases their locks, as the abort step would have."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lifeboat.apps.ending import abort
from lifeboat.apps.evacuation import EvacuationEvent, EvacuationState
from lifeboat.ports import Ports
from lifeboat.restore.cleanup import ExecutionStatusChange, wait_out_tasks
from lifeboat.restore.locks import execution_record
from lifeboat.restore.models import ExecutionContext


def clean_up(
    change: ExecutionStatusChange, ports: Ports, now: datetime, sleep: Callable[[float], None]
) -> dict[str, Any]:
    """Roll back an evacuation that ended TIMED_OUT or ABORTED (safe to repeat: each undo acts
    only on what is still as the evacuation left it)."""
    detail = change.detail
    now = wait_out_tasks(change, now, sleep)
    found = ports.catalog.records(execution_record(detail.name))
    if not found:
        return {"status": "nothing-to-clean", "execution_arn": detail.executionArn}
    plan = found[0].get("plan")
    event = EvacuationEvent(
        state=EvacuationState(
            begin={"plan": plan} if isinstance(plan, dict) else None,
            error={
                "Error": f"Execution{detail.status.title().replace('_', '')}",
                "Cause": f"the evacuation ended {detail.status} before it finished",
            },
        ),
        execution=ExecutionContext.model_validate(
            {
                "Id": detail.executionArn,
                "Name": detail.name,
                "StartTime": datetime.fromtimestamp(detail.startDate / 1000, tz=UTC),
                "Input": json.loads(detail.input or "{}"),
            }
        ),
    )
    return abort(event, ports, now, sleep)
