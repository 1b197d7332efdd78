"""Restore a failed instance into another Availability Zone, or a database, in stages that are
each one Lambda task of ``statemachines/restore.asl.json`` and each safe to repeat:

begin (validate, lock, plan) → launch → check health (polled) → cut over → finish; on any
failure after the lock: abort (terminate the half-made replacement, roll the cut-over back,
release the lock, notify).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from lifeboat import tags as T
from lifeboat.errors import (
    CutOverError,
    InvalidInputError,
    NoCapacityError,
    NoTargetError,
    ReplacementFailedError,
    RestoreInProgressError,
    error_code,
)
from lifeboat.guardrails import Guardrails
from lifeboat.models import PointStatus, RecoveryPoint, TargetGroupMembership, validate_input
from lifeboat.plans import Kind, PlanSet
from lifeboat.ports import Ec2RestorePort, Ports
from lifeboat.timeutil import iso, parse_iso

# Deadlines, nested: a replacement's health deadline (instances 1 h, databases 6 h by default,
# at most 7 h) < the restore state machine's TimeoutSeconds (8 h) < a lock's expiry (9 h), so
# every deadline is met by the rollback path and no lock outlives its execution unnoticed.
MAX_HEALTH_DEADLINE = timedelta(hours=7)
RESTORE_TIMEOUT = timedelta(hours=8)  # statemachines/restore.asl.json TimeoutSeconds
LOCK_SECONDS = 9 * 3600
CAPACITY_CODES = {"InsufficientInstanceCapacity", "Unsupported", "InsufficientCapacity"}
AZ_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$"


class RestoreInput(BaseModel):
    """Input of the restore state machine (DESIGN §4)."""

    model_config = ConfigDict(extra="forbid")
    instance_id: str | None = Field(None, pattern=r"^i-[0-9a-f]{8,17}$")
    db_instance_id: str | None = Field(None, pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,62}$")
    target_az: str | None = Field(None, pattern=AZ_PATTERN)
    target_subnet: str | None = Field(None, pattern=r"^subnet-[0-9a-f]{8,17}$")
    recovery_point: str = Field("latest", min_length=1, max_length=300)
    restore_time: datetime | None = None
    dry_run: bool = False
    keep_on_failure: bool = False
    reason: str = Field("", max_length=500)
    requested_by: str = Field("unknown", max_length=300)
    trigger: Literal["manual", "alarm"] = "manual"
    force: bool = False
    allow_same_az: bool = Field(
        False,
        description="restore into the original's own AZ (a failed host, not a failed AZ)",
    )
    avoid_azs: list[Annotated[str, StringConstraints(pattern=AZ_PATTERN)]] = Field(
        default_factory=list, max_length=10, description="AZs with trouble (set by the router)"
    )

    @model_validator(mode="after")
    def _one_target(self) -> RestoreInput:
        if bool(self.instance_id) == bool(self.db_instance_id):
            raise ValueError("give exactly one of instance_id or db_instance_id")
        if self.restore_time and not self.db_instance_id:
            raise ValueError("restore_time (point-in-time) applies to databases only")
        return self

    @property
    def resource_id(self) -> str:
        return self.instance_id or self.db_instance_id or ""


class StepEvent(BaseModel):
    """What every restore task receives: the input and the execution's identity."""

    model_config = ConfigDict(extra="ignore")
    input: dict[str, Any]
    execution_name: str
    execution_arn: str
    start_time: str
    plan: dict[str, Any] | None = None
    launched: dict[str, Any] | None = None
    health: dict[str, Any] | None = None
    cutover: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    attempt: int = Field(0, ge=0)


class VolumePlan(BaseModel):
    device_name: str
    snapshot_id: str | None
    size_gb: int = 0
    volume_type: str | None = None
    iops: int | None = None
    throughput: int | None = None
    delete_on_termination: bool = True
    source: str
    taken_at: datetime


class Candidate(BaseModel):
    availability_zone: str
    subnet_id: str


class InstancePlan(BaseModel):
    kind: Literal["instance"] = "instance"
    source_id: str
    name: str
    source_az: str
    source_state: str
    recovery_point_id: str
    image_id: str
    image_taken_at: datetime
    data_taken_at: datetime
    root_device_name: str | None
    volumes: list[VolumePlan]
    candidates: list[Candidate]
    instance_types: list[str]
    security_group_ids: list[str]
    iam_instance_profile_arn: str | None = None
    key_name: str | None = None
    ebs_optimized: bool = False
    tags: dict[str, str]
    elastic_ip: dict[str, str] | None = None
    target_groups: list[TargetGroupMembership] = Field(default_factory=list)
    same_az: bool = False
    warnings: list[str] = Field(default_factory=list)


class DatabasePlan(BaseModel):
    kind: Literal["db"] = "db"
    source_id: str
    source_az: str | None
    recovery_point_id: str | None
    snapshot_id: str | None
    restore_time: datetime | None
    data_taken_at: datetime
    new_identifier: str
    target_az: str | None
    instance_class: str | None
    multi_az: bool
    subnet_group: str | None
    parameter_group: str | None
    security_group_ids: list[str]
    tags: dict[str, str]
    same_az: bool = False
    warnings: list[str] = Field(default_factory=list)


