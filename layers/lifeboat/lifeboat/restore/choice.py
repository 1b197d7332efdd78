"""How a restore's recovery point is chosen, pure: the newest completed one, the one named by id,
or the newest at or before a time (``--point TIME``: for an instance, the AMI at or before it and
the newest EBS set at or before it; for a database, a point-in-time restore when the time is in
its restorable window — to its latest restorable time when the time is after it — else its
newest snapshot at or before it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from lifeboat.errors import InvalidInputError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind
from lifeboat.restore.models import RestoreInput
from lifeboat.timeutil import iso

if TYPE_CHECKING:
    from lifeboat.restore.planner import SourceDatabase


def at_or_before(moment: datetime, until: datetime) -> bool:
    """``moment`` is at or before ``until`` to the second (times are given, and shown, to the
    second: a point listed at 02:45:07 is "at or before 02:45:07" whatever its microseconds)."""
    return moment.replace(microsecond=0) <= until


def completed(points: Sequence[RecoveryPoint]) -> list[RecoveryPoint]:
    return [p for p in points if p.status is PointStatus.COMPLETED]


def choose(
    points: list[RecoveryPoint],
    request: RestoreInput,
    field: str,
    what: str,
    until: datetime | None = None,
) -> RecoveryPoint:
    """The recovery point asked for (by id or artifact id), else the newest completed one at or
    before ``until`` (default: the request's ``point_time``; none: the newest of all)."""
    if request.recovery_point != "latest":
        chosen = [
            p for p in points if request.recovery_point in (p.recovery_point_id, *p.artifact_ids())
        ]
        if not chosen:
            raise InvalidInputError(
                "recovery_point", f"{request.recovery_point} is not a completed {what}"
            )
        return chosen[0]
    until = until or request.point_time
    if until is not None:
        before = [p for p in points if at_or_before(p.created_at, until)]
        if not before:
            oldest = (
                f" (the oldest is of {iso(min(p.created_at for p in points))})" if points else ""
            )
            raise InvalidInputError(
                "point_time" if request.point_time else "recovery_point",
                f"there is no completed {what} at or before {iso(until)}{oldest}",
            )
        points = before
    if not points:
        raise InvalidInputError(field, f"there is no completed {what}")
    return max(points, key=lambda p: (p.created_at, p.recovery_point_id))


def named_set(request: RestoreInput, points: Sequence[RecoveryPoint]) -> RecoveryPoint | None:
    """The completed EBS set the request names by id (or by one of its snapshot ids), if any:
    the instance is then restored as of that set's time."""
    if request.recovery_point == "latest":
        return None
    return next(
        (
            p
            for p in completed(points)
            if p.kind is Kind.EBS
            and request.recovery_point in (p.recovery_point_id, *p.artifact_ids())
        ),
        None,
    )


def as_of(request: RestoreInput, points: Sequence[RecoveryPoint]) -> datetime | None:
    """The time an instance is restored as of: ``point_time``, or the time of the EBS set
    named; None for the newest point (or an AMI point named by id)."""
    found = named_set(request, points)
    return request.point_time or (found.created_at if found else None)


def database_point(
    request: RestoreInput, original: SourceDatabase | None, snapshots: list[RecoveryPoint]
) -> tuple[datetime | None, RecoveryPoint | None, str]:
    """``--db ID --point TIME``: a point-in-time restore when TIME is within the database's
    restorable window (to its latest restorable time when TIME is after it), else its newest DB
    snapshot at or before TIME; which, and why."""
    when = request.point_time
    assert when is not None
    earliest = original.earliest_restorable if original else None
    latest = original.latest_restorable if original else None
    if original is None:
        why = "the database is gone: no point-in-time restore"
    elif not original.backup_retention_days or earliest is None or latest is None:
        why = "it has no automated backups to restore a point in time from"
    elif earliest <= when <= latest:
        return (
            when,
            None,
            f"point-in-time restore to {iso(when)} (RestoreDBInstanceToPointInTime; "
            f"restorable from {iso(earliest)} to {iso(latest)})",
        )
    elif when > latest:
        # The newest data at or before the time is its latest restorable time (minutes
        # behind), never an older snapshot (hours behind).
        return (
            latest,
            None,
            f"point-in-time restore to its latest restorable time {iso(latest)}, the newest "
            f"at or before {iso(when)} (RestoreDBInstanceToPointInTime)",
        )
    else:
        why = f"{iso(when)} is before its restorable window ({iso(earliest)} to {iso(latest)})"
    source_id = request.db_instance_id or ""
    point = choose(snapshots, request, "point_time", f"DB snapshot of {source_id}", until=when)
    return (
        None,
        point,
        f"the newest DB snapshot at or before {iso(when)}: {point.db_snapshot_id} of "
        f"{iso(point.created_at)} ({why})",
    )
