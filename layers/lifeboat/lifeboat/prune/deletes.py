"""Deleting claimed points: the write-ahead mark (by its prune), the restore locks read after
it, the artifacts (an AMI before its snapshots, NotFound = done, all or none for a copy), and
the ``deleted`` record; used by the prune function and by the prune state machine's batches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.copies.state import remove_copy
from lifeboat.errors import NotOwnedError
from lifeboat.models import PointStatus, RecoveryPoint, marked
from lifeboat.plans import Kind
from lifeboat.ports import CatalogPort, Ports
from lifeboat.prune.models import Deletion, Locked, PruneReport, point_size
from lifeboat.timeutil import iso


def locked_entry(
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


def pinned_reason(point: RecoveryPoint, held: dict[str, dict[str, Any]]) -> str:
    lock = held[point.source_id]
    owner = lock.get("owner", "unknown")
    if lock.get("kind") == "drill":  # a drill's hold: it may be restoring from this point
        return f"a drill of {point.source_id} holds its points ({owner}): kept until it ends"
    return f"a restore of {point.source_id} holds its lock ({owner}): kept until it ends"


def claim(
    work: list[tuple[RecoveryPoint, Deletion]],
    report: PruneReport,
    catalog: CatalogPort,
    now: datetime,
    owner: str,
) -> tuple[list[tuple[RecoveryPoint, Deletion]], set[str]]:
    """Mark ``work`` ``deleting`` by ``owner``; the points claimed, and those marked here
    (fresh: nothing of them is deleted yet). A point already ``deleting`` was chosen as
    interrupted: its mark is taken over by ``owner``."""
    claimed: list[tuple[RecoveryPoint, Deletion]] = []
    fresh: set[str] = set()  # marked by this prune: nothing of them is deleted yet
    mark = {"deleting_since": iso(now), "deleting_by": owner}
    for point, deletion in work:
        if point.status is PointStatus.DELETING and point.deleting_by == owner:
            claimed.append((point, deletion))
        elif point.status is PointStatus.DELETING:
            # Taken over: the mark is this prune's from now on (its next pass finishes it).
            if catalog.transition(
                point, PointStatus.DELETING, PointStatus.DELETING, {"deleting_by": owner}
            ):
                claimed.append((point.model_copy(update={"deleting_by": owner}), deletion))
            else:
                deletion.outcome = {"skipped": "its status changed since it was read"}
                report.skipped.append(f"{point.recovery_point_id}: status changed; left alone")
        elif catalog.transition(point, PointStatus.COMPLETED, PointStatus.DELETING, mark):
            fresh.add(point.recovery_point_id)
            update = {"status": PointStatus.DELETING, "deleting_by": owner}
            claimed.append((point.model_copy(update=update), deletion))
        else:
            deletion.outcome = {"skipped": "its status changed since it was read"}
            report.skipped.append(f"{point.recovery_point_id}: status changed; left alone")
    return claimed, fresh


Deleter = Callable[[list[RecoveryPoint]], list[dict[str, str] | BaseException]]


def settle(
    claimed: list[tuple[RecoveryPoint, Deletion]],
    fresh: set[str],
    held: dict[str, dict[str, Any]],
    report: PruneReport,
    ports: Ports,
    now: datetime,
    deleter: Deleter | None = None,
) -> None:
    """Claimed points: pinned ones put back (if fresh), the others' artifacts deleted
    (``deleter``: all of them at once, e.g. in parallel; default one by one) and marked
    ``deleted``. An error while deleting a point leaves it ``deleting`` (never offered for
    restore; the next pass finishes it) and is raised once the others are recorded."""
    catalog = ports.catalog
    deletable = [(p, d) for p, d in claimed if p.source_id not in held]
    run = deleter or (lambda points: _one_by_one(points, ports))
    outcomes = run([p for p, _ in deletable]) if deletable else []
    results = dict(zip([p.recovery_point_id for p, _ in deletable], outcomes, strict=True))
    done: list[RecoveryPoint] = []
    failure: BaseException | None = None
    try:
        for point, deletion in claimed:
            if point.source_id in held:
                # Put back only what this prune marked (all its artifacts still there); an
                # interrupted deletion may have lost some: it stays 'deleting', untouched.
                if point.recovery_point_id in fresh:
                    catalog.transition(point, PointStatus.DELETING, PointStatus.COMPLETED)
                deletion.outcome = {"pinned": pinned_reason(point, held)}
                report.skipped.append(f"{point.recovery_point_id}: {pinned_reason(point, held)}")
                continue
            outcome = results[point.recovery_point_id]
            if isinstance(outcome, BaseException):
                failure = failure or outcome
                continue
            if not _record_outcome(report, deletion, outcome):
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
    if failure is not None:
        raise failure


def _one_by_one(points: list[RecoveryPoint], ports: Ports) -> list[dict[str, str] | BaseException]:
    """Each point's artifacts deleted in turn; the first error stops the rest (they stay
    ``deleting``, and the error is raised once the points before it are recorded)."""
    outcomes: list[dict[str, str] | BaseException] = []
    for point in points:
        try:
            outcomes.append(delete_artifacts(point, ports))
        except Exception as exc:  # noqa: BLE001 - re-raised by settle() after recording
            return outcomes + [exc] * (len(points) - len(outcomes))
    return outcomes


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
    # Not the lock recorded, if any: the snapshots EC2 refused to delete.
    report.locked.append(locked_entry(point, None, None, snapshots))
    report.frees_gb -= deletion.size_gb


def delete_artifacts(point: RecoveryPoint, ports: Ports) -> dict[str, str]:
    """Delete a point's artifacts: what happened to each ('refused' when they turned out not
    to be Lifeboat's)."""
    return _delete_copy(point, ports) if point.is_copy else _delete_home(point, ports)


def _record_outcome(report: PruneReport, deletion: Deletion, outcome: dict[str, str]) -> bool:
    """Record a point's outcome; False when its artifacts turned out not to be Lifeboat's."""
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
