"""The tasks of ``statemachines/evacuate.asl.json``: begin (validate, plan, guardrails, locks),
each member's act → check (polled) → settle, finish, and abort (roll back only what this
evacuation changed). An instance's stages are today's restore stages (:mod:`lifeboat.restore`:
launch with capacity fallbacks, health, cut-over with fencing), run under the member's own
identity inside the evacuation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, overload

from lifeboat.apps.changes import changes_key, switch_endpoint
from lifeboat.apps.evacuation import (
    Acted,
    Action,
    EvacuationEvent,
    EvacuationPlan,
    MemberEvent,
    MemberStep,
)
from lifeboat.apps.history import evacuation_records
from lifeboat.apps.planning import plan_evacuation
from lifeboat.apps.ports import EvacuationPort
from lifeboat.errors import InvalidInputError, ReplacementFailedError, RestoreInProgressError
from lifeboat.pace import SharedPacing
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.restore import locks
from lifeboat.restore.cutover import cut_over
from lifeboat.restore.health import check
from lifeboat.restore.launch import launch
from lifeboat.restore.models import (
    Begun,
    CheckResult,
    ExecutionContext,
    Health,
    LaunchDeferred,
    Launched,
    LaunchResult,
    RestoreState,
    TaskEvent,
)
from lifeboat.timeutil import iso

RECORD_DAYS = 90
Sleep = Callable[[float], None]


def evacuation_lock(app: str, az: str) -> str:
    """The lock one evacuation of ``app`` from ``az`` holds while it runs."""
    return f"evacuate#{app}#{az}"


def router_resource(app: str, az: str) -> str:
    """What the alarm router records as an evacuation's resource (its provenance)."""
    return f"evacuate:{app}:{az}"


# --- begin --------------------------------------------------------------------------------------
def begin(event: EvacuationEvent, plans: PlanSet, ports: Ports, now: datetime) -> EvacuationPlan:
    request = event.request()
    name, arn = event.execution.name, event.execution.id
    plan = plan_evacuation(request, plans, ports, now, name, arn)
    if request.dry_run:
        return plan
    if not plan.steps():
        raise InvalidInputError(
            "az", f"nothing of {request.app} runs in {request.az}: there is nothing to evacuate"
        )
    key = evacuation_lock(request.app, request.az)
    attrs = {"reason": request.reason, "requested_by": request.requested_by}
    held = ports.catalog.acquire_lock(key, arn, int(now.timestamp()), locks.LOCK_SECONDS, attrs)
    if held is not None:
        raise RestoreInProgressError(
            f"an evacuation of {request.app} from {request.az} is already running: "
            f"{held.get('owner')} (requested by {held.get('requested_by', 'unknown')})"
        )
    members = [
        lock for step in plan.steps() for lock in (step.restore.locked if step.restore else [])
    ]
    members += [s.resource_id for s in plan.steps() if s.restore is None]
    record = locks.execution_record(name)
    locked: list[str] = []
    try:
        ports.catalog.put_record(
            record,
            "PLAN",
            {"locked": [key, *dict.fromkeys(members)], "expires_at": locks.record_expiry(now)},
        )
        plan = _lock_members(plan, ports, arn, now, attrs, locked)
    except Exception:
        for taken in locked:
            ports.catalog.release_lock(taken, arn)
        ports.catalog.release_lock(key, arn)
        ports.catalog.delete_record(record, "PLAN")
        raise
    # Kept for the clean-up of an execution that times out or is stopped (apps/cleanup.py).
    ports.catalog.put_record(
        record,
        "PLAN",
        {
            "plan": plan.model_copy(update={"locked": [key, *locked]}).model_dump(mode="json"),
            "locked": [key, *locked],
            "expires_at": locks.record_expiry(now),
        },
    )
    ports.catalog.put_record(
        evacuation_records(request.app, request.az),
        f"{iso(event.execution.start_time)}#{name}",
        {
            "status": "running",
            "execution_arn": arn,
            "execution_name": name,
            "trigger": "alarm" if _alarm(event, ports) else "manual",
            "recovery_time": iso(plan.recovery_time),
            "expires_at": int((now + timedelta(days=RECORD_DAYS)).timestamp()),
        },
    )
    return plan.model_copy(update={"locked": [key, *locked]})


