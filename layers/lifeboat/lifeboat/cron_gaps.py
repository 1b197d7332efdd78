"""The longest gap between two runs of a schedule (:meth:`lifeboat.plans.Rule.interval_seconds`):
a cron schedule's hour and day-of-week fields read as the sets of hours and days they select,
and the clock change of the schedule's timezone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo


@cache
def clock_shift_seconds(timezone: str) -> int:
    """How far the clocks of ``timezone`` move in a year (daylight saving time): 3600 for
    Europe/London, 0 for UTC. Read from the zone's offsets on every day of two years."""
    zone = ZoneInfo(timezone)
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    offsets = {
        (start + timedelta(days=d)).astimezone(zone).utcoffset() or timedelta(0)
        for d in range(0, 731)
    }
    return int((max(offsets) - min(offsets)).total_seconds())


_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


def _cron_values(field: str, low: int, high: int) -> set[int] | None:
    """The values a cron field selects (``*``, ``n``, ``a-b``, ``*/n``, ``a/n``, ``a-b/n`` and
    lists of them; day names for the day-of-week field), or None when it cannot read it."""
    values: set[int] = set()
    named = field.upper()
    for name, number in _DAYS.items():
        named = named.replace(name, str(number))
    for part in named.split(","):
        found = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part)
        if found is None:
            return None
        first, last, step = found[1], found[2], found[3]  # (not .groups(): an adapter method name)
        start = low if first == "*" else int(first)
        end = high if first == "*" or (step and last is None) else int(last or first)
        if not (low <= start <= end <= high) or (step is not None and int(step) < 1):
            return None
        values.update(range(start, end + 1, int(step or 1)))
    return values


def _longest_gap(marks: set[int], cycle: int) -> int:
    ordered = sorted(marks)
    gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    gaps.append(cycle - ordered[-1] + ordered[0])
    return max(gaps)


def hour_field_gap(hour: str) -> int:
    """The longest gap, in hours, between the hours a cron hour field selects in a day (the
    gap overnight included). A field it cannot read counts as once a day."""
    hours = _cron_values(hour, 0, 23)
    return _longest_gap(hours, 24) if hours else 24


def week_gap(dow: str, hour: str) -> int:
    """The longest gap, in hours, between the runs of a week (``MON-FRI`` at 02:00: 72 h, over
    the weekend). A field it cannot read (``6#3``, ``5L``: a weekday of the month) counts as
    five weeks, the longest gap between two such days."""
    days, hours = _cron_values(dow, 1, 7), _cron_values(hour, 0, 23)
    if not days or not hours:
        return 35 * 24
    return _longest_gap({(d - 1) * 24 + h for d in days for h in hours}, 7 * 24)
