"""Planning a restore, pure: what the begin stage gathered (the original as it is, the server's
recovery points, the subnets of its VPC, the region's AZs) in, a plan out. No AWS, no ports:
the same inputs always give the same plan."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from lifeboat import tags as T
from lifeboat.errors import InvalidInputError, NoTargetError
from lifeboat.models import DatabaseConfig, InstanceConfig, RecoveryPoint
from lifeboat.plans import Kind, PlanSet
from lifeboat.restore import choice as _choice
from lifeboat.restore import volumes as _volumes
from lifeboat.restore.models import (
    Candidate,
    DatabasePlan,
    InstancePlan,
    RestoreInput,
    VolumePlan,
)
from lifeboat.timeutil import iso

SAME_AZ_WARNING = (
    "the replacement goes into {az}, the AZ the original ran in: right for a failed host, "
    "wrong if the AZ itself is failing"
)
Subnet = dict[str, Any]  # as DescribeSubnets gives it: SubnetId, AvailabilityZone, State, Tags
# How the point is chosen, and which volumes a restore brings back (the drill and the readiness
# report choose and plan them the same way)
completed = _choice.completed
choose = _choice.choose
named_set = _choice.named_set
as_of = _choice.as_of
database_point = _choice.database_point
# Which volumes a restore brings back (the drill and the readiness report plan them the same way)
plan_volumes = _volumes.plan_volumes
volume_gaps = _volumes.volume_gaps


class SourceInstance(BaseModel):
    """The original instance as it is now (None when it is gone)."""

    instance_id: str
    availability_zone: str | None = None
    state: str = "gone"
    tags: dict[str, str] = Field(default_factory=dict)
    devices: dict[str, str] = Field(
        default_factory=dict, description="its EBS volumes attached now: device → volume id"
    )

    @classmethod
    def of(cls, described: dict[str, Any]) -> SourceInstance:
        return cls(
            instance_id=described["InstanceId"],
            availability_zone=described.get("Placement", {}).get("AvailabilityZone"),
            state=described.get("State", {}).get("Name", "gone"),
            tags=T.to_dict(described.get("Tags")),
            devices=attached_devices(described),
        )


def attached_devices(described: dict[str, Any]) -> dict[str, str]:
    """An instance's EBS volumes as DescribeInstances gives them: device name → volume id."""
    return {
        str(m["DeviceName"]): str(m["Ebs"]["VolumeId"])
        for m in described.get("BlockDeviceMappings", [])
        if m.get("DeviceName") and (m.get("Ebs") or {}).get("VolumeId")
    }


class SourceDatabase(BaseModel):
    """The original database as it is now (None when it is gone)."""

    config: DatabaseConfig
    tags: dict[str, str] = Field(default_factory=dict)
    backup_retention_days: int = 0
    latest_restorable: datetime | None = None
    earliest_restorable: datetime | None = None


# --- shared -------------------------------------------------------------------------------------
def same_az(request: RestoreInput, field: str, az: str | None, original_az: str | None) -> bool:
    """Another AZ means another AZ: an explicit target in the original's AZ is refused unless
    the operator says so (``allow_same_az``); True when it is allowed."""
    if az is None or az != original_az:
        return False
    if not request.allow_same_az:
        raise InvalidInputError(
            field,
            f"{az} is the AZ {request.resource_id} ran in: a restore goes to another AZ. Choose "
            "another --target-az, or, if only the host failed and not the AZ, pass --same-az "
            "(allow_same_az: true)",
        )
    return True


# --- instances ----------------------------------------------------------------------------------
def image_point(
    request: RestoreInput, original: SourceInstance | None, points: Sequence[RecoveryPoint]
) -> tuple[RecoveryPoint, InstanceConfig]:
    """The AMI point to launch from (refusing an unprotected or unknown instance), with its
    instance configuration; its VPC's subnets are what :func:`plan_instance` needs next."""
    source_id = request.instance_id or ""
    usable = completed(points)
    if original is None and not usable:
        raise InvalidInputError(
            "instance_id", f"{source_id} does not exist and has no recovery points"
        )
    if original is not None and T.PLAN not in original.tags and not usable:
        raise InvalidInputError(
            "instance_id",
            f"{source_id} is not protected by any plan (no {T.PLAN} tag, no recovery points)",
        )
    images = [p for p in usable if p.kind is Kind.AMI and p.image_id]
    what = f"AMI recovery point of {source_id}"
    ebs_set = named_set(request, usable)
    if ebs_set is not None:  # an EBS set named: the AMI at or before it
        latest = request.model_copy(update={"recovery_point": "latest"})
        chosen = choose(images, latest, "recovery_point", what, until=ebs_set.created_at)
    else:
        chosen = choose(images, request, "instance_id", what)
    if chosen.instance is None:
        raise InvalidInputError(
            "recovery_point", f"{chosen.recovery_point_id} has no instance configuration"
        )
    return chosen, chosen.instance


