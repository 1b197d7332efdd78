"""The backup run: begin (validate, dedupe, discover) → create (per batch) → check → finalize.

Each function is one Lambda task of ``statemachines/backup.asl.json``; all are safe to repeat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.errors import InvalidInputError, error_code
from lifeboat.models import (
    BackupInput,
    BeginEvent,
    CheckEvent,
    CreateBatchEvent,
    FinalizeEvent,
    Intent,
    Outcome,
    PointStatus,
    RecoveryPoint,
    ResourceRef,
    VolumeSnapshot,
    marked,
    validate_input,
)
from lifeboat.observability import metrics
from lifeboat.plans import Kind, PlanSet, Rule
from lifeboat.ports import Ec2Port, Ports, RdsPort
from lifeboat.timeutil import iso, parse_iso

GONE_STATES = {"shutting-down", "terminated"}
FAILED_IMAGE_STATES = {"failed", "invalid", "deregistered", "error", "disabled"}
FAILED_DB_SNAPSHOT_STATES = {"failed", "error", "incompatible-restore", "deleted"}
MAX_OUTCOMES_IN_OUTPUT = 500
MAX_FAILURES_IN_OUTPUT = 50
DRY_RUN_LISTED = 200
FIRST_POLL_SECONDS = 15
MAX_POLL_SECONDS = 300


def make_run_id(inp: BackupInput, execution_name: str, start_time: datetime) -> str:
    """Scheduled runs are named after their scheduled time, so the same trigger delivered again
    maps to the same run; manual runs are unique per execution."""
    if inp.scheduled_time is not None:
        return (
            f"{inp.scheduled_time.astimezone(start_time.tzinfo):%Y%m%dT%H%MZ}-{inp.plan}-{inp.rule}"
        )
    digest = hashlib.sha256(execution_name.encode()).hexdigest()[:8]
    return f"{start_time:%Y%m%dT%H%M%SZ}-{inp.plan}-{inp.rule}-m{digest}"


def point_id(run_id: str, source_id: str, kind: Kind) -> str:
    return f"{run_id}/{source_id}/{kind.value}"


# --- begin -----------------------------------------------------------------------------------
SLOT_EARLY = timedelta(minutes=5)  # clock skew between Scheduler and Step Functions
SLOT_LATE = timedelta(hours=25)  # Scheduler retries a delivery for up to 24 hours


def check_slot(scheduled_time: datetime | None, start: datetime) -> None:
    """A ``scheduled_time`` is a schedule's own slot, delivered (or redelivered) by EventBridge
    Scheduler: never in the future (a run started by hand with a future slot would claim it,
    and the real trigger would then make nothing), never older than Scheduler's retries."""
    if scheduled_time is None:
        return
    fix = "remove it to start a run now (a manual run gets its own run id)"
    try:
        if scheduled_time.tzinfo is None:
            raise InvalidInputError(
                "scheduled_time", "needs a timezone, e.g. 2026-11-27T02:45:00Z (Scheduler's)"
            )
        when = scheduled_time.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidInputError("scheduled_time", f"not a representable time; {fix}") from exc
    if when > start + SLOT_EARLY:
        raise InvalidInputError(
            "scheduled_time",
            f"{iso(when)} is in the future (the run started {iso(start)}): only EventBridge "
            f"Scheduler sets it, for the slot it is delivering; {fix}",
        )
    if when < start - SLOT_LATE:
        raise InvalidInputError(
            "scheduled_time",
            f"{iso(when)} is older than Scheduler's 24-hour retry window; {fix}",
        )