SAME_AZ_WARNING = (
    "the replacement goes into {az}, the AZ the original ran in: right for a failed host, "
    "wrong if the AZ itself is failing"
)


def _same_az(request: RestoreInput, field: str, az: str | None, original_az: str | None) -> bool:
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


# --- begin: validate, lock, plan ---------------------------------------------------------------
def begin(event: StepEvent, plans: PlanSet, ports: Ports, now: datetime) -> dict[str, Any]:
    request = validate_input(RestoreInput, event.input)
    ec2 = ports.ec2_restore
    if request.target_az and request.target_az not in ec2.availability_zones():
        raise InvalidInputError(
            "target_az",
            f"{request.target_az} is not an Availability Zone of this region; "
            f"choose one of {ec2.availability_zones()}",
        )
    asked = request.resource_id
    chain = [request.resource_id]
    if request.instance_id:
        chain = lineage(ports, request.instance_id)
        current = chain[-1]
        if current != request.instance_id:
            if not request.force:
                raise InvalidInputError(
                    "instance_id",
                    f"{request.instance_id} was already replaced: {current} stands for this "
                    f"server now. Restore {current}, or pass --force to restore the server's "
                    f"current instance ({current})",
                )
            request = request.model_copy(update={"instance_id": current})
    # The trigger is never taken from the input: a run is alarm-triggered only if the alarm
    # router recorded this execution's name for this resource before starting it.
    guard = guardrails_for(ports)
    alarm = guard.is_alarm_execution(event.execution_name, asked)
    if request.trigger == "alarm" and not alarm:
        raise InvalidInputError(
            "trigger", "set only by Lifeboat's alarm router; remove it (restores are manual)"
        )
    if not request.dry_run and not alarm and not request.force:
        guard.check_cooldown(request.resource_id, now)
    locked = [] if request.dry_run else chain
    record = f"EXEC#{event.execution_name}"
    expires = int((now + timedelta(days=30)).timestamp())
    try:
        if locked:
            # Recorded before the locks are taken: whatever ends this execution (a failure,
            # a time-out, a person) finds what to release.
            ports.catalog.put_record(record, "PLAN", {"locked": locked, "expires_at": expires})
            # The locks come before the choice of a recovery point: a prune marks a point
            # 'deleting' before it reads the locks, so either it sees a lock and keeps the
            # server's points, or this restore sees the point leaving and does not choose it.
            _lock_all(
                ports,
                locked,
                event.execution_arn,
                now,
                {"reason": request.reason, "requested_by": request.requested_by},
            )
        if request.instance_id:
            plan: BaseModel = plan_instance(request, plans, ports, ec2, now, chain)
        else:
            plan = plan_database(request, ports, ec2, event.execution_name, now)
        planned = {
            "dry_run": request.dry_run,
            "kind": "instance" if request.instance_id else "db",
            "locked": locked,
            "lineage": chain,
            **plan.model_dump(mode="json"),
        }
        if locked:
            # Kept for the clean-up of an execution that times out or is stopped by a person
            # (it never reaches Abort; its status change event does).
            ports.catalog.put_record(
                record, "PLAN", {"plan": planned, "locked": locked, "expires_at": expires}
            )
    except Exception:
        # Refused or failed before anything changed: leave nothing behind (a retry starts
        # over, recording again).
        for resource_id in locked:
            ports.catalog.release_lock(resource_id, event.execution_arn)
        if locked:
            ports.catalog.delete_record(record, "PLAN")
        raise
    return planned


def guardrails_for(ports: Ports) -> Guardrails:
    """The guardrails over this task's catalog, configured from the function's environment."""
    from lifeboat.runtime import guard_config

    return Guardrails(ports.guards, ports.catalog, guard_config())


def _points(ports: Ports, *source_ids: str) -> list[RecoveryPoint]:
    return [
        p
        for source_id in source_ids
        for p in ports.catalog.points_for_resource(source_id)
        if p.status is PointStatus.COMPLETED
    ]


MAX_LINEAGE = 50


def lineage(ports: Ports, instance_id: str) -> list[str]:
    """The instances that have stood for one protected server, oldest first (original → R1 →
    R2 …), as restores recorded them; the last is the one that stands for it now."""
    chain = [instance_id]
    while len(chain) < MAX_LINEAGE:
        before = _replacement_record(ports, "REPLACEMENT", chain[0])
        if before is None or before["of"] in chain:
            break
        chain.insert(0, str(before["of"]))
    while len(chain) < MAX_LINEAGE:
        after = _replacement_record(ports, "REPLACED", chain[-1])
        if after is None or after["by"] in chain:
            break
        chain.append(str(after["by"]))
    return chain


def _replacement_record(ports: Ports, kind: str, instance_id: str) -> dict[str, Any] | None:
    found = ports.catalog.records(f"{kind}#{instance_id}")
    return found[0] if found else None


def record_replacement(ports: Ports, old: str, new: str, execution_arn: str, now: datetime) -> None:
    """``new`` now stands for the server ``old`` stood for (written when a restore finishes)."""
    attrs = {"of": old, "by": new, "execution_arn": execution_arn, "at": iso(now)}
    ports.catalog.put_record(f"REPLACED#{old}", "LINEAGE", attrs)
    ports.catalog.put_record(f"REPLACEMENT#{new}", "LINEAGE", attrs)


