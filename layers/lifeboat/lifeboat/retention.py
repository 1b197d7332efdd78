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
from collections.abc import Iterable, Mapping
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
    # Sources that no longer exist ("<source>/<kind>"): kept by retention for the plan's
    # decommissioned_days after they disappeared, then expired; never "stale".
    decommissioned_groups: list[str] = field(default_factory=list)

    @property
    def expired(self) -> list[str]:
        return sorted(i for i, d in self.decisions.items() if not d.keep)

    @property
    def kept(self) -> list[str]:
        return sorted(i for i, d in self.decisions.items() if d.keep)


def _month_back(year: int, month: int, steps: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) - steps
    return index // 12, index % 12 + 1


WINDOWS = ("hourly", "daily", "weekly", "monthly", "yearly")
_EPOCH = date(1970, 1, 1)
_QUARTER = 900  # current UTC offsets and DST transitions fall on quarter hours
DayKeys = tuple[date, tuple[int, int], tuple[int, int], int]


def _seconds(delta: timedelta | None) -> int:
    return int(delta.total_seconds()) if delta is not None else 0


class Calendar:
    """Period keys of instants in one timezone: the hour (local date, wall-clock hour and UTC
    offset, so the repeated hour at a DST fall-back is two hours), the local day, ISO week,
    month and year. Offsets are cached per UTC quarter hour, only where the offset is the same
    at both ends of it (a transition is never smeared), and calendar keys per local day: a
    100,000-point catalog costs hundreds of time-zone conversions, not 100,000."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._offsets: dict[int, int] = {}
        self._days: dict[int, DayKeys] = {}

    def _offset(self, moment: datetime, ts: int) -> int:
        quarter = ts // _QUARTER
        cached = self._offsets.get(quarter)
        if cached is not None:
            return cached
        offset = _seconds(moment.astimezone(self.tz).utcoffset())
        start = _seconds(datetime.fromtimestamp(quarter * _QUARTER, self.tz).utcoffset())
        end = _seconds(datetime.fromtimestamp((quarter + 1) * _QUARTER - 1, self.tz).utcoffset())
        if start == end == offset:
            self._offsets[quarter] = offset
        return offset

    def keys(self, moment: datetime) -> tuple[object, ...]:
        ts = int(moment.timestamp() // 1)
        offset = self._offset(moment, ts)
        local = ts + offset
        day_number = local // 86400
        day_keys = self._days.get(day_number)
        if day_keys is None:
            day = _EPOCH + timedelta(days=day_number)
            iso = day.isocalendar()
            day_keys = (day, (iso[0], iso[1]), (day.year, day.month), day.year)
            self._days[day_number] = day_keys
        return ((day_keys[0], (local % 86400) // 3600, offset), *day_keys)


def slots(now: datetime, tz: ZoneInfo, retention: Retention) -> dict[str, set[object]]:
    """The period keys inside each GFS window, counted back from ``now``."""
    calendar = Calendar(tz)
    today: date = now.astimezone(tz).date()
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    return {
        "hourly": {
            calendar.keys(hour_start - timedelta(hours=k))[0] for k in range(retention.hourly)
        },
        "daily": {today - timedelta(days=k) for k in range(retention.daily)},
        "weekly": {
            tuple((today - timedelta(weeks=k)).isocalendar())[:2] for k in range(retention.weekly)
        },
        "monthly": {_month_back(today.year, today.month, k) for k in range(retention.monthly)},
        "yearly": {today.year - k for k in range(retention.yearly)},
    }


def _keys(created: datetime, tz: ZoneInfo) -> dict[str, object]:
    return dict(zip(WINDOWS, Calendar(tz).keys(created), strict=True))


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def window_starts(now: datetime, tz: ZoneInfo, retention: Retention) -> dict[str, datetime]:
    """The earliest instant of each window's oldest slot (windows with no slot are absent)."""
    today = now.astimezone(tz).date()
    starts: dict[str, datetime] = {}
    if retention.hourly:
        hour = now.replace(minute=0, second=0, microsecond=0)
        starts["hourly"] = hour - timedelta(hours=retention.hourly)  # generous by an hour
    if retention.daily:
        starts["daily"] = _local_midnight(today - timedelta(days=retention.daily - 1), tz)
    if retention.weekly:
        oldest = today - timedelta(weeks=retention.weekly - 1)
        starts["weekly"] = _local_midnight(oldest - timedelta(days=oldest.weekday()), tz)
    if retention.monthly:
        year, month = _month_back(today.year, today.month, retention.monthly - 1)
        starts["monthly"] = _local_midnight(date(year, month, 1), tz)
    if retention.yearly:
        starts["yearly"] = _local_midnight(date(today.year - retention.yearly + 1, 1, 1), tz)
    return starts