def begin_run(
    event: BeginEvent, plans: PlanSet, ports: Ports, batch_size: int, ttl_days: int
) -> dict[str, Any]:
    inp = validate_input(BackupInput, event.input)
    _plan, rule = plans.rule(inp.plan, inp.rule)
    start = parse_iso(event.start_time)
    check_slot(inp.scheduled_time, start)
    run_id = make_run_id(inp, event.execution_name, start)
    base = {"run_id": run_id, "plan": inp.plan, "rule": inp.rule, "dry_run": inp.dry_run}
    if not inp.dry_run:
        expires = int((start + timedelta(days=ttl_days)).timestamp())
        first = ports.catalog.claim_run(
            run_id,
            event.execution_arn,
            {"plan": inp.plan, "rule": inp.rule, "started_at": iso(start), "expires_at": expires},
        )
        if first is not None:
            return {
                **base,
                "duplicate": True,
                "original_execution": first.get("owner"),
                "batches": [],
            }
    resources = discover(inp.plan, rule, ports)
    batches = [
        [r.model_dump() for r in resources[i : i + batch_size]]
        for i in range(0, len(resources), batch_size)
    ]
    metrics.add_metric(name="ResourcesDiscovered", unit=MetricUnit.Count, value=len(resources))
    result: dict[str, Any] = {**base, "duplicate": False, "resource_count": len(resources)}
    if inp.dry_run:
        listed = [f"{r.type}:{r.id}" for r in resources[:DRY_RUN_LISTED]]
        return {
            **result,
            "batches": [],
            "batch_count": 0,
            "would_back_up": listed,
            "kinds": list(rule.kinds),
        }
    return {**result, "batches": batches, "batch_count": len(batches), "batch_size": batch_size}


def discover(plan: str, rule: Rule, ports: Ports) -> list[ResourceRef]:
    found: list[ResourceRef] = []
    if Kind.AMI in rule.kinds or Kind.EBS in rule.kinds:
        found += [ResourceRef(type="instance", id=i) for i in ports.ec2.discover_instances(plan)]
    if Kind.RDS in rule.kinds:
        found += [ResourceRef(type=t, id=i) for t, i in ports.rds.discover(plan)]
    return found


# --- create ----------------------------------------------------------------------------------
def create_batch(
    event: CreateBatchEvent, plans: PlanSet, ports: Ports, now: datetime
) -> dict[str, Any]:
    _plan, rule = plans.rule(event.plan, event.rule)
    counts = {"created": 0, "reused": 0, "failed": 0, "skipped": 0}
    instances = [r.id for r in event.resources if r.type == "instance"]
    instance_kinds = [k for k in rule.kinds if k in (Kind.AMI, Kind.EBS)]
    if instances and instance_kinds:
        _create_for_instances(event, rule, instance_kinds, instances, ports, now, counts)
    if Kind.RDS in rule.kinds:
        for ref in event.resources:
            if ref.type in ("db", "cluster"):
                _create_for_database(event, ref, ports, now, counts)
    metrics.add_metric(name="RecoveryPointsStarted", unit=MetricUnit.Count, value=counts["created"])
    metrics.add_metric(name="RecoveryPointsRefused", unit=MetricUnit.Count, value=counts["failed"])
    return {"run_id": event.run_id, **counts}


def _new_point(
    event: CreateBatchEvent, source: str, source_type: str, kind: Kind, now: datetime, **kw: Any
) -> RecoveryPoint:
    return RecoveryPoint(
        recovery_point_id=point_id(event.run_id, source, kind),
        run_id=event.run_id,
        plan=event.plan,
        rule=event.rule,
        kind=kind,
        source_id=source,
        source_type=source_type,
        created_at=now,
        **kw,
    )