def _lock_members(
    plan: EvacuationPlan,
    ports: Ports,
    arn: str,
    now: datetime,
    attrs: dict[str, Any],
    locked: list[str],
) -> EvacuationPlan:
    """Lock each member (``locked`` grows as they are taken). A server already being restored
    on its own (its alarm came a moment before the storm was seen) is left to that restore,
    never restored twice; anything else held refuses the evacuation."""
    skipped: dict[str, str] = {}
    for step in plan.steps():
        wanted = step.restore.locked if step.restore else [step.resource_id]
        ids = [i for i in dict.fromkeys(wanted) if i not in locked]
        try:
            locks.lock_all(ports.catalog, ids, arn, now, attrs)
        except RestoreInProgressError as exc:
            if step.action is not Action.RESTORE_INSTANCE:
                raise
            skipped[step.resource_id] = f"{step.name or step.resource_id} ({step.resource_id}) "
            skipped[step.resource_id] += f"is being restored on its own, left to it: {exc}"
            continue
        locked.extend(ids)
    if not skipped:
        return plan
    tiers = []
    for tier in plan.tiers:
        kept = [s for s in tier.steps if s.resource_id not in skipped]
        at = min((s.point_at for s in kept if s.point_at is not None), default=None)
        if kept:
            tiers.append(tier.model_copy(update={"steps": kept, "point_at": at}))
    if not tiers:
        raise RestoreInProgressError(
            f"every member of {plan.app} in {plan.az} is being restored on its own: "
            + "; ".join(skipped.values())
        )
    points = [t.point_at for t in tiers if t.point_at is not None]
    skew = int((max(points) - min(points)).total_seconds()) if points else 0
    return plan.model_copy(
        update={
            "tiers": tiers,
            "skew_seconds": skew,
            "warnings": [*plan.warnings, *skipped.values()],
        }
    )


def _alarm(event: EvacuationEvent, ports: Ports) -> bool:
    request = event.request()
    guard = locks.guardrails_for(ports)
    return guard.is_alarm_execution(event.execution.name, router_resource(request.app, request.az))


# --- one member: act, check, settle -------------------------------------------------------------
def _restore_event(event: MemberEvent) -> TaskEvent:
    """The restore stages' event for this member: its plan, its results so far, its identity."""
    step = event.state.step
    if step.restore is None:
        raise InvalidInputError("state.step.restore", "this member has no restore plan")
    found = event.state.act.result if event.state.act else None
    acted = found if isinstance(found, Acted) else None
    context = ExecutionContext.model_validate(
        {
            "Id": step.execution_arn,
            "Name": step.execution_name,
            "StartTime": (acted.started_at if acted else None) or event.execution.start_time,
            "Input": {},
        }
    )
    launched: Launched | LaunchDeferred | None = None
    if isinstance(found, LaunchDeferred):  # the launch stopped for the pace: resumed
        launched = found
    if acted and acted.launched:
        launched = Launched.model_validate(acted.launched)
    state = RestoreState(
        begin=Begun(plan=step.restore),
        launch=LaunchResult(launched=launched) if launched else None,
        check=CheckResult(health=event.state.check.health) if event.state.check else None,
    )
    return TaskEvent(state=state, execution=context)


def member_task(  # noqa: PLR0913 - the task's event, its adapters, clocks and its pace
    event: MemberEvent,
    ports: Ports,
    now: datetime,
    deadlines: dict[str, timedelta],
    sleep: Sleep,
    pacing: SharedPacing | None = None,
) -> dict[str, Any]:
    """One member's task: ``act`` (with ``pacing``, the shared pace its launch may stop for),
    ``check`` (polled until healthy) or ``settle``."""
    if event.stage == "act":
        return act(event, ports, now, pacing).model_dump(mode="json")
    if event.stage == "check":
        return member_check(event, ports, now, deadlines).model_dump(mode="json")
    return settle(event, ports, sleep)


@overload
def act(event: MemberEvent, ports: Ports, now: datetime) -> Acted: ...
@overload
def act(
    event: MemberEvent, ports: Ports, now: datetime, pacing: SharedPacing | None
) -> Acted | LaunchDeferred: ...
def act(
    event: MemberEvent, ports: Ports, now: datetime, pacing: SharedPacing | None = None
) -> Acted | LaunchDeferred:
    """The member's first task (its result stamped with when the member's recovery began); a
    replacement's launch may stop for the shared pace first (the member waits in
    ``WaitForMemberPace`` and this task is called again: :mod:`lifeboat.restore.pace`)."""
    done = _act(event, ports, now, pacing)
    if isinstance(done, LaunchDeferred):
        return done
    return done.model_copy(update={"started_at": now})


