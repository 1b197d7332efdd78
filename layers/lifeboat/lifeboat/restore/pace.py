"""A launch's calls on the stack's shared pace (:mod:`lifeboat.pace`; docs: concepts/restore.md).

Every task that launches (a restore's, a drill copy's, an evacuation member's ``RunInstances``;
a volume restore's ``CreateVolume``) reserves its call from the shared bucket of the region it
launches in, the bucket every run, prune, copier, drill and restore of the stack draws on.
When the bucket hands the call out later than sleeping is worth
(:func:`lifeboat.prices.wait_state_break_even`), the task returns a :class:`LaunchDeferred`
at once: its state machine waits until ``wait_until`` in a ``Wait`` state and calls the task
again with it, and that call spends the reservation (:meth:`SharedPacing.resume`) instead of
reserving twice. A capacity fallback's next attempt is one more call, reserved then: it may
stop the task again, and the next call goes on from the attempt it stopped at.

Nothing here sleeps for long or keeps state between calls: on AWS each Lambda is its own
process, and the catalog's bucket is all the executions share.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from lifeboat.pace import WAKE_LEAD, PaceDeferred, SharedPacing
from lifeboat.restore.models import CapacityAttempt, LaunchDeferred
from lifeboat.timeutil import iso

RUN_INSTANCES = "RunInstances"
CREATE_VOLUME = "CreateVolume"
# The state machines' bound on a launch's stops (their Choice states; tested against the ASL):
# a launch stops at most once per RunInstances call it makes (each capacity fallback is one).
MAX_LAUNCH_WAITS = 50


def reserve_launch(
    pacing: SharedPacing, region: str, calls: dict[str, int], earlier: LaunchDeferred | None
) -> float | None:
    """Spend the reservation the task's previous call made (``earlier``: it stopped and its
    state machine has waited), or reserve ``calls`` from the shared buckets of ``region``. The
    moment the state machine should wait until, or None when the calls go now (or after a
    wait shorter than the break-even, slept in-process)."""
    if pacing.region != region:
        raise ValueError(f"the pacing of {pacing.region} cannot pace a launch in {region}")
    if earlier is not None:
        pacing.resume(earlier.reserved, earlier.reserved_at)
        return None
    ready = pacing.reserve_chunk(calls)
    return ready if pacing.defers(ready) else None


def deferred(
    ready_at: float,
    pacing: SharedPacing,
    earlier: LaunchDeferred | None,
    attempts: list[CapacityAttempt] | None = None,
) -> LaunchDeferred:
    """The task stops until ``ready_at`` less :data:`~lifeboat.pace.WAKE_LEAD` (to the second
    a ``Wait`` state takes, rounded down: called again, the task prepares its launch, then
    sleeps what is left, so its call goes at its moment, not later than the pace handed it out),
    keeping what it reserved and the capacity fallbacks it tried."""
    return LaunchDeferred(
        wait_until=iso(datetime.fromtimestamp(math.floor(ready_at - WAKE_LEAD), UTC)),
        reserved={api: n for api, n in pacing.grant.calls.items() if n > 0},
        reserved_at=pacing.grant.ready_at,
        waits=(earlier.waits if earlier else 0) + 1,
        attempts=list(attempts or []),
    )


def waits_of(earlier: LaunchDeferred | None) -> int:
    return earlier.waits if earlier else 0


__all__ = [
    "CREATE_VOLUME",
    "MAX_LAUNCH_WAITS",
    "RUN_INSTANCES",
    "LaunchDeferred",
    "PaceDeferred",
    "deferred",
    "reserve_launch",
    "waits_of",
]