def _create_for_instances(
    event: CreateBatchEvent,
    rule: Rule,
    kinds: Sequence[Kind],
    instance_ids: list[str],
    ports: Ports,
    now: datetime,
    counts: dict[str, int],
) -> None:
    ec2 = ports.ec2
    described = ec2.describe_instances(instance_ids)
    volume_ids = [
        m["Ebs"]["VolumeId"]
        for i in described.values()
        for m in i.get("BlockDeviceMappings", [])
        if m.get("Ebs")
    ]
    volumes = ec2.volumes(volume_ids) if volume_ids else {}
    subnet_ids = [i["SubnetId"] for i in described.values() if i.get("SubnetId")]
    subnets = ec2.subnets(subnet_ids) if subnet_ids else {}
    addresses = ec2.addresses(list(described)) if described else {}
    groups = ec2.target_groups(set(described)) if described else {}
    # What a previous attempt of this task already made (found by the run's and sources' tags).
    images = ec2.run_images(event.run_id, instance_ids) if Kind.AMI in kinds else {}
    snapsets = (
        ec2.run_snapshots(event.run_id, Kind.EBS.value, instance_ids) if Kind.EBS in kinds else {}
    )
    recorded = ports.catalog.get_points(
        [(iid, event.run_id, kind.value) for iid in instance_ids for kind in kinds]
    )
    # Work out what to make, and record the intent of each artifact *before* any create call:
    # whatever happens after the call, the catalog knows Lifeboat made it (provenance).
    todo: list[tuple[RecoveryPoint, dict[str, str], dict[str, str]]] = []
    for iid in instance_ids:
        instance = described.get(iid)
        for kind in kinds:
            existing = recorded.get((iid, kind.value))
            if existing is not None and (
                existing.artifact_ids() or existing.status is not PointStatus.PENDING
            ):
                counts["reused"] += 1
                continue
            if (
                instance is not None
                and T.FENCED in T.to_dict(instance.get("Tags"))
                and instance["State"]["Name"] in ("stopping", "stopped")
            ):
                counts["skipped"] += 1  # replaced by a restore: its replacement is backed up
                continue
            refusal = _not_backed_up_because(iid, instance, event.plan)
            if refusal is not None:
                failed = _new_point(event, iid, "instance", kind, now, status=PointStatus.FAILED)
                _fail(ports, failed, refusal, counts)
                continue
            assert instance is not None
            config = ec2.instance_config(instance, volumes, subnets, addresses, groups)
            source_tags = T.to_dict(instance.get("Tags"))
            tags = T.backup_tags(
                source_id=iid,
                plan=event.plan,
                rule=event.rule,
                run_id=event.run_id,
                kind=kind.value,
                source_tags=source_tags,
            )
            # A retried task keeps the first attempt's intent (its time bounds what that
            # attempt's call made).
            intent = (
                existing.intent
                if existing is not None and existing.intent is not None
                else Intent(
                    at=now,
                    image_name=image_name(iid, event.run_id) if kind is Kind.AMI else None,
                    volume_ids=[d.volume_id for d in config.block_devices],
                )
            )
            point = _new_point(
                event,
                iid,
                "instance",
                kind,
                now,
                status=PointStatus.PENDING,
                instance=config,
                intent=intent,
            )
            todo.append((point, tags, source_tags))
    ports.catalog.put_points([p for p, _, _ in todo if (p.source_id, p.kind.value) not in recorded])
    made: list[RecoveryPoint] = []
    try:
        for intended, tags, source_tags in todo:
            try:
                made.append(
                    _create_artifact(
                        intended, tags, source_tags, rule, event.run_id, ec2, images, snapsets
                    )
                )
            except ClientError as exc:
                _fail(ports, intended, f"{error_code(exc)}: {exc}", counts)
                continue
            counts["created"] += 1
    finally:
        # One BatchWriteItem per 25 points, also when the task fails half-way (a retried
        # task, or the check, finds what it made by the run's tag and the intent).
        ports.catalog.put_points(made)


def _create_artifact(
    point: RecoveryPoint,
    tags: dict[str, str],
    source_tags: dict[str, str],
    rule: Rule,
    run_id: str,
    ec2: Ec2Port,
    images: dict[str, dict[str, Any]],
    snapsets: dict[str, list[dict[str, Any]]],
) -> RecoveryPoint:
    """One create call for ``point`` (or what a previous attempt's call made): the point with
    its artifacts."""
    iid = point.source_id
    if point.kind is Kind.AMI:
        image = images.get(iid)
        image_id = (
            image["ImageId"]
            if image and image.get("Name") == image_name(iid, run_id)
            else ec2.create_image(
                iid,
                name=image_name(iid, run_id),
                reboot=source_tags.get(T.REBOOT, "").lower() == "true",
                tags=tags,
            )
        )
        return point.model_copy(update={"image_id": image_id})
    # What a previous attempt's call made, as its intent proves (a tag alone proves nothing).
    earlier = [s for s in snapsets.get(iid, []) if point.intent and made_by_intent(s, point.intent)]
    snaps = earlier or ec2.create_snapshots(
        iid, rule.exclude_boot_volume, tags, f"Lifeboat crash-consistent set of {iid} ({run_id})"
    )
    assert point.instance is not None
    return point.model_copy(
        update={
            "snapshots": _volume_snapshots(snaps, point.instance),
            "size_gb": sum(int(s.get("VolumeSize", 0)) for s in snaps),
        }
    )


image_name = T.image_name


