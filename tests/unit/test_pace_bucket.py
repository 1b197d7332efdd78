"""The shared pace (lifeboat.pace): the bucket's arithmetic, and that it holds when many
executions reserve at once against a store with conditional writes (as DynamoDB's)."""

from __future__ import annotations

import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifeboat.pace import PaceDeferred, SharedPacing, bucket_size, gcra, reserve
from tests.fakes import FakeCatalog

pytestmark = pytest.mark.unit


def _within_bucket(moments: list[float], capacity: float, rate: float, start: float) -> bool:
    """Calls handed out by any time t never exceed capacity + rate × (t − start)."""
    ordered = sorted(moments)
    return all(n + 1 <= capacity + rate * (t - start) + 1e-6 for n, t in enumerate(ordered))


def test_a_full_bucket_hands_out_its_capacity_at_once_then_its_refill() -> None:
    tat, ready = gcra(None, 100.0, 40, capacity=40, rate=4)
    assert ready == 100.0 and tat == 110.0
    _, ready = gcra(tat, 100.0, 40, capacity=40, rate=4)
    assert ready == 110.0  # the next 40 once 10 s of refill (4/s) have come
    _, ready = gcra(tat, 200.0, 40, capacity=40, rate=4)
    assert ready == 200.0  # long idle: full again (never more than its capacity)


def test_a_reservation_larger_than_the_bucket_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        gcra(None, 0.0, 81, capacity=80, rate=4)


def test_the_buckets_are_a_share_of_aws_published_ones() -> None:
    assert bucket_size("DeleteSnapshot", 0.8) == (80.0, 4.0)
    assert bucket_size("CreateImage", 0.8) == (40.0, 4.0)
    capacity, rate = bucket_size("RunInstances", 0.8)
    assert capacity == 4.0 and rate == pytest.approx(1.6)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 30), st.integers(1, 40)),  # (seconds later, calls reserved)
        min_size=1,
        max_size=60,
    )
)
def test_whatever_the_requests_the_calls_never_outrun_the_bucket(
    requests: list[tuple[float, int]],
) -> None:
    capacity, rate, now, tat = 40.0, 4.0, 1000.0, None
    moments: list[float] = []
    for later, count in requests:
        now += later
        tat, ready = gcra(tat, now, count, capacity, rate)
        assert ready >= now
        moments += [ready] * count
    assert _within_bucket(moments, capacity, rate, 1000.0)


class RacyStore:
    """A table with conditional writes whose readers and writers interleave: a pause between
    every read and the write that depends on it."""

    def __init__(self) -> None:
        self.items: dict[str, float] = {}
        self.lock = threading.Lock()
        self.conflicts = 0

    def read_pace(self, key: str) -> float | None:
        with self.lock:
            found = self.items.get(key)
        time.sleep(random.uniform(0, 0.002))
        return found

    def write_pace(self, key: str, tat: float, expected: float | None) -> bool:
        with self.lock:
            if self.items.get(key) != expected:
                self.conflicts += 1
                return False
            self.items[key] = tat
            return True