def _lock_all(
    ports: Ports, ids: list[str], owner: str, now: datetime, attrs: dict[str, Any]
) -> None:
    """Lock every instance of the server's lineage (their points may be chosen), or none."""
    taken: list[str] = []
    for resource_id in ids:
        holder = ports.catalog.acquire_lock(
            resource_id, owner, int(now.timestamp()), LOCK_SECONDS, attrs
        )
        if holder is not None:
            for done in taken:
                ports.catalog.release_lock(done, owner)
            raise RestoreInProgressError(
                f"a restore of {resource_id} is already running: {holder.get('owner')} "
                f"(requested by {holder.get('requested_by', 'unknown')}); wait for it or stop it"
            )
        taken.append(resource_id)


def release_all(
    ports: Ports,
    plan: dict[str, Any] | None,
    resource_id: str,
    owner: str,
    execution_name: str | None = None,
) -> None:
    """Release every lock the execution took: as its plan says, else as it recorded before
    taking them (it may have failed or been stopped before it had a plan)."""
    locked = (plan or {}).get("locked")
    if not locked and execution_name:
        found = ports.catalog.records(f"EXEC#{execution_name}")
        locked = found[0].get("locked") if found else None
    for resource in dict.fromkeys([*(locked or []), resource_id]):
        ports.catalog.release_lock(str(resource), owner)


def plan_instance(
    request: RestoreInput,
    plans: PlanSet,
    ports: Ports,
    ec2: Ec2RestorePort,
    now: datetime,
    chain: list[str] | None = None,
) -> InstancePlan:
    source_id = request.instance_id or ""
    original = ec2.instance(source_id)
    points = _points(ports, *(chain or [source_id]))  # the server's, whichever instance
    live_tags = T.to_dict((original or {}).get("Tags"))
    if original is None and not points:
        raise InvalidInputError(
            "instance_id", f"{source_id} does not exist and has no recovery points"
        )
    if original is not None and T.PLAN not in live_tags and not points:
        raise InvalidInputError(
            "instance_id",
            f"{source_id} is not protected by any plan (no {T.PLAN} tag, no recovery points)",
        )
    images = [p for p in points if p.kind is Kind.AMI and p.image_id]
    image_point = _choose(images, request, "instance_id", f"AMI recovery point of {source_id}")
    config = image_point.instance
    if config is None:
        raise InvalidInputError(
            "recovery_point", f"{image_point.recovery_point_id} has no instance configuration"
        )
    volumes = _volumes(image_point, points, request.recovery_point == "latest")
    plan_name = image_point.plan
    fallbacks = (
        list(plans.plans[plan_name].fallback_instance_types) if plan_name in plans.plans else []
    )
    # The AZ that failed is where the server runs now (a replacement may be elsewhere).
    running_in = (original or {}).get("Placement", {}).get("AvailabilityZone")
    config = config.model_copy(update={"availability_zone": running_in or config.availability_zone})
    candidates = _candidates(
        request, config.vpc_id, config.subnet_tier, config.availability_zone, ec2
    )
    data_volumes = [v for v in volumes if v.device_name != config.root_device_name] or volumes
    tags = dict(config.tags)
    same_az = any(c.availability_zone == config.availability_zone for c in candidates)
    return InstancePlan(
        source_id=source_id,
        name=tags.get("Name", source_id),
        source_az=config.availability_zone,
        source_state=(original or {}).get("State", {}).get("Name", "gone"),
        recovery_point_id=image_point.recovery_point_id,
        image_id=image_point.image_id or "",
        image_taken_at=image_point.created_at,
        data_taken_at=min(v.taken_at for v in data_volumes)
        if data_volumes
        else image_point.created_at,
        root_device_name=config.root_device_name,
        volumes=volumes,
        candidates=candidates,
        instance_types=list(dict.fromkeys([config.instance_type, *fallbacks])),
        security_group_ids=config.security_group_ids,
        iam_instance_profile_arn=config.iam_instance_profile_arn,
        key_name=config.key_name,
        ebs_optimized=config.ebs_optimized,
        tags=tags,
        elastic_ip=config.elastic_ip,
        target_groups=config.target_groups,
        same_az=same_az,
        warnings=[SAME_AZ_WARNING.format(az=config.availability_zone)] if same_az else [],
    )


def _choose(
    points: list[RecoveryPoint], request: RestoreInput, field: str, what: str
) -> RecoveryPoint:
    """The recovery point asked for (by id or artifact id), else the latest completed one."""
    if request.recovery_point != "latest":
        chosen = [
            p for p in points if request.recovery_point in (p.recovery_point_id, *p.artifact_ids())
        ]
        if not chosen:
            raise InvalidInputError(
                "recovery_point", f"{request.recovery_point} is not a completed {what}"
            )
        return chosen[0]
    if not points:
        raise InvalidInputError(field, f"there is no completed {what}")
    return max(points, key=lambda p: p.created_at)


