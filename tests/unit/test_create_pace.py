"""A backup run's create tasks on the stack's shared pace (lifeboat.backup.pace): they reserve
their batch's create calls from the home region's bucket that every run, prune, copier, drill
and restore shares, and wait for them in the state machine, not in a sleeping Lambda."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lifeboat.backup import create_batch
from lifeboat.backup.pace import CreateProgress
from lifeboat.models import CreateBatchEvent, ResourceRef
from lifeboat.observability import metrics
from lifeboat.pace import WAKE_LEAD, SharedPacing
from lifeboat.prices import wait_state_break_even
from tests.fakes.common import TaskClock
from tests.fakes.ec2 import FakeEc2
from tests.worlds.backup import PLANS, World

pytestmark = pytest.mark.unit

EPOCH = 1_796_000_000.0


class PacedEc2(FakeEc2):
    """The fake EC2, its create calls paced as the real adapters' are (through the Retrier)."""

    pacing: SharedPacing | None = None
    made: list[str]

    def create_image(self, instance_id: str, name: str, reboot: bool, tags: dict[str, str]) -> str:
        assert self.pacing is not None
        self.pacing.acquire("CreateImage")
        self.made.append(instance_id)
        return super().create_image(instance_id, name, reboot, tags)


@pytest.fixture
def world() -> Iterator[World]:
    world = World()
    world.ec2 = PacedEc2(clock=lambda: world.now)
    world.ec2.made = []
    world.ports.ec2 = world.ec2
    yield world
    metrics.clear_metrics()


def _pacing(
    world: World, clock: TaskClock, share: float = 0.8, inline_wait: float | None = None
) -> SharedPacing:
    world.catalog.pace_clock = clock
    pacing = SharedPacing(
        world.catalog.reserve_pace,
        "us-east-1",
        share,
        inline_wait=wait_state_break_even(512) if inline_wait is None else inline_wait,
        sleep=clock.sleep,
        clock=clock,
    )
    assert isinstance(world.ec2, PacedEc2)
    world.ec2.pacing = pacing
    return pacing


def _batch(world: World, count: int, run: str = "20261127T0245Z-standard-daily") -> Any:
    refs = [
        ResourceRef(type="instance", id=world.ec2.add_instance("standard")) for _ in range(count)
    ]
    return world.batch("daily", *refs, run_id=run)


def _run(
    world: World, batch: CreateBatchEvent, pacing: SharedPacing, earlier: dict[str, Any] | None
) -> dict[str, Any]:
    progress = CreateProgress.model_validate(earlier) if earlier else None
    return create_batch(batch, PLANS, world.ports, world.now, None, pacing, progress)


def test_sleeping_is_cheaper_than_a_wait_state_only_for_a_few_seconds() -> None:
    # Three transitions ($0.000075) buy about 11 s of a 512 MB arm64 Lambda, 45 s of 128 MB
    assert wait_state_break_even(512) == pytest.approx(11.25, abs=0.01)
    assert wait_state_break_even(128) == pytest.approx(45.0, abs=0.05)


def test_a_batch_the_pace_can_serve_now_creates_at_once_and_spends_its_reservation(
    world: World,
) -> None:
    clock = TaskClock(EPOCH)
    pacing = _pacing(world, clock)
    batch = _batch(world, 25)
    result = _run(world, batch, pacing, None)
    assert result["deferred"] is False and result["created"] == 25 and result["waits"] == 0
    assert clock.at == EPOCH  # no wait: the bucket held 40
    # the 25 calls came out of one reservation: the bucket's arrival time moved 25 / 4 s
    assert world.catalog.read_pace("us-east-1#CreateImage") == pytest.approx(EPOCH + 25 / 4)
    assert pacing.grant.calls == {"CreateImage": 0}


