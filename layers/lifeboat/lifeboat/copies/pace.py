"""The copier's copy calls on the stack's shared pace (:mod:`lifeboat.pace`; docs:
concepts/copies.md).

A copy's calls (``CopyImage``, ``CopySnapshot`` per snapshot of a set, ``CopyDBSnapshot`` /
``CopyDBClusterSnapshot``) are made in its destination region and come out of that region's
shared buckets. The pump reserves each copy's calls just before the copy's intent is written;
when the bucket hands them out later than :data:`PUMP_INLINE_WAIT`, the pump starts no more
copies in that region this cycle: they stay queued, untouched, and the state machine's own
one-minute ``WaitForCopies`` is the wait. What was reserved and not spent is carried in the
region's report to the next pump, which spends it first (nothing reserved is lost).

Why the pump waits for no copy call (rather than up to
:func:`lifeboat.prices.wait_state_break_even`, which prices a wait a task would otherwise pay
three transitions for): the pump is called again every minute whatever it does, so a copy call
that is not ready now costs nothing more next cycle, and nothing is lost meanwhile: a copy
bucket holds more than the copies a cycle can start (``CopyImage``: 80 calls against 48 a minute
of refill; ``CopySnapshot``: 40 against the 20 snapshot copies in flight a destination allows;
DB copies: 5 in flight). Sleeping would only buy a copy starting up to a minute earlier.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lifeboat.copies.models import RegionReport
from lifeboat.models import RecoveryPoint
from lifeboat.pace import Grant, SharedPacing, pace_key
from lifeboat.pace.bucket import SHARED_APIS
from lifeboat.plans import CopyTarget, Kind
from lifeboat.timeutil import iso

# The longest a pump sleeps for a copy call (the bucket's millisecond rounding, a call's
# spacing in a bucket that is nearly full); anything later waits for the next cycle.
PUMP_INLINE_WAIT = 1.0
PumpPacing = Callable[[str], SharedPacing]  # destination region -> its shared pace
Chosen = list[tuple[dict[str, Any], RecoveryPoint, RecoveryPoint | None, CopyTarget]]


def copy_calls(source: RecoveryPoint) -> dict[str, int]:
    """The calls a copy of ``source`` makes in its destination, by API."""
    if source.kind in (Kind.AMI, Kind.ASG) and source.image_id:
        return {"CopyImage": 1}
    if source.kind is Kind.EBS:
        return {"CopySnapshot": max(1, len(source.snapshots))}
    if source.kind is Kind.RDS:
        api = "CopyDBClusterSnapshot" if source.db_cluster_snapshot_id else "CopyDBSnapshot"
        return {api: 1}
    return {}


def take(pacing: SharedPacing, calls: dict[str, int]) -> float:
    """Make sure ``pacing``'s grant holds ``calls`` (all the calls about to be made): what it
    lacks is reserved from the destination's buckets (at most a bucket's capacity at once; a
    larger set takes the rest one call at a time as it goes). The moment all may go."""
    for api, count in sorted(calls.items()):
        lacking = count - pacing.grant.calls.get(api, 0)
        if api not in SHARED_APIS or lacking <= 0:
            continue
        capacity, rate = pacing.size(api)
        granted = min(lacking, int(capacity))
        key = pace_key(pacing.region, api)
        ready = pacing.reserve_calls(key, granted, capacity, rate * pacing.rate_scale)
        pacing.grant.calls[api] = pacing.grant.calls.get(api, 0) + granted
        pacing.grant.ready_at = max(pacing.grant.ready_at, ready)
    return pacing.grant.ready_at


def carried(pacing: SharedPacing, previous: dict[str, object] | None) -> None:
    """Give ``pacing`` what the previous pump reserved in its region and did not spend."""
    if not previous:
        return
    calls = previous.get("reserved") or {}
    if isinstance(calls, dict) and calls:
        at = previous.get("reserved_at")
        pacing.grant = Grant(
            {str(a): int(n) for a, n in calls.items()},
            float(at) if isinstance(at, int | float) else 0.0,
        )


def keep(pacing: SharedPacing, report: RegionReport, paced_until: float | None) -> None:
    """Record in ``report`` what is reserved and unspent (the next pump spends it), and until
    when the pace held the region's copies back."""
    report.reserved = {a: n for a, n in sorted(pacing.grant.calls.items()) if n > 0}
    report.reserved_at = pacing.grant.ready_at if report.reserved else 0.0
    if paced_until is not None:
        # To the second a Wait state would take, never earlier.
        report.paced_until = iso(datetime.fromtimestamp(math.ceil(paced_until), UTC))


def previous_region(state: dict[str, object] | None, region: str) -> dict[str, object] | None:
    """The previous pump's report of ``region`` (``$.pump.regions`` of the copier's state)."""
    regions = (state or {}).get("regions")
    for found in regions if isinstance(regions, list) else []:
        if isinstance(found, dict) and found.get("region") == region:
            return found
    return None


def paced(chosen: Chosen, pace: SharedPacing) -> tuple[Chosen, int, tuple[Grant, float] | None]:
    """The chosen copies whose calls the destination's pace hands out now (oldest first: the
    first that must wait holds back the rest), how many wait, and what was reserved for those
    (the calls and their moment; the pace keeps the grant of the copies that go)."""
    needed: dict[str, int] = {}  # the calls of the copies so far, none made yet
    for n, (_item, source, _existing, _target) in enumerate(chosen):
        before = Grant(dict(pace.grant.calls), pace.grant.ready_at)
        for api, count in copy_calls(source).items():
            needed[api] = needed.get(api, 0) + count
        ready = take(pace, needed)
        if not pace.defers(ready):
            continue
        if n == 0:  # nothing goes now: all the grant (an earlier pump's, and this) is held
            held, pace.grant = pace.grant, Grant()
        else:  # the copies before go on what they reserved; this one's calls are held
            extra = {a: c - before.calls.get(a, 0) for a, c in pace.grant.calls.items()}
            held, pace.grant = Grant({a: c for a, c in extra.items() if c > 0}), before
        return chosen[:n], len(chosen) - n, (held, ready)
    return chosen, 0, None


def hold(
    pace: SharedPacing,
    report: RegionReport,
    held: tuple[Grant, float] | None,
    stopped_at: float | None,
) -> None:
    """Carry to the next pump what is reserved and unspent: the grant's rest, and what was
    reserved for the copies held back."""
    moments = [m for m in (held[1] if held else None, stopped_at) if m is not None]
    if held is not None:
        for api, count in held[0].calls.items():
            pace.grant.calls[api] = pace.grant.calls.get(api, 0) + count
        pace.grant.ready_at = max(pace.grant.ready_at, held[1])
    keep(pace, report, max(moments) if moments else None)


__all__ = [
    "PUMP_INLINE_WAIT",
    "Chosen",
    "PumpPacing",
    "carried",
    "copy_calls",
    "hold",
    "keep",
    "paced",
    "take",
]