def _volumes(
    image_point: RecoveryPoint, points: list[RecoveryPoint], overlay: bool
) -> list[VolumePlan]:
    """The AMI's volumes, each data volume replaced by the newest completed EBS snapshot of the
    same device taken after the AMI (so the RPO is that of the most frequent backup)."""
    config = image_point.instance
    assert config is not None
    layout = {d.device_name: d for d in config.block_devices}
    planned: dict[str, VolumePlan] = {}
    for snap in image_point.snapshots:
        device = layout.get(snap.device_name or "")
        planned[snap.device_name or ""] = VolumePlan(
            device_name=snap.device_name or "",
            snapshot_id=snap.snapshot_id,
            size_gb=device.size_gb if device else snap.size_gb,
            volume_type=device.volume_type if device else snap.volume_type,
            iops=device.iops if device else None,
            throughput=device.throughput if device else None,
            delete_on_termination=device.delete_on_termination if device else True,
            source=f"AMI {image_point.image_id}",
            taken_at=image_point.created_at,
        )
    if overlay:
        newer = sorted(
            (p for p in points if p.kind is Kind.EBS and p.created_at > image_point.created_at),
            key=lambda p: p.created_at,
        )
        for point in newer:
            for snap in point.snapshots:
                name = snap.device_name or ""
                if name and name != config.root_device_name and name in planned:
                    planned[name] = planned[name].model_copy(
                        update={
                            "snapshot_id": snap.snapshot_id,
                            "source": f"EBS set {point.recovery_point_id}",
                            "taken_at": point.created_at,
                        }
                    )
    return [planned[k] for k in sorted(planned)]


def _candidates(
    request: RestoreInput, vpc_id: str | None, tier: str | None, failed_az: str, ec2: Ec2RestorePort
) -> list[Candidate]:
    subnets = ec2.vpc_subnets(vpc_id) if vpc_id else []
    if request.target_subnet:
        match = [s for s in subnets if s["SubnetId"] == request.target_subnet]
        if not match:
            raise InvalidInputError(
                "target_subnet", f"{request.target_subnet} is not a subnet of {vpc_id}"
            )
        az = match[0]["AvailabilityZone"]
        if request.target_az and request.target_az != az:
            raise InvalidInputError(
                "target_subnet", f"{request.target_subnet} is in {az}, not {request.target_az}"
            )
        _same_az(request, "target_subnet", az, failed_az)
        return [Candidate(availability_zone=az, subnet_id=request.target_subnet)]
    _same_az(request, "target_az", request.target_az, failed_az)
    eligible = [
        s
        for s in subnets
        if s.get("State", "available") == "available"
        and tier is not None
        and T.subnet_tier(T.to_dict(s.get("Tags")), s["AvailabilityZone"]) == tier
    ]
    if request.target_az:
        eligible = [s for s in eligible if s["AvailabilityZone"] == request.target_az]
    else:
        eligible = [s for s in eligible if s["AvailabilityZone"] != failed_az]
        healthy = [s for s in eligible if s["AvailabilityZone"] not in request.avoid_azs]
        eligible = healthy or eligible  # AZ-wide trouble: prefer AZs without firing alarms
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


def plan_database(
    request: RestoreInput, ports: Ports, ec2: Ec2RestorePort, execution_name: str, now: datetime
) -> DatabasePlan:
    source_id = request.db_instance_id or ""
    original = ports.rds.describe_db(source_id)
    points = [p for p in _points(ports, source_id) if p.kind is Kind.RDS and p.db_snapshot_id]
    if original is None and not points:
        raise InvalidInputError(
            "db_instance_id", f"{source_id} does not exist and has no recovery points"
        )
    if original is not None and T.PLAN not in T.to_dict(original.get("TagList")) and not points:
        raise InvalidInputError("db_instance_id", f"{source_id} is not protected by any plan")
    config = (
        ports.rds.db_config(original)
        if original is not None
        else (max(points, key=lambda p: p.created_at).database)
    )
    if config is None:
        raise InvalidInputError("db_instance_id", f"{source_id}: no configuration recorded")
    point: RecoveryPoint | None = None
    restore_time = request.restore_time
    if restore_time is not None:
        if original is None:
            raise InvalidInputError(
                "restore_time", f"{source_id} is gone: point-in-time restore needs the source"
            )
        latest = original.get("LatestRestorableTime")
        if not original.get("BackupRetentionPeriod") or latest is None:
            raise InvalidInputError(
                "restore_time", f"{source_id} has no automated backups to restore from"
            )
        latest_dt = latest if isinstance(latest, datetime) else parse_iso(str(latest))
        if restore_time > latest_dt:
            raise InvalidInputError(
                "restore_time", f"latest restorable time of {source_id} is {iso(latest_dt)}"
            )
    else:
        point = _choose(points, request, "db_instance_id", f"snapshot of {source_id}")
    target_az = request.target_az
    same_az = _same_az(request, "target_az", target_az, config.availability_zone)
    if target_az is None and not config.multi_az:
        others = [z for z in ec2.availability_zones() if z != config.availability_zone]
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
        same_az=same_az,
        warnings=[SAME_AZ_WARNING.format(az=target_az)] if same_az else [],
    )


def restored_identifier(source_id: str, execution_name: str) -> str:
    digest = hashlib.sha256(execution_name.encode()).hexdigest()[:8]
    base = re.sub(r"-{2,}", "-", f"{source_id}"[:40].rstrip("-"))
    return f"{base}-restored-{digest}"


