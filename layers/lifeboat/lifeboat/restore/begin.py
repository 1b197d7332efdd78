"""Stage 1, begin: validate the input, follow the server's lineage, apply the guardrails, take
the locks (recorded first in the execution's EXEC# record), gather what the planner needs and
plan. Refused or failed before anything changed: nothing is left behind."""

from __future__ import annotations

from datetime import datetime, timedelta

from lifeboat import tags as T
from lifeboat.asg.members import group_of_instance, member_refusal
from lifeboat.errors import InvalidInputError
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.restore import locks, planner
from lifeboat.restore.lineage import lineage
from lifeboat.restore.locks import (
    execution_record,
    lock_all,
    record_expiry,
)
from lifeboat.restore.models import DatabasePlan, InstancePlan, RestoreInput, TaskEvent
from lifeboat.restore.region import check_region, earlier_restore, in_region, plan_in_region
from lifeboat.timeutil import iso

POINT_TIME_SKEW = timedelta(seconds=30)  # clocks differ by seconds, not by a time zone


def begin(
    event: TaskEvent, plans: PlanSet, ports: Ports, now: datetime
) -> InstancePlan | DatabasePlan:
    request = event.request()
    _check_point_time(request, now)
    check_region(request, ports)
    _check_target_az(request, in_region(ports, request.region))
    asked = request.resource_id
    chain = [request.resource_id]
    if request.instance_id:
        chain = lineage(ports.catalog, request.instance_id)
        request = _current_instance(request, chain)
    # The trigger is never taken from the input: a run is alarm-triggered only if the alarm
    # router recorded this execution's name for this resource before starting it.
    # Another region: refused while an earlier restore's replacement stands there (unless forced)
    notes = earlier_restore(request, chain, ports) if request.region else []
    guard = locks.guardrails_for(ports)
    name, arn = event.execution.name, event.execution.id
    alarm = guard.is_alarm_execution(name, asked)
    if request.trigger == "alarm" and not alarm:
        raise InvalidInputError(
            "trigger", "set only by Lifeboat's alarm router; remove it (restores are manual)"
        )
    if not request.dry_run and not alarm and not request.force:
        guard.check_cooldown(request.resource_id, now)
    locked = [] if request.dry_run else chain
    record = execution_record(name)
    expires = record_expiry(now)
    try:
        if locked:
            # Recorded before the locks are taken: whatever ends this execution (a failure,
            # a time-out, a person) finds what to release.
            ports.catalog.put_record(record, "PLAN", {"locked": locked, "expires_at": expires})
            # The locks come before the choice of a recovery point: a prune marks a point
            # 'deleting' before it reads the locks, so either it sees a lock and keeps the
            # server's points, or this restore sees the point leaving and does not choose it.
            lock_all(
                ports.catalog,
                locked,
                arn,
                now,
                {"reason": request.reason, "requested_by": request.requested_by},
            )
        if request.region:
            plan = plan_in_region(request, plans, ports, chain, name, now)
        elif request.instance_id:
            plan = _plan_instance(request, plans, ports, chain)
        else:
            plan = _plan_database(request, ports, name, now)
        plan = plan.model_copy(
            update={
                "dry_run": request.dry_run,
                "locked": locked,
                "lineage": chain,
                "warnings": [*plan.warnings, *notes],
            }
        )
        if locked:
            # Kept for the clean-up of an execution that times out or is stopped by a person
            # (it never reaches Abort; its status change event does).
            ports.catalog.put_record(
                record,
                "PLAN",
                {"plan": plan.model_dump(mode="json"), "locked": locked, "expires_at": expires},
            )
    except Exception:
        # Refused or failed before anything changed: leave nothing behind (a retry starts
        # over, recording again).
        for resource_id in locked:
            ports.catalog.release_lock(resource_id, arn)
        if locked:
            ports.catalog.delete_record(record, "PLAN")
        raise
    return plan


def _check_point_time(request: RestoreInput, now: datetime) -> None:
    """A time in the future (beyond a few seconds of clock skew) is a mistake, most often a
    local time given without its offset: refused rather than read as "the newest"."""
    when = request.point_time
    if when is not None and when > now + POINT_TIME_SKEW:
        raise InvalidInputError(
            "point_time",
            f"{iso(when)} is in the future (it is {iso(now)} UTC): a time without an offset is "
            "UTC; add yours (e.g. 2026-11-27T02:00:00+01:00) or give a time in UTC",
        )


def _check_target_az(request: RestoreInput, ports: Ports) -> None:
    zones = ports.ec2_restore.availability_zones() if request.target_az else []
    if request.target_az and request.target_az not in zones:
        raise InvalidInputError(
            "target_az",
            f"{request.target_az} is not an Availability Zone of "
            f"{request.region or 'this region'}; "
            f"choose one of {zones}",
        )


def _current_instance(request: RestoreInput, chain: list[str]) -> RestoreInput:
    """The instance that stands for the server now: the one asked for, or with ``force`` its
    latest replacement (restoring an instance already replaced is refused otherwise)."""
    current = chain[-1]
    if current == request.instance_id:
        return request
    if not request.force:
        raise InvalidInputError(
            "instance_id",
            f"{request.instance_id} was already replaced: {current} stands for this "
            f"server now. Restore {current}, or pass --force to restore the server's "
            f"current instance ({current})",
        )
    return request.model_copy(update={"instance_id": current})


def _plan_instance(
    request: RestoreInput, plans: PlanSet, ports: Ports, chain: list[str]
) -> InstancePlan:
    """Gather what the planner needs: the original as it is, the points of every instance of
    the server's lineage, the subnets of the chosen point's VPC."""
    _refuse_member(request.instance_id or "", ports)
    ec2 = ports.ec2_restore
    described = ec2.instance(request.instance_id or "")
    original = planner.SourceInstance.of(described) if described is not None else None
    points = [p for source_id in chain for p in ports.catalog.points_for_resource(source_id)]
    _, config = planner.image_point(request, original, points)
    subnets = ec2.vpc_subnets(config.vpc_id) if config.vpc_id else []
    return planner.plan_instance(request, original, points, subnets, plans)


def _plan_database(
    request: RestoreInput, ports: Ports, execution_name: str, now: datetime
) -> DatabasePlan:
    source_id = request.db_instance_id or ""
    described = ports.rds.describe_db(source_id)
    original = None
    if described is not None:
        original = planner.SourceDatabase(
            config=ports.rds.db_config(described),
            tags=T.to_dict(described.get("TagList")),
            backup_retention_days=described.get("BackupRetentionPeriod") or 0,
            latest_restorable=described.get("LatestRestorableTime"),
        )
        asked = request.point_time or request.restore_time
        window = ports.rds_restore.restore_window(source_id) if asked else None
        if window is not None:  # its own latest time is the instance's (fresher)
            original.earliest_restorable = window[0]
    points = ports.catalog.points_for_resource(source_id)
    zones = ports.ec2_restore.availability_zones() if request.target_az is None else []
    return planner.plan_database(request, original, points, zones, execution_name, now)


def _refuse_member(instance_id: str, ports: Ports) -> None:
    """A member of an Auto Scaling group is never restored as a standalone server (dry run
    too): the group replaces it; the group itself is restored with ``--asg``."""
    described = ports.ec2_restore.instance(instance_id)
    tags = T.to_dict(described.get("Tags")) if described is not None else {}
    group = group_of_instance(instance_id, tags, ports)
    if group is not None:
        raise InvalidInputError("instance_id", member_refusal(instance_id, group))
