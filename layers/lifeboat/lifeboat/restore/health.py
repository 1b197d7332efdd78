"""Stage 3, check health (polled by the state machine): is the replacement running with both
status checks passing (a database: available)? Says when its deadline has passed."""

from __future__ import annotations

from datetime import datetime, timedelta

from lifeboat.errors import ReplacementFailedError
from lifeboat.ports import Ports
from lifeboat.restore.models import Health, Launched, TaskEvent
from lifeboat.restore.region import in_region

# At most 7 h: under the restore state machine's time-out (8 h, locks.RESTORE_TIMEOUT).
MAX_HEALTH_DEADLINE = timedelta(hours=7)
DEFAULT_DEADLINE = timedelta(hours=1)
FAILED_DB_STATES = {
    "failed",
    "incompatible-restore",
    "incompatible-parameters",
    "missing",
    "deleting",
}
FAILED_INSTANCE_STATES = {"shutting-down", "terminated", "stopped", "stopping"}


def check(
    event: TaskEvent, ports: Ports, now: datetime, deadline: timedelta | None = None
) -> Health:
    """Health of the replacement; ``deadline_passed`` once the kind's deadline (counted from
    the execution's start) is over without it being healthy."""
    attempt = event.attempt
    wait = min(60, 10 * 2 ** min(attempt, 3))
    limit = min(deadline or DEFAULT_DEADLINE, MAX_HEALTH_DEADLINE)
    late = now - event.execution.start_time > limit
    begun = event.state.begin.plan if event.state.begin else None
    ports = in_region(ports, begun.region if begun else None)
    result = _health(event.launched(), ports, attempt, wait)
    return result.model_copy(update={"deadline_passed": late and not result.healthy})


def _health(launched: Launched, ports: Ports, attempt: int, wait: int) -> Health:
    if launched.kind == "db":
        db = ports.rds.describe_db(launched.id) or {}
        status = db.get("DBInstanceStatus", "missing")
        if status in FAILED_DB_STATES:
            raise ReplacementFailedError(f"database {launched.id} is {status}")
        endpoint = db.get("Endpoint") or {}
        return Health(
            healthy=status == "available",
            state=status,
            attempt=attempt + 1,
            wait_seconds=wait,
            endpoint=endpoint.get("Address"),
        )
    status = ports.ec2_restore.status(launched.id)
    if status["state"] in FAILED_INSTANCE_STATES:
        raise ReplacementFailedError(f"replacement {launched.id} is {status['state']}")
    healthy = (
        status["state"] == "running" and status["system"] == "ok" and status["instance"] == "ok"
    )
    return Health(
        healthy=healthy,
        state=status["state"],
        system=status["system"],
        instance=status["instance"],
        attempt=attempt + 1,
        wait_seconds=wait,
    )
