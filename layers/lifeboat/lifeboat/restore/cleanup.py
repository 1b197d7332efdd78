"""Executions that never reached Abort (timed out, or stopped by a person): their status
change event (EventBridge) is routed here, and they are finished or rolled back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from lifeboat.ports import Ports
from lifeboat.restore.cutover import cut_over_complete
from lifeboat.restore.finish import finish
from lifeboat.restore.locks import execution_record
from lifeboat.restore.models import (
    Begun,
    ExecutionContext,
    InstancePlan,
    Launched,
    LaunchResult,
    Plan,
    RestoreState,
    TaskError,
    TaskEvent,
)
from lifeboat.restore.region import in_region
from lifeboat.restore.rollback import abort

TASK_GRACE = timedelta(seconds=330)  # the restore tasks' longest time-out (300 s), and a margin
_PLAN: TypeAdapter[Plan] = TypeAdapter(Plan)


class ExecutionStatusDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    executionArn: str = Field(pattern=r"^arn:aws[a-z-]*:states:")  # noqa: N815 (AWS's names)
    stateMachineArn: str  # noqa: N815
    name: str = Field(min_length=1, max_length=80)
    status: Literal["TIMED_OUT", "ABORTED", "FAILED"]
    startDate: int  # noqa: N815 (epoch milliseconds)
    stopDate: int | None = None  # noqa: N815
    input: str | None = None


class ExecutionStatusChange(BaseModel):
    """EventBridge's "Step Functions Execution Status Change" event (events/)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionStatusDetail


def wait_out_tasks(
    change: ExecutionStatusChange, now: datetime, sleep: Callable[[float], None]
) -> datetime:
    """Stopping an execution does not stop a task already running: wait until any task it may
    still run has ended (the longest restore task's time-out); the time it is then."""
    detail = change.detail
    stopped = datetime.fromtimestamp((detail.stopDate or detail.startDate) / 1000, tz=UTC)
    wait = (stopped + TASK_GRACE - now).total_seconds()
    if wait > 0:
        sleep(wait)
        now += timedelta(seconds=wait)
    return now


def clean_up(
    change: ExecutionStatusChange,
    ports: Ports,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """A restore execution that timed out or was stopped never ran its Abort step: its locks
    would stay held and the original could stay fenced with nothing serving. Finish it here:
    if the cut-over had completed (the replacement holds the address and traffic), the
    restore stands; otherwise roll back exactly as Abort does (a database replacement is
    kept). Safe to repeat; an execution that never locked anything has nothing to clean."""
    detail = change.detail
    now = wait_out_tasks(change, now, sleep)
    found = ports.catalog.records(execution_record(detail.name))
    if not found:
        return {"status": "nothing-to-clean", "execution_arn": detail.executionArn}
    event = _event_of(detail, found[0].get("plan"))
    plan = event.state.begin.plan if event.state.begin else None
    if isinstance(plan, InstancePlan):
        there = in_region(ports, plan.region)
        replacement = there.ec2_restore.replacement_of(detail.executionArn)
        if replacement is not None and cut_over_complete(
            plan, replacement["InstanceId"], there.ec2_restore, detail.name
        ):
            launched = Launched(kind="instance", id=replacement["InstanceId"])
            state = event.state.model_copy(update={"launch": LaunchResult(launched=launched)})
            done = finish(event.model_copy(update={"state": state}), ports, now)
            return {**done, "note": f"the execution ended {detail.status} after its cut-over"}
    return abort(event, ports, now)


def _event_of(detail: ExecutionStatusDetail, recorded: Any) -> TaskEvent:
    """The event Abort would have received, from the execution's record and status change."""
    plan = _PLAN.validate_python(recorded) if isinstance(recorded, dict) else None
    execution = ExecutionContext.model_validate(
        {
            "Id": detail.executionArn,
            "Name": detail.name,
            "StartTime": datetime.fromtimestamp(detail.startDate / 1000, tz=UTC),
            "Input": json.loads(detail.input or "{}"),
        }
    )
    error = TaskError(
        Error=f"Execution{detail.status.title().replace('_', '')}",
        Cause=f"the restore execution ended {detail.status} before it finished",
    )
    state = RestoreState(begin=Begun(plan=plan) if plan else None, error=error)
    return TaskEvent(state=state, execution=execution)
