"""Create the recovery points of one batch: an AMI or a crash-consistent snapshot set per
instance, a DB or cluster snapshot per database. Each artifact's intent is written to the
catalog before its create call (provenance), and a retried task reuses what an earlier attempt
made or recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.asg.backup import backs_up_groups, create_group_point
from lifeboat.asg.membership import group_of
from lifeboat.backup.check import made_by_intent
from lifeboat.backup.pace import (
    CreateProgress,
    create_calls,
    deferred,
    handover,
    merge,
    reserve_creates,
)
from lifeboat.backup.points import image_name, new_point, record_failure, volume_snapshots
from lifeboat.backup.together import attempt_all
from lifeboat.errors import error_code
from lifeboat.models import (
    CreateBatchEvent,
    Intent,
    PointStatus,
    RecoveryPoint,
    ResourceRef,
    ResourceType,
)
from lifeboat.observability import metrics
from lifeboat.pace import PaceBeyondBudget, PaceDeferred, SharedPacing
from lifeboat.plans import Kind, PlanSet, Rule
from lifeboat.ports import Ports
from lifeboat.scripts.steps import Decision

GONE_STATES = {"shutting-down", "terminated"}


@dataclass
class _Task:
    """One attempt of a create task: its batch, the rule, the adapters and what it counted."""

    batch: CreateBatchEvent
    rule: Rule
    ports: Ports
    now: datetime
    counts: dict[str, int]
    # instance id -> how its pre script went (a rule with scripts; docs/concepts/consistency.md)
    consistency: Mapping[str, Decision] = field(default_factory=dict)
    # The shared pace, when the batch's create calls are all in its grant: they go at once.
    together: SharedPacing | None = None

    def point(
        self, source: str, source_type: ResourceType, kind: Kind, **fields: Any
    ) -> RecoveryPoint:
        return new_point(self.batch, source, source_type, kind, self.now, **fields)

    def fail(self, point: RecoveryPoint, error: str) -> None:
        record_failure(self.ports.catalog, point, error)
        self.counts["failed"] += 1


@dataclass
class _Instances:
    """What EC2 says of a batch's instances, and what earlier attempts made or recorded."""

    described: dict[str, dict[str, Any]]
    volumes: dict[str, dict[str, Any]]
    subnets: dict[str, dict[str, Any]]
    addresses: dict[str, dict[str, str]]
    groups: dict[str, Any]
    images: dict[str, dict[str, Any]]  # by source: AMIs an earlier attempt made
    snapsets: dict[str, list[dict[str, Any]]]  # by source: snapshots tagged with the run
    recorded: dict[tuple[str, str], RecoveryPoint]


@dataclass
class _Intended:
    point: RecoveryPoint
    tags: dict[str, str]
    source_tags: dict[str, str]


def create_batch(  # noqa: PLR0913 - the task's event, its adapters, and where it stands
    event: CreateBatchEvent,
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    consistency: Mapping[str, Decision] | None = None,
    pacing: SharedPacing | None = None,
    earlier: CreateProgress | None = None,
) -> dict[str, Any]:
    """Create the batch's points. With ``pacing`` (the shared pace), its create calls are
    reserved first and the task may stop for its state machine to wait (:mod:`.pace`):
    ``earlier`` is what the previous call of this task returned."""
    _plan, rule = plans.rule(event.plan, event.rule)
    if pacing is not None:
        stopped = reserve_creates(event, rule, pacing, earlier)
        if stopped is not None:
            return stopped.model_dump(mode="json")
    task = _Task(
        event,
        rule,
        ports,
        now,
        dict.fromkeys(("created", "reused", "failed", "skipped"), 0),
        consistency or {},
        pacing if pacing is not None and pacing.grant_covers(create_calls(event, rule)) else None,
    )
    try:
        _create_all(task)
    except PaceBeyondBudget as late:  # an Express child's task: the Standard Map goes on
        return handover(event.run_id, late, earlier, task.counts).model_dump(mode="json")
    except PaceDeferred as wait:
        assert pacing is not None  # only the shared pace defers
        return deferred(event.run_id, wait.ready_at, pacing, earlier, task.counts).model_dump(
            mode="json"
        )
    counts = task.counts
    metrics.add_metric(name="RecoveryPointsStarted", unit=MetricUnit.Count, value=counts["created"])
    metrics.add_metric(name="RecoveryPointsRefused", unit=MetricUnit.Count, value=counts["failed"])
    waits = earlier.waits if earlier else 0
    done = CreateProgress(run_id=event.run_id, **merge(earlier, counts), waits=waits)
    return done.model_dump(mode="json")


def _create_all(task: _Task) -> None:
    event, rule = task.batch, task.rule
    instances = [r.id for r in event.resources if r.type == "instance"]
    instance_kinds = [k for k in rule.kinds if k in (Kind.AMI, Kind.EBS)]
    if instances and instance_kinds:
        _create_for_instances(task, instance_kinds, instances)
    if Kind.RDS in rule.kinds:
        for ref in event.resources:
            if ref.type in ("db", "cluster"):
                _create_for_database(task, ref)
    if backs_up_groups(rule.kinds):
        for ref in event.resources:
            if ref.type == "asg":
                create_group_point(event, ref.id, task.ports, task.now, task.counts)