def test_a_drained_bucket_stops_the_task_before_it_touches_ec2_and_the_machine_waits(
    world: World,
) -> None:
    # Given another run (or a prune, a restore...) that has just taken the bucket's 40 calls
    clock = TaskClock(EPOCH)
    world.catalog.pace_clock = clock
    world.catalog.reserve_pace("us-east-1#CreateImage", 40, 40, 4)
    pacing = _pacing(world, clock)
    batch = _batch(world, 25)
    # When the task starts, the pace hands its 25 calls out 6.25 s later... less than sleeping
    # is worth: it sleeps
    result = _run(world, batch, pacing, None)
    assert result["deferred"] is False and result["created"] == 25
    assert clock.at == pytest.approx(EPOCH + 6.25)
    # ...but a second batch behind it would wait 12.5 s: it stops, says until when, and keeps
    # its reservation; nothing was described or created
    assert isinstance(world.ec2, PacedEc2)
    world.ec2.made.clear()
    clock.at = EPOCH
    second = _batch(world, 25, run="20261127T0245Z-standard-daily")
    stopped = _run(world, second, pacing, None)
    assert stopped["deferred"] is True and stopped["waits"] == 1
    assert stopped["reserved"] == {"CreateImage": 25}
    assert stopped["reserved_at"] == pytest.approx(EPOCH + 12.5)
    assert stopped["wait_until"] == "2026-11-30T00:53:31Z"  # EPOCH + 12.5 - 1 s, to the second
    assert world.ec2.made == []
    tat = world.catalog.read_pace("us-east-1#CreateImage")
    # When the state machine calls it again after its Wait, with what it returned
    clock.at = EPOCH + 13
    done = _run(world, second, pacing, stopped)
    # Then it spends that reservation (the bucket is not charged twice) and creates the batch
    assert world.catalog.read_pace("us-east-1#CreateImage") == tat
    assert done["deferred"] is False and done["created"] == 25 and done["waits"] == 1
    assert sorted(world.ec2.made) == sorted(r.id for r in second.resources)


def test_a_batch_larger_than_the_bucket_stops_part_way_and_is_finished_exactly_once(
    world: World,
) -> None:
    # Given a small PaceShare (a bucket of 5 refilling 0.5 a second), a batch of 12, and a task
    # that sleeps at most a second
    clock = TaskClock(EPOCH)
    pacing = _pacing(world, clock, share=0.1, inline_wait=1.0)
    batch = _batch(world, 12)
    results: list[dict[str, Any]] = []
    earlier: dict[str, Any] | None = None
    while True:
        earlier = _run(world, batch, pacing, earlier)
        results.append(earlier)
        if not earlier["deferred"]:
            break
        assert earlier["reserved"] == {"CreateImage": 1}  # the call it stopped for, kept
        clock.at = max(clock.at, earlier["reserved_at"])  # the Wait
    # Then every instance got exactly one image, counted once as created
    assert isinstance(world.ec2, PacedEc2)
    assert sorted(world.ec2.made) == sorted(r.id for r in batch.resources)
    final = results[-1]
    assert final["created"] == 12 and final["reused"] == 0 and final["failed"] == 0
    # five from the first reservation, then one call at a time, each 2 s after the last
    assert len(results) == 8 and final["waits"] == 7
    assert world.catalog.read_pace("us-east-1#CreateImage") == pytest.approx(EPOCH + 24)


def test_two_runs_at_the_same_minute_share_one_bucket(world: World) -> None:
    # Given two plans' runs whose first batches start at the same moment
    clock = TaskClock(EPOCH)
    pacing = _pacing(world, clock)
    first = _run(world, _batch(world, 25, run="20261127T0245Z-standard-daily"), pacing, None)
    clock.at = EPOCH
    other = SharedPacing(
        world.catalog.reserve_pace,
        "us-east-1",
        0.8,
        inline_wait=wait_state_break_even(512),
        sleep=clock.sleep,
        clock=clock,
    )
    world.ec2.pacing = other  # type: ignore[attr-defined]
    second = _run(world, _batch(world, 25, run="20261127T0345Z-standard-daily"), other, None)
    # Then the second is handed its calls only when the bucket (40, then 4/s) has them
    assert first["created"] == 25
    assert second["created"] == 25 and clock.at == pytest.approx(EPOCH + 2.5)


def _express(world: World, clock: TaskClock, started: float) -> SharedPacing:
    """A create task in an Express child of the create Map that started at ``started``."""
    from dataclasses import replace

    from lifeboat.backup.pace import EXPRESS_INLINE_WAIT, express_budget

    not_after, deadline = express_budget(started)
    pacing = replace(
        _pacing(world, clock),
        inline_wait=EXPRESS_INLINE_WAIT,
        not_after=not_after,
        deadline=deadline,
    )
    assert isinstance(world.ec2, PacedEc2)
    world.ec2.pacing = pacing
    return pacing


def test_in_an_express_child_a_wait_of_seconds_goes_to_the_state_machine(world: World) -> None:
    # Given a bucket another run has just drained (the batch's calls come 6.25 s later): a
    # Standard child's task would sleep that long (cheaper than three transitions) ...
    clock = TaskClock(EPOCH)
    world.catalog.pace_clock = clock
    world.catalog.reserve_pace("us-east-1#CreateImage", 40, 40, 4)
    pacing = _express(world, clock, started=EPOCH)
    batch = _batch(world, 25)
    # ... an Express child's Wait costs next to nothing: its task stops at once, keeping the
    # reservation, and nothing is described or created yet
    result = _run(world, batch, pacing, None)
    assert result["deferred"] is True and result["handover"] is False
    assert result["reserved"] == {"CreateImage": 25} and clock.at == EPOCH
    assert isinstance(world.ec2, PacedEc2) and world.ec2.made == []
    # called again when its Wait ends, a few seconds early (to describe its batch first), it
    # sleeps what is left and spends the reservation at the moment the pace handed it out
    from datetime import datetime

    woken = datetime.fromisoformat(result["wait_until"].replace("Z", "+00:00")).timestamp()
    assert woken <= EPOCH + 6.25 - WAKE_LEAD
    clock.at = woken
    done = _run(world, batch, _express(world, clock, started=EPOCH), result)
    assert done["created"] == 25 and done["deferred"] is False and done["waits"] == 1
    assert clock.at == pytest.approx(EPOCH + 6.25)