def _client_token(execution_name: str, attempt: int) -> str:
    digest = hashlib.sha256(execution_name.encode()).hexdigest()[:40]
    return f"lifeboat-{digest}-{attempt}"[:64]


# --- launch -----------------------------------------------------------------------------------
def launch(event: StepEvent, ports: Ports, now: datetime) -> dict[str, Any]:
    assert event.plan is not None
    if event.plan["kind"] == "db":
        return _launch_database(event, DatabasePlan.model_validate(event.plan), ports)
    plan = InstancePlan.model_validate(event.plan)
    ec2 = ports.ec2_restore
    existing = ec2.replacement_of(event.execution_arn)
    if existing is not None:
        return _launched(existing, attempts=[])
    tags = {
        **T.copyable(plan.tags),
        **({T.PLAN: plan.tags[T.PLAN]} if T.PLAN in plan.tags else {}),
        T.RESTORED_FROM: plan.source_id,
        T.RESTORE_EXECUTION: event.execution_arn,
    }
    attempts: list[dict[str, str]] = []
    index = 0
    for candidate in plan.candidates:
        for instance_type in plan.instance_types:
            params = _run_params(plan, candidate, instance_type, tags)
            params["ClientToken"] = _client_token(event.execution_name, index)
            index += 1
            try:
                instance = ec2.run_instance(**params)
            except ClientError as exc:
                code = error_code(exc)
                if code not in CAPACITY_CODES:
                    raise
                attempts.append(
                    {
                        "availability_zone": candidate.availability_zone,
                        "instance_type": instance_type,
                        "error": code,
                    }
                )
                continue
            return _launched(instance, attempts)
    raise NoCapacityError(
        f"no capacity for {plan.instance_types} in "
        f"{[c.availability_zone for c in plan.candidates]}: {attempts}"
    )


def _run_params(
    plan: InstancePlan, candidate: Candidate, instance_type: str, tags: dict[str, str]
) -> dict[str, Any]:
    mappings: list[dict[str, Any]] = []
    for volume in plan.volumes:
        ebs: dict[str, Any] = {"DeleteOnTermination": volume.delete_on_termination}
        if volume.device_name != plan.root_device_name and volume.snapshot_id:
            ebs["SnapshotId"] = volume.snapshot_id
        if volume.volume_type:
            ebs["VolumeType"] = volume.volume_type
        if volume.size_gb:
            ebs["VolumeSize"] = volume.size_gb
        if volume.iops and volume.volume_type in ("io1", "io2", "gp3"):
            ebs["Iops"] = volume.iops
        if volume.throughput and volume.volume_type == "gp3":
            ebs["Throughput"] = volume.throughput
        mappings.append({"DeviceName": volume.device_name, "Ebs": ebs})
    params: dict[str, Any] = {
        "ImageId": plan.image_id,
        "InstanceType": instance_type,
        "SubnetId": candidate.subnet_id,
        "SecurityGroupIds": plan.security_group_ids,
        "BlockDeviceMappings": mappings,
        "EbsOptimized": plan.ebs_optimized,
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": T.to_list(tags)},
            {"ResourceType": "volume", "Tags": T.to_list(tags)},
        ],
    }
    if plan.key_name:
        params["KeyName"] = plan.key_name
    if plan.iam_instance_profile_arn:
        params["IamInstanceProfile"] = {"Arn": plan.iam_instance_profile_arn}
    return params


def _launched(instance: dict[str, Any], attempts: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "kind": "instance",
        "id": instance["InstanceId"],
        "availability_zone": instance.get("Placement", {}).get("AvailabilityZone"),
        "subnet_id": instance.get("SubnetId"),
        "instance_type": instance.get("InstanceType"),
        "capacity_fallbacks": attempts,
    }


def _launch_database(event: StepEvent, plan: DatabasePlan, ports: Ports) -> dict[str, Any]:
    rds = ports.rds_restore
    tags = {
        **T.copyable(plan.tags),
        **({T.PLAN: plan.tags[T.PLAN]} if T.PLAN in plan.tags else {}),
        T.RESTORED_FROM: plan.source_id,
        T.RESTORE_EXECUTION: event.execution_arn,
    }
    common: dict[str, Any] = {
        "MultiAZ": plan.multi_az,
        "Tags": T.to_list(tags),
        "CopyTagsToSnapshot": True,
    }
    if plan.instance_class:
        common["DBInstanceClass"] = plan.instance_class
    if plan.target_az:
        common["AvailabilityZone"] = plan.target_az
    if plan.subnet_group:
        common["DBSubnetGroupName"] = plan.subnet_group
    if plan.parameter_group:
        common["DBParameterGroupName"] = plan.parameter_group
    if plan.security_group_ids:
        common["VpcSecurityGroupIds"] = plan.security_group_ids
    if plan.restore_time is not None:
        db = rds.restore_to_time(
            SourceDBInstanceIdentifier=plan.source_id,
            TargetDBInstanceIdentifier=plan.new_identifier,
            RestoreTime=plan.restore_time,
            **common,
        )
    else:
        db = rds.restore_from_snapshot(
            DBInstanceIdentifier=plan.new_identifier,
            DBSnapshotIdentifier=plan.snapshot_id,
            **common,
        )
    return {
        "kind": "db",
        "id": db["DBInstanceIdentifier"],
        "availability_zone": db.get("AvailabilityZone"),
        "capacity_fallbacks": [],
    }


