"""Queue the copies of a run's completed points (called by finalize; never fails the run)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.copies.models import queue_sort_key
from lifeboat.errors import LifeboatError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.timeutil import iso


def queue_copies(
    points: list[RecoveryPoint], plans: PlanSet, ports: Ports, now: datetime
) -> dict[str, int]:
    """One queue item per completed point and destination of its rule, written in batches
    (up to 100 per transaction, each conditional); how many were newly queued, by region (a
    repeated finalize queues nothing twice)."""
    wanted: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for point in points:
        if point.status is not PointStatus.COMPLETED or point.is_copy:
            continue
        plan = plans.plans.get(point.plan)
        rule = plan.rules.get(point.rule) if plan else None
        for target in rule.copy_to if rule else ():
            if target.region == ports.home_region:
                continue  # refused at plan load by the template test; never copied onto itself
            item = {
                "source_id": point.source_id,
                "run_id": point.run_id,
                "kind": point.kind.value,
                "queued_at": iso(now),
            }
            wanted.setdefault(target.region, []).append((queue_sort_key(point), item))
    return {
        region: len(ports.catalog.enqueue_copies(region, items))
        for region, items in sorted(wanted.items())
    }


def copier_name(run_id: str) -> str:
    """The copier execution a run starts: one per run (a repeated finalize starts none)."""
    return "copies-" + re.sub(r"[^0-9A-Za-z_-]", "-", run_id)[:73]


def queue_and_start(
    points: list[RecoveryPoint],
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    run_id: str,
    copier_arn: str | None,
) -> dict[str, Any]:
    """Finalize's part: queue the copies and start the copier (asynchronously: the run never
    waits for a copy). A failure here is reported in the run's output and notified, and never
    fails the backup; what was queued is copied by the next copier (hourly at the latest)."""
    try:
        queued = queue_copies(points, plans, ports, now)
    except (ClientError, LifeboatError) as exc:
        # Never silent: notified now; the next copier finds the points that have neither a
        # copy nor a queue item and queues them (copies.reconcile), and copies status counts
        # them as without a copy until then.
        error = f"copies not queued: {exc}"
        if ports.notifier is not None:
            ports.notifier.publish(
                f"Lifeboat: copies of run {run_id} not queued",
                {
                    "error": error,
                    "points": [p.recovery_point_id for p in points][:50],
                    "note": "the backup itself succeeded; the next copier (hourly at the latest)"
                    " queues and copies them; lifeboat copies status lists them meanwhile",
                },
            )
        return {"error": error, "notified": ports.notifier is not None}
    if not queued:
        return {}
    result: dict[str, Any] = {"queued": queued}
    if not copier_arn:
        return result
    try:
        result["copier"] = ports.executions.start(
            copier_arn,
            copier_name(run_id),
            {"run_id": run_id, "requested_by": "backup run"},
            existing_ok=True,
        )
    except (ClientError, LifeboatError) as exc:
        result["error"] = f"copier not started (the hourly schedule will): {exc}"
    return result
