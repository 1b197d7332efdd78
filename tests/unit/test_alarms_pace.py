"""Alarm syncs on the stack's shared pace: two plans' first syncs at once keep, together, to the
one bucket of CloudWatch's PutMetricAlarm quota (3 per second per account)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from lifeboat.alarms import SyncRequest, sync_alarms
from lifeboat.pace import SharedPacing, bucket_size, reserve
from lifeboat.pacing import AWS_BUCKETS
from lifeboat.plans import PlanSet, parse_plans
from tests.fakes.alarms import FakeCloudWatch
from tests.fakes.ec2 import FakeEc2
from tests.fakes.ports import fake_ports

pytestmark = pytest.mark.unit

SCALE = 40.0  # the rates run 40 times faster (PACE_RATE_SCALE): the test takes about a second
PER_PLAN = 40


class AtomicPace:
    """The catalog's pace items: a conditional write is one step, as DynamoDB's is."""

    def __init__(self) -> None:
        self.items: dict[str, float] = {}
        self.lock = threading.Lock()

    def read_pace(self, key: str) -> float | None:
        with self.lock:
            return self.items.get(key)

    def write_pace(self, key: str, tat: float, expected: float | None) -> bool:
        with self.lock:
            if self.items.get(key) != expected:
                return False
            self.items[key] = tat
            return True


@dataclass
class OneSync:
    """One sync's Lambda: its own pacing on the shared bucket (as ``runtime.ports()``: it sleeps
    for its turn), and its alarms port, which takes a turn before each ``PutMetricAlarm`` as
    the adapter's Retrier does; the account's alarms are shared."""

    account: FakeCloudWatch
    store: AtomicPace
    handed_out: list[float] = field(default_factory=list)  # the moments the pace gave
    called: list[float] = field(default_factory=list)  # the moments the calls went

    def __post_init__(self) -> None:
        self.pacing = SharedPacing(
            reserve_calls=self._reserve,
            region="us-east-1",
            share=0.8,
            inline_wait=math.inf,
            rate_scale=SCALE,
        )

    def _reserve(self, key: str, count: int, capacity: float, rate: float) -> float:
        ready = reserve(self.store, key, count, capacity, rate)
        self.handed_out.extend([ready] * count)
        return ready

    def put_status_alarm(self, *args: Any) -> None:
        self.pacing.acquire("PutMetricAlarm", "us-east-1")
        self.called.append(time.time())
        self.account.put_status_alarm(*args)

    def __getattr__(self, name: str) -> Any:  # the reads and deletes: the account's
        return getattr(self.account, name)


def two_plans() -> PlanSet:
    rule = {
        "schedule": "cron(45 2 * * ? *)",
        "timezone": "Europe/London",
        "kinds": ["ami"],
        "retention": {"daily": 7},
    }
    return parse_plans({"plans": {p: {"rules": {"daily": rule}} for p in ("standard", "gold")}})


def within(moments: list[float], capacity: float, rate: float) -> bool:
    """A token bucket (full at first) that serves every call at its moment."""
    tokens, last = capacity, min(moments)
    for moment in sorted(moments):
        tokens = min(capacity, tokens + (moment - last) * rate) - 1
        last = moment
        if tokens < -1e-6:
            return False
    return True


def test_two_first_syncs_at_once_share_the_bucket_and_stay_within_cloudwatchs_quota() -> None:
    # Given two plans of 40 new instances each, synced at the same moment by two Lambdas
    ec2, account, store = FakeEc2(clock=lambda: datetime.now(UTC)), FakeCloudWatch(), AtomicPace()
    plans = two_plans()
    fleets = {p: [ec2.add_instance(p) for _ in range(PER_PLAN)] for p in ("standard", "gold")}
    syncs = {p: OneSync(account, store) for p in fleets}
    results: dict[str, dict[str, Any]] = {}

    def run(plan: str) -> None:
        request = SyncRequest.model_validate(
            {
                "plan": plan,
                "rule": "daily",
                "batches": [[{"type": "instance", "id": i} for i in fleets[plan]]],
            }
        )
        ports = fake_ports(ec2=ec2, alarms=syncs[plan])
        results[plan] = sync_alarms(request, 3, False, ports, plans)

    threads = [threading.Thread(target=run, args=(p,)) for p in fleets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then both made all their alarms
    assert {p: r["created"] for p, r in results.items()} == {"standard": 40, "gold": 40}
    # each call went at (never before) the moment the shared bucket handed it out
    for sync in syncs.values():
        assert len(sync.called) == len(sync.handed_out) == PER_PLAN
        assert all(c >= h - 0.001 for c, h in zip(sync.called, sync.handed_out, strict=True))
    # and the moments handed out to both together keep to the stack's bucket (PaceShare of
    # CloudWatch's), so to CloudWatch's own: no throttling however the two interleave
    moments = [m for s in syncs.values() for m in s.handed_out]
    capacity, rate = bucket_size("PutMetricAlarm", 0.8)
    assert within(moments, capacity, rate * SCALE)
    burst, refill = AWS_BUCKETS["PutMetricAlarm"]
    assert within(moments, burst, refill * SCALE)
    # They ran at once, sharing the rate (not each at the whole of it)
    spans = {p: (min(s.handed_out), max(s.handed_out)) for p, s in syncs.items()}
    assert max(a for a, _b in spans.values()) < min(b for _a, b in spans.values())
    assert max(moments) - min(moments) >= (2 * PER_PLAN - capacity) / (rate * SCALE) - 0.01
