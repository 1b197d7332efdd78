"""The end of an evacuation: finish (lineage, cooldowns, locks released, the guardrails
settled, notify), abort (roll back only what this evacuation changed, newest tier first) and
``recover --undo`` (what outlives a finished evacuation: removed subnets, zonal shifts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lifeboat.apps.changes import changes_key, put_back
from lifeboat.apps.evacuation import EndpointPlan, EvacuationEvent, EvacuationPlan, MemberStep
from lifeboat.apps.history import evacuation_records
from lifeboat.apps.stages import (
    RECORD_DAYS,
    Sleep,
    evacuation_lock,
    router_resource,
)
from lifeboat.errors import InvalidInputError, RestoreInProgressError
from lifeboat.ports import Ports
from lifeboat.restore import locks
from lifeboat.restore.lineage import record_replacement
from lifeboat.restore.models import DatabasePlan, InstancePlan
from lifeboat.restore.rollback import find_replacement, roll_back_cut_over
from lifeboat.timeutil import iso


# --- finish and abort ---------------------------------------------------------------------------
def finish(event: EvacuationEvent, ports: Ports, now: datetime) -> dict[str, Any]:
    plan = _plan(event)
    name = event.execution.name
    started = event.execution.start_time
    members: list[dict[str, Any]] = []
    for step in plan.steps():
        row: dict[str, Any] = {
            "tier": step.tier,
            "resource_id": step.resource_id,
            "action": step.action.value,
            "point_at": iso(step.point_at) if step.point_at else None,
            "point": step.point,
        }
        if step.restore is not None:
            found = find_replacement(step.restore, ports, step.execution_arn)
            row["replacement_id"] = found.id if found else None
            if found is not None and isinstance(step.restore, InstancePlan):
                record_replacement(
                    ports.catalog, step.resource_id, found.id, step.execution_arn, now
                )
        members.append(row)
    changes = {
        str(r["sk"]): {k: v for k, v in r.items() if k not in ("pk", "sk")}
        for r in ports.catalog.records(changes_key(name))
    }
    result: dict[str, Any] = {
        "status": "recovered",
        "app": plan.app,
        "az": plan.az,
        "recovery_time": iso(plan.recovery_time),
        "skew_seconds": plan.skew_seconds,
        "tiers": [t.tier for t in plan.tiers],
        "members": members,
        "changes": changes,
        "not_automated": plan.not_automated,
        "rto_seconds": int((now - started).total_seconds()),
    }
    _close(event, plan, ports, now, "recovered", result)
    return result


def abort(event: EvacuationEvent, ports: Ports, now: datetime, sleep: Sleep) -> dict[str, Any]:
    """Roll back only what this evacuation changed, newest tier first; release its locks."""
    request = event.request()
    plan = event.state.plan()
    name = event.execution.name
    undone: dict[str, Any] = {}
    if plan is not None and not plan.dry_run:
        for tier in reversed(plan.tiers):
            for step in tier.steps:
                if step.restore is not None:
                    undone[step.resource_id] = _undo_restore(
                        step, ports, event.execution.start_time
                    )
        undone["changes"] = put_back(name, plan.endpoint, ports, sleep)
    error = event.state.error or {}
    result: dict[str, Any] = {
        "status": "failed",
        "app": request.app,
        "az": request.az,
        "error": str(error.get("Error", "Unknown")),
        "cause": str(error.get("Cause") or "")[:2000],
        "undone": undone,
    }
    if plan is not None:
        _close(event, plan, ports, now, "failed", result)
    else:
        locks.release_all(
            ports.catalog, None, evacuation_lock(request.app, request.az), event.execution.id, name
        )
    return result


def _undo_restore(step: MemberStep, ports: Ports, since: datetime) -> dict[str, Any]:
    plan = step.restore
    assert plan is not None
    launched = find_replacement(plan, ports, step.execution_arn)
    undone: dict[str, Any] = {}
    if isinstance(plan, InstancePlan):
        undone.update(roll_back_cut_over(plan, launched, ports.ec2_restore, step.execution_name))
        if launched is not None:
            # (since: the evacuation's start, before any member's launch)
            undone["replacement"] = ports.ec2_restore.terminate_replacement(
                launched.id, step.execution_arn, since, None
            )
    elif isinstance(plan, DatabasePlan) and launched is not None:
        undone["replacement"] = (
            f"kept database {launched.id}: delete it yourself if it is not wanted"
        )
    return undone


def _plan(event: EvacuationEvent) -> EvacuationPlan:
    plan = event.state.plan()
    if plan is None:
        raise InvalidInputError("state.begin.plan", "no plan: EvacuateBegin's result is missing")
    return plan


def _close(
    event: EvacuationEvent,
    plan: EvacuationPlan,
    ports: Ports,
    now: datetime,
    status: str,
    result: dict[str, Any],
) -> None:
    name, arn = event.execution.name, event.execution.id
    locks.release_all(ports.catalog, plan.locked, evacuation_lock(plan.app, plan.az), arn, name)
    expires = int((now + timedelta(days=RECORD_DAYS)).timestamp())
    ports.catalog.put_record(
        evacuation_records(plan.app, plan.az),
        f"{iso(event.execution.start_time)}#{name}",
        {
            "status": status,
            "execution_arn": arn,
            "execution_name": name,
            "recovery_time": iso(plan.recovery_time),
            "finished_at": iso(now),
            "endpoint": plan.endpoint.model_dump(mode="json") if plan.endpoint else None,
            "expires_at": expires,
        },
    )
    for step in plan.steps():  # the cooldown of each member
        ports.catalog.put_record(
            f"RESTORE#{step.resource_id}",
            f"{iso(event.execution.start_time)}#{step.execution_name}",
            {
                "status": "restored" if status == "recovered" else "failed",
                "trigger": "evacuation",
                "execution_arn": arn,
                "finished_at": iso(now),
                "expires_at": expires,
            },
        )
    guard = locks.guardrails_for(ports)
    if guard.is_alarm_execution(name, router_resource(plan.app, plan.az)):
        guard.release_running(name)
        result["breaker"] = guard.record_outcome(status == "recovered", arn, now)
    if ports.notifier is not None:
        verb = "recovered" if status == "recovered" else "FAILED to recover"
        ports.notifier.publish(f"Lifeboat {verb} {plan.app} from {plan.az}", result)


# --- undo: what outlives a finished evacuation --------------------------------------------------
def undo(
    app: str, az: str, ports: Ports, now: datetime, sleep: Sleep, include_endpoint: bool
) -> dict[str, Any]:
    """Put back what the latest finished evacuation of ``app`` from ``az`` changed that outlives
    it (removed subnets, zonal shifts; the database endpoint only with ``include_endpoint``)."""
    records = [
        r
        for r in ports.catalog.records(evacuation_records(app, az))
        if r.get("status") == "recovered"
    ]
    if not records:
        raise InvalidInputError("app", f"no finished evacuation of {app} from {az} to undo")
    latest = max(records, key=lambda r: str(r["sk"]))
    running = ports.catalog.active_locks([evacuation_lock(app, az)], int(now.timestamp()))
    if running:
        raise RestoreInProgressError(f"an evacuation of {app} from {az} is running: wait for it")
    endpoint = EndpointPlan.model_validate(latest["endpoint"]) if latest.get("endpoint") else None
    name = str(latest["execution_name"])
    undone = put_back(name, endpoint, ports, sleep, include_endpoint=include_endpoint)
    if endpoint is not None and not include_endpoint:
        undone["endpoint"] = (
            "left on the restored database (it holds the writes made since the evacuation); "
            "pass --include-endpoint to switch it back to the old one"
        )
    return {"status": "undone", "app": app, "az": az, "execution_name": name, "undone": undone}
