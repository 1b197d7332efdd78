"""The group restore's steps after its plan: apply (a template version with the point's AMI,
made the group's; or the template and group recreated), check the instance refresh (bounded by
the state machine), finish (record, release, notify) and abort (put the previous version back)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.asg.models import LaunchTemplateVersion, NewGroup
from lifeboat.asg.restore import RECORD_SK, begin, groups_of, record_of
from lifeboat.asg.restore_models import Applied, GroupPlan, GroupTask, RefreshState
from lifeboat.asg.template import with_image
from lifeboat.errors import LifeboatError
from lifeboat.models import RecoveryPoint
from lifeboat.ports import Ports
from lifeboat.restore.locks import execution_record, record_expiry, release_all
from lifeboat.restore.region import in_region
from lifeboat.timeutil import iso, parse_iso

CHECKPOINTS = [50, 100]  # the refresh pauses once half the members are replaced
MIN_HEALTHY_PERCENT = 50
POLL_SECONDS = 30


class GroupRefreshFailedError(LifeboatError):
    """The group's instance refresh failed or was cancelled."""


def run_step(task: GroupTask, ports: Ports, now: datetime) -> dict[str, Any]:
    """One step of ``statemachines/group_restore.asl.json``: its result (JSON)."""
    if task.step == "begin":
        return begin(task, ports, now).model_dump(mode="json")
    plan = task.state.plan
    if task.step == "abort":
        return abort(task, plan, ports, now)
    if plan is None:
        raise LifeboatError(f"step {task.step} reached without a plan")
    if task.step == "apply":
        return apply(task, plan, ports, now).model_dump(mode="json")
    if task.step == "check":
        return check(task, plan, ports).model_dump(mode="json")
    return finish(task, plan, ports, now)


def _point(plan: GroupPlan, ports: Ports) -> RecoveryPoint:
    assert plan.point_key is not None
    source, run, kind = plan.point_key
    if plan.region is None:
        found = ports.catalog.get_point(source, run, kind)
    else:
        found = ports.catalog.get_copies(plan.region, [plan.point_key]).get(plan.point_key)
    if found is None or found.group is None or not found.image_id:
        raise LifeboatError(f"recovery point {plan.recovery_point_id} is no longer in the catalog")
    return found


def _token(execution_arn: str, what: str) -> str:
    return hashlib.sha256(f"{execution_arn}\n{what}".encode()).hexdigest()[:64]


def apply(task: GroupTask, plan: GroupPlan, ports: Ports, now: datetime) -> Applied:
    """Make the change the plan says; safe to repeat (ClientTokens, tags naming this
    execution, the refresh already in progress)."""
    groups = groups_of(in_region(ports, plan.region))
    name, arn = task.execution.name, task.execution.id
    if plan.action == "rollback":
        assert plan.target is not None
        groups.set_template_version(plan.group, plan.target.template_id, plan.target.version)
        started = groups.start_refresh(plan.group, CHECKPOINTS, MIN_HEALTHY_PERCENT)
        applied = Applied(
            template_id=plan.target.template_id, version=plan.target.version, refresh_id=started
        )
        _record(ports, name, plan, applied, now)
        return applied
    point = _point(plan, ports)
    config = point.group
    assert config is not None and point.image_id is not None
    regional = plan.security_group_ids if plan.region is not None else None
    data = with_image(config.launch_template_data, point.image_id, regional)
    if plan.drop_key_name:
        data.pop("KeyName", None)
    description = f"{T.RESTORED_FROM}={point.recovery_point_id} ({name})"[:255]
    version: LaunchTemplateVersion
    if plan.template_id is not None:
        version = groups.create_template_version(
            plan.template_id, data, description, _token(arn, "version")
        )
    else:
        version = groups.create_template(
            plan.template_name,
            data,
            description,
            _restored_tags(point, arn),
            _token(arn, "template"),
        )
    refresh: str | None = None
    if plan.group_exists:
        groups.set_template_version(plan.group, version.template_id, version.version)
        refresh = groups.start_refresh(plan.group, CHECKPOINTS, MIN_HEALTHY_PERCENT)
    else:
        groups.create_group(
            NewGroup(
                name=plan.group,
                template_id=version.template_id,
                template_version=version.version,
                min_size=plan.min_size,
                max_size=plan.max_size,
                desired_capacity=plan.desired_capacity,
                subnet_ids=tuple(plan.subnet_ids),
                # Target groups are regional: at home the recorded ones, elsewhere none.
                target_group_arns=tuple(config.target_group_arns if plan.region is None else ()),
                health_check_type=config.health_check_type if plan.region is None else "EC2",
                health_check_grace_period=config.health_check_grace_period,
                tags={**config.tags, **_restored_tags(point, arn)},
            )
        )
    applied = Applied(
        template_id=version.template_id,
        version=version.version,
        refresh_id=refresh,
        created_template=plan.template_id is None,
        created_group=not plan.group_exists,
    )
    _record(ports, name, plan, applied, now)
    return applied


def _restored_tags(point: RecoveryPoint, execution_arn: str) -> dict[str, str]:
    return {
        T.RESTORED_FROM: point.recovery_point_id[:256],
        T.RESTORE_EXECUTION: execution_arn[:256],
        T.PLAN: point.plan,
    }