def _not_backed_up_because(iid: str, instance: dict[str, Any] | None, plan: str) -> str | None:
    """Why an instance of a batch is not backed up (None: it is). Re-checked in every task: a
    batch names instances, but only those still carrying the plan's tag are imaged."""
    if instance is None or instance["State"]["Name"] in GONE_STATES:
        state = "does not exist" if instance is None else instance["State"]["Name"]
        return f"InstanceGone: instance {iid} {state}"
    tags = T.to_dict(instance.get("Tags"))
    if tags.get(T.PLAN) != plan:
        return f"NotProtected: instance {iid} does not carry {T.PLAN}={plan}"
    return None


def _volume_snapshots(snaps: list[dict[str, Any]], config: Any) -> list[VolumeSnapshot]:
    devices = {d.volume_id: d for d in config.block_devices}
    out = []
    for snap in snaps:
        device = devices.get(snap.get("VolumeId", ""))
        out.append(
            VolumeSnapshot(
                volume_id=snap.get("VolumeId", ""),
                snapshot_id=snap["SnapshotId"],
                device_name=device.device_name if device else None,
                size_gb=int(snap.get("VolumeSize", 0)),
                volume_type=device.volume_type if device else None,
                iops=device.iops if device else None,
                throughput=device.throughput if device else None,
                encrypted=bool(snap.get("Encrypted", False)),
                kms_key_id=snap.get("KmsKeyId"),
                boot=bool(device and device.device_name == config.root_device_name),
            )
        )
    return out


def _create_for_database(
    event: CreateBatchEvent, ref: ResourceRef, ports: Ports, now: datetime, counts: dict[str, int]
) -> None:
    existing = ports.catalog.get_point(ref.id, event.run_id, Kind.RDS.value)
    if existing is not None and (
        existing.artifact_ids() or existing.status is not PointStatus.PENDING
    ):
        counts["reused"] += 1
        return
    rds = ports.rds
    described = rds.describe_cluster(ref.id) if ref.type == "cluster" else rds.describe_db(ref.id)
    point = _new_point(event, ref.id, ref.type, Kind.RDS, now, status=PointStatus.PENDING)
    if described is None:
        _fail(ports, point, f"DatabaseGone: {ref.type} {ref.id} does not exist", counts)
        return
    source_tags = T.to_dict(described.get("TagList"))
    if source_tags.get(T.PLAN) != event.plan:
        _fail(ports, point, f"NotProtected: {ref.id} does not carry {T.PLAN}={event.plan}", counts)
        return
    tags = T.backup_tags(
        source_id=ref.id,
        plan=event.plan,
        rule=event.rule,
        run_id=event.run_id,
        kind=Kind.RDS.value,
        source_tags=source_tags,
    )
    snapshot_id = T.snapshot_identifier(event.run_id, ref.id)
    if ref.type == "db":
        point = point.model_copy(
            update={
                "database": rds.db_config(described),
                "size_gb": int(described.get("AllocatedStorage", 0)),
            }
        )
    intent = existing.intent if existing is not None and existing.intent else None
    point = point.model_copy(
        update={"intent": intent or Intent(at=now, db_snapshot_id=snapshot_id)}
    )
    if existing is None:
        ports.catalog.put_point(point)  # the intent, before the create call
    try:
        if ref.type == "cluster":
            rds.create_cluster_snapshot(ref.id, snapshot_id, tags)
            point = point.model_copy(update={"db_cluster_snapshot_id": snapshot_id})
        else:
            rds.create_db_snapshot(ref.id, snapshot_id, tags)
            point = point.model_copy(update={"db_snapshot_id": snapshot_id})
    except ClientError as exc:
        _fail(ports, point, f"{error_code(exc)}: {exc}", counts)
        return
    ports.catalog.put_point(point)
    counts["created"] += 1


def _fail(ports: Ports, point: RecoveryPoint, error: str, counts: dict[str, int]) -> None:
    ports.catalog.put_point(point.model_copy(update={"status": PointStatus.FAILED, "error": error}))
    counts["failed"] += 1