def data_not_restored(
    chosen: RecoveryPoint,
    points: Sequence[RecoveryPoint],
    volumes: Sequence[VolumePlan],
    described: dict[str, Any] | None,
) -> list[str]:
    """Every volume of the instance (``described`` as DescribeInstances gives it) whose data a
    restore from ``chosen`` with ``volumes`` would not bring back, in plain words (the
    readiness report lists them)."""
    refusals, gaps = volume_gaps(
        chosen, completed(points), volumes, attached_devices(described) if described else None
    )
    return [*refusals, *gaps]


def plan_instance(
    request: RestoreInput,
    original: SourceInstance | None,
    points: Sequence[RecoveryPoint],
    subnets: Sequence[Subnet],
    plans: PlanSet,
) -> InstancePlan:
    """The instance plan: ``points`` are the server's (every instance of its lineage),
    ``subnets`` those of the chosen point's VPC."""
    source_id = request.instance_id or ""
    chosen, config = image_point(request, original, points)
    usable = completed(points)
    until = as_of(request, usable)
    overlay = request.recovery_point == "latest" or until is not None
    volumes = plan_volumes(chosen, usable, overlay, until)
    refusals, gaps = volume_gaps(
        chosen, usable, volumes, original.devices if original else None, until
    )
    if refusals and overlay:
        raise InvalidInputError(
            "recovery_point",
            f"{'; '.join(refusals)}: nothing was launched. Restore that volume by hand from its "
            "snapshot, or choose an older point (--point)",
        )
    plan_name = chosen.plan
    fallbacks = (
        list(plans.plans[plan_name].fallback_instance_types) if plan_name in plans.plans else []
    )
    # The AZ that failed is where the server runs now (a replacement may be elsewhere).
    failed_az = (original.availability_zone if original else None) or config.availability_zone
    candidates = plan_candidates(request, config, failed_az, subnets)
    data_volumes = [v for v in volumes if v.device_name != config.root_device_name] or volumes
    is_same = any(c.availability_zone == failed_az for c in candidates)
    return InstancePlan(
        source_id=source_id,
        name=config.tags.get("Name", source_id),
        source_az=failed_az,
        source_state=original.state if original else "gone",
        recovery_point_id=chosen.recovery_point_id,
        image_id=chosen.image_id or "",
        image_taken_at=chosen.created_at,
        data_taken_at=min(v.taken_at for v in data_volumes) if data_volumes else chosen.created_at,
        root_device_name=config.root_device_name,
        volumes=volumes,
        candidates=candidates,
        instance_types=list(dict.fromkeys([config.instance_type, *fallbacks])),
        security_group_ids=config.security_group_ids,
        iam_instance_profile_arn=config.iam_instance_profile_arn,
        key_name=config.key_name,
        ebs_optimized=config.ebs_optimized,
        tags=dict(config.tags),
        elastic_ip=config.elastic_ip,
        target_groups=config.target_groups,
        same_az=is_same,
        warnings=[*([SAME_AZ_WARNING.format(az=failed_az)] if is_same else []), *gaps],
        as_of=until,
        point_note=(
            f"as of {iso(until)}: the AMI of {iso(chosen.created_at)} at or before it, each data "
            "volume from the newest EBS set at or before it"
            if until is not None
            else None
        ),
    )


def plan_candidates(
    request: RestoreInput, config: InstanceConfig, failed_az: str, subnets: Sequence[Subnet]
) -> list[Candidate]:
    """Where the replacement may go, in order: the subnet asked for, else every available
    subnet of the original's tier outside the failed AZ (AZs without alarms first)."""
    vpc_id, tier = config.vpc_id, config.subnet_tier
    in_vpc = list(subnets) if vpc_id else []
    if request.target_subnet:
        return [_asked_subnet(request, vpc_id, failed_az, in_vpc)]
    same_az(request, "target_az", request.target_az, failed_az)
    eligible = _eligible(request, tier, failed_az, in_vpc)
    if not eligible:
        where = request.target_az or f"an AZ other than {failed_az}"
        raise NoTargetError(
            f"no subnet of tier {tier!r} in VPC {vpc_id} in {where}: nothing was launched. "
            "Pass --target-az AZ and --target-subnet SUBNET."
        )
    eligible.sort(key=lambda s: (s["AvailabilityZone"], s["SubnetId"]))
    return [
        Candidate(availability_zone=s["AvailabilityZone"], subnet_id=s["SubnetId"])
        for s in eligible
    ]