def _already_made(existing: RecoveryPoint | None) -> bool:
    """Whether an earlier attempt recorded the point's artifacts (or settled it)."""
    return existing is not None and (
        bool(existing.artifact_ids()) or existing.status is not PointStatus.PENDING
    )


def _describe(task: _Task, kinds: Sequence[Kind], instance_ids: list[str]) -> _Instances:
    ec2, run_id = task.ports.ec2, task.batch.run_id
    described = ec2.describe_instances(instance_ids)
    volume_ids = [
        m["Ebs"]["VolumeId"]
        for i in described.values()
        for m in i.get("BlockDeviceMappings", [])
        if m.get("Ebs")
    ]
    subnet_ids = [i["SubnetId"] for i in described.values() if i.get("SubnetId")]
    return _Instances(
        described=described,
        volumes=ec2.volumes(volume_ids) if volume_ids else {},
        subnets=ec2.subnets(subnet_ids) if subnet_ids else {},
        addresses=ec2.addresses(list(described)) if described else {},
        groups=ec2.target_groups(set(described)) if described else {},
        # What a previous attempt of this task already made (found by the run's and sources'
        # tags).
        images=ec2.run_images(run_id, instance_ids) if Kind.AMI in kinds else {},
        snapsets=(
            ec2.run_snapshots(run_id, Kind.EBS.value, instance_ids) if Kind.EBS in kinds else {}
        ),
        recorded=task.ports.catalog.get_points(
            [(iid, run_id, kind.value) for iid in instance_ids for kind in kinds]
        ),
    )


def _create_for_instances(task: _Task, kinds: Sequence[Kind], instance_ids: list[str]) -> None:
    seen = _describe(task, kinds, instance_ids)
    # Work out what to make, and record the intent of each artifact *before* any create call:
    # whatever happens after the call, the catalog knows Lifeboat made it (provenance).
    todo = [
        intended
        for iid in instance_ids
        for kind in kinds
        if (intended := _intend(task, seen, iid, kind)) is not None
    ]
    catalog = task.ports.catalog
    catalog.put_points(
        [i.point for i in todo if (i.point.source_id, i.point.kind.value) not in seen.recorded]
    )
    made: list[RecoveryPoint] = []
    stopped: BaseException | None = None
    outcomes = attempt_all(todo, lambda i: _create_artifact(i, task, seen), task.together)
    try:
        for intended, outcome in zip(todo, outcomes, strict=False):
            if isinstance(outcome, ClientError):
                task.fail(intended.point, f"{error_code(outcome)}: {outcome}")
            elif isinstance(outcome, BaseException):
                stopped = stopped or outcome  # the pace, or a failure: after the others
            else:
                made.append(outcome)
                task.counts["created"] += 1
    finally:
        # One BatchWriteItem per 25 points, also when the task stops half-way (a retried
        # task, or the check, finds what it made by the run's tag and the intent).
        catalog.put_points(made)
    if stopped is not None:
        raise stopped


def _intend(task: _Task, seen: _Instances, iid: str, kind: Kind) -> _Intended | None:
    """The point to make for ``kind`` of instance ``iid``, with its intent and tags (None:
    reused, skipped or refused, and counted)."""
    instance = seen.described.get(iid)
    existing = seen.recorded.get((iid, kind.value))
    if _already_made(existing):
        task.counts["reused"] += 1
        return None
    if (
        instance is not None
        and T.FENCED in T.to_dict(instance.get("Tags"))
        and instance["State"]["Name"] in ("stopping", "stopped")
    ):
        task.counts["skipped"] += 1  # replaced by a restore: its replacement is backed up
        return None
    if instance is not None and group_of(T.to_dict(instance.get("Tags"))) is not None:
        task.counts["skipped"] += 1  # a group's member: the group is backed up, never it
        return None
    refusal = _not_backed_up_because(iid, instance, task.batch.plan)
    if refusal is not None:
        task.fail(task.point(iid, "instance", kind, status=PointStatus.FAILED), refusal)
        return None
    assert instance is not None
    decided = task.consistency.get(iid)
    how: dict[str, Any] = (
        {"consistency": decided.consistency, "consistency_reason": decided.reason}
        if decided is not None
        else {}
    )
    if decided is not None and decided.skip:
        skipped = task.point(iid, "instance", kind, status=PointStatus.FAILED, **how)
        task.fail(skipped, f"SkippedByScripts: {decided.reason}")
        return None
    config = task.ports.ec2.instance_config(
        instance, seen.volumes, seen.subnets, seen.addresses, seen.groups
    )
    source_tags = T.to_dict(instance.get("Tags"))
    batch = task.batch
    tags = T.backup_tags(
        source_id=iid,
        plan=batch.plan,
        rule=batch.rule,
        run_id=batch.run_id,
        kind=kind.value,
        source_tags=source_tags,
    )
    # A retried task keeps the first attempt's intent (its time bounds what that attempt's call
    # made).
    intent = (
        existing.intent
        if existing is not None and existing.intent is not None
        else Intent(
            at=task.now,
            image_name=image_name(iid, batch.run_id) if kind is Kind.AMI else None,
            volume_ids=[d.volume_id for d in config.block_devices],
        )
    )
    point = task.point(
        iid, "instance", kind, status=PointStatus.PENDING, instance=config, intent=intent, **how
    )
    return _Intended(point, tags, source_tags)


