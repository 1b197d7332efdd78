"""Stage 5, finish: record who stands for the server now, release the locks, settle the
guardrails, record the restore (the cooldown), report RPO and RTO, notify."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lifeboat.ports import Ports
from lifeboat.restore import locks
from lifeboat.restore.lineage import record_replacement
from lifeboat.restore.locks import release_all
from lifeboat.restore.models import InstancePlan, TaskEvent
from lifeboat.restore.region import in_region, record_restored_in
from lifeboat.timeutil import iso

RESTORE_RECORD_DAYS = 90


def finish(event: TaskEvent, ports: Ports, now: datetime) -> dict[str, Any]:
    plan = event.plan()
    ports = in_region(ports, plan.region)
    launched = event.launched()
    request = event.request()
    name, arn = event.execution.name, event.execution.id
    started = event.execution.start_time
    state = event.state
    result: dict[str, Any] = {
        "status": "restored",
        "resource_id": request.resource_id,
        "kind": plan.kind,
        "replacement_id": launched.id,
        "availability_zone": launched.availability_zone,
        "from_availability_zone": plan.source_az,
        "same_az": plan.same_az,
        "warnings": plan.warnings,
        "recovery_point_id": plan.recovery_point_id,
        "data_taken_at": iso(plan.data_taken_at),
        "rpo_seconds": int((started - plan.data_taken_at).total_seconds()),
        "rto_seconds": int((now - started).total_seconds()),
        "cutover": (
            state.cut_over.cutover.model_dump(mode="json", exclude_none=True)
            if state.cut_over
            else {}
        ),
        "endpoint": state.check.health.endpoint if state.check else None,
        "capacity_fallbacks": [a.model_dump(mode="json") for a in launched.capacity_fallbacks],
        "reason": request.reason,
        "requested_by": request.requested_by,
    }
    # First what must never be lost: who stands for the server now, and the locks.
    if plan.region is not None:
        # In another region: recorded apart, the home lineage left as it is (the original
        # was not replaced at home; a second restore there is refused unless forced).
        result.update({"region": plan.region, "not_done": plan.not_done})
        record_restored_in(ports.catalog, plan, launched, arn, now)
    elif isinstance(plan, InstancePlan):
        # The replacement stands for the server from now on (a later restore of the old
        # instance is refused, or with --force restores the replacement).
        record_replacement(ports.catalog, plan.source_id, launched.id, arn, now)
    release_all(ports.catalog, plan.locked, request.resource_id, arn)
    guard = locks.guardrails_for(ports)
    trigger = "manual"  # from the router's record, never from the input
    if guard.is_alarm_execution(name, request.resource_id):
        trigger = "alarm"
        guard.release_running(name)
        result["breaker"] = guard.record_outcome(True, arn, now)
    result["trigger"] = trigger
    # The cooldown belongs to the server: its replacement carries the restore too (an alarm
    # of the replacement minutes later must not start another restore).
    for restored in dict.fromkeys([request.resource_id, launched.id]):
        ports.catalog.put_record(
            f"RESTORE#{restored}",
            f"{iso(started)}#{name}",
            {
                "status": "restored",
                "trigger": trigger,
                "execution_arn": arn,
                "finished_at": iso(now),
                "expires_at": int((now + timedelta(days=RESTORE_RECORD_DAYS)).timestamp()),
            },
        )
    if ports.notifier is not None:
        ports.notifier.publish(f"Lifeboat restored {request.resource_id} as {launched.id}", result)
    return result
