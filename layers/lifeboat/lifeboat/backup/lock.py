"""Lock a run's completed points (a rule's ``lock``): EBS Snapshot Lock on every snapshot of
each point, an AMI's included, until ``days`` after the point completed, recorded on the point
as ``locked_until`` (the latest end EC2 reports) so prune never counts it as deletable before
then. RDS points are not locked (EBS Snapshot Lock is for EBS snapshots).

Idempotent and never shortening: the locks in place are read first (one
``DescribeLockedSnapshots`` per 200 snapshots); a snapshot whose lock already lasts long enough
is left alone (a repeated finalize locks nothing twice), any other is locked from now, which
only moves its end later. A lock that fails is reported and notified; it never fails the
backup, which is complete either way."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from lifeboat.errors import LifeboatError
from lifeboat.models import PointStatus, RecoveryPoint, SnapshotLock
from lifeboat.observability import metrics
from lifeboat.plans import Kind, Lock, PlanSet
from lifeboat.ports import Ports

LOCKABLE = frozenset({Kind.AMI, Kind.EBS, Kind.ASG})
MAX_LISTED = 50  # failures named in the run's output and the notification (256 KB payloads)


def lock_points(
    points: list[RecoveryPoint],
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    max_days: int | None = None,
) -> dict[str, Any]:
    """Lock each completed EBS or AMI point of a rule with ``lock``; how many points hold a
    lock, and why the others do not. ``max_days``: the longest lock the stack's IAM allows
    (``SnapshotLockMaxDays``; None: not known here)."""
    wanted = [(p, lock) for p in points if (lock := _lock_of(p, plans)) is not None]
    if not wanted:
        return {}
    failed: dict[str, str] = {}
    locked: list[RecoveryPoint] = []
    try:
        current = ports.ec2.snapshot_locks([s.snapshot_id for p, _ in wanted for s in p.snapshots])
    except (ClientError, LifeboatError) as exc:  # unknown locks: none is changed blindly
        failed = {p.recovery_point_id: f"locks in place not read: {exc}" for p, _ in wanted}
    else:
        for point, lock in wanted:
            updated, error = _lock_point(point, lock, current, ports, now, max_days)
            if updated is not None:
                locked.append(updated)
            if error is not None:
                failed[point.recovery_point_id] = error
    ports.catalog.put_points(locked)
    metrics.add_metric(name="RecoveryPointsLockFailed", unit=MetricUnit.Count, value=len(failed))
    listed = dict(sorted(failed.items())[:MAX_LISTED])
    if failed and ports.notifier is not None:
        ports.notifier.publish(
            f"Lifeboat: {len(failed)} recovery point(s) could not be locked",
            {
                "failed": listed,
                "count": len(failed),
                "note": "the backups are complete; what was not locked is not immutable",
            },
        )
    return {"locked": len(locked), "failed": len(failed), "failures": listed}


def _lock_of(point: RecoveryPoint, plans: PlanSet) -> Lock | None:
    plan = plans.plans.get(point.plan)
    rule = plan.rules.get(point.rule) if plan else None
    if rule is None or point.status is not PointStatus.COMPLETED or point.kind not in LOCKABLE:
        return None
    return rule.lock


def _lock_point(
    point: RecoveryPoint,
    lock: Lock,
    current: dict[str, SnapshotLock],
    ports: Ports,
    now: datetime,
    max_days: int | None,
) -> tuple[RecoveryPoint | None, str | None]:
    """The point with its lock recorded (None: no snapshot of it holds a lock), and what
    failed (None: every snapshot is locked long enough)."""
    ids = [s.snapshot_id for s in point.snapshots]
    if not ids:
        return None, "no snapshot recorded to lock"
    if max_days is not None and lock.days > max_days:
        return None, (
            f"the rule locks for {lock.days} days, the stack allows at most {max_days} (template "
            f"parameter SnapshotLockMaxDays): deploy with SnapshotLockMaxDays={lock.days} or more"
        )
    end = (point.completed_at or now) + timedelta(days=lock.days)
    results = {sid: current[sid] for sid in ids if _lasts(current.get(sid), end)}
    todo = [sid for sid in ids if sid not in results]
    error: str | None = None
    try:
        if todo:
            results.update(
                ports.ec2.lock_snapshots(todo, lock.mode, lock.days, lock.cool_off_hours)
            )
    except (ClientError, LifeboatError) as exc:
        error = f"not locked: {exc}"
    refused = {sid: r.error for sid, r in results.items() if r.error is not None}
    if refused:
        error = f"not locked: {refused}"
    holding = [r for r in results.values() if r.error is None]
    if not holding:
        return None, error or "not locked"
    ends = [r.expires_on or now + timedelta(days=lock.days) for r in holding]
    if point.locked_until is not None:
        ends.append(point.locked_until)  # never recorded earlier than before
    states = {r.state or lock.mode for r in holding}
    mode = "compliance" if any(s.startswith("compliance") for s in states) else "governance"
    return point.model_copy(update={"locked_until": max(ends), "lock_mode": mode}), error


def _lasts(lock: SnapshotLock | None, end: datetime) -> bool:
    """Whether a lock in place already lasts until ``end`` (locking again would not extend
    it; and for a governance lock, could shorten it)."""
    return lock is not None and lock.expires_on is not None and lock.expires_on >= end