# --- check -----------------------------------------------------------------------------------
def check_run(event: CheckEvent, ports: Ports, now: datetime) -> dict[str, Any]:
    """One check for the whole run: the run's AMIs and snapshot sets by its tag (paginated,
    filtered Describe calls: pages, not items), DB snapshots one by one."""
    points = ports.catalog.points_for_run(event.run_id)
    pending = [p for p in points if p.status is PointStatus.PENDING]
    by_source: dict[str, Any] = {}
    snaps_by_source: dict[str, list[dict[str, Any]]] = {}
    if any(p.kind is Kind.AMI for p in pending):
        by_source = ports.ec2.run_images(event.run_id)
    if any(p.kind is Kind.EBS for p in pending):
        snaps_by_source = ports.ec2.run_snapshots(event.run_id, Kind.EBS.value)
    images = {i["ImageId"]: i for i in by_source.values()}
    snaps = {s["SnapshotId"]: s for group in snaps_by_source.values() for s in group}
    # A point whose create task died after the create call has only its intent: adopt what the
    # call made (found by the run's tags, matched against the intent), or fail the point.
    adopted = {
        p.recovery_point_id: adopt(p, by_source, snaps_by_source, ports.rds)
        for p in pending
        if not p.artifact_ids()
    }
    pending = [adopted.get(p.recovery_point_id, p) for p in pending]
    still = 0
    settled: list[RecoveryPoint] = []
    for point in pending:
        state, error, update = _state_of(point, images, snaps, ports.rds)
        if state is PointStatus.PENDING:
            still += 1
            if point.recovery_point_id in adopted:
                settled.append(point)  # record what was adopted
            continue
        settled.append(marked(point.model_copy(update=update), state, when=now, error=error))
    ports.catalog.put_points(settled)
    done = len(points) - still
    metrics.add_metric(name="RecoveryPointsPending", unit=MetricUnit.Count, value=still)
    wait = min(MAX_POLL_SECONDS, FIRST_POLL_SECONDS * 2 ** min(event.attempt, 8))
    return {
        "run_id": event.run_id,
        "pending": still,
        "done": done,
        "attempt": event.attempt + 1,
        "wait_seconds": wait,
    }


INTENT_SKEW = timedelta(minutes=10)  # clock skew between the task and EC2
TASK_LIMIT = timedelta(minutes=15)  # a Lambda task runs at most 15 minutes


def adopt(
    point: RecoveryPoint,
    images_by_source: dict[str, Any],
    snaps_by_source: dict[str, list[dict[str, Any]]],
    rds: RdsPort,
) -> RecoveryPoint:
    """``point`` with the artifacts its intent names, when they exist (a create task died after
    its create call, before recording what it made). Matched on what only Lifeboat's call could
    have produced: the AMI's deterministic name, the snapshots' volumes and start time, the DB
    snapshot's deterministic identifier and run tag."""
    intent = point.intent
    if intent is None:
        return point
    if point.kind is Kind.AMI:
        image = images_by_source.get(point.source_id)
        if image is not None and image.get("Name") == intent.image_name:
            return point.model_copy(update={"image_id": image["ImageId"]})
    elif point.kind is Kind.EBS:
        found = [s for s in snaps_by_source.get(point.source_id, []) if made_by_intent(s, intent)]
        if found:
            snapshots = (
                _volume_snapshots(found, point.instance)
                if point.instance is not None
                else [
                    VolumeSnapshot(volume_id=s.get("VolumeId", ""), snapshot_id=s["SnapshotId"])
                    for s in found
                ]
            )
            return point.model_copy(
                update={
                    "snapshots": snapshots,
                    "size_gb": sum(int(s.get("VolumeSize", 0)) for s in found),
                }
            )
    elif intent.db_snapshot_id:
        kind = "cluster" if point.source_type == "cluster" else "db"
        snap = rds.snapshot(kind, intent.db_snapshot_id)
        if snap is not None and T.to_dict(snap.get("TagList")).get(T.RUN) == point.run_id:
            field = "db_cluster_snapshot_id" if kind == "cluster" else "db_snapshot_id"
            return point.model_copy(update={field: intent.db_snapshot_id})
    return point


def made_by_intent(snapshot: dict[str, Any], intent: Intent) -> bool:
    """Whether an EBS snapshot is what an intent's create call made: one of the instance's
    volumes, started while the task that wrote the intent could still run (at most a Lambda's
    15 minutes after it, give or take clock skew). A tag alone proves nothing."""
    started = snapshot.get("StartTime")
    if isinstance(started, str):
        started = parse_iso(started)
    return (
        snapshot.get("VolumeId") in intent.volume_ids
        and isinstance(started, datetime)
        and intent.at - INTENT_SKEW <= started <= intent.at + TASK_LIMIT + INTENT_SKEW
    )


