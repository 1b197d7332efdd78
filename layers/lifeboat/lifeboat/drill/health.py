"""Is a drill copy healthy? An instance: running with both status checks ``ok`` and, when its
tier has an application check (plans.yaml ``drill.checks``), that check passed on the copy
itself (SSM ``AWS-RunShellScript``: an HTTP request to ``127.0.0.1`` or the plan's commands). A
database: ``available``. Each copy has a deadline from its launch request (30 minutes, 3 hours
for a database), never later than the drill's own time-out allows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from lifeboat.drill.models import (
    DATABASE_DEADLINE,
    INSTANCE_DEADLINE,
    DrillHealth,
    DrillTaskEvent,
    drills_of,
    execution_deadline,
)
from lifeboat.errors import ReplacementFailedError, error_code
from lifeboat.plans import AppCheck
from lifeboat.ports import DrillPort, Ports
from lifeboat.restore.health import FAILED_DB_STATES, FAILED_INSTANCE_STATES

RUNNING = ("Pending", "InProgress", "Delayed")  # SSM command invocation statuses
# SendCommand's answer while the copy's SSM agent has not registered yet (it boots, then
# registers): not a failure, the next check sends again.
NOT_REGISTERED = ("InvalidInstanceId",)
OUTPUT_TAIL = 500


@dataclass(frozen=True)
class AppResult:
    passed: bool
    command_id: str | None
    state: str
    output: str | None = None


def check(event: DrillTaskEvent, ports: Ports, now: datetime) -> DrillHealth:
    launched = event.launched()
    target = event.target()
    previous = event.state.check.health if event.state.check else None
    drills = drills_of(ports)
    status = drills.status(launched.type, launched.id)
    state = status["state"]
    database = launched.type in ("db", "cluster")
    if state in (FAILED_DB_STATES if database else FAILED_INSTANCE_STATES):
        raise ReplacementFailedError(f"drill copy {launched.id} of {target.id} is {state}")
    if database:  # a cluster is available when it and its instance are (DrillPort.status)
        up, own, shown = state == "available", DATABASE_DEADLINE, state
    else:
        up = state == "running" and status["system"] == status["instance"] == "ok"
        own, shown = INSTANCE_DEADLINE, f"{state} {status['system']}/{status['instance']}"
    healthy, command_id = up, None
    output = previous.app_output if previous else None
    if up and target.check is not None and launched.type == "instance":
        app = app_check(drills, launched.id, target.check, previous)
        healthy, command_id, shown = app.passed, app.command_id, f"{shown}, {app.state}"
        output = app.output or output
    deadline = min(launched.requested_at + own, execution_deadline(event.execution))
    attempt = event.attempt
    return DrillHealth(
        healthy=healthy,
        state=shown,
        attempt=attempt + 1,
        wait_seconds=min(60, 10 * 2 ** min(attempt, 3)),
        deadline_passed=now > deadline and not healthy,
        checked_at=now,
        command_id=command_id,
        app_output=None if healthy else output,
    )


def app_check(
    drills: DrillPort, instance_id: str, check: AppCheck, previous: DrillHealth | None
) -> AppResult:
    """One step of the application check: send it (none running), or read the one running.
    A failed run is sent again at the next check, until the deadline; its output is kept."""
    running = previous.command_id if previous is not None else None
    if running is None:
        try:
            sent = drills.send_check(instance_id, check.commands(), check.timeout_seconds)
        except ClientError as exc:
            if error_code(exc) not in NOT_REGISTERED:
                raise
            return AppResult(False, None, "application check: the SSM agent is not registered yet")
        return AppResult(False, sent, "application check sent")
    result = drills.check_result(running, instance_id)
    status = result.get("status", "Pending")
    if status in RUNNING:
        return AppResult(False, running, f"application check {status}")
    if status == "Success":
        return AppResult(True, None, "application check passed")
    output = (result.get("output") or "").strip()
    tail = f"{status}: {output[-OUTPUT_TAIL:]}" if output else status
    return AppResult(False, None, f"application check {status}", tail)