def _create_artifact(intended: _Intended, task: _Task, seen: _Instances) -> RecoveryPoint:
    """One create call for the intended point (or what a previous attempt's call made): the
    point with its artifacts."""
    point, ec2, run_id = intended.point, task.ports.ec2, task.batch.run_id
    iid = point.source_id
    if point.kind is Kind.AMI:
        image = seen.images.get(iid)
        image_id = (
            image["ImageId"]
            if image and image.get("Name") == image_name(iid, run_id)
            else ec2.create_image(
                iid,
                name=image_name(iid, run_id),
                reboot=intended.source_tags.get(T.REBOOT, "").lower() == "true",
                tags=intended.tags,
            )
        )
        return point.model_copy(update={"image_id": image_id})
    # What a previous attempt's call made, as its intent proves (a tag alone proves nothing).
    intent = point.intent
    earlier = [s for s in seen.snapsets.get(iid, []) if intent and made_by_intent(s, intent)]
    snaps = earlier or ec2.create_snapshots(
        iid,
        task.rule.exclude_boot_volume,
        intended.tags,
        f"Lifeboat crash-consistent set of {iid} ({run_id})",
    )
    assert point.instance is not None
    return point.model_copy(
        update={
            "snapshots": volume_snapshots(snaps, point.instance),
            "size_gb": sum(int(s.get("VolumeSize", 0)) for s in snaps),
        }
    )


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


def _create_for_database(task: _Task, ref: ResourceRef) -> None:
    run_id = task.batch.run_id
    existing = task.ports.catalog.get_point(ref.id, run_id, Kind.RDS.value)
    if _already_made(existing):
        task.counts["reused"] += 1
        return
    intended = _intend_database(task, ref, existing)
    if intended is None:
        return
    point, rds, snapshot_id = intended.point, task.ports.rds, T.snapshot_identifier(run_id, ref.id)
    since = point.intent.at if point.intent else None  # a snapshot in its place must be newer
    try:
        if ref.type == "cluster":
            rds.create_cluster_snapshot(ref.id, snapshot_id, intended.tags, since)
            point = point.model_copy(update={"db_cluster_snapshot_id": snapshot_id})
        else:
            rds.create_db_snapshot(ref.id, snapshot_id, intended.tags, since)
            point = point.model_copy(update={"db_snapshot_id": snapshot_id})
    except ClientError as exc:
        task.fail(point, f"{error_code(exc)}: {exc}")
        return
    task.ports.catalog.put_point(point)
    task.counts["created"] += 1


def _intend_database(
    task: _Task, ref: ResourceRef, existing: RecoveryPoint | None
) -> _Intended | None:
    """The database's point with its intent, recorded before the create call (None: the
    database is gone or no longer carries the plan's tag, and its point failed)."""
    rds, batch = task.ports.rds, task.batch
    described = rds.describe_cluster(ref.id) if ref.type == "cluster" else rds.describe_db(ref.id)
    point = task.point(ref.id, ref.type, Kind.RDS, status=PointStatus.PENDING)
    if described is None:
        task.fail(point, f"DatabaseGone: {ref.type} {ref.id} does not exist")
        return None
    source_tags = T.to_dict(described.get("TagList"))
    if source_tags.get(T.PLAN) != batch.plan:
        task.fail(point, f"NotProtected: {ref.id} does not carry {T.PLAN}={batch.plan}")
        return None
    tags = T.backup_tags(
        source_id=ref.id,
        plan=batch.plan,
        rule=batch.rule,
        run_id=batch.run_id,
        kind=Kind.RDS.value,
        source_tags=source_tags,
    )
    if ref.type == "db":
        config = rds.db_config(described)
        if config.security_group_ids:  # their names: a restore in another region maps by name
            names = task.ports.ec2.security_group_names(config.security_group_ids)
            named = [names.get(g, "") for g in config.security_group_ids]
            config = config.model_copy(update={"security_group_names": named})
        point = point.model_copy(
            update={"database": config, "size_gb": int(described.get("AllocatedStorage", 0))}
        )
    intent = existing.intent if existing is not None and existing.intent else None
    snapshot_id = T.snapshot_identifier(batch.run_id, ref.id)
    point = point.model_copy(
        update={"intent": intent or Intent(at=task.now, db_snapshot_id=snapshot_id)}
    )
    if existing is None:
        task.ports.catalog.put_point(point)  # the intent, before the create call
    return _Intended(point, tags, source_tags)