def test_concurrent_executions_sharing_the_bucket_never_outrun_it() -> None:
    # Given 8 executions reserving chunks of one bucket at the same moment, over and over
    store, capacity, rate, start = RacyStore(), 40.0, 4.0, 5000.0
    granted: list[float] = []
    guard = threading.Lock()

    def execution(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(15):
            count = rnd.randint(1, 20)
            ready = reserve(store, "us-east-1#DeleteSnapshot", count, capacity, rate, lambda: start)
            with guard:
                granted.extend([ready] * count)

    threads = [threading.Thread(target=execution, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then they raced (conflicting writes were retried) and no call was handed out twice:
    # all of them together keep to one bucket that started full
    assert store.conflicts > 0
    assert _within_bucket(granted, capacity, rate, start)
    total = len(granted)
    assert store.items["us-east-1#DeleteSnapshot"] == pytest.approx(start + total / rate)


def test_a_task_waits_in_its_state_machine_not_in_a_sleeping_lambda() -> None:
    # Given a bucket another task has just drained
    catalog = FakeCatalog(pace_clock=lambda: 100.0)
    slept: list[float] = []
    pacing = SharedPacing(
        catalog.reserve_pace, "us-east-1", 0.8, sleep=slept.append, clock=lambda: 100.0
    )
    assert pacing.reserve_chunk({"DeleteSnapshot": 80}) == 100.0
    for _ in range(80):
        pacing.acquire("DeleteSnapshot")  # the reserved calls: no wait
    # When one more call is needed: the pace hands it out a quarter second later (in-process)
    pacing.acquire("DeleteSnapshot")
    assert slept == [pytest.approx(0.25)]
    # and a whole chunk more only 20 s later: the task stops and says until when
    assert pacing.reserve_chunk({"DeleteSnapshot": 80}) == pytest.approx(120.25)
    pacing.grant.calls = {}
    with pytest.raises(PaceDeferred) as deferred:
        pacing.acquire("DeleteSnapshot")
    assert deferred.value.ready_at == pytest.approx(120.5)
    # Describe calls are not paced by the shared buckets
    pacing.acquire("DescribeSnapshots")


def test_a_chunk_larger_than_the_bucket_is_reserved_up_to_its_capacity() -> None:
    # An AMI with more snapshots than a small PaceShare's bucket holds never fails its prune
    catalog = FakeCatalog(pace_clock=lambda: 100.0)
    pacing = SharedPacing(catalog.reserve_pace, "us-east-1", 0.05, clock=lambda: 100.0)
    assert pacing.reserve_chunk({"DeleteSnapshot": 12}) == 100.0
    assert pacing.grant.calls == {"DeleteSnapshot": 5}  # int(100 × 0.05)


def test_each_call_draws_on_the_bucket_of_the_region_it_goes_to() -> None:
    # Given a task's pacing whose calls default to the home region
    import boto3
    from botocore.stub import Stubber

    from lifeboat.aws.clients import Retrier

    catalog = FakeCatalog(pace_clock=lambda: 100.0)
    pacing = SharedPacing(catalog.reserve_pace, "us-east-1", 0.8, clock=lambda: 100.0)
    calls = Retrier(pacer=pacing)
    west = boto3.client(
        "ec2", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x"
    )
    # When it copies into us-west-2 (the client's region; the call answered in-process)
    with Stubber(west) as stubber:
        stubber.add_response("copy_image", {"ImageId": "ami-1"})
        calls.call(west.copy_image, Name="copy", SourceImageId="ami-0", SourceRegion="us-east-1")
    # Then the us-west-2 bucket gave the call, not the home region's
    assert catalog.read_pace("us-west-2#CopyImage") == pytest.approx(101.25)  # 0.8 a second
    assert catalog.read_pace("us-east-1#CopyImage") is None


def test_the_burst_share_sizes_the_bucket_s_capacity_not_its_refill() -> None:
    assert bucket_size("CreateImage", 0.8, burst_share=0.5) == (20.0, 4.0)
    assert bucket_size("CreateImage", 0.8, burst_share=0.0) == (1.0, 4.0)  # one at a time


def test_a_task_s_threads_never_take_more_calls_than_its_grant_holds() -> None:
    # Given a prune pass's grant of 80 deletes, spent by its eight parts at once
    catalog = FakeCatalog(pace_clock=lambda: 100.0)
    pacing = SharedPacing(catalog.reserve_pace, "us-east-1", 0.8, clock=lambda: 100.0)
    pacing.reserve_chunk({"DeleteSnapshot": 80})

    class SlowRead(dict[str, int]):
        """The grant's count read a little slowly: threads interleave between read and write."""

        def get(self, key: str, default: int = 0) -> int:  # type: ignore[override]
            found = super().get(key, default)
            time.sleep(0.0005)
            return found

    pacing.grant.calls = SlowRead(pacing.grant.calls)
    taken: list[int] = []
    guard = threading.Lock()

    def part() -> None:
        for _ in range(10):
            pacing.acquire("DeleteSnapshot")
            with guard:
                taken.append(1)

    threads = [threading.Thread(target=part) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the 80 calls came out of the grant, one each, and the bucket was charged 80, once
    assert len(taken) == 80 and pacing.grant.calls == {"DeleteSnapshot": 0}
    assert catalog.read_pace("us-east-1#DeleteSnapshot") == pytest.approx(100.0 + 80 / 4.0)


def test_a_call_taken_from_the_grant_and_deferred_is_kept_with_the_rest_of_the_grant() -> None:
    # Given a grant of 10 deletes handed out 30 s from now (another prune drained the bucket)
    catalog = FakeCatalog(pace_clock=lambda: 100.0)
    catalog.reserve_pace("us-east-1#DeleteSnapshot", 80, 80, 4)
    pacing = SharedPacing(
        catalog.reserve_pace, "us-east-1", 0.8, inline_wait=11.25, clock=lambda: 100.0
    )
    pacing.reserve_chunk({"DeleteSnapshot": 50})
    pacing.grant.calls = {"DeleteSnapshot": 10}
    # When a call is asked for: the task stops, and none of the 10 is lost
    with pytest.raises(PaceDeferred):
        pacing.acquire("DeleteSnapshot")
    assert pacing.grant.calls == {"DeleteSnapshot": 10}
