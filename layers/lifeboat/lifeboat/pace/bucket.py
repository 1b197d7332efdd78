"""The shared bucket: its arithmetic (GCRA), the optimistic write that makes it hold under
concurrent executions, and the pacing a task's adapters use with it."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from lifeboat.errors import TransientAwsError
from lifeboat.pacing import AWS_BUCKETS, DEFAULT_BUCKET, Pacing

# APIs paced through the shared bucket: AWS's published buckets (lifeboat.pacing). Describe
# calls are not (their buckets, 100 / 20, are four times the mutating ones they accompany).
SHARED_APIS = frozenset(AWS_BUCKETS) | {
    "DeleteDBSnapshot",
    "DeleteDBClusterSnapshot",
    # The copier's DB copies (RDS publishes no per-API bucket: the default one).
    "CopyDBSnapshot",
    "CopyDBClusterSnapshot",
}
CONTENTION_ATTEMPTS = 25
Result = TypeVar("Result")
# A task stopped for the pace is woken this many seconds before its calls' moment: called
# again, it does its own work first (describes its batch, builds a launch), then sleeps what is
# left, so that this work does not make its calls late (see SharedPacing.mind_lateness).
WAKE_LEAD = 1.0


def bucket_size(api: str, share: float, burst_share: float = 1.0) -> tuple[float, float]:
    """(capacity, refill per second) of the stack's bucket for ``api``: ``share`` of AWS's
    refill, and ``share`` × ``burst_share`` of its burst (at least one call)."""
    burst, rate = AWS_BUCKETS.get(api, DEFAULT_BUCKET)
    return max(1.0, float(int(burst * share * burst_share))), rate * share


def pace_key(region: str, api: str) -> str:
    return f"{region}#{api}"


def gcra(
    tat: float | None, now: float, count: int, capacity: float, rate: float
) -> tuple[float, float]:
    """Reserve ``count`` calls of a bucket whose theoretical arrival time is ``tat`` (None: never
    used, i.e. full). Returns the new arrival time and the moment from which all ``count`` calls
    may go at once. Calls handed out by any time t never exceed ``capacity + rate × (t − t₀)``."""
    if count < 1 or count > capacity:
        raise ValueError(f"count must be 1..{int(capacity)} (the bucket's capacity), not {count}")
    interval = 1.0 / rate
    new_tat = _ms_up(max(tat or now, now) + count * interval)
    ready_at = max(now, _ms_up(new_tat - capacity * interval))
    return new_tat, ready_at


def _ms_up(moment: float) -> float:
    """To the millisecond the catalog keeps, never earlier (a call never goes too soon)."""
    return math.ceil(round(moment * 1000, 6)) / 1000


class CasStore(Protocol):
    """Where a bucket's state lives: a read, and a write only if it is still ``expected``."""

    def read_pace(self, key: str) -> float | None: ...

    def write_pace(self, key: str, tat: float, expected: float | None) -> bool: ...


def reserve(
    store: CasStore,
    key: str,
    count: int,
    capacity: float,
    rate: float,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    *,
    not_after: float | None = None,
) -> float:
    """Reserve ``count`` calls of the shared bucket ``key``; the epoch second they may go.
    With ``not_after``, calls the bucket would hand out later than that are not reserved
    (nothing is written): the moment they would have gone is returned, for the caller to see
    it is too late."""

    def change(old: float | None) -> tuple[float | None, float]:
        new_tat, ready_at = gcra(old, clock(), count, capacity, rate)
        return (None if not_after is not None and ready_at > not_after else new_tat), ready_at

    return _update(store, key, change, sleep)