def _act(
    event: MemberEvent, ports: Ports, now: datetime, pacing: SharedPacing | None
) -> Acted | LaunchDeferred:
    step = event.state.step
    evacuation = ports.evacuation
    if step.action in (Action.RESTORE_INSTANCE, Action.RESTORE_DATABASE):
        launched = launch(_restore_event(event), ports, now, pacing)
        if isinstance(launched, LaunchDeferred):
            return launched
        return Acted(
            kind=launched.kind,
            id=launched.id,
            launched=launched.model_dump(mode="json"),
            waits=launched.waits,
        )
    if step.action is Action.AWAIT_FAILOVER:
        return Acted(kind="db", id=step.resource_id, detail={"awaiting": "RDS's own failover"})
    if evacuation is None:
        raise InvalidInputError("evacuation", "no evacuation adapter in this task")
    key = changes_key(event.execution.name)
    if step.action is Action.FAIL_OVER_CLUSTER:
        return _fail_over(step, evacuation, ports, key)
    if step.action is Action.SHIFT_GROUP:
        comment = f"Lifeboat evacuation {event.execution.name}"[:128]
        sk = f"shift#{step.resource_id}"
        resource = step.group_arn or ""
        ports.catalog.put_record(key, sk, {"resource": resource, "comment": comment})
        active = [s for s in evacuation.zonal_shifts(resource) if s.comment == comment]
        shift = active[0] if active else None
        if shift is None:
            shift = evacuation.start_zonal_shift(resource, step.away_from_zone_id or "", comment)
        ports.catalog.put_record(
            key, sk, {"resource": resource, "comment": comment, "shift_id": shift.shift_id}
        )
        return Acted(kind="asg", id=step.resource_id, detail={"zonal_shift": shift.shift_id})
    # SHRINK_GROUP: the subnets in the failed AZ removed, recorded first.
    groups = ports.autoscaling.groups([step.resource_id]) if ports.autoscaling else []
    if not groups:
        raise ReplacementFailedError(f"Auto Scaling group {step.resource_id} is gone")
    current = list(groups[0].subnet_ids)
    removed = [s for s in current if s in step.drop_subnets]
    sk = f"group#{step.resource_id}"
    previous = next((r for r in ports.catalog.records(key) if r.get("sk") == sk), None)
    recorded = list(previous.get("removed", [])) if previous else []
    ports.catalog.put_record(
        key, sk, {"group": step.resource_id, "removed": list(dict.fromkeys(recorded + removed))}
    )
    if removed:
        evacuation.set_group_subnets(step.resource_id, [s for s in current if s not in removed])
    return Acted(kind="asg", id=step.resource_id, detail={"removed": ",".join(removed)})


def _fail_over(step: MemberStep, evacuation: EvacuationPort, ports: Ports, key: str) -> Acted:
    state = evacuation.cluster(step.resource_id)
    writer = state.writer if state else None
    if writer is not None and writer.availability_zone != step.source_az:
        return Acted(kind="cluster", id=step.resource_id, detail={"writer": writer.identifier})
    if state is not None and state.status == "failing-over":
        # Asked already (a retried task) or by RDS: asking again is refused; wait for it.
        return Acted(kind="cluster", id=step.resource_id, detail={"awaiting": "failing-over"})
    ports.catalog.put_record(
        key,
        f"cluster#{step.resource_id}",
        {"cluster": step.resource_id, "writer_before": writer.identifier if writer else ""},
    )
    evacuation.failover_cluster(step.resource_id, step.target_instance or "")
    return Acted(kind="cluster", id=step.resource_id, detail={"target": step.target_instance or ""})


def member_check(
    event: MemberEvent, ports: Ports, now: datetime, deadlines: dict[str, timedelta]
) -> Health:
    step = event.state.step
    acted = event.acted()
    if step.action in (Action.RESTORE_INSTANCE, Action.RESTORE_DATABASE):
        kind = "db" if step.action is Action.RESTORE_DATABASE else "instance"
        return check(_restore_event(event), ports, now, deadlines[kind])
    attempt = event.state.check.health.attempt if event.state.check else 0
    wait = min(60, 10 * 2 ** min(attempt, 3))
    late = now - (acted.started_at or event.execution.start_time) > deadlines["db"]
    healthy, state = True, "ok"
    evacuation = ports.evacuation
    if step.action is Action.AWAIT_FAILOVER and evacuation is not None:
        db = evacuation.database(step.resource_id)
        state = f"{db.status} in {db.availability_zone}" if db else "missing"
        healthy = bool(db and db.status == "available" and db.availability_zone != step.source_az)
    elif step.action is Action.FAIL_OVER_CLUSTER and evacuation is not None:
        cluster = evacuation.cluster(step.resource_id)
        writer = cluster.writer if cluster else None
        state = f"writer {writer.identifier} in {writer.availability_zone}" if writer else "none"
        healthy = bool(
            writer and writer.availability_zone != step.source_az and writer.status == "available"
        )
    elif step.action in (Action.SHIFT_GROUP, Action.SHRINK_GROUP) and ports.autoscaling:
        groups = ports.autoscaling.groups([acted.id])
        group = groups[0] if groups else None
        serving = sum(
            n
            for az, n in (group.in_service_by_az() if group else {}).items()
            if az != step.source_az
        )
        state = f"{serving} in service outside {step.source_az}"
        healthy = group is not None and (group.desired_capacity == 0 or serving > 0)
    return Health(
        healthy=healthy,
        state=state,
        attempt=attempt + 1,
        wait_seconds=wait,
        deadline_passed=late and not healthy,
    )


def settle(event: MemberEvent, ports: Ports, sleep: Sleep) -> dict[str, Any]:
    step = event.state.step
    if step.action is Action.RESTORE_INSTANCE:
        return cut_over(_restore_event(event), ports).model_dump(mode="json", exclude_none=True)
    if step.action is Action.RESTORE_DATABASE:
        endpoint = event.state.check.health.endpoint if event.state.check else None
        if step.endpoint is None:
            return {"note": f"no database_endpoint declared: point the application at {endpoint}"}
        if not endpoint:
            raise ReplacementFailedError(f"the restored {step.resource_id} has no endpoint yet")
        return switch_endpoint(
            event.execution.name, step.resource_id, step.endpoint, endpoint, ports, sleep
        )
    return {}