def test_an_express_child_never_reserves_calls_it_could_not_live_to_make(world: World) -> None:
    # Given other runs that have taken the next ten minutes of CreateImage calls
    clock = TaskClock(EPOCH)
    world.catalog.pace_clock = clock
    for _ in range(60):
        world.catalog.reserve_pace("us-east-1#CreateImage", 40, 40, 4)
    taken = world.catalog.read_pace("us-east-1#CreateImage")
    assert taken is not None and taken >= EPOCH + 590
    pacing = _express(world, clock, started=EPOCH)
    batch = _batch(world, 25)
    # When a task of an Express child (five minutes to live) asks for its batch's calls
    result = _run(world, batch, pacing, None)
    # Then it reserves nothing, makes nothing and hands the batch over (the Standard Map waits)
    assert result["handover"] is True and result["deferred"] is True
    assert result["reserved"] == {} and result["created"] == 0
    assert world.catalog.read_pace("us-east-1#CreateImage") == taken
    assert isinstance(world.ec2, PacedEc2) and world.ec2.made == []
    # whereas a Standard child's task reserves and waits in its machine for as long as needed
    standard = _run(world, batch, _pacing(world, clock), None)
    assert standard["deferred"] is True and standard["handover"] is False
    assert standard["reserved"] == {"CreateImage": 25}


def test_an_express_child_past_its_deadline_makes_no_more_create_calls(world: World) -> None:
    # Given a task whose child started 290 s ago (a slow start, retries): past the 280 s after
    # which no create call may go (the run waits 300 s before the Standard Map takes over)
    clock = TaskClock(EPOCH + 290)
    pacing = _express(world, clock, started=EPOCH)
    batch = _batch(world, 3)
    # When it runs, its grant reserved within budget (the bucket was full)...
    pacing.not_after = None  # (reserved earlier, within its budget)
    result = _run(world, batch, pacing, None)
    # Then it makes none of its calls and hands the batch over; the intents it recorded are
    # found by the Standard Map's task, which makes the images
    assert result["handover"] is True and result["created"] == 0
    assert isinstance(world.ec2, PacedEc2) and world.ec2.made == []
    again = _run(world, batch, _pacing(world, TaskClock(EPOCH + 600)), None)
    assert again["created"] == 3 and len(world.ec2.made) == 3


def test_an_express_child_s_task_keeps_its_first_call_s_moment_through_its_waits() -> None:
    # The child's age is counted from its task's first call (Step Functions' context says when
    # the child started, the emulator's when the run did): carried in the result, not renewed
    from lifeboat.backup.pace import express_since

    assert express_since(False, None, EPOCH) is None  # a Standard child: no budget
    assert express_since(True, None, EPOCH) == EPOCH
    waited = CreateProgress(run_id="20261127T0245Z-standard-daily", express_since=EPOCH)
    assert express_since(True, waited, EPOCH + 200) == EPOCH


def test_a_batch_s_calls_reserved_together_go_together_from_their_moment(world: World) -> None:
    # Given a batch of 25 whose calls the pace reserved in one grant, 6.25 s from now
    import threading
    import time as real_time

    clock = TaskClock(EPOCH)
    world.catalog.pace_clock = clock
    world.catalog.reserve_pace("us-east-1#CreateImage", 40, 40, 4)
    pacing = _pacing(world, clock)
    assert isinstance(world.ec2, PacedEc2)
    ec2 = world.ec2
    in_flight, most, lock = [0], [0], threading.Lock()
    original = PacedEc2.create_image

    def slow_create(instance_id: str, name: str, reboot: bool, tags: dict[str, str]) -> str:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        real_time.sleep(0.02)  # AWS's answer takes a while
        with lock:
            in_flight[0] -= 1
        return original(ec2, instance_id, name, reboot, tags)

    ec2.create_image = slow_create  # type: ignore[method-assign]
    # When the task creates them
    result = _run(world, _batch(world, 25), pacing, None)
    # Then it slept once, until the grant's moment, and the calls went several at once
    assert result["created"] == 25 and clock.slept == [pytest.approx(6.25)]
    assert most[0] > 1
