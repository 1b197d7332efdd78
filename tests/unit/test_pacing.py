"""Client-side pacing keeps sustained calls at the configured share of AWS's refill rate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifeboat.pacing import AWS_BUCKETS, Pacer, RunSchedule, slot_offset

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_burst_then_80_percent_of_refill() -> None:
    clock = FakeClock()
    pacer = Pacer(share=0.8, sleep=clock.sleep, clock=clock)
    for _ in range(80):  # 80 % of the 100-token burst goes at once
        pacer.acquire("DeleteSnapshot")
    assert clock.now == 0.0
    for _ in range(400):
        pacer.acquire("DeleteSnapshot")
    # then 4 per second (80 % of 5/s)
    assert clock.now == pytest.approx(400 / 4.0)


def test_buckets_are_per_api() -> None:
    clock = FakeClock()
    pacer = Pacer(share=0.8, sleep=clock.sleep, clock=clock)
    for _ in range(6):  # burst 4 (80 % of 5), then 1.6 per second
        pacer.acquire("RunInstances")
    assert clock.now > 0
    before = clock.now
    pacer.acquire("CreateSnapshots")
    assert clock.now == before


def test_a_later_wave_starts_empty_and_banks_only_its_refill() -> None:
    clock = FakeClock()
    pacer = Pacer(share=0.2, start_empty=True, sleep=clock.sleep, clock=clock)
    pacer.acquire("CreateImage")
    assert clock.now == pytest.approx(1.0)  # no burst: one token per second at 20 %
    clock.now += 5  # busy elsewhere for 5 s: 5 tokens banked (capacity 10)
    before = clock.now
    for _ in range(5):
        pacer.acquire("CreateImage")
    assert clock.now == before


class Recorder:
    """A fallback pacer that only records what reached it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def acquire(self, api: str) -> None:
        self.calls.append(api)


def _task(
    first_slot: int, slots: int, ready_at: float, claim: list[float], fallback: Recorder
) -> tuple[RunSchedule, FakeClock]:
    clock = FakeClock()
    clock.now = ready_at

    def claim_start() -> float:
        claim.append(clock.now)  # the first task to ask sets the run's start
        return claim[0]

    schedule = RunSchedule(
        claim_start=claim_start,
        first_slot=first_slot,
        slots=slots,
        apis=frozenset({"CreateImage", "CreateSnapshots"}),
        fallback=fallback,
        share=0.8,
        burst_share=1.0,
        sleep=clock.sleep,
        clock=clock,
    )
    return schedule, clock


@settings(max_examples=60, deadline=None)
@given(
    batch_size=st.integers(1, 40),
    batches=st.integers(1, 30),
    late=st.lists(st.floats(0, 30), min_size=30, max_size=30),
    busy=st.floats(0, 2),
)
def test_the_run_never_outruns_one_bucket_however_its_tasks_interleave(
    batch_size: int, batches: int, late: list[float], busy: float
) -> None:
    """Tasks start late, in any order, and spend time between calls; still, by any moment at
    most burst + 4/s × elapsed calls of the run have gone, as if one bucket paced them all."""
    claim: list[float] = []
    sent: list[float] = []
    order = sorted(range(batches), key=lambda b: late[b])
    for b in order:
        schedule, clock = _task(b * batch_size, batch_size, late[b], claim, Recorder())
        for _ in range(batch_size):
            schedule.acquire("CreateImage")
            sent.append(clock.now)
            clock.now += busy
    start = claim[0]
    burst, rate = AWS_BUCKETS["CreateImage"]
    sent.sort()
    for count, moment in enumerate(sent, start=1):
        assert count <= burst + rate * 0.8 * (moment - start) + 1e-6


def test_tasks_ready_on_time_finish_at_the_rate_floor() -> None:
    """40 batches of 25: the last CreateImage goes (1,000 - 50) / 4 s after the first, however
    the rate is shared out, and the first 50 go at once."""
    claim: list[float] = []
    last = 0.0
    for b in range(40):
        schedule, clock = _task(b * 25, 25, 0.0, claim, Recorder())
        for n in range(25):
            schedule.acquire("CreateImage")
            if b * 25 + n < 50:
                assert clock.now == 0.0
        last = max(last, clock.now)
    assert last == pytest.approx((1000 - 50) / 4)
    assert slot_offset("CreateImage", 999, 0.8, 1.0) == pytest.approx(237.5)


def test_a_late_task_catches_up_at_once_and_claims_the_start_only_when_it_creates() -> None:
    claim: list[float] = []
    fallback = Recorder()
    early, _ = _task(0, 25, 100.0, claim, fallback)
    assert claim == []  # nothing claimed before the first scheduled call
    early.acquire("CreateImage")
    assert claim == [100.0]
    late, clock = _task(75, 25, 130.0, claim, fallback)  # its slots were due from t = 106.5
    for _ in range(25):
        late.acquire("CreateImage")
    assert clock.now == pytest.approx(130.0)  # overdue slots: no waiting
    assert fallback.calls == []


def test_calls_beyond_the_task_s_own_numbers_and_other_apis_use_its_own_bucket() -> None:
    claim: list[float] = []
    fallback = Recorder()
    schedule, _ = _task(0, 2, 0.0, claim, fallback)
    for _ in range(3):
        schedule.acquire("CreateSnapshots")
    schedule.acquire("CreateDBSnapshot")
    assert fallback.calls == ["CreateSnapshots", "CreateDBSnapshot"]
    assert schedule.used == {"CreateSnapshots": 2}


def test_the_bench_reports_the_pace_beyond_the_burst_since_the_run_s_start() -> None:
    from lifeboat.bench import sustained_rate

    # 1,000 calls on the run's schedule (each 50 ms after its time): never beyond 4 per second
    on_time = [100.0 + slot_offset("CreateImage", k, 0.8, 1.0) + 0.05 for k in range(1000)]
    assert 3.9 < sustained_rate(on_time, 50, 100.0) <= 4.0
    # a pacer that ran at 5 per second after the burst is seen as such
    fast = [100.0 + max(0, k - 49) / 5.0 + 0.05 for k in range(1000)]
    assert sustained_rate(fast, 50, 100.0) > 4.9
    assert sustained_rate([100.0] * 50, 50, 100.0) == 0.0
