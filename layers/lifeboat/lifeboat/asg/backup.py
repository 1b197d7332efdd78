"""A backup run's point of an Auto Scaling group (kind ``asg``): one AMI (NoReboot) of one
InService, healthy member that runs the group's current launch template version, and the
group's configuration (template id, version and its whole ``LaunchTemplateData``, sizes,
subnets, target groups, health check). Never an image of a member of another version: with no
such member the group's point fails, saying why. The intent is recorded before the create call,
as for an instance's AMI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.asg.models import AutoScalingGroup, GroupConfig, LaunchTemplateVersion
from lifeboat.asg.template import security_group_ids
from lifeboat.errors import error_code
from lifeboat.models import CreateBatchEvent, Intent, PointStatus, RecoveryPoint
from lifeboat.plans import Kind
from lifeboat.ports import CatalogPort, Ports

GONE_STATES = {"shutting-down", "terminated"}


def new_point(batch: CreateBatchEvent, name: str, now: datetime) -> RecoveryPoint:
    """The run's point of group ``name`` (id ``<run>/<group>/asg``, as every point's)."""
    return RecoveryPoint(
        recovery_point_id=f"{batch.run_id}/{name}/{Kind.ASG.value}",
        run_id=batch.run_id,
        plan=batch.plan,
        rule=batch.rule,
        kind=Kind.ASG,
        source_id=name,
        source_type="asg",
        created_at=now,
        status=PointStatus.PENDING,
    )


def record_failure(catalog: CatalogPort, point: RecoveryPoint, error: str) -> None:
    catalog.put_point(point.model_copy(update={"status": PointStatus.FAILED, "error": error}))


def backs_up_groups(kinds: tuple[Kind, ...]) -> bool:
    """Rules with ``ami`` (or ``asg``) back up the plan's groups: a group's point is its AMI."""
    return Kind.AMI in kinds or Kind.ASG in kinds


def image_name(group: str, run_id: str) -> str:
    return T.image_name(group, run_id)


def current_member(
    group: AutoScalingGroup,
    version: LaunchTemplateVersion,
    image_of: Callable[[str], str | None],
) -> str | None:
    """An InService, healthy member launched from ``version`` (as Auto Scaling reports it) and
    running its image (as EC2 reports it): the member whose AMI stands for the group. None
    when no member qualifies (the group is mid-deploy, or every member is of another
    version)."""
    for member in sorted(group.members, key=lambda m: m.instance_id):
        if not member.in_service or member.launch_template_version != str(version.version):
            continue
        if version.image_id is None or image_of(member.instance_id) == version.image_id:
            return member.instance_id
    return None


def _members_seen(group: AutoScalingGroup) -> str:
    return ", ".join(
        f"{m.instance_id} ({m.lifecycle_state}/{m.health_status}, version "
        f"{m.launch_template_version or '?'})"
        for m in group.members
    )


def create_group_point(
    batch: CreateBatchEvent, name: str, ports: Ports, now: datetime, counts: dict[str, int]
) -> None:
    """The run's point of group ``name`` (reused when an earlier attempt recorded it)."""
    catalog = ports.catalog
    existing = catalog.get_point(name, batch.run_id, Kind.ASG.value)
    if existing is not None and (
        existing.artifact_ids() or existing.status is not PointStatus.PENDING
    ):
        counts["reused"] += 1
        return
    point = new_point(batch, name, now)
    try:
        intended = _intend(batch, name, ports, now, point, existing)
    except _NotBackedUp as refusal:
        record_failure(catalog, point, str(refusal))
        counts["failed"] += 1
        return
    point, member, tags = intended
    if existing is None or existing.intent is None:
        catalog.put_point(point)  # the intent, before the create call (provenance)
    earlier = ports.ec2.run_images(batch.run_id, [name]).get(name)
    try:
        image_id = (
            earlier["ImageId"]
            if earlier and earlier.get("Name") == image_name(name, batch.run_id)
            else ports.ec2.create_image(
                member, name=image_name(name, batch.run_id), reboot=False, tags=tags
            )
        )
    except ClientError as exc:
        record_failure(catalog, point, f"{error_code(exc)}: {exc}")
        counts["failed"] += 1
        return
    catalog.put_point(point.model_copy(update={"image_id": image_id}))
    counts["created"] += 1