def _state_of(
    point: RecoveryPoint, images: dict[str, Any], snaps: dict[str, Any], rds: RdsPort
) -> tuple[PointStatus, str | None, dict[str, Any]]:
    if not point.artifact_ids():
        return PointStatus.FAILED, "the create task ended before the create call", {}
    if point.kind is Kind.AMI:
        image = images.get(point.image_id or "")
        if image is None:
            return PointStatus.FAILED, f"image {point.image_id} disappeared", {}
        if image["State"] == "available":
            snapshots = [
                VolumeSnapshot(
                    volume_id="",
                    snapshot_id=m["Ebs"]["SnapshotId"],
                    device_name=m["DeviceName"],
                    size_gb=int(m["Ebs"].get("VolumeSize", 0)),
                    volume_type=m["Ebs"].get("VolumeType"),
                    encrypted=bool(m["Ebs"].get("Encrypted", False)),
                    boot=m["DeviceName"] == image.get("RootDeviceName"),
                )
                for m in image.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("SnapshotId")
            ]
            return (
                PointStatus.COMPLETED,
                None,
                {"snapshots": snapshots, "size_gb": sum(s.size_gb for s in snapshots)},
            )
        if image["State"] in FAILED_IMAGE_STATES:
            reason = image.get("StateReason", {}).get("Message", image["State"])
            return PointStatus.FAILED, f"image {point.image_id} {image['State']}: {reason}", {}
        return PointStatus.PENDING, None, {}
    if point.kind is Kind.EBS:
        states = [snaps.get(s.snapshot_id, {}).get("State", "missing") for s in point.snapshots]
        if any(s in ("error", "missing") for s in states):
            return PointStatus.FAILED, f"snapshot set incomplete: {sorted(set(states))}", {}
        if all(s == "completed" for s in states):
            return PointStatus.COMPLETED, None, {}
        return PointStatus.PENDING, None, {}
    kind = "cluster" if point.db_cluster_snapshot_id else "db"
    snap_id = point.db_cluster_snapshot_id or point.db_snapshot_id or ""
    snap = rds.snapshot(kind, snap_id)
    if snap is None:
        return PointStatus.FAILED, f"snapshot {snap_id} disappeared", {}
    if snap.get("Status") == "available":
        return (
            PointStatus.COMPLETED,
            None,
            {"size_gb": int(snap.get("AllocatedStorage", point.size_gb))},
        )
    if snap.get("Status") in FAILED_DB_SNAPSHOT_STATES:
        return PointStatus.FAILED, f"snapshot {snap_id} {snap.get('Status')}", {}
    return PointStatus.PENDING, None, {}


# --- finalize --------------------------------------------------------------------------------
def finalize_run(
    event: FinalizeEvent, plans: PlanSet, ports: Ports, now: datetime
) -> dict[str, Any]:
    run = ports.catalog.get_run(event.run_id) or {}
    plan_name, rule_name = run.get("plan", ""), run.get("rule", "")
    _record_failed_batches(event, plans, ports, now)
    points = _adopt_leftovers(event.run_id, ports.catalog.points_for_run(event.run_id), ports)
    outcomes: list[Outcome] = []
    for found in points:
        point = found
        if point.status is PointStatus.PENDING:
            reason = "did not complete within the run's polling limit"
            point = ports.catalog.mark(point, PointStatus.FAILED, when=now, error=reason)
        if point.status is PointStatus.FAILED and point.artifact_ids():
            cleanup_artifacts(point, ports)
        outcomes.append(
            Outcome(
                resource_id=point.source_id,
                resource_type=point.source_type,
                kind=point.kind,
                status=point.status,
                recovery_point_id=point.recovery_point_id
                if point.status is PointStatus.COMPLETED
                else None,
                artifact_ids=point.artifact_ids() if point.status is PointStatus.COMPLETED else [],
                error=point.error,
            )
        )
    failed = [o for o in outcomes if o.status is PointStatus.FAILED]
    report: dict[str, Any] = {
        "run_id": event.run_id,
        "plan": plan_name,
        "rule": rule_name,
        "status": "failed" if failed else "succeeded",
        "completed": len(outcomes) - len(failed),
        "failed": len(failed),
        "failures": [o.model_dump(mode="json") for o in failed[:MAX_FAILURES_IN_OUTPUT]],
    }
    if len(outcomes) <= MAX_OUTCOMES_IN_OUTPUT:
        report["outcomes"] = [o.model_dump(mode="json", exclude_none=True) for o in outcomes]
    else:
        report["outcomes_note"] = "too many to list here: lifeboat recovery-points list"
    metrics.add_metric(
        name="RecoveryPointsCompleted", unit=MetricUnit.Count, value=report["completed"]
    )
    metrics.add_metric(name="RecoveryPointsFailed", unit=MetricUnit.Count, value=report["failed"])
    ports.catalog.finish_run(
        event.run_id,
        report["status"],
        {"completed": report["completed"], "failed": report["failed"]},
    )
    if failed and ports.notifier is not None:
        ports.notifier.publish(
            f"Lifeboat backup {plan_name}/{rule_name} failed for {len(failed)} resource(s)",
            {k: v for k, v in report.items() if k != "outcomes"},
        )
    return report


