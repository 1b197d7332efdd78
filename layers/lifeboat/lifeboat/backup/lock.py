"""Lock a run's completed points (a rule's ``lock``): EBS Snapshot Lock on every snapshot of
each point, an AMI's included, for the rule's days from now, recorded on the point as
``locked_until`` so prune never counts it as deletable before then. A lock that fails is
reported and notified; it never fails the backup, which is complete either way."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.errors import LifeboatError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports


def lock_points(
    points: list[RecoveryPoint], plans: PlanSet, ports: Ports, now: datetime
) -> dict[str, Any]:
    """Lock each completed point of a rule with ``lock``; what was locked and what failed."""
    locked: list[RecoveryPoint] = []
    failed: dict[str, str] = {}
    for point in points:
        plan = plans.plans.get(point.plan)
        rule = plan.rules.get(point.rule) if plan else None
        if rule is None or rule.lock is None or point.status is not PointStatus.COMPLETED:
            continue
        ids = [s.snapshot_id for s in point.snapshots]
        if not ids:
            failed[point.recovery_point_id] = "no snapshot recorded to lock"
            continue
        lock = rule.lock
        try:
            results = ports.ec2.lock_snapshots(ids, lock.mode, lock.days, lock.cool_off_hours)
        except (ClientError, LifeboatError) as exc:
            failed[point.recovery_point_id] = str(exc)
            continue
        refused = {k: v for k, v in results.items() if v != "locked"}
        if refused:
            failed[point.recovery_point_id] = f"not locked: {refused}"
        if len(refused) < len(ids):  # locked snapshots hold the point: prune must see it
            until = now + timedelta(days=lock.days)
            locked.append(point.model_copy(update={"locked_until": until, "lock_mode": lock.mode}))
    ports.catalog.put_points(locked)
    if failed and ports.notifier is not None:
        ports.notifier.publish(
            f"Lifeboat: {len(failed)} recovery point(s) could not be locked",
            {"failed": failed, "note": "the backups are complete; they are not immutable"},
        )
    return {"locked": len(locked), "failed": failed} if locked or failed else {}
