"""Client-side pacing keeps sustained calls at the configured share of AWS's refill rate."""

from __future__ import annotations

import pytest

from lifeboat.pacing import Pacer

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


def test_the_bench_reports_the_pace_beyond_the_burst_since_the_run_s_start() -> None:
    from lifeboat.bench import sustained_rate

    # 1,000 calls at a bucket of 40 refilling 4 a second (each 50 ms after its time): never
    # beyond 4 per second
    on_time = [100.0 + max(0, k - 39) / 4.0 + 0.05 for k in range(1000)]
    assert 3.9 < sustained_rate(on_time, 50, 100.0) <= 4.0
    # a pacer that ran at 5 per second after the burst is seen as such
    fast = [100.0 + max(0, k - 49) / 5.0 + 0.05 for k in range(1000)]
    assert sustained_rate(fast, 50, 100.0) > 4.9
    assert sustained_rate([100.0] * 50, 50, 100.0) == 0.0
