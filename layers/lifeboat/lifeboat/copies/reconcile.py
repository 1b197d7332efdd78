"""Completed home points a copy was never queued for (finalize's queue write failed, or its
task died before it): found by the copier (and ``copies status``), queued again, never
forgotten.

A point is *forgotten* in a region when its rule copies there, it is completed, the copy's own
retention would keep it (a rule that starts copying today does not copy its whole history),
and the catalog has neither a copy of it there (of any status: a failed copy was given up on
purpose) nor a queue item for it.
"""

from __future__ import annotations

from datetime import datetime

from lifeboat.copies.models import queue_sort_key
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.retention import _STALE as STALE
from lifeboat.retention import decide
from lifeboat.timeutil import iso

QUEUE = "COPYQ#"


def forgotten(region: str, plans: PlanSet, ports: Ports, now: datetime) -> list[RecoveryPoint]:
    """The completed home points of every rule copying to ``region`` that have no copy there
    and no queue item, oldest first."""
    queued = {
        (str(i["source_id"]), str(i["run_id"]), str(i["kind"]))
        for i in ports.catalog.records(QUEUE + region)
    }
    found: list[RecoveryPoint] = []
    for plan_name, plan in sorted(plans.plans.items()):
        for rule_name, rule in sorted(plan.rules.items()):
            target = next((t for t in rule.copy_to if t.region == region), None)
            if target is None:
                continue
            copied = {
                (c.source_id, c.run_id, c.kind.value)
                for c in ports.catalog.copies_for_rule(region, plan_name, rule_name)
            }
            home = [
                p
                for p in ports.catalog.points_for_rule(plan_name, rule_name)
                if p.status is PointStatus.COMPLETED and not p.is_copy
            ]
            decisions = decide(
                home,
                retention=target.retention,
                min_keep=plan.min_keep,
                timezone=rule.timezone,
                interval_seconds=rule.interval_seconds(),
                now=now,
            ).decisions
            # Kept by the copy retention itself: "nothing expires while backups fail" guards
            # deletions, it never asks to copy a stalled resource's whole history.
            wanted = {
                i for i, d in decisions.items() if d.keep and any(r != STALE for r in d.reasons)
            }
            found += [
                p
                for p in home
                if p.recovery_point_id in wanted
                and (p.source_id, p.run_id, p.kind.value) not in copied | queued
            ]
    return sorted(found, key=lambda p: (p.created_at, p.recovery_point_id))


def requeue(region: str, plans: PlanSet, ports: Ports, now: datetime) -> list[str]:
    """Queue the forgotten points of ``region`` (a conditional write each: a finalize queuing
    them at the same moment queues nothing twice); the ids queued."""
    queued = []
    for point in forgotten(region, plans, ports, now):
        item = {
            "source_id": point.source_id,
            "run_id": point.run_id,
            "kind": point.kind.value,
            "queued_at": iso(now),
            "reconciled": True,
        }
        if ports.catalog.enqueue_copy(region, queue_sort_key(point), item):
            queued.append(point.recovery_point_id)
    return queued