def _adopt_leftovers(run_id: str, points: list[RecoveryPoint], ports: Ports) -> list[RecoveryPoint]:
    """Points of the run with an intent and nothing recorded (their task died after the create
    call, or EC2 answered the check before listing what it made): what the call made, found by
    the run's tags and matched to the intent, so that the clean-up below removes it."""
    bare = [
        p
        for p in points
        if p.intent is not None
        and not p.artifact_ids()
        and p.status in (PointStatus.PENDING, PointStatus.FAILED)
    ]
    if not bare:
        return points
    sources = sorted({p.source_id for p in bare if p.source_type == "instance"})
    kinds = {p.kind for p in bare}
    images = ports.ec2.run_images(run_id, sources) if sources and Kind.AMI in kinds else {}
    snaps = (
        ports.ec2.run_snapshots(run_id, Kind.EBS.value, sources)
        if sources and Kind.EBS in kinds
        else {}
    )
    found = {p.recovery_point_id: adopt(p, images, snaps, ports.rds) for p in bare}
    ports.catalog.put_points(
        [p for i, p in found.items() if p.artifact_ids()]  # recorded before anything is undone
    )
    return [found.get(p.recovery_point_id, p) for p in points]


def _record_failed_batches(
    event: FinalizeEvent, plans: PlanSet, ports: Ports, now: datetime
) -> None:
    """A batch whose task failed after every retry: each of its resources gets a failed point."""
    for batch in event.batches:
        if "error" not in batch:
            continue
        create = CreateBatchEvent.model_validate(
            {k: batch[k] for k in ("run_id", "plan", "rule", "resources")}
        )
        _plan, rule = plans.rule(create.plan, create.rule)
        cause = batch["error"].get("Error", "BatchFailed")
        wanted = [
            (ref, kind)
            for ref in create.resources
            for kind in rule.kinds
            if (kind is Kind.RDS) == (ref.type != "instance")
        ]
        recorded = ports.catalog.get_points([(r.id, create.run_id, k.value) for r, k in wanted])
        ports.catalog.put_points(
            [
                _new_point(
                    create,
                    ref.id,
                    ref.type,
                    kind,
                    now,
                    status=PointStatus.FAILED,
                    error=f"{cause}: the create task failed after its retries",
                )
                for ref, kind in wanted
                if (ref.id, kind.value) not in recorded
            ]
        )


def cleanup_artifacts(point: RecoveryPoint, ports: Ports) -> dict[str, str]:
    """Remove what a failed recovery point left behind (never half-made backups)."""
    results: dict[str, str] = {}
    if point.image_id:
        snapshot_ids = ports.ec2.deregister_image(point.image_id)
        results[point.image_id] = "deregistered"
        results.update(ports.ec2.delete_snapshots(snapshot_ids, ignore_image=point.image_id))
    if point.kind is Kind.EBS:
        results.update(ports.ec2.delete_snapshots([s.snapshot_id for s in point.snapshots]))
    if point.db_snapshot_id:
        results[point.db_snapshot_id] = ports.rds.delete_snapshot("db", point.db_snapshot_id)
    if point.db_cluster_snapshot_id:
        results[point.db_cluster_snapshot_id] = ports.rds.delete_snapshot(
            "cluster", point.db_cluster_snapshot_id
        )
    return results