def _record(ports: Ports, name: str, plan: GroupPlan, applied: Applied, now: datetime) -> None:
    """What this execution changed, kept for ``lifeboat restore rollback`` (30 days)."""
    ports.catalog.put_record(
        execution_record(name),
        RECORD_SK,
        {
            "locked": plan.locked,
            "expires_at": record_expiry(now),
            "group": plan.group,
            "region": plan.region,
            "plan": plan.model_dump(mode="json"),
            "applied": applied.model_dump(mode="json"),
        },
    )


def check(task: GroupTask, plan: GroupPlan, ports: Ports) -> RefreshState:
    """Where the refresh (or a created group's launches) stands; a failed or cancelled refresh
    raises (the state machine aborts: the previous version is put back)."""
    applied = task.state.applied
    assert applied is not None
    attempt = (task.state.refresh.attempt if task.state.refresh else 0) + 1
    groups = groups_of(in_region(ports, plan.region))
    if applied.refresh_id is not None:
        found = groups.refreshes(plan.group, [applied.refresh_id])
        if not found:
            raise GroupRefreshFailedError(f"instance refresh {applied.refresh_id} disappeared")
        refresh = found[0]
        if refresh.done and not refresh.succeeded:
            raise GroupRefreshFailedError(
                f"instance refresh {refresh.refresh_id} of {plan.group} ended {refresh.status}: "
                f"{refresh.reason or 'see the group activity history'}"
            )
        return RefreshState(
            done=refresh.succeeded,
            attempt=attempt,
            wait_seconds=POLL_SECONDS,
            status=refresh.status,
            percentage=refresh.percentage_complete,
        )
    group = groups.groups([plan.group])
    serving = sum(group[0].in_service_by_az().values()) if group else 0
    wanted = plan.desired_capacity
    return RefreshState(
        done=serving >= wanted,
        attempt=attempt,
        wait_seconds=POLL_SECONDS,
        status=f"{serving} of {wanted} InService",
        percentage=100 if wanted == 0 else min(100, 100 * serving // wanted),
    )


def finish(task: GroupTask, plan: GroupPlan, ports: Ports, now: datetime) -> dict[str, Any]:
    applied = task.state.applied
    assert applied is not None
    name, arn = task.execution.name, task.execution.id
    release_all(ports.catalog, plan.locked, plan.group, arn, name)
    started = parse_iso(task.execution.start_time)
    result: dict[str, Any] = {
        "status": "restored" if plan.action != "rollback" else "rolled_back",
        "kind": "asg",
        "group": plan.group,
        "action": plan.action,
        "region": plan.region,
        "recovery_point_id": plan.recovery_point_id,
        "image_id": plan.image_id,
        "data_taken_at": plan.data_taken_at,
        "template_id": applied.template_id,
        "version": applied.version,
        "previous": plan.previous.model_dump(mode="json") if plan.previous else None,
        "refresh_id": applied.refresh_id,
        "rto_seconds": int((now - started).total_seconds()),
        "warnings": plan.warnings,
        "not_done": plan.not_done,
        "finished_at": iso(now),
    }
    if plan.previous is not None and plan.action != "rollback":
        result["rollback"] = f"lifeboat restore rollback {arn}"
    record = record_of(ports, name) or {}
    ports.catalog.put_record(
        execution_record(name),
        RECORD_SK,
        {**{k: v for k, v in record.items() if k not in ("pk", "sk")}, "result": result},
    )
    if ports.notifier is not None:
        ports.notifier.publish(f"Lifeboat restored group {plan.group} ({plan.action})", result)
    return result


def abort(task: GroupTask, plan: GroupPlan | None, ports: Ports, now: datetime) -> dict[str, Any]:
    """Put the group's previous template version back when this execution changed it (and
    let a refresh replace what was replaced), release the lock, notify. A group or template
    this execution created is left as it is (it may already serve), and said so."""
    name, arn = task.execution.name, task.execution.id
    applied = task.state.applied
    undone: dict[str, Any] = {}
    group = plan.group if plan is not None else str(task.state.input().get("asg", ""))
    if plan is None:
        pass  # failed before its plan: nothing was changed
    elif applied is not None and plan.group_exists and plan.previous is not None:
        groups = groups_of(in_region(ports, plan.region))
        groups.cancel_refresh(plan.group)
        groups.set_template_version(plan.group, plan.previous.template_id, plan.previous.version)
        undone["version_restored"] = plan.previous.model_dump(mode="json")
        undone["refresh_id"] = groups.start_refresh(plan.group, CHECKPOINTS, MIN_HEALTHY_PERCENT)
    elif applied is not None:
        undone["left"] = (
            f"launch template {applied.template_id} version {applied.version}"
            + (f" and group {plan.group}" if applied.created_group else "")
            + " made by this restore are left in place"
        )
    release_all(ports.catalog, plan.locked if plan else None, group, arn, name)
    error = task.state.error
    result = {
        "status": "failed",
        "group": group,
        "error": error.Error if error else "Unknown",
        "cause": str(error.Cause or "")[:2000] if error else "",
        "undone": undone,
        "at": iso(now),
    }
    if ports.notifier is not None:
        ports.notifier.publish(f"Lifeboat group restore of {group} failed", result)
    return result