class _NotBackedUp(Exception):
    """Why a group's point is not taken (recorded as the point's error)."""


def _intend(
    batch: CreateBatchEvent,
    name: str,
    ports: Ports,
    now: datetime,
    point: RecoveryPoint,
    existing: RecoveryPoint | None,
) -> tuple[RecoveryPoint, str, dict[str, str]]:
    if ports.groups is None:
        raise _NotBackedUp(f"NoAutoScaling: no Auto Scaling adapter to read group {name}")
    found = ports.groups.groups([name])
    if not found:
        raise _NotBackedUp(f"GroupGone: Auto Scaling group {name} does not exist")
    group = found[0]
    if group.tags.get(T.PLAN) != batch.plan:
        raise _NotBackedUp(f"NotProtected: group {name} does not carry {T.PLAN}={batch.plan}")
    if group.launch_template is None:
        raise _NotBackedUp(
            f"NoLaunchTemplate: group {name} launches from a launch configuration; Lifeboat "
            f"protects groups that use a launch template"
        )
    ref = group.launch_template
    version = ports.groups.template_version(ref.template_id, ref.version)
    if version is None:
        raise _NotBackedUp(
            f"TemplateGone: launch template {ref.template_id} version {ref.version} of group "
            f"{name} does not exist"
        )
    members = [m.instance_id for m in group.members]
    described = ports.ec2.describe_instances(members) if members else {}
    member = current_member(
        group,
        version,
        lambda iid: (
            str(described[iid].get("ImageId"))
            if iid in described and described[iid]["State"]["Name"] not in GONE_STATES
            else None
        ),
    )
    if member is None:
        raise _NotBackedUp(
            f"NoCurrentMember: no InService, healthy member of group {name} runs its launch "
            f"template {ref.template_id} version {version.version} (image {version.image_id}); "
            f"members: {_members_seen(group) or 'none'}. The group's point is never taken "
            f"from a member of another version; the next run tries again"
        )
    config = _config(group, version, member, ports)
    instance = described[member]
    ec2 = ports.ec2
    volume_ids = [
        m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs")
    ]
    subnet_id = instance.get("SubnetId")
    member_config = ec2.instance_config(
        instance,
        ec2.volumes(volume_ids) if volume_ids else {},
        ec2.subnets([subnet_id]) if subnet_id else {},
        {},
        {},
    )
    tags = T.backup_tags(
        source_id=name,
        plan=batch.plan,
        rule=batch.rule,
        run_id=batch.run_id,
        kind=Kind.ASG.value,
        source_tags=group.tags,
    )
    intent = (
        existing.intent
        if existing is not None and existing.intent is not None
        else Intent(at=now, image_name=image_name(name, batch.run_id))
    )
    update: dict[str, Any] = {
        "group": config,
        "instance": member_config,
        "intent": intent,
        "size_gb": sum(d.size_gb for d in member_config.block_devices),
    }
    return point.model_copy(update=update), member, tags


def _config(
    group: AutoScalingGroup, version: LaunchTemplateVersion, member: str, ports: Ports
) -> GroupConfig:
    subnets = ports.ec2.subnets(list(group.subnet_ids)) if group.subnet_ids else {}
    tiers = {
        sid: tier
        for sid, s in subnets.items()
        if (tier := T.subnet_tier(T.to_dict(s.get("Tags")), str(s.get("AvailabilityZone", ""))))
    }
    vpcs = {str(s.get("VpcId")) for s in subnets.values() if s.get("VpcId")}
    groups = security_group_ids(version.data)
    names = ports.ec2.security_group_names(groups) if groups else {}
    return GroupConfig(
        template_id=version.template_id,
        template_name=version.template_name,
        template_version=version.version,
        launch_template_data=version.data,
        min_size=group.min_size,
        max_size=group.max_size,
        desired_capacity=group.desired_capacity,
        subnet_ids=list(group.subnet_ids),
        availability_zones=list(group.availability_zones),
        subnet_tiers=tiers,
        vpc_id=next(iter(sorted(vpcs)), None),
        target_group_arns=list(group.target_group_arns),
        health_check_type=group.health_check_type,
        health_check_grace_period=group.health_check_grace_period,
        tags={k: v for k, v in group.tags.items() if not k.lower().startswith("aws:")},
        security_group_names=[names.get(g, "") for g in groups],
        member_id=member,
    )
