"""Expired recovery points: retention decides, then a write-ahead delete of each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lifeboat import tags as T
from lifeboat.copies.prune import copies_needing_sources, copy_locks, expired_copies
from lifeboat.copies.prune_census import prune_census
from lifeboat.copies.state import remove_copy
from lifeboat.errors import NotOwnedError, UnsafeToDeleteError
from lifeboat.models import PointStatus, RecoveryPoint, marked
from lifeboat.observability import metrics
from lifeboat.plans import Kind, PlanSet
from lifeboat.ports import CatalogPort, Ports
from lifeboat.prune.decommissioned import gone_since
from lifeboat.prune.models import (
    MAX_LISTED,
    PRUNE_TAKEOVER,
    Deletion,
    Locked,
    PruneReport,
    PruneRequest,
    epoch,
    point_size,
)
from lifeboat.prune.orphans import delete_orphan, find_orphans
from lifeboat.retention import decide
from lifeboat.timeutil import iso


def prune(request: PruneRequest, plans: PlanSet, ports: Ports, now: datetime) -> PruneReport:
    rule_names = plans.rule_names(request.plan, request.rule)
    plan = plans.plans[request.plan]
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
        # 'deleting' for longer than a prune can run: its prune was interrupted (a younger
        # mark belongs to a prune still running, which finishes or puts it back itself).
        interrupted = [
            (p, "completing an interrupted prune")
            for p in ours
            if p.status is PointStatus.DELETING
            and (p.deleting_since is None or now - p.deleting_since > PRUNE_TAKEOVER)
        ]
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
    work += _copy_work(request, plans, rule_names, report, ports, now, gone)
    census = find_orphans(request.plan, rule_names, plan_points, ports, now)
    report.orphans, report.foreign_tagged = census.orphans, census.foreign
    report.broken = census.broken
    report.locked.extend(census.locked)
    if request.delete_orphans:
        report.orphans_refused = census.refusal
        if census.refusal and not request.dry_run:
            raise UnsafeToDeleteError(census.refusal)
    copies_census(request, plans, {p.recovery_point_id for p, _ in work}, report, ports)
    if request.dry_run:
        held = ports.catalog.active_locks([p.source_id for p, _ in work], epoch(now))
        for point, deletion in work:
            if point.source_id in held:
                deletion.outcome = {"pinned": _pinned(point, held)}
        return report
    _delete_points(work, report, ports, now)
    pruned = {p.recovery_point_id for p, _ in work}
    broken = [
        p
        for p in plan_points
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
    return report


def _copy_work(
    request: PruneRequest,
    plans: PlanSet,
    rule_names: list[str],
    report: PruneReport,
    ports: Ports,
    now: datetime,
    gone: Mapping[str, datetime] | None = None,
) -> list[tuple[RecoveryPoint, Deletion]]:
    """The expired copies to delete (``gone``: home resources that no longer exist, since
    when: their copies follow decommissioned_days too). A copy under a lock set by hand in its
    region is kept whole, as a home point is (an interrupted deletion is finished or put back
    by its own lock check when deleted)."""
    plan = plans.plans[request.plan]
    copy_work, evaluated, kept = expired_copies(
        request.plan, plan, rule_names, ports, now, gone=gone
    )
    report.evaluated += evaluated
    report.kept += kept
    fresh = [(c, d.reason) for c, d in copy_work if c.status is not PointStatus.DELETING]
    free = {c.recovery_point_id for c, _ in _held_back(fresh, {}, report, now, ports)}
    work = [
        (c, d)
        for c, d in copy_work
        if c.status is PointStatus.DELETING or c.recovery_point_id in free
    ]
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
            report.locked.append(_locked(point, point.locked_until, point.lock_mode))
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
            report.locked.append(_locked(point, max(ends, default=None), ",".join(modes), locked))
        else:
            kept.append((point, why))
    report.kept += len(report.locked) - locked_before
    return kept


def _locked(
    point: RecoveryPoint,
    until: datetime | None,
    mode: str | None,
    snapshots: list[str] | None = None,
) -> Locked:
    return Locked(
        id=point.recovery_point_id,
        kind="point",
        locked_until=until,
        mode=mode,
        size_gb=point_size(point),
        snapshots=snapshots or [],
    )


def _pinned(point: RecoveryPoint, held: dict[str, dict[str, Any]]) -> str:
    lock = held[point.source_id]
    owner = lock.get("owner", "unknown")
    if lock.get("kind") == "drill":  # a drill's hold: it may be restoring from this point
        return f"a drill of {point.source_id} holds its points ({owner}): kept until it ends"
    return f"a restore of {point.source_id} holds its lock ({owner}): kept until it ends"


def _delete_points(
    work: list[tuple[RecoveryPoint, Deletion]], report: PruneReport, ports: Ports, now: datetime
) -> None:
    """Write-ahead: mark each point ``deleting`` (only if still completed), then read the
    restore locks (a restore takes its lock before it chooses a point, so one of the two sees
    the other), put pinned points back, delete the rest and mark them ``deleted``."""
    catalog = ports.catalog
    claimed: list[tuple[RecoveryPoint, Deletion]] = []
    fresh: set[str] = set()  # marked by this prune: nothing of them is deleted yet
    for point, deletion in work:
        if point.status is PointStatus.DELETING:
            claimed.append((point, deletion))
        elif catalog.transition(
            point, PointStatus.COMPLETED, PointStatus.DELETING, {"deleting_since": iso(now)}
        ):
            fresh.add(point.recovery_point_id)
            claimed.append((point.model_copy(update={"status": PointStatus.DELETING}), deletion))
        else:
            deletion.outcome = {"skipped": "its status changed since it was read"}
            report.skipped.append(f"{point.recovery_point_id}: status changed; left alone")
    held = catalog.active_locks([p.source_id for p, _ in claimed], epoch(now))
    done: list[RecoveryPoint] = []
    try:
        for point, deletion in claimed:
            if point.source_id in held:
                # Put back only what this prune marked (all its artifacts still there); an
                # interrupted deletion may have lost some: it stays 'deleting', untouched.
                if point.recovery_point_id in fresh:
                    catalog.transition(point, PointStatus.DELETING, PointStatus.COMPLETED)
                deletion.outcome = {"pinned": _pinned(point, held)}
                report.skipped.append(f"{point.recovery_point_id}: {_pinned(point, held)}")
                continue
            if not _delete_artifacts(point, report, deletion, ports):
                catalog.transition(point, PointStatus.DELETING, PointStatus.COMPLETED)
            elif "locked" in deletion.outcome.values():
                _still_locked(point, deletion, report, catalog, point.recovery_point_id in fresh)
            else:
                why = deletion.reason
                problems = {k: v for k, v in deletion.outcome.items() if v not in _DONE}
                if problems:
                    why += f"; skipped {problems}"
                done.append(marked(point, PointStatus.DELETED, when=now, reason=f"pruned: {why}"))
                report.deleted += 1
    finally:
        # A failure here leaves points 'deleting' (never offered for restore): the next prune
        # finishes them.
        catalog.put_points(done)


_DONE = ("deleted", "gone", "deregistered")


def _still_locked(
    point: RecoveryPoint,
    deletion: Deletion,
    report: PruneReport,
    catalog: CatalogPort,
    fresh: bool,
) -> None:
    """EC2 refused to delete a locked snapshot of the point (a lock that appeared after prune
    read them): never counted as deleted. Marked by this prune and nothing of it gone: put back
    (completed, offered for restore again); else it stays ``deleting``, and the first prune
    after the lock ends finishes it."""
    whole = not any(v in _DONE for v in deletion.outcome.values())
    if fresh and whole:
        catalog.transition(point, PointStatus.DELETING, PointStatus.COMPLETED)
    snapshots = sorted(k for k, v in deletion.outcome.items() if v == "locked")
    report.locked.append(_locked(point, None, None, snapshots))  # not the lock recorded, if any
    report.frees_gb -= deletion.size_gb


def _delete_artifacts(
    point: RecoveryPoint, report: PruneReport, deletion: Deletion, ports: Ports
) -> bool:
    """Delete a point's artifacts; False when they turned out not to be Lifeboat's."""
    outcome = _delete_copy(point, ports) if point.is_copy else _delete_home(point, ports)
    deletion.outcome = outcome
    problems = {k: v for k, v in outcome.items() if v not in _DONE}
    report.skipped.extend(f"{k}: {v}" for k, v in problems.items())
    return "refused" not in outcome


def _delete_copy(point: RecoveryPoint, ports: Ports) -> dict[str, str]:
    """A copy in its region: only artifacts tagged with the copy's id are deleted."""
    if ports.copies is None or point.region is None:
        return {"refused": "no adapter for the copy's region"}
    return remove_copy(point, ports.copies(point.region))  # all or none: 'refused' if foreign