# --- health -----------------------------------------------------------------------------------
def check(
    event: StepEvent, ports: Ports, now: datetime, deadline: timedelta | None = None
) -> dict[str, Any]:
    """Health of the replacement; ``deadline_passed`` once the kind's deadline (counted from
    the execution's start) is over without it being healthy."""
    assert event.launched is not None
    attempt = event.attempt
    wait = min(60, 10 * 2 ** min(attempt, 3))
    limit = min(deadline or timedelta(hours=1), MAX_HEALTH_DEADLINE)
    late = now - parse_iso(event.start_time) > limit
    result = _health(event, ports, attempt, wait)
    return {**result, "deadline_passed": late and not result["healthy"]}


def _health(event: StepEvent, ports: Ports, attempt: int, wait: int) -> dict[str, Any]:
    assert event.launched is not None
    if event.launched["kind"] == "db":
        db = ports.rds.describe_db(event.launched["id"])
        status = (db or {}).get("DBInstanceStatus", "missing")
        if status in (
            "failed",
            "incompatible-restore",
            "incompatible-parameters",
            "missing",
            "deleting",
        ):
            raise ReplacementFailedError(f"database {event.launched['id']} is {status}")
        endpoint = (db or {}).get("Endpoint") or {}
        return {
            "healthy": status == "available",
            "state": status,
            "attempt": attempt + 1,
            "wait_seconds": wait,
            "endpoint": endpoint.get("Address"),
        }
    status = ports.ec2_restore.status(event.launched["id"])
    if status["state"] in ("shutting-down", "terminated", "stopped", "stopping"):
        raise ReplacementFailedError(f"replacement {event.launched['id']} is {status['state']}")
    healthy = (
        status["state"] == "running" and status["system"] == "ok" and status["instance"] == "ok"
    )
    return {"healthy": healthy, **status, "attempt": attempt + 1, "wait_seconds": wait}


# --- cut over ---------------------------------------------------------------------------------
def cut_over(event: StepEvent, ports: Ports) -> dict[str, Any]:
    assert event.plan is not None and event.launched is not None
    if event.plan["kind"] == "db":
        return {"note": "databases get a new endpoint; point the application at it"}
    plan = InstancePlan.model_validate(event.plan)
    new_id = event.launched["id"]
    ec2 = ports.ec2_restore
    done: dict[str, Any] = {
        "fenced": None,
        "stopped": False,
        "eip_moved": False,
        "target_groups": [],
    }
    original = ec2.instance(plan.source_id)
    previous_fence = T.to_dict((original or {}).get("Tags")).get(T.FENCED)
    if previous_fence and previous_fence != event.execution_name:
        # Fenced by another restore: never fenced again (its fence is not ours to undo).
        done["previous_fence"] = previous_fence
    elif original is not None and original["State"]["Name"] not in (
        "terminated",
        "shutting-down",
    ):
        # Fence first: the old instance must not keep serving once the address moves.
        ec2.fence(plan.source_id, event.execution_name)
        done["fenced"] = original["State"]["Name"]
        if original["State"]["Name"] in ("pending", "running"):
            outcome = ec2.stop(plan.source_id)
            done["stopped"] = outcome == "stopping"
            done["stop_outcome"] = outcome
    if plan.elastic_ip:
        allocation = plan.elastic_ip["allocation_id"]
        address = ec2.address(allocation)
        if address is None:
            raise CutOverError(f"Elastic IP {allocation} no longer exists")
        holder = address.get("InstanceId")
        done["eip_previous_holder"] = holder
        if holder not in (None, plan.source_id, new_id):
            raise CutOverError(
                f"Elastic IP {allocation} is now attached to {holder}, not to "
                f"{plan.source_id}; refusing to move it"
            )
        ec2.associate(allocation, new_id)
        done["eip_moved"] = True
        done["public_ip"] = address.get("PublicIp")
    for group in plan.target_groups:
        ec2.register(group.target_group_arn, new_id, group.port)
        done["target_groups"].append(group.target_group_arn)
        if original is not None:
            ec2.deregister(group.target_group_arn, plan.source_id, group.port)
    verify_cut_over(plan, new_id, ec2)
    return done


def verify_cut_over(plan: InstancePlan, new_id: str, ec2: Ec2RestorePort) -> None:
    if plan.elastic_ip:
        address = ec2.address(plan.elastic_ip["allocation_id"]) or {}
        if address.get("InstanceId") != new_id:
            raise CutOverError(f"Elastic IP still points at {address.get('InstanceId')}")
    for group in plan.target_groups:
        if new_id not in ec2.targets(group.target_group_arn):
            raise CutOverError(f"{new_id} is not registered in {group.target_group_arn}")