def shift(
    store: CasStore,
    key: str,
    seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Move bucket ``key``'s arrival time ``seconds`` later (calls that went that much later
    than they were handed out: every later reservation keeps its distance from them)."""
    _update(store, key, lambda old: (None if old is None else _ms_up(old + seconds), None), sleep)


def _update(
    store: CasStore,
    key: str,
    change: Callable[[float | None], tuple[float | None, Result]],
    sleep: Callable[[float], None],
) -> Result:
    """Write ``change``'s arrival time for the one read (None: write nothing) and return its
    result. A concurrent writer makes the conditional write fail: read again (after a short
    random pause, so that racing writers spread out) and recompute."""
    for attempt in range(CONTENTION_ATTEMPTS):
        old = store.read_pace(key)
        new_tat, result = change(old)
        if new_tat is None or store.write_pace(key, new_tat, old):
            return result
        sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
    raise TransientAwsError(f"pace bucket {key} contended {CONTENTION_ATTEMPTS} times")


def lateness_allowed(api: str, capacity: float, rate: float) -> float:
    """Seconds a call may go later than the bucket handed it out with AWS's own bucket still
    never running dry: while every call goes at most ``(burst − capacity) / rate`` late, the
    calls made in any window stay within ``capacity + rate × (window + that)`` ≤ AWS's
    ``burst + refill × window`` (our rate is below AWS's)."""
    burst, _aws_rate = AWS_BUCKETS.get(api, DEFAULT_BUCKET)
    return max(0.0, burst - capacity) / rate


class PaceDeferred(Exception):  # noqa: N818 - a signal, not a failure
    """The bucket hands out the next call later than a task should wait in-process: the task
    stops here and its state machine waits until ``ready_at``."""

    def __init__(self, ready_at: float, api: str) -> None:
        super().__init__(f"{api}: next call at {ready_at:.3f}")
        self.ready_at = ready_at
        self.api = api


class PaceBeyondBudget(PaceDeferred):
    """The bucket would hand the call out later than the task may wait at all (its
    ``not_after``: a create Map's Express child, which lives at most five minutes), or the task
    is past its ``deadline`` for calls: nothing was reserved; the task hands its work over to a
    state machine that can wait (docs: development/scale.md)."""


@dataclass
class Grant:
    """Calls reserved ahead (per API), usable from ``ready_at``."""

    calls: dict[str, int] = field(default_factory=dict)
    ready_at: float = 0.0
    # Carried over its state machine's Wait (a task called again): its calls are spent with
    # whatever wait is left slept in-process, never deferred again (a Wait that ended early,
    # on a rounded timestamp or in local mode's compressed time, does not loop).
    waited: bool = False
    # The APIs whose first call of this grant was checked for going late (mind_lateness).
    checked: set[str] = field(default_factory=set)


@dataclass
class SharedPacing:
    """A task's :class:`~lifeboat.pacing.Pacing` on the shared buckets: those of the region
    each call goes to (``region`` when the call does not say).

    Calls in ``region`` come out of ``grant`` (reserved ahead for a chunk of work) while it
    lasts; any other call of a shared API reserves one more and waits in-process only up to
    ``inline_wait`` seconds, else raises :class:`PaceDeferred` (``math.inf``: a task that
    always waits in-process). Other APIs go unpaced (see SHARED_APIS)."""

    reserve_calls: Callable[..., float]  # key, count, capacity, rate[, not_after]
    region: str
    share: float
    grant: Grant = field(default_factory=Grant)
    inline_wait: float = 1.0
    burst_share: float = 1.0
    time_scale: float = 1.0  # PACE_TIME_SCALE: waits compressed in local mode
    rate_scale: float = 1.0  # PACE_RATE_SCALE: the benchmark's emulator runs AWS's rates faster
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    # A task that can only wait so long (an Express child): calls handed out after
    # ``not_after`` are not reserved, and no paced call goes after ``deadline`` (both epoch
    # seconds); either raises PaceBeyondBudget.
    not_after: float | None = None
    deadline: float | None = None
    # Moves a bucket's arrival time later (key, seconds): see mind_lateness. None: never.
    shift_calls: Callable[[str, float], None] | None = None
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def reserve_chunk(self, calls: dict[str, int]) -> float:
        """Reserve ``calls`` (API → count) for a chunk of work, at most a bucket's capacity of
        each (a point needing more gets the rest one call at a time); the moment they may go."""
        ready = 0.0
        granted: dict[str, int] = {}
        for api, count in sorted(calls.items()):
            if count <= 0 or api not in SHARED_APIS:
                continue
            capacity, rate = self.size(api)
            granted[api] = min(count, int(capacity))  # the rest: one at a time (acquire)
            key = pace_key(self.region, api)
            ready = max(ready, self._reserve(key, granted[api], capacity, rate, api))
        self.grant = Grant(granted, ready)
        return ready

    def _reserve(self, key: str, count: int, capacity: float, rate: float, api: str) -> float:
        if self.not_after is None:
            return self.reserve_calls(key, count, capacity, rate * self.rate_scale)
        ready = self.reserve_calls(key, count, capacity, rate * self.rate_scale, self.not_after)
        if ready > self.not_after:  # not reserved
            raise PaceBeyondBudget(ready, api)
        return ready

    def size(self, api: str) -> tuple[float, float]:
        """(capacity, refill per second) of this stack's bucket for ``api``."""
        return bucket_size(api, self.share, self.burst_share)

    def acquire(self, api: str, region: str | None = None) -> None:
        if api not in SHARED_APIS:
            return
        region = region or self.region
        mine = region == self.region
        if self.deadline is not None and self.clock() > self.deadline:
            raise PaceBeyondBudget(self.clock(), api)
        with self._lock:  # a task's threads (a prune's parts) share its grant: one call each
            left = self.grant.calls.get(api, 0) if mine else 0
            if left > 0:
                self.grant.calls[api] = left - 1
                ready, waited = self.grant.ready_at, self.grant.waited
                self.mind_lateness(api, ready)
            else:
                capacity, rate = self.size(api)
                ready = self._reserve(pace_key(region, api), 1, capacity, rate, api)
                waited = False
            if not waited and self.defers(ready):
                if mine:  # the call taken or just reserved is kept for the task's next call
                    self.grant.calls[api] = self.grant.calls.get(api, 0) + 1
                    self.grant.ready_at = max(self.grant.ready_at, ready)
                raise PaceDeferred(ready, api)
        self._sleep_until(ready)

    def mind_lateness(self, api: str, ready: float) -> None:
        """The first call of a grant's ``api``: when it goes later than the bucket's headroom
        allows (its task woke late, or described for long), the bucket's arrival time moves
        later by the excess, so that the calls reserved after it keep their distance from this
        grant's calls, all made late (late calls bunching with punctual ones is what outruns
        AWS's own bucket)."""
        if self.shift_calls is None or api in self.grant.checked:
            return
        self.grant.checked.add(api)
        capacity, rate = self.size(api)
        excess = self.clock() - ready - lateness_allowed(api, capacity, rate * self.rate_scale)
        if excess > 0:
            self.shift_calls(pace_key(self.region, api), excess)

    def resume(self, calls: dict[str, int], ready_at: float) -> None:
        """Spend ``calls`` reserved by this task's previous call, which stopped for them: its
        state machine has waited until ``ready_at``."""
        self.grant = Grant(dict(calls), ready_at, waited=True)

    def grant_covers(self, calls: dict[str, int]) -> bool:
        """Whether the grant holds every one of ``calls`` (API → count) that is paced."""
        return all(self.grant.calls.get(a, 0) >= n for a, n in calls.items() if a in SHARED_APIS)

    def wait_for_grant(self) -> None:
        """Sleep until the grant's moment (its calls may then go at once, from threads)."""
        self._sleep_until(self.grant.ready_at)

    def grant_defers(self) -> bool:
        """Whether the task should stop for its grant (not when it already waited for it)."""
        return not self.grant.waited and self.defers(self.grant.ready_at)

    def _sleep_until(self, ready: float) -> None:
        wait = (ready - self.clock()) * self.time_scale  # compressed in local mode
        if wait > 0:
            self.sleep(wait)

    def defers(self, ready: float) -> bool:
        """Whether a wait until ``ready`` belongs in the state machine (longer than
        ``inline_wait`` seconds as AWS would run it: local mode's compressed time does not change
        the choice, only how long either wait lasts), not in this Lambda."""
        return (ready - self.clock()) * self.rate_scale > self.inline_wait


def _is_pacing(p: SharedPacing) -> Pacing:  # mypy: SharedPacing satisfies the Pacing port
    return p
