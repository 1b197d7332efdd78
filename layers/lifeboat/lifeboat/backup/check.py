"""Check a backup run: one check for the whole run settles every pending recovery point
(completed, failed, or still pending), after adopting what a killed create task's call made, as
its intent proves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lifeboat import tags as T
from lifeboat.backup.points import volume_snapshots
from lifeboat.models import CheckEvent, Intent, PointStatus, RecoveryPoint, VolumeSnapshot, marked
from lifeboat.observability import metrics
from lifeboat.plans import Kind
from lifeboat.ports import Ports, RdsPort
from lifeboat.timeutil import parse_iso

FAILED_IMAGE_STATES = {"failed", "invalid", "deregistered", "error", "disabled"}
FAILED_DB_SNAPSHOT_STATES = {"failed", "error", "incompatible-restore", "deleted"}
FIRST_POLL_SECONDS = 15
MAX_POLL_SECONDS = 300
IMAGE_KINDS = frozenset({Kind.AMI, Kind.ASG})  # an Auto Scaling group's point is an AMI
INTENT_SKEW = timedelta(minutes=10)  # clock skew between the task and EC2
TASK_LIMIT = timedelta(minutes=15)  # a Lambda task runs at most 15 minutes

State = tuple[PointStatus, str | None, dict[str, Any]]
PENDING: State = (PointStatus.PENDING, None, {})


def check_run(event: CheckEvent, ports: Ports, now: datetime) -> dict[str, Any]:
    """One check for the whole run: the run's AMIs and snapshot sets by its tag (paginated,
    filtered Describe calls: pages, not items), DB snapshots one by one."""
    points = ports.catalog.points_for_run(event.run_id)
    pending = [p for p in points if p.status is PointStatus.PENDING]
    by_source: dict[str, Any] = {}
    snaps_by_source: dict[str, list[dict[str, Any]]] = {}
    if any(p.kind in IMAGE_KINDS for p in pending):
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
    if point.kind in IMAGE_KINDS:
        image = images_by_source.get(point.source_id)
        if image is not None and image.get("Name") == intent.image_name:
            return point.model_copy(update={"image_id": image["ImageId"]})
    elif point.kind is Kind.EBS:
        found = [s for s in snaps_by_source.get(point.source_id, []) if made_by_intent(s, intent)]
        if found:
            return _with_snapshots(point, found)
    elif intent.db_snapshot_id:
        kind = "cluster" if point.source_type == "cluster" else "db"
        snap = rds.snapshot(kind, intent.db_snapshot_id)
        if snap is not None and T.to_dict(snap.get("TagList")).get(T.RUN) == point.run_id:
            field = "db_cluster_snapshot_id" if kind == "cluster" else "db_snapshot_id"
            return point.model_copy(update={field: intent.db_snapshot_id})
    return point


def _with_snapshots(point: RecoveryPoint, found: list[dict[str, Any]]) -> RecoveryPoint:
    snapshots = (
        volume_snapshots(found, point.instance)
        if point.instance is not None
        else [
            VolumeSnapshot(volume_id=s.get("VolumeId", ""), snapshot_id=s["SnapshotId"])
            for s in found
        ]
    )
    return point.model_copy(
        update={"snapshots": snapshots, "size_gb": sum(int(s.get("VolumeSize", 0)) for s in found)}
    )


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
) -> State:
    """Where ``point``'s artifacts are: (status, error, the point's changes)."""
    if not point.artifact_ids():
        return PointStatus.FAILED, "the create task ended before the create call", {}
    if point.kind in IMAGE_KINDS:
        return _image_state(point, images)
    if point.kind is Kind.EBS:
        return _snapshot_set_state(point, snaps)
    return _db_snapshot_state(point, rds)


def _image_state(point: RecoveryPoint, images: dict[str, Any]) -> State:
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
    return PENDING


def _snapshot_set_state(point: RecoveryPoint, snaps: dict[str, Any]) -> State:
    states = [snaps.get(s.snapshot_id, {}).get("State", "missing") for s in point.snapshots]
    if any(s in ("error", "missing") for s in states):
        return PointStatus.FAILED, f"snapshot set incomplete: {sorted(set(states))}", {}
    if all(s == "completed" for s in states):
        return PointStatus.COMPLETED, None, {}
    return PENDING


def _db_snapshot_state(point: RecoveryPoint, rds: RdsPort) -> State:
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
    return PENDING