# --- finish and abort -------------------------------------------------------------------------
def finish(event: StepEvent, ports: Ports, now: datetime) -> dict[str, Any]:
    assert event.plan is not None and event.launched is not None
    request = validate_input(RestoreInput, event.input)
    started = parse_iso(event.start_time)
    data_time = parse_iso(str(event.plan["data_taken_at"]))
    result = {
        "status": "restored",
        "resource_id": request.resource_id,
        "kind": event.plan["kind"],
        "replacement_id": event.launched["id"],
        "availability_zone": event.launched.get("availability_zone"),
        "from_availability_zone": event.plan.get("source_az"),
        "same_az": bool(event.plan.get("same_az")),
        "warnings": event.plan.get("warnings", []),
        "recovery_point_id": event.plan.get("recovery_point_id"),
        "data_taken_at": iso(data_time),
        "rpo_seconds": int((started - data_time).total_seconds()),
        "rto_seconds": int((now - started).total_seconds()),
        "cutover": event.cutover or {},
        "endpoint": (event.health or {}).get("endpoint"),
        "capacity_fallbacks": event.launched.get("capacity_fallbacks", []),
        "reason": request.reason,
        "requested_by": request.requested_by,
        "trigger": request.trigger,
    }
    # First what must never be lost: who stands for the server now, and the locks.
    if event.plan["kind"] == "instance":
        # The replacement stands for the server from now on (a later restore of the old
        # instance is refused, or with --force restores the replacement).
        record_replacement(
            ports, str(event.plan["source_id"]), event.launched["id"], event.execution_arn, now
        )
    release_all(ports, event.plan, request.resource_id, event.execution_arn)
    guard = guardrails_for(ports)
    request.trigger = "manual"  # from the router's record, never from the input
    if guard.is_alarm_execution(event.execution_name, request.resource_id):
        request.trigger = "alarm"
        guard.release_running(event.execution_name)
        result["breaker"] = guard.record_outcome(True, event.execution_arn, now)
    result["trigger"] = request.trigger
    # The cooldown belongs to the server: its replacement carries the restore too (an alarm
    # of the replacement minutes later must not start another restore).
    for restored in dict.fromkeys([request.resource_id, event.launched["id"]]):
        ports.catalog.put_record(
            f"RESTORE#{restored}",
            f"{iso(started)}#{event.execution_name}",
            {
                "status": "restored",
                "trigger": request.trigger,
                "execution_arn": event.execution_arn,
                "finished_at": iso(now),
                "expires_at": int((now + timedelta(days=90)).timestamp()),
            },
        )
    if ports.notifier is not None:
        ports.notifier.publish(
            f"Lifeboat restored {request.resource_id} as {event.launched['id']}", result
        )
    return result


def abort(event: StepEvent, ports: Ports, now: datetime) -> dict[str, Any]:
    """Undo what this execution did, release the lock, notify. Never touches anything this
    execution did not create, except to give the original back its address and traffic."""
    request = validate_input(RestoreInput, event.input)
    undone: dict[str, Any] = {}
    launched = event.launched
    if launched is None and event.plan is not None and event.plan.get("kind") == "instance":
        found = ports.ec2_restore.replacement_of(event.execution_arn)
        launched = {"kind": "instance", "id": found["InstanceId"]} if found else None
    if launched is None and event.plan is not None and event.plan.get("kind") == "db":
        identifier = str(event.plan.get("new_identifier", ""))
        if identifier and ports.rds.describe_db(identifier) is not None:
            launched = {"kind": "db", "id": identifier}
    if event.plan is not None and event.plan.get("kind") == "instance":
        undone.update(_roll_back_cut_over(event, launched, ports))
    if launched is not None and launched["kind"] == "db":
        # A restored database is never deleted automatically (it may be the only copy of
        # hours of restore work): kept, reported, and a person decides.
        undone["replacement"] = (
            f"kept database {launched['id']}: delete it yourself if it is not wanted "
            f"(aws rds delete-db-instance --db-instance-identifier {launched['id']} ...)"
        )
    elif launched is not None and not request.keep_on_failure:
        undone["replacement"] = ports.ec2_restore.terminate_replacement(
            launched["id"], event.execution_arn
        )
    elif launched is not None:
        undone["replacement"] = f"kept {launched['id']} (keep_on_failure)"
    release_all(ports, event.plan, request.resource_id, event.execution_arn, event.execution_name)
    error = event.error or {}
    result = {
        "status": "failed",
        "resource_id": request.resource_id,
        "error": error.get("Error", "Unknown"),
        "cause": str(error.get("Cause", ""))[:2000],
        "undone": undone,
    }
    started = parse_iso(event.start_time)
    # A repeated abort (a retry, or the clean-up after a stop) counts its failure once.
    counted = any(
        r.get("execution_arn") == event.execution_arn and r.get("status") == "failed"
        for r in ports.catalog.records(f"RESTORE#{request.resource_id}")
    )
    ports.catalog.put_record(
        f"RESTORE#{request.resource_id}",
        f"{iso(started)}#{event.execution_name}",
        {
            "status": "failed",
            "trigger": request.trigger,
            "execution_arn": event.execution_arn,
            "finished_at": iso(now),
            "expires_at": int((now + timedelta(days=90)).timestamp()),
        },
    )
    guard = guardrails_for(ports)
    if guard.is_alarm_execution(event.execution_name, request.resource_id) and not counted:
        guard.release_running(event.execution_name)
        result["breaker"] = guard.record_outcome(
            False, f"{event.execution_arn}: {result['error']}", now
        )
    if ports.notifier is not None:
        ports.notifier.publish(f"Lifeboat restore of {request.resource_id} FAILED", result)
    return result


