"""Expired recovery points: retention decides, then a write-ahead delete of each."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lifeboat.copies.prune import copies_needing_sources, copy_locks, expired_copies
from lifeboat.copies.prune_census import prune_census
from lifeboat.errors import UnsafeToDeleteError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.observability import metrics
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.prune.decommissioned import gone_since
from lifeboat.prune.deletes import claim, locked_entry, pinned_reason, settle
from lifeboat.prune.models import (
    MAX_LISTED,
    Deletion,
    PruneReport,
    PruneRequest,
    Takeover,
    epoch,
    point_size,
)
from lifeboat.prune.orphans import Census, delete_orphan, find_orphans
from lifeboat.retention import decide

BATCH_POINTS = 100  # points marked 'deleting' at a time (write-ahead per batch, never all first)


@dataclass
class PrunePlan:
    """What a prune will do, read before anything is deleted."""

    report: PruneReport
    work: list[tuple[RecoveryPoint, Deletion]]
    census: Census
    plan_points: list[RecoveryPoint]


def prune(
    request: PruneRequest,
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    owner: str | None = None,
) -> PruneReport:
    """The whole prune in one process (``lifeboat prune``, the prune function): the plan, then
    batch by batch a write-ahead mark and the deletes, then broken points and orphans.
    ``owner`` (default: a new id) is stamped on the marks it writes."""
    takeover = Takeover(owner=owner or f"prune:{uuid.uuid4()}")
    planned = plan_prune(request, plans, ports, now, takeover)
    report = planned.report
    if request.dry_run:
        held = ports.catalog.active_locks([p.source_id for p, _ in planned.work], epoch(now))
        for point, deletion in planned.work:
            if point.source_id in held:
                deletion.outcome = {"pinned": pinned_reason(point, held)}
        return report
    for first in range(0, len(planned.work), BATCH_POINTS):
        batch = planned.work[first : first + BATCH_POINTS]
        _delete_points(batch, report, ports, now, str(takeover.owner))
    finish_prune(planned, request, ports)
    return report


def plan_prune(
    request: PruneRequest, plans: PlanSet, ports: Ports, now: datetime, takeover: Takeover
) -> PrunePlan:
    """Retention's decisions for the plan's points and copies, the interrupted deletions to
    finish, and the orphan census; nothing is changed. An unreadable catalog deletes nothing."""
    rule_names = plans.rule_names(request.plan, request.rule)
    plan = plans.plan(request.plan)
    report = PruneReport(plan=request.plan, rules=rule_names, dry_run=request.dry_run)
    # Everything is read before anything is deleted: an unreadable catalog deletes nothing.
    plan_points = ports.catalog.points_for_plan(request.plan, sorted(plan.rules))
    copying = copies_needing_sources(plan, ports)
    # Resources that no longer exist: kept decommissioned_days after they disappeared.
    live_points = [p for p in plan_points if p.status is PointStatus.COMPLETED]
    gone = gone_since(live_points, ports, now, request.dry_run)
    work: list[tuple[RecoveryPoint, Deletion]] = []
    for name in rule_names:
        rule = plan.rules[name]
        ours = [p for p in plan_points if p.rule == name]
        points = [p for p in ours if p.status not in (PointStatus.DELETED, PointStatus.DELETING)]
        result = decide(
            points,
            retention=rule.retention,
            min_keep=plan.min_keep,
            timezone=rule.timezone,
            interval_seconds=rule.interval_seconds(),
            now=now,
            gone_since=gone,
            decommissioned_days=plan.decommissioned_days,
        )
        report.decommissioned.extend(f"{name}:{group}" for group in result.decommissioned_groups)
        report.evaluated += len(points)
        report.kept += len(result.kept)
        report.stale.extend(f"{name}:{group}" for group in result.stale_groups)
        by_id = {p.recovery_point_id: p for p in points}
        expired = [(by_id[i], result.decisions[i].reasons[0]) for i in result.expired]
        expired = _held_back(expired, copying, report, now, ports)
        # 'deleting' marks of this prune, of a prune that ended, or older than a prune can
        # run: their prune was interrupted (a younger mark of another prune belongs to a prune
        # still running, which finishes or puts it back itself).
        interrupted = [
            (p, "completing an interrupted prune") for p in ours if takeover.interrupted(p, now)
        ]
        # A lock on what is left of one holds it too: reported locked, not expired, and left
        # 'deleting' (some of it may be gone: never offered again) until the lock ends.
        interrupted = _held_back(interrupted, {}, report, now, ports)
        for point, reason in [*interrupted, *expired]:
            deletion = Deletion(
                recovery_point_id=point.recovery_point_id,
                source_id=point.source_id,
                kind=point.kind,
                rule=name,
                created_at=point.created_at,
                reason=reason,
                artifacts=point.artifact_ids(),
                size_gb=point_size(point),
            )
            report.expired.append(deletion)
            report.frees_gb += deletion.size_gb
            work.append((point, deletion))
    work += _copy_work(request, plans, rule_names, report, ports, now, gone, takeover)
    census = find_orphans(request.plan, rule_names, plan_points, ports, now)
    report.orphans, report.foreign_tagged = census.orphans, census.foreign
    report.broken = census.broken
    report.locked.extend(census.locked)
    if request.delete_orphans:
        report.orphans_refused = census.refusal
        if census.refusal and not request.dry_run:
            raise UnsafeToDeleteError(census.refusal)
    copies_census(request, plans, {p.recovery_point_id for p, _ in work}, report, ports)
    return PrunePlan(report, work, census, plan_points)


def finish_prune(planned: PrunePlan, request: PruneRequest, ports: Ports) -> None:
    """After the deletions: points whose AMI was deregistered outside Lifeboat are failed, and
    orphans removed when asked."""
    report, census = planned.report, planned.census
    pruned = {p.recovery_point_id for p, _ in planned.work}
    broken = [
        p
        for p in planned.plan_points
        if p.recovery_point_id in set(census.broken) and p.recovery_point_id not in pruned
    ]
    for point in broken:
        ports.catalog.transition(
            point,
            PointStatus.COMPLETED,
            PointStatus.FAILED,
            {"error": "its AMI was deregistered outside Lifeboat"},
        )
    if request.delete_orphans:
        for orphan in report.orphans:
            orphan.outcome = delete_orphan(orphan, ports)


def _copy_work(
    request: PruneRequest,
    plans: PlanSet,
    rule_names: list[str],
    report: PruneReport,
    ports: Ports,
    now: datetime,
    gone: Mapping[str, datetime] | None = None,
    takeover: Takeover | None = None,
) -> list[tuple[RecoveryPoint, Deletion]]:
    """The expired copies to delete (``gone``: home resources that no longer exist, since
    when: their copies follow decommissioned_days too). A copy under a lock set by hand in its
    region is kept whole, as a home point is; an interrupted deletion under one is left
    ``deleting`` until the lock ends."""
    plan = plans.plan(request.plan)
    copy_work, evaluated, kept = expired_copies(
        request.plan, plan, rule_names, ports, now, gone=gone, takeover=takeover
    )
    report.evaluated += evaluated
    report.kept += kept
    # Interrupted deletions too: a lock on what is left holds it (left 'deleting', reported
    # locked, not expired), as at home.
    every = [(c, d.reason) for c, d in copy_work]
    free = {c.recovery_point_id for c, _ in _held_back(every, {}, report, now, ports)}
    work = [(c, d) for c, d in copy_work if c.recovery_point_id in free]
    for _copy, deletion in work:
        report.expired.append(deletion)
        report.frees_gb += deletion.size_gb
    return work


def copies_census(
    request: PruneRequest, plans: PlanSet, pruned: set[str], report: PruneReport, ports: Ports
) -> None:
    """The census of the plan's copy regions, into the report (vanished copies: ``broken``,
    marked failed unless a dry run; uncatalogued copy artifacts: ``foreign_tagged``)."""
    broken, foreign, unread = prune_census(request.plan, plans, ports, request.dry_run, pruned)
    report.broken += broken
    report.foreign_tagged += foreign
    report.skipped += unread


def _held_back(
    expired: list[tuple[RecoveryPoint, str]],
    copying: dict[str, str],
    report: PruneReport,
    now: datetime,
    ports: Ports,
) -> list[tuple[RecoveryPoint, str]]:
    """What retention expired, less what must stay: a point whose copy to another region is
    not done yet, and a point under an EBS Snapshot Lock — recorded (``locked_until``) or
    reported by EC2 on one of its snapshots (a lock by hand, or one whose catalog write was
    lost) — which is kept and never counted as deleted."""
    locked_before = len(report.locked)
    rest: list[tuple[RecoveryPoint, str]] = []
    for point, why in expired:
        if point.recovery_point_id in copying:
            region = copying[point.recovery_point_id]
            report.skipped.append(
                f"{point.recovery_point_id}: its copy to {region} is not done yet; kept"
            )
        elif point.locked_until is not None and point.locked_until > now and not point.is_copy:
            # (a copy's recorded lock is not believed: Lifeboat locks no copy; its region's
            # live locks are read below)
            report.locked.append(locked_entry(point, point.locked_until, point.lock_mode))
        else:
            rest.append((point, why))
    ids = [s.snapshot_id for p, _ in rest if not p.is_copy for s in p.snapshots]
    live = ports.ec2.snapshot_locks(ids) if ids else {}
    copies_held = copy_locks([p for p, _ in rest if p.is_copy], ports)
    kept: list[tuple[RecoveryPoint, str]] = []
    for point, why in rest:
        held = [live[s.snapshot_id] for s in point.snapshots if s.snapshot_id in live]
        if point.is_copy:
            held = copies_held.get(point.recovery_point_id, [])
        if held:
            ends = [lock.expires_on for lock in held if lock.expires_on is not None]
            modes = sorted({(lock.state or "").removesuffix("-cooloff") for lock in held})
            locked = sorted(lock.snapshot_id for lock in held)
            report.locked.append(
                locked_entry(point, max(ends, default=None), ",".join(modes), locked)
            )
        else:
            kept.append((point, why))
    report.kept += len(report.locked) - locked_before
    return kept


def _delete_points(
    work: list[tuple[RecoveryPoint, Deletion]],
    report: PruneReport,
    ports: Ports,
    now: datetime,
    owner: str,
) -> None:
    """Write-ahead: mark each point ``deleting`` (only if still completed), then read the
    restore locks (a restore takes its lock before it chooses a point, so one of the two sees
    the other), put pinned points back, delete the rest and mark them ``deleted``."""
    claimed, fresh = claim(work, report, ports.catalog, now, owner)
    held = ports.catalog.active_locks([p.source_id for p, _ in claimed], epoch(now))
    settle(claimed, fresh, held, report, ports, now)


def run_prune(
    request: PruneRequest,
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    recycle_bin_days: int = 0,
) -> dict[str, Any]:
    """The whole prune in this task: the full report, or its summary."""
    report = prune(request, plans, ports, now)
    report.recycle_bin_days = recycle_bin_days
    metrics.add_metric(
        name="RecoveryPointsExpired", unit=MetricUnit.Count, value=len(report.expired)
    )
    metrics.add_metric(name="RecoveryPointsPruned", unit=MetricUnit.Count, value=report.deleted)
    metrics.add_metric(name="StaleBackupGroups", unit=MetricUnit.Count, value=len(report.stale))
    if request.summary_only:
        return report.summary()
    data = report.model_dump(mode="json")
    data["expired"] = data["expired"][:MAX_LISTED]
    data["orphans"] = data["orphans"][:MAX_LISTED]
    data["foreign_tagged"] = data["foreign_tagged"][:MAX_LISTED]
    data["broken"] = data["broken"][:MAX_LISTED]
    data["locked"] = data["locked"][:MAX_LISTED]
    data["summary"] = report.summary()
    return data
