"""The failure path, abort: undo what this execution did (the cut-over rolled back, the
replacement terminated unless kept; a restored database is never deleted), release the locks,
count the failure once, notify. Never touches anything this execution did not create, except
to give the original back its address and traffic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.errors import error_code
from lifeboat.ports import Ec2RestorePort, Ports
from lifeboat.restore import locks
from lifeboat.restore.finish import RESTORE_RECORD_DAYS
from lifeboat.restore.locks import release_all
from lifeboat.restore.models import (
    DatabasePlan,
    InstancePlan,
    Launched,
    RestoreInput,
    TaskError,
    TaskEvent,
)
from lifeboat.restore.region import in_region
from lifeboat.timeutil import iso


def abort(event: TaskEvent, ports: Ports, now: datetime) -> dict[str, Any]:
    """Undo what this execution did, release the lock, notify."""
    request = event.request()
    name, arn = event.execution.name, event.execution.id
    plan = event.state.begin.plan if event.state.begin else None
    ports = in_region(ports, plan.region if plan else request.region)
    launched = event.state.launch.made() if event.state.launch else None
    if launched is None and plan is not None:
        launched = find_replacement(plan, ports, arn)
    undone: dict[str, Any] = {}
    if isinstance(plan, InstancePlan) and plan.region is None:
        # (A restore in another region fenced and moved nothing: nothing to give back.)
        undone.update(roll_back_cut_over(plan, launched, ports.ec2_restore, name))
    if launched is not None:
        undone["replacement"] = _undo_replacement(
            launched, request, ports, arn, event.execution.start_time
        )
    release_all(ports.catalog, plan.locked if plan else None, request.resource_id, arn, name)
    error = event.state.error or TaskError()
    result: dict[str, Any] = {
        "status": "failed",
        "resource_id": request.resource_id,
        "error": error.Error,
        "cause": str(error.Cause if error.Cause is not None else "")[:2000],
        "undone": undone,
    }
    counted = _record_failure(event, request, ports, now)
    guard = locks.guardrails_for(ports)
    if guard.is_alarm_execution(name, request.resource_id) and not counted:
        guard.release_running(name)
        result["breaker"] = guard.record_outcome(False, f"{arn}: {result['error']}", now)
    if ports.notifier is not None:
        ports.notifier.publish(f"Lifeboat restore of {request.resource_id} FAILED", result)
    return result


def find_replacement(
    plan: InstancePlan | DatabasePlan, ports: Ports, execution_arn: str
) -> Launched | None:
    """What this execution launched although its Launch result was lost (it failed after the
    call, or the execution stopped): found by the execution's tag, or the database's name."""
    if isinstance(plan, InstancePlan):
        found = ports.ec2_restore.replacement_of(execution_arn)
        return Launched(kind="instance", id=found["InstanceId"]) if found else None
    identifier = plan.new_identifier
    if identifier and ports.rds.describe_db(identifier) is not None:
        return Launched(kind="db", id=identifier)
    return None


def _undo_replacement(
    launched: Launched, request: RestoreInput, ports: Ports, execution_arn: str, since: datetime
) -> str:
    if launched.kind == "db":
        # A restored database is never deleted automatically (it may be the only copy of
        # hours of restore work): kept, reported, and a person decides.
        return (
            f"kept database {launched.id}: delete it yourself if it is not wanted "
            f"(aws rds delete-db-instance --db-instance-identifier {launched.id} ...)"
        )
    if request.keep_on_failure:
        return f"kept {launched.id} (keep_on_failure)"
    return ports.ec2_restore.terminate_replacement(launched.id, execution_arn, since, None)


def _record_failure(event: TaskEvent, request: RestoreInput, ports: Ports, now: datetime) -> bool:
    """Record the failed restore; True when an earlier abort had already recorded it (a
    repeated abort, or the clean-up after a stop, counts its failure once)."""
    arn = event.execution.id
    counted = any(
        r.get("execution_arn") == arn and r.get("status") == "failed"
        for r in ports.catalog.records(f"RESTORE#{request.resource_id}")
    )
    ports.catalog.put_record(
        f"RESTORE#{request.resource_id}",
        f"{iso(event.execution.start_time)}#{event.execution.name}",
        {
            "status": "failed",
            "trigger": request.trigger,
            "execution_arn": arn,
            "finished_at": iso(now),
            "expires_at": int((now + timedelta(days=RESTORE_RECORD_DAYS)).timestamp()),
        },
    )
    return counted


def _attempt(undone: dict[str, Any], key: str, action: Callable[[], object]) -> None:
    """Best effort: one failed undo step must not stop the others (nor the lock release)."""
    try:
        result = action()
        undone[key] = result if isinstance(result, str) else "done"
    except ClientError as exc:
        if error_code(exc) == "TargetGroupNotFound":
            # Deleted since (by a person): there is no traffic to give back through it, and a
            # rollback run again would meet it again; not a failure.
            undone[key] = "target group gone: nothing to give back"
            return
        undone[key] = f"FAILED ({error_code(exc)}): do it by hand"


def roll_back_cut_over(
    plan: InstancePlan, launched: Launched | None, ec2: Ec2RestorePort, execution_name: str
) -> dict[str, Any]:
    """Undo this execution's own changes only: the address and traffic go back to the original
    where they are on *this* replacement; the original is started and unfenced only if this
    execution fenced it (never a fence of another restore)."""
    undone: dict[str, Any] = {}
    original = ec2.instance(plan.source_id)
    if original is None or original["State"]["Name"] in ("terminated", "shutting-down"):
        return undone
    ours = T.to_dict(original.get("Tags")).get(T.FENCED) == execution_name
    new_id = launched.id if launched else None
    if plan.elastic_ip and new_id:
        allocation = plan.elastic_ip["allocation_id"]
        address = ec2.address(allocation) or {}
        if address.get("InstanceId") == new_id:
            _attempt(undone, "elastic_ip", lambda: ec2.associate(allocation, plan.source_id))
    if ours and original["State"]["Name"] in ("stopping", "stopped"):
        _attempt(undone, "original", lambda: ec2.start(plan.source_id))
    for group in plan.target_groups:
        arn = group.target_group_arn
        if not ours and not (new_id and new_id in ec2.targets(arn)):
            continue  # this execution changed nothing here
        _attempt(
            undone,
            f"register {arn}",
            partial(ec2.register, arn, plan.source_id, group.port),
        )
        if new_id:
            _attempt(
                undone,
                f"deregister {arn}",
                partial(ec2.deregister, arn, new_id, group.port),
            )
    if ours:
        _attempt(undone, "unfence", lambda: ec2.unfence(plan.source_id))
    return undone