def _attempt(undone: dict[str, Any], key: str, action: Any) -> None:
    """Best effort: one failed undo step must not stop the others (nor the lock release)."""
    try:
        result = action()
        undone[key] = result if isinstance(result, str) else "done"
    except ClientError as exc:
        undone[key] = f"FAILED ({error_code(exc)}): do it by hand"


def _roll_back_cut_over(
    event: StepEvent, launched: dict[str, Any] | None, ports: Ports
) -> dict[str, Any]:
    """Undo this execution's own changes only: the address and traffic go back to the original
    where they are on *this* replacement; the original is started and unfenced only if this
    execution fenced it (never a fence of another restore)."""
    assert event.plan is not None
    plan = InstancePlan.model_validate(event.plan)
    ec2 = ports.ec2_restore
    undone: dict[str, Any] = {}
    original = ec2.instance(plan.source_id)
    if original is None or original["State"]["Name"] in ("terminated", "shutting-down"):
        return undone
    ours = T.to_dict(original.get("Tags")).get(T.FENCED) == event.execution_name
    new_id = launched["id"] if launched else None
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
            lambda a=arn, p=group.port: ec2.register(a, plan.source_id, p),
        )
        if new_id:
            _attempt(
                undone,
                f"deregister {arn}",
                lambda a=arn, p=group.port: ec2.deregister(a, new_id, p),
            )
    if ours:
        _attempt(undone, "unfence", lambda: ec2.unfence(plan.source_id))
    return undone


# --- executions that never reached Abort (timed out, or stopped by a person) ------------------
class ExecutionStatusDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    executionArn: str = Field(pattern=r"^arn:aws[a-z-]*:states:")  # noqa: N815 (AWS's names)
    stateMachineArn: str  # noqa: N815
    name: str = Field(min_length=1, max_length=80)
    status: Literal["TIMED_OUT", "ABORTED", "FAILED"]
    startDate: int  # noqa: N815 (epoch milliseconds)
    stopDate: int | None = None  # noqa: N815
    input: str | None = None


class ExecutionStatusChange(BaseModel):
    """EventBridge's "Step Functions Execution Status Change" event (events/)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionStatusDetail


TASK_GRACE = timedelta(seconds=330)  # the restore tasks' longest time-out (300 s), and a margin


def clean_up(
    change: ExecutionStatusChange,
    ports: Ports,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """A restore execution that timed out or was stopped never ran its Abort step: its locks
    would stay held and the original could stay fenced with nothing serving. Finish it here:
    if the cut-over had completed (the replacement holds the address and traffic), the
    restore stands; otherwise roll back exactly as Abort does (a database replacement is
    kept). Safe to repeat; an execution that never locked anything has nothing to clean."""
    detail = change.detail
    # Stopping an execution does not stop a task already running: wait until any task it may
    # still run has ended (the longest restore task's time-out), then act on what is.
    stopped = datetime.fromtimestamp((detail.stopDate or detail.startDate) / 1000, tz=UTC)
    wait = (stopped + TASK_GRACE - now).total_seconds()
    if wait > 0:
        sleep(wait)
        now += timedelta(seconds=wait)
    found = ports.catalog.records(f"EXEC#{detail.name}")
    if not found:
        return {"status": "nothing-to-clean", "execution_arn": detail.executionArn}
    recorded = found[0].get("plan")
    plan = dict(recorded) if isinstance(recorded, dict) else None
    started = datetime.fromtimestamp(detail.startDate / 1000, tz=UTC)
    event = StepEvent(
        input=json.loads(detail.input or "{}"),
        execution_name=detail.name,
        execution_arn=detail.executionArn,
        start_time=iso(started),
        plan=plan,
        error={
            "Error": f"Execution{detail.status.title().replace('_', '')}",
            "Cause": f"the restore execution ended {detail.status} before it finished",
        },
    )
    if plan is not None and plan.get("kind") == "instance":
        replacement = ports.ec2_restore.replacement_of(detail.executionArn)
        if replacement is not None and _cut_over_complete(
            plan, replacement["InstanceId"], ports, detail.name
        ):
            launched = {"kind": "instance", "id": replacement["InstanceId"]}
            done = finish(event.model_copy(update={"launched": launched}), ports, now)
            return {**done, "note": f"the execution ended {detail.status} after its cut-over"}
    return abort(event, ports, now)


def _cut_over_complete(plan: dict[str, Any], new_id: str, ports: Ports, execution: str) -> bool:
    """Whether the replacement serves: it holds the address and traffic (verified), or, for a
    server without either, the original is fenced by this execution (the cut-over's first
    step) or gone."""
    ec2 = ports.ec2_restore
    parsed = InstancePlan.model_validate(plan)
    if parsed.elastic_ip or parsed.target_groups:
        try:
            verify_cut_over(parsed, new_id, ec2)
        except CutOverError:
            return False
        return True
    original = ec2.instance(parsed.source_id)
    if original is None or original["State"]["Name"] in ("terminated", "shutting-down"):
        return True
    return T.to_dict(original.get("Tags")).get(T.FENCED) == execution