_EXPIRED = ("outside every retention window",)
_STALE = "no recent completed backup: nothing expires until backups succeed again"


def decide(
    points: Iterable[PointLike],
    *,
    retention: Retention,
    min_keep: int,
    timezone: str,
    interval_seconds: int,
    now: datetime,
    gone_since: Mapping[str, datetime] | None = None,
    decommissioned_days: int = 90,
) -> RetentionResult:
    """Keep or expire each point. ``gone_since``: sources that no longer exist, and since
    when (first seen gone): their points are kept by the same rules (``min_keep`` included)
    for ``decommissioned_days`` after that, then all expire; a gone source is never stale (its
    backups do not fail: it is decommissioned)."""
    gone = gone_since or {}
    tz = ZoneInfo(timezone)
    calendar = Calendar(tz)
    windows = slots(now, tz, retention)
    starts = window_starts(now, tz, retention)
    stale_after = timedelta(seconds=interval_seconds) + STALE_GRACE
    groups: dict[tuple[str, str], list[PointLike]] = defaultdict(list)
    result = RetentionResult()
    decisions = result.decisions
    for point in points:
        if point.status is not PointStatus.COMPLETED:
            decisions[point.recovery_point_id] = Decision(
                point.recovery_point_id, True, (f"not completed ({point.status.value})",)
            )
            continue
        groups[(point.source_id, str(point.kind))].append(point)

    for (source, kind), members in sorted(groups.items()):
        # Newest first; ties broken by id so the result does not depend on input order.
        members.sort(key=lambda p: (p.created_at, p.recovery_point_id), reverse=True)
        if source in gone:
            result.decommissioned_groups.append(f"{source}/{kind}")
            until = gone[source] + timedelta(days=decommissioned_days)
            if now >= until:
                why_gone = (
                    f"decommissioned: {source} gone since {gone[source]:%Y-%m-%d}, kept "
                    f"{decommissioned_days} days (decommissioned_days)",
                )
                for point in members:
                    decisions[point.recovery_point_id] = Decision(
                        point.recovery_point_id, False, why_gone
                    )
                continue
        stale = source not in gone and now - members[0].created_at > stale_after
        if stale:
            result.stale_groups.append(f"{source}/{kind}")
        slotting = _Slotting(calendar, windows, starts, now)
        for rank, point in enumerate(members):
            why: list[str] = []
            if rank < min_keep:
                why.append(f"min_keep: newest {rank + 1} of {min_keep}")
            if stale:
                why.append(_STALE)
            why.extend(slotting.reasons(point.created_at))
            if why and source in gone:
                why.append(
                    f"decommissioned {gone[source]:%Y-%m-%d}: kept at most until "
                    f"{gone[source] + timedelta(days=decommissioned_days):%Y-%m-%d}"
                )
            keep = bool(why)
            decisions[point.recovery_point_id] = Decision(
                point.recovery_point_id, keep, tuple(why) if keep else _EXPIRED
            )
    return result


class _Slotting:
    """The windows' slots a group's points fill, newest point first: a point is kept by a
    window when it is the newest point of one of the window's slots."""

    def __init__(
        self,
        calendar: Calendar,
        windows: dict[str, set[object]],
        starts: dict[str, datetime],
        now: datetime,
    ) -> None:
        self.calendar = calendar
        self.windows = windows
        self.starts = starts
        self.now = now
        self.position = {name: index for index, name in enumerate(WINDOWS)}
        self.seen: dict[str, set[object]] = {name: set() for name in starts}
        self.last: dict[str, object] = {}
        # Latest-starting window first: windows are left in this order as points get older.
        self.active = sorted(
            (n for n in starts if windows[n]), key=starts.__getitem__, reverse=True
        )

    def reasons(self, created: datetime) -> list[str]:
        if created > self.now:
            return ["created in the future (clock skew)"]
        # A window is left for good once points are older than its oldest slot.
        while self.active and created < self.starts[self.active[0]]:
            self.active.pop(0)
        if not self.active:
            return []
        keys = self.calendar.keys(created)
        why: list[str] = []
        for name in self.active:
            key = keys[self.position[name]]
            # Newest first: only the first point with a new key can be its slot's newest.
            if key == self.last.get(name):
                continue
            self.last[name] = key
            if key in self.windows[name] and key not in self.seen[name]:
                self.seen[name].add(key)
                why.append(f"{name} {_label(name, key)}")
        return why


def _label(name: str, key: object) -> str:
    if name == "hourly" and isinstance(key, tuple):
        return f"{key[0]} {key[1]:02d}h"
    if name == "weekly" and isinstance(key, tuple):
        return f"{key[0]}-W{key[1]:02d}"
    if name == "monthly" and isinstance(key, tuple):
        return f"{key[0]}-{key[1]:02d}"
    return str(key)
