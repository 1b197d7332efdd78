"""The shared pace when calls go later than it handed them out (lifeboat.pace): a task woken
late, or one that described for long before its calls. Late calls that bunch with the punctual
calls reserved after them outrun AWS's own bucket; the bucket's arrival time moves later by
what exceeds its headroom, so the calls reserved after them keep their distance."""

from __future__ import annotations

import pytest

from lifeboat.pace import SharedPacing, lateness_allowed
from lifeboat.pacing import TokenBucket
from tests.fakes import FakeCatalog
from tests.fakes.common import TaskClock

pytestmark = pytest.mark.unit

KEY = "us-east-1#DeleteSnapshot"


def _pacing(catalog: FakeCatalog, clock: TaskClock, shifts: bool = True) -> SharedPacing:
    catalog.pace_clock = clock
    return SharedPacing(
        catalog.reserve_pace,
        "us-east-1",
        0.8,
        sleep=clock.sleep,
        clock=clock,
        shift_calls=catalog.shift_pace if shifts else None,
    )


def test_the_headroom_is_what_aws_bucket_holds_beyond_ours() -> None:
    # DeleteSnapshot: AWS 100 at once and 5/s; the pace 80 and 4/s: 20 calls, 5 s at 4/s
    assert lateness_allowed("DeleteSnapshot", 80, 4.0) == pytest.approx(5.0)
    assert lateness_allowed("CreateImage", 40, 4.0) == pytest.approx(2.5)
    assert lateness_allowed("RunInstances", 4, 1.6) == pytest.approx(0.625)


def test_a_grant_spent_later_than_its_headroom_moves_the_bucket_by_the_excess() -> None:
    catalog, clock = FakeCatalog(), TaskClock(100.0)
    pacing = _pacing(catalog, clock)
    assert pacing.reserve_chunk({"DeleteSnapshot": 80}) == 100.0
    assert catalog.read_pace(KEY) == pytest.approx(120.0)
    # When the task gets to its calls 5.5 s late (0.5 s more than the headroom allows)
    clock.at = 105.5
    for _ in range(80):
        pacing.acquire("DeleteSnapshot")
    # Then the bucket moved 0.5 s later, once for the whole grant, and slept nothing
    assert catalog.read_pace(KEY) == pytest.approx(120.5)
    assert clock.slept == []


def test_a_grant_spent_within_its_headroom_moves_nothing() -> None:
    catalog, clock = FakeCatalog(), TaskClock(100.0)
    pacing = _pacing(catalog, clock)
    pacing.reserve_chunk({"DeleteSnapshot": 80})
    clock.at = 104.5
    pacing.acquire("DeleteSnapshot")
    assert catalog.read_pace(KEY) == pytest.approx(120.0)


@pytest.mark.parametrize(("shifts", "refused"), [(False, 10), (True, 0)])
def test_a_pass_woken_late_never_makes_the_next_one_outrun_aws_bucket(
    shifts: bool, refused: int
) -> None:
    # Given a prune deleting in chunks of 80 one after the other, each pass woken at the moment
    # the pace handed its chunk out, except the third, woken 10 s late; and AWS's own bucket
    # (100 at once, 5 a second), which refuses a call when it is empty
    catalog, clock = FakeCatalog(), TaskClock(1000.0)
    aws = TokenBucket(100, 5, clock=clock)
    throttled = 0
    for late in (0.0, 0.0, 10.0, 0.0, 0.0, 0.0):
        pacing = _pacing(catalog, clock, shifts)
        ready = pacing.reserve_chunk({"DeleteSnapshot": 80})
        clock.at = max(clock.at, ready) + late
        for _ in range(80):
            pacing.acquire("DeleteSnapshot")
            if aws.delay() > 0:
                aws.tokens += 1
                throttled += 1
    # Then without moving the bucket the next pass's punctual calls, 10 s after the late ones
    # instead of 20, find AWS's bucket short by 10; moved by the excess, none is refused
    assert throttled == refused