def _delete_home(point: RecoveryPoint, ports: Ports) -> dict[str, str]:
    owner = {T.PLAN: point.plan, T.RULE: point.rule}
    outcome: dict[str, str] = {}
    try:
        if point.image_id:
            owned_snapshots = ports.ec2.deregister_image(point.image_id, owner)
            outcome[point.image_id] = "deregistered"
            snapshot_ids = sorted(set(owned_snapshots) | {s.snapshot_id for s in point.snapshots})
            outcome.update(
                ports.ec2.delete_snapshots(snapshot_ids, owner, ignore_image=point.image_id)
            )
        elif point.kind is Kind.EBS:
            ids = [s.snapshot_id for s in point.snapshots]
            outcome.update(ports.ec2.delete_snapshots(ids, owner))
        if point.db_snapshot_id:
            outcome[point.db_snapshot_id] = ports.rds.delete_snapshot(
                "db", point.db_snapshot_id, owner
            )
        if point.db_cluster_snapshot_id:
            outcome[point.db_cluster_snapshot_id] = ports.rds.delete_snapshot(
                "cluster", point.db_cluster_snapshot_id, owner
            )
    except NotOwnedError as exc:
        outcome["refused"] = str(exc)
    return outcome


def run_prune(
    request: PruneRequest,
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    recycle_bin_days: int = 0,
) -> dict[str, Any]:
    """The prune task: the full report, or its summary inside a backup run's state."""
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
