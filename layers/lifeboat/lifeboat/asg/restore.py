"""Restore an Auto Scaling group from its point (docs: Concepts, Auto Scaling groups): plan
first, nothing changed (the dry run is the plan). A restore never fights the group: it gives the
group a new launch template version (the recorded data with the point's AMI) and lets an
instance refresh, with a checkpoint, replace the members; the version it replaced is recorded,
and a rollback puts it back the same way. A group or template deleted by hand is recreated
from the point; in another region, from the point's copy, in the subnets of the same tiers."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.asg.models import AutoScalingGroup
from lifeboat.asg.ports import GroupPort
from lifeboat.asg.restore_models import (
    GroupPlan,
    GroupRestoreInput,
    GroupTask,
    TemplateVersionRef,
)
from lifeboat.asg.template import security_group_ids
from lifeboat.errors import InvalidInputError, NoTargetError, RestoreInProgressError
from lifeboat.models import PointStatus, RecoveryPoint, validate_input
from lifeboat.plans import Kind
from lifeboat.ports import Ports
from lifeboat.restore.locks import execution_record, lock_all, record_expiry
from lifeboat.restore.region import in_region
from lifeboat.timeutil import iso

RECORD_SK = "GROUP"
_TEMPLATE_UNSAFE = re.compile(r"[^A-Za-z0-9().\-/_]")
NOT_DONE_IN_REGION = [
    "the home region's load balancer target groups are not attached: register the group with "
    "a load balancer of this region",
    "DNS and clients still point at the home region",
    "scaling policies, scheduled actions, lifecycle hooks and warm pools were not recorded",
]


def groups_of(ports: Ports) -> GroupPort:
    if ports.groups is None:
        raise RuntimeError("no Auto Scaling adapter configured")
    return ports.groups


def record_of(ports: Ports, execution_name: str) -> dict[str, Any] | None:
    """The record a group restore keeps of itself (its plan, and what it applied)."""
    found = [
        r
        for r in ports.catalog.records(execution_record(execution_name))
        if r.get("sk") == RECORD_SK
    ]
    return found[0] if found else None


def begin(task: GroupTask, ports: Ports, now: datetime) -> GroupPlan:
    """Validate, lock the group (recorded first: whatever ends the execution finds what to
    release), then plan. Refused or failed: nothing is left behind."""
    request = validate_input(GroupRestoreInput, task.state.input())
    if request.region is not None and request.region == ports.home_region:
        raise InvalidInputError(
            "region", f"{request.region} is the home region: remove --region to restore here"
        )
    name, arn = task.execution.name, task.execution.id
    locked = [] if request.dry_run else [request.asg]
    record, expires = execution_record(name), record_expiry(now)
    try:
        if locked:
            ports.catalog.put_record(record, RECORD_SK, {"locked": locked, "expires_at": expires})
            lock_all(
                ports.catalog,
                locked,
                arn,
                now,
                {"reason": request.reason, "requested_by": request.requested_by},
            )
        if request.rollback_of is not None:
            plan = _plan_rollback(request, ports)
        elif request.region is not None:
            plan = _plan_in_region(request, ports, name)
        else:
            plan = _plan_home(request, ports, name)
        plan = plan.model_copy(
            update={"dry_run": request.dry_run, "locked": locked, "home_region": ports.home_region}
        )
        if locked:
            ports.catalog.put_record(
                record,
                RECORD_SK,
                {
                    "locked": locked,
                    "expires_at": expires,
                    "group": plan.group,
                    "region": plan.region,
                    "plan": plan.model_dump(mode="json"),
                },
            )
    except Exception:
        for resource_id in locked:
            ports.catalog.release_lock(resource_id, arn)
        if locked:
            ports.catalog.delete_record(record, RECORD_SK)
        raise
    return plan


def choose(points: list[RecoveryPoint], wanted: str, where: str) -> RecoveryPoint:
    """The newest usable point, or the one named (its id or its AMI's id)."""
    usable = sorted(
        (
            p
            for p in points
            if p.kind is Kind.ASG
            and p.status is PointStatus.COMPLETED
            and p.image_id
            and p.group is not None
        ),
        key=lambda p: (p.created_at, p.recovery_point_id),
        reverse=True,
    )
    if not usable:
        raise NoTargetError(f"no completed recovery point of the group {where}")
    if wanted == "latest":
        return usable[0]
    for point in usable:
        if wanted in (point.recovery_point_id, point.image_id, point.copy_of):
            return point
    raise InvalidInputError(
        "recovery_point",
        f"{wanted} is not a completed recovery point of the group {where}; list them with "
        f"'lifeboat recovery-points list --resource {usable[0].source_id}'",
    )


def _active_refresh(groups: GroupPort, group: str) -> None:
    active = [r for r in groups.refreshes(group) if not r.done]
    if active:
        raise RestoreInProgressError(
            f"instance refresh {active[0].refresh_id} is {active[0].status} on group {group}: "
            f"wait for it, or cancel it (aws autoscaling cancel-instance-refresh "
            f"--auto-scaling-group-name {group})"
        )


def _current(groups: GroupPort, group: AutoScalingGroup) -> TemplateVersionRef | None:
    """The template version the group launches now, as a number (None: its template is
    gone)."""
    ref = group.launch_template
    if ref is None:
        return None
    version = groups.template_version(ref.template_id, ref.version)
    return (
        TemplateVersionRef(template_id=ref.template_id, version=version.version)
        if version
        else None
    )


def _template_name(base: str, execution_name: str) -> str:
    return _TEMPLATE_UNSAFE.sub("-", f"{base}-{execution_name}")[:128]


def _plan_home(request: GroupRestoreInput, ports: Ports, execution_name: str) -> GroupPlan:
    groups = groups_of(ports)
    points = [p for p in ports.catalog.points_for_resource(request.asg) if not p.is_copy]
    point = choose(points, request.recovery_point, f"{request.asg} in this region")
    config = point.group
    assert config is not None
    found = groups.groups([request.asg])
    recorded = groups.template_version(config.template_id, "$Latest")
    base = GroupPlan(
        group=request.asg,
        action="update",
        recovery_point_id=point.recovery_point_id,
        point_key=(point.source_id, point.run_id, point.kind.value),
        image_id=point.image_id,
        data_taken_at=iso(point.created_at),
        template_name=_template_name(config.template_name or request.asg, execution_name),
        min_size=config.min_size,
        max_size=config.max_size,
        desired_capacity=config.desired_capacity,
    )
    if found:
        group = found[0]
        if request.desired is not None:
            raise InvalidInputError(
                "desired",
                f"applies when the group is created (--region, or a group deleted by hand); "
                f"group {request.asg} exists: change its capacity with 'aws autoscaling "
                f"set-desired-capacity'",
            )
        _active_refresh(groups, request.asg)
        current = _current(groups, group)
        if current is not None:
            return base.model_copy(update={"template_id": current.template_id, "previous": current})
        gone = group.launch_template.template_id if group.launch_template else "?"
        made = "a new version of the recorded template" if recorded else "a new template"
        return base.model_copy(
            update={
                "action": "recreate_template",
                "template_id": recorded.template_id if recorded else None,
                "warnings": [
                    f"the group's launch template {gone} is gone: {made} is made; there is no "
                    f"previous version to roll back to"
                ],
            }
        )
    subnets = ports.ec2.subnets(config.subnet_ids) if config.subnet_ids else {}
    if not subnets:
        raise NoTargetError(
            f"group {request.asg} is gone and none of its subnets ({config.subnet_ids}) exists: "
            f"recreate them, or restore it in another region with --region"
        )
    desired = request.desired if request.desired is not None else config.desired_capacity
    return base.model_copy(
        update={
            "action": "recreate_group",
            "group_exists": False,
            "template_id": recorded.template_id if recorded else None,
            "subnet_ids": [s for s in config.subnet_ids if s in subnets],
            "desired_capacity": desired,
            "min_size": min(config.min_size, desired),
            "max_size": max(config.max_size, desired),
        }
    )


def _plan_rollback(request: GroupRestoreInput, ports: Ports) -> GroupPlan:
    assert request.rollback_of is not None
    earlier = request.rollback_of.rsplit(":", 1)[-1]
    record = record_of(ports, earlier)
    plan = GroupPlan.model_validate(record["plan"]) if record and record.get("plan") else None
    if plan is None or plan.group != request.asg:
        raise InvalidInputError(
            "rollback_of",
            f"{request.rollback_of} is not a group restore of {request.asg} (or its record "
            f"expired)",
        )
    if plan.region is not None or plan.previous is None:
        did = (
            "created the group"
            if not plan.group_exists or plan.region
            else "replaced a deleted template"
        )
        raise InvalidInputError(
            "rollback_of",
            f"that restore {did}: there is no previous version to put back; delete what it "
            f"made by hand if unwanted",
        )
    groups = groups_of(ports)
    found = groups.groups([request.asg])
    if not found:
        raise NoTargetError(f"group {request.asg} no longer exists: nothing to roll back")
    target = plan.previous
    if groups.template_version(target.template_id, str(target.version)) is None:
        raise NoTargetError(
            f"launch template {target.template_id} version {target.version} no longer exists"
        )
    _active_refresh(groups, request.asg)
    return GroupPlan(
        group=request.asg,
        action="rollback",
        template_id=target.template_id,
        target=target,
        previous=_current(groups, found[0]),
    )


def _plan_in_region(request: GroupRestoreInput, ports: Ports, execution_name: str) -> GroupPlan:
    region = request.region
    assert region is not None
    there = in_region(ports, region)
    copies = ports.catalog.copies_for_resource(request.asg, region)
    point = choose(copies, request.recovery_point, f"{request.asg} copied to {region}")
    config = point.group
    assert config is not None
    if groups_of(there).groups([request.asg]):
        raise InvalidInputError(
            "asg",
            f"a group named {request.asg} already exists in {region}: restore the group there "
            f"with 'lifeboat restore start --asg' from that region's stack, or delete it",
        )
    tiers = set(config.subnet_tiers.values())
    if not tiers:
        raise NoTargetError(
            f"the group's subnets had no tier when it was backed up (tag them lifeboat:tier, or "
            f"name them web-a, web-b): no subnet of {region} can be matched"
        )
    by_vpc: dict[str, list[str]] = defaultdict(list)
    for subnet in there.ec2_restore.region_subnets():
        tier = T.subnet_tier(T.to_dict(subnet.get("Tags")), str(subnet.get("AvailabilityZone")))
        if tier in tiers:
            by_vpc[str(subnet.get("VpcId"))].append(str(subnet["SubnetId"]))
    if not by_vpc:
        raise NoTargetError(f"no subnet of tier {sorted(tiers)} in {region}")
    vpc = sorted(by_vpc, key=lambda v: (-len(by_vpc[v]), v))[0]
    warnings = (
        [f"VPCs {sorted(by_vpc)} all have subnets of that tier: {vpc} chosen"]
        if len(by_vpc) > 1
        else []
    )
    wanted = config.security_group_names
    named = {
        str(g.get("GroupName")): str(g["GroupId"]) for g in there.ec2_restore.security_groups(vpc)
    }
    missing = [n for n in wanted if n not in named]
    if missing or (security_group_ids(config.launch_template_data) and not wanted):
        raise NoTargetError(
            f"security groups {missing or '(unnamed)'} of the group's template have no group of "
            f"the same name in VPC {vpc} of {region}: create them there"
        )
    key = config.launch_template_data.get("KeyName")
    drop_key = bool(key) and not there.ec2_restore.key_pair_exists(str(key))
    if drop_key:
        warnings.append(f"key pair {key} does not exist in {region}: launched without a key")
    desired = request.desired if request.desired is not None else config.desired_capacity
    return GroupPlan(
        group=request.asg,
        action="create_in_region",
        region=region,
        recovery_point_id=point.recovery_point_id,
        point_key=(point.source_id, point.run_id, point.kind.value),
        image_id=point.image_id,
        data_taken_at=iso(point.created_at),
        template_name=_template_name(config.template_name or request.asg, execution_name),
        group_exists=False,
        subnet_ids=sorted(by_vpc[vpc]),
        security_group_ids=[named[n] for n in wanted],
        desired_capacity=desired,
        min_size=min(config.min_size, desired),
        max_size=max(config.max_size, desired),
        drop_key_name=drop_key,
        warnings=warnings,
        not_done=list(NOT_DONE_IN_REGION),
    )