def _asked_subnet(
    request: RestoreInput, vpc_id: str | None, failed_az: str, subnets: list[Subnet]
) -> Candidate:
    match = [s for s in subnets if s["SubnetId"] == request.target_subnet]
    if not match:
        raise InvalidInputError(
            "target_subnet", f"{request.target_subnet} is not a subnet of {vpc_id}"
        )
    az = str(match[0]["AvailabilityZone"])
    if request.target_az and request.target_az != az:
        raise InvalidInputError(
            "target_subnet", f"{request.target_subnet} is in {az}, not {request.target_az}"
        )
    same_az(request, "target_subnet", az, failed_az)
    return Candidate(availability_zone=az, subnet_id=request.target_subnet or "")


def _eligible(
    request: RestoreInput, tier: str | None, failed_az: str, subnets: list[Subnet]
) -> list[Subnet]:
    eligible = [
        s
        for s in subnets
        if s.get("State", "available") == "available"
        and tier is not None
        and T.subnet_tier(T.to_dict(s.get("Tags")), s["AvailabilityZone"]) == tier
    ]
    if request.target_az:
        return [s for s in eligible if s["AvailabilityZone"] == request.target_az]
    eligible = [s for s in eligible if s["AvailabilityZone"] != failed_az]
    healthy = [s for s in eligible if s["AvailabilityZone"] not in request.avoid_azs]
    return healthy or eligible  # AZ-wide trouble: prefer AZs without firing alarms


# --- databases ----------------------------------------------------------------------------------
def plan_database(
    request: RestoreInput,
    original: SourceDatabase | None,
    points: Sequence[RecoveryPoint],
    zones: Sequence[str],
    execution_name: str,
    now: datetime,
) -> DatabasePlan:
    """The database plan: from a DB snapshot point, or to a point in time (``restore_time``)."""
    source_id = request.db_instance_id or ""
    snapshots = [p for p in completed(points) if p.kind is Kind.RDS and p.db_snapshot_id]
    config = _database_config(source_id, original, snapshots)
    point: RecoveryPoint | None = None
    restore_time, note = request.restore_time, None
    if restore_time is not None:
        _check_restore_time(source_id, original, restore_time)
    elif request.point_time is not None:
        restore_time, point, note = database_point(request, original, snapshots)
    else:
        point = choose(snapshots, request, "db_instance_id", f"snapshot of {source_id}")
    target_az = request.target_az
    is_same = same_az(request, "target_az", target_az, config.availability_zone)
    if target_az is None and not config.multi_az:
        others = [z for z in zones if z != config.availability_zone]
        target_az = others[0] if others else None
    return DatabasePlan(
        source_id=source_id,
        source_az=config.availability_zone,
        recovery_point_id=point.recovery_point_id if point else None,
        snapshot_id=point.db_snapshot_id if point else None,
        restore_time=restore_time,
        data_taken_at=restore_time or (point.created_at if point else now),
        new_identifier=restored_identifier(source_id, execution_name),
        target_az=None if config.multi_az else target_az,
        instance_class=config.instance_class,
        multi_az=config.multi_az,
        subnet_group=config.subnet_group,
        parameter_group=config.parameter_group,
        security_group_ids=config.security_group_ids,
        tags=config.tags,
        same_az=is_same,
        warnings=[SAME_AZ_WARNING.format(az=target_az)] if is_same else [],
        as_of=request.point_time,
        point_note=note,
    )


def _database_config(
    source_id: str, original: SourceDatabase | None, snapshots: list[RecoveryPoint]
) -> DatabaseConfig:
    if original is None and not snapshots:
        raise InvalidInputError(
            "db_instance_id", f"{source_id} does not exist and has no recovery points"
        )
    if original is not None and T.PLAN not in original.tags and not snapshots:
        raise InvalidInputError("db_instance_id", f"{source_id} is not protected by any plan")
    config = (
        original.config
        if original is not None
        else max(snapshots, key=lambda p: p.created_at).database
    )
    if config is None:
        raise InvalidInputError("db_instance_id", f"{source_id}: no configuration recorded")
    return config


def _check_restore_time(
    source_id: str, original: SourceDatabase | None, restore_time: datetime
) -> None:
    if original is None:
        raise InvalidInputError(
            "restore_time", f"{source_id} is gone: point-in-time restore needs the source"
        )
    latest = original.latest_restorable
    if not original.backup_retention_days or latest is None:
        raise InvalidInputError(
            "restore_time", f"{source_id} has no automated backups to restore from"
        )
    if restore_time > latest:
        raise InvalidInputError(
            "restore_time", f"latest restorable time of {source_id} is {iso(latest)}"
        )
    earliest = original.earliest_restorable
    if earliest is not None and restore_time < earliest:
        raise InvalidInputError(
            "restore_time",
            f"earliest restorable time of {source_id} is {iso(earliest)}; for an older time "
            "use --point TIME (its newest DB snapshot at or before it)",
        )


def restored_identifier(source_id: str, execution_name: str) -> str:
    digest = hashlib.sha256(execution_name.encode()).hexdigest()[:8]
    base = re.sub(r"-{2,}", "-", f"{source_id}"[:40].rstrip("-"))
    return f"{base}-restored-{digest}"
