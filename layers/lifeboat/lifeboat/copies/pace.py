"""The copier's copy calls on the stack's shared pace (:mod:`lifeboat.pace`; docs:
concepts/copies.md).

A copy's calls (``CopyImage``, ``CopySnapshot`` per snapshot of a set, ``CopyDBSnapshot`` /
``CopyDBClusterSnapshot``) are made in its destination region and come out of that region's
shared buckets. Before the intents are written, the pump reserves the calls of the copies it
is about to start, one reservation per API; when the bucket hands an API's calls out later
than :data:`PUMP_INLINE_WAIT`, none of that API's copies start this cycle: they stay queued,
untouched, and the state machine's own one-minute ``WaitForCopies`` is the wait. What was
reserved and not spent is carried in the region's report to the next pump, which spends it
first (nothing reserved is lost).

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
from dataclasses import dataclass
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


@dataclass
class Paced:
    """What the pace lets a pump start: the copies that go (their calls in the pace's grant),
    how many wait, what is reserved and unspent (carried to the next pump), and until when the
    pace holds copies back (None: it holds none)."""

    going: Chosen
    waiting: int
    held: Grant
    until: float | None


def paced(chosen: Chosen, pace: SharedPacing) -> Paced:
    """The chosen copies whose calls the destination's pace hands out now. One reservation per
    API and pump (not one per copy: a catalog write each): the calls of all the copies of an API
    go together, or wait together for the next pump; a copy whose API's bucket cannot hold it
    beside the older ones waits for the next pump too. Every copy makes the calls of one API,
    so the copies of an API whose bucket is free go while another API's wait."""
    needed: dict[str, int] = {}
    fitting: Chosen = []
    for entry in chosen:
        merged = {a: needed.get(a, 0) + n for a, n in copy_calls(entry[1]).items()}
        if any(needed.get(a) and n > pace.size(a)[0] for a, n in merged.items()):
            continue
        needed.update(merged)
        fitting.append(entry)
    earlier, go, held = pace.grant, Grant(), Grant()
    until: float | None = None
    for api in sorted(set(needed) | set(earlier.calls)):
        pace.grant = Grant({api: earlier.calls.get(api, 0)}, earlier.ready_at)
        moment = take(pace, {api: needed.get(api, 0)})
        if api in needed and not pace.defers(moment):
            go.calls[api], go.ready_at = pace.grant.calls[api], max(go.ready_at, moment)
            continue
        if api in needed:
            until = max(until or 0.0, moment)
        if pace.grant.calls[api] > 0:  # waits (or an earlier pump's, no copy's now): carried
            held.calls[api], held.ready_at = pace.grant.calls[api], max(held.ready_at, moment)
    pace.grant = go
    going = [e for e in fitting if set(copy_calls(e[1])) <= set(go.calls)]
    return Paced(going, len(chosen) - len(going), held, until)


def hold(
    pace: SharedPacing, report: RegionReport, result: Paced | None, stopped_at: float | None
) -> None:
    """Carry to the next pump what is reserved and unspent (the grant's rest, and what was
    reserved for the copies held back), and say until when the pace held copies back."""
    moments = [m for m in (result.until if result else None, stopped_at) if m is not None]
    if result is not None:
        for api, count in result.held.calls.items():
            pace.grant.calls[api] = pace.grant.calls.get(api, 0) + count
        if result.held.calls:
            pace.grant.ready_at = max(pace.grant.ready_at, result.held.ready_at)
    keep(pace, report, max(moments) if moments else None)


__all__ = [
    "PUMP_INLINE_WAIT",
    "Chosen",
    "Paced",
    "PumpPacing",
    "carried",
    "copy_calls",
    "hold",
    "keep",
    "paced",
    "take",
]
