"""Retention: which recovery points to keep and which to expire, and why. Pure: points in,
decisions out; no clock, no AWS.

Per resource and kind, among the *completed* points made by one rule:

* the newest ``min_keep`` are always kept;
* grandfather-father-son: the newest point of each of the last ``hourly`` hours, ``daily`` days,
  ``weekly`` ISO weeks, ``monthly`` months and ``yearly`` years is kept, periods counted back
  from ``now`` in the rule's timezone (local calendar days, weeks and months; hours are real
  hours, so DST transitions neither merge nor skip one);
* if the newest completed point is older than the rule's interval + 1 h, backups of that
  resource are failing or it is gone: nothing of it is expired (and the group is reported
  stale, so someone is alerted instead);
* everything else that is completed is expired. Pending, failed and deleted points are never
  expired by retention.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from lifeboat.models import PointStatus
from lifeboat.plans import Retention

STALE_GRACE = timedelta(hours=1)


class PointLike(Protocol):
    @property
    def recovery_point_id(self) -> str: ...
    @property
    def source_id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def status(self) -> PointStatus: ...
    @property
    def kind(self) -> object: ...


@dataclass(frozen=True)
class Decision:
    recovery_point_id: str
    keep: bool
    reasons: tuple[str, ...]


@dataclass
class RetentionResult:
    decisions: dict[str, Decision] = field(default_factory=dict)
    stale_groups: list[str] = field(default_factory=list)

    @property
    def expired(self) -> list[str]:
        return sorted(i for i, d in self.decisions.items() if not d.keep)

    @property
    def kept(self) -> list[str]:
        return sorted(i for i, d in self.decisions.items() if d.keep)


def _month_back(year: int, month: int, steps: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) - steps
    return index // 12, index % 12 + 1


def slots(now: datetime, tz: ZoneInfo, retention: Retention) -> dict[str, set[object]]:
    """The period keys inside each GFS window, counted back from ``now``."""
    local_now = now.astimezone(tz)
    today: date = local_now.date()
    found: dict[str, set[object]] = {}
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    found["hourly"] = {
        _hour_key((hour_start - timedelta(hours=k)).astimezone(tz)) for k in range(retention.hourly)
    }
    found["daily"] = {today - timedelta(days=k) for k in range(retention.daily)}
    found["weekly"] = {
        tuple((today - timedelta(weeks=k)).isocalendar())[:2] for k in range(retention.weekly)
    }
    found["monthly"] = {_month_back(today.year, today.month, k) for k in range(retention.monthly)}
    found["yearly"] = {today.year - k for k in range(retention.yearly)}
    return found


def _hour_key(local: datetime) -> tuple[object, ...]:
    # Wall-clock hour plus UTC offset: the repeated hour at a DST fall-back is two hours.
    return (local.date(), local.hour, local.utcoffset())


def _keys(created: datetime, tz: ZoneInfo) -> dict[str, object]:
    local = created.astimezone(tz)
    day = local.date()
    return {
        "hourly": _hour_key(local),
        "daily": day,
        "weekly": tuple(day.isocalendar())[:2],
        "monthly": (day.year, day.month),
        "yearly": day.year,
    }


def decide(
    points: Iterable[PointLike],
    *,
    retention: Retention,
    min_keep: int,
    timezone: str,
    interval_seconds: int,
    now: datetime,
) -> RetentionResult:
    tz = ZoneInfo(timezone)
    windows = slots(now, tz, retention)
    stale_after = timedelta(seconds=interval_seconds) + STALE_GRACE
    groups: dict[tuple[str, str], list[PointLike]] = defaultdict(list)
    result = RetentionResult()
    for point in points:
        if point.status is not PointStatus.COMPLETED:
            result.decisions[point.recovery_point_id] = Decision(
                point.recovery_point_id, True, (f"not completed ({point.status.value})",)
            )
            continue
        groups[(point.source_id, str(point.kind))].append(point)

    for (source, kind), members in sorted(groups.items()):
        # Newest first; ties broken by id so the result does not depend on input order.
        members.sort(key=lambda p: (p.created_at, p.recovery_point_id), reverse=True)
        reasons: dict[str, list[str]] = {p.recovery_point_id: [] for p in members}
        for rank, point in enumerate(members[:min_keep]):
            reasons[point.recovery_point_id].append(f"min_keep: newest {rank + 1} of {min_keep}")
        stale = now - members[0].created_at > stale_after
        if stale:
            result.stale_groups.append(f"{source}/{kind}")
            for point in members:
                reasons[point.recovery_point_id].append(
                    "no recent completed backup: nothing expires until backups succeed again"
                )
        seen: dict[str, set[object]] = {name: set() for name in windows}
        for point in members:
            if point.created_at > now:
                reasons[point.recovery_point_id].append("created in the future (clock skew)")
                continue
            for name, key in _keys(point.created_at, tz).items():
                if key in windows[name] and key not in seen[name]:
                    seen[name].add(key)
                    reasons[point.recovery_point_id].append(f"{name} {_label(name, key)}")
        for point in members:
            why = reasons[point.recovery_point_id]
            keep = bool(why)
            result.decisions[point.recovery_point_id] = Decision(
                point.recovery_point_id,
                keep,
                tuple(why) if keep else ("outside every retention window",),
            )
    return result


def _label(name: str, key: object) -> str:
    if name == "hourly" and isinstance(key, tuple):
        return f"{key[0]} {key[1]:02d}h"
    if name == "weekly" and isinstance(key, tuple):
        return f"{key[0]}-W{key[1]:02d}"
    if name == "monthly" and isinstance(key, tuple):
        return f"{key[0]}-{key[1]:02d}"
    return str(key)
