"""Launches on the stack's shared pace (lifeboat.restore.pace): a restore's, a drill copy's, an
evacuation member's RunInstances and a volume restore's CreateVolume are reserved from the
shared bucket of the region launched in; a call handed out later than sleeping is worth stops
the task (its state machine waits), and the task called again spends that reservation.

Every task here gets its own ``SharedPacing`` and its own clock, as each Lambda is its own
process on AWS: the fake catalog's bucket is all they share."""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from lifeboat import restore
from lifeboat.pace import WAKE_LEAD, SharedPacing, bucket_size
from lifeboat.prices import wait_state_break_even
from lifeboat.restore.launch import client_token
from lifeboat.restore.models import LaunchDeferred, Launched
from lifeboat.restore.pace import MAX_LAUNCH_WAITS, reserve_launch
from lifeboat.timeutil import iso, parse_iso
from tests.fakes.catalog import FakeCatalog
from tests.fakes.common import TaskClock
from tests.fakes.restore import PacedEc2Restore
from tests.worlds.restore import ARN, NOW, World, make_world, run

pytestmark = pytest.mark.unit
T0 = 1_800_000_000.0
BREAK_EVEN = wait_state_break_even(512)  # the functions' MemorySize: about 11 s
RUN = "us-east-1#RunInstances"
CAPACITY, RATE = bucket_size("RunInstances", 0.8)  # PaceShare 0.8 of EC2's 5 / 2 per second


def pacing_for(catalog: FakeCatalog, clock: Any, region: str = "us-east-1") -> SharedPacing:
    """A task's pacing (a new one per invocation: each Lambda is its own process)."""
    return SharedPacing(
        catalog.reserve_pace,
        region,
        0.8,
        inline_wait=BREAK_EVEN,
        sleep=clock.sleep,
        clock=clock,
    )


def drain(catalog: FakeCatalog, key: str, until: float) -> None:
    """Another execution of the stack has taken the bucket's calls until ``until``."""
    current = catalog.read_pace(key)
    assert catalog.write_pace(key, until, current)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    return make_world(monkeypatch)


def _launch(world: World, state: dict[str, Any], clock: TaskClock, name: str = "restore-1") -> Any:
    """The Launch task, called as the state machine does: a new process, its own pacing."""
    pacing = pacing_for(world.catalog, clock)
    ec2 = PacedEc2Restore(world.ec2, pacing, clock=clock)
    ports = replace(world.ports, ec2_restore=cast(Any, ec2))
    event = world.event({"instance_id": world.web1}, name, **state)
    return restore.launch(event, ports, NOW, pacing), ec2


# --- a restore's launch ---------------------------------------------------------------------------
def test_a_drained_pace_stops_the_launch_and_the_call_after_the_wait_launches_once(
    world: World,
) -> None:
    # Given another execution that has taken a minute of the shared RunInstances bucket
    clock = TaskClock(T0)
    world.catalog.pace_clock = clock
    drain(world.catalog, RUN, T0 + 60)
    state, _ = run(world, {"instance_id": world.web1}, until="begin")
    # When the restore's Launch runs
    stopped, ec2 = _launch(world, state, clock)
    # Then it launched nothing and slept nothing: it stopped with the moment its reserved call
    # is handed out (to the second for the Wait state, rounded down) and the reservation
    ready = T0 + 60 + 1 / RATE - CAPACITY / RATE
    assert isinstance(stopped, LaunchDeferred)
    assert stopped.reserved == {"RunInstances": 1} and stopped.reserved_at == pytest.approx(ready)
    assert stopped.wait_until == iso(datetime.fromtimestamp(math.floor(ready - WAKE_LEAD), UTC))
    assert stopped.waits == 1 and stopped.attempts == []
    assert not world.ec2.launches and ec2.calls == [] and clock.slept == []
    # and the restore's lock is held as begin took it (nothing released, nothing re-taken)
    assert world.catalog.locks[world.web1]["owner"] == ARN + "restore-1"
    reserved = world.catalog.read_pace(RUN)
    assert reserved == pytest.approx(T0 + 60 + 1 / RATE)
    # When WaitForLaunchPace has waited until then and Launch is called again with it
    state["launch"] = {"launched": stopped.model_dump(mode="json")}
    clock.at = parse_iso(stopped.wait_until).timestamp()
    made, again = _launch(world, state, clock)
    # Then (woken WAKE_LEAD early, to prepare its launch) it slept what was left, spent that
    # reservation (the bucket is as it left it) and launched once, at the moment the pace
    # handed out, never later
    assert isinstance(made, Launched) and made.waits == 1
    assert clock.slept == [pytest.approx(ready - math.floor(ready - WAKE_LEAD))]
    assert len(world.ec2.launches) == 1 and again.calls == [pytest.approx(ready)]
    assert world.catalog.read_pace(RUN) == reserved
    assert world.ec2.launches[0]["token"] == client_token("restore-1", 0)
    # and the stages after it read the replacement as before
    state["launch"] = {"launched": made.model_dump(mode="json")}
    health = restore.check(world.event({"instance_id": world.web1}, **state), world.ports, NOW)
    assert health.healthy


def test_a_wait_shorter_than_the_break_even_is_slept_in_the_task(world: World) -> None:
    clock = TaskClock(T0)
    world.catalog.pace_clock = clock
    drain(world.catalog, RUN, T0 + 5)
    state, _ = run(world, {"instance_id": world.web1}, until="begin")
    made, ec2 = _launch(world, state, clock)
    ready = T0 + 5 + 1 / RATE - CAPACITY / RATE
    assert isinstance(made, Launched) and made.waits == 0
    assert clock.slept == [pytest.approx(ready - T0)] and ec2.calls == [pytest.approx(ready)]


def test_a_repeated_launch_finds_its_replacement_and_reserves_nothing(world: World) -> None:
    clock = TaskClock(T0)
    world.catalog.pace_clock = clock
    state, _ = run(world, {"instance_id": world.web1}, until="begin")
    first, _ = _launch(world, state, clock)
    reserved = world.catalog.read_pace(RUN)
    # Step Functions retries the task (its Lambda died after RunInstances answered)
    again, ec2 = _launch(world, state, clock)
    assert isinstance(first, Launched) and isinstance(again, Launched)
    assert again.id == first.id and ec2.calls == [] and len(world.ec2.launches) == 1
    assert world.catalog.read_pace(RUN) == reserved


class _DrainedAfterOneCall(PacedEc2Restore):
    """While the first attempt is refused for capacity, another execution takes the bucket."""

    inner_catalog: Any = None

    def launch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return super().launch(*args, **kwargs)
        finally:
            if len(self.calls) == 1:
                drain(cast(FakeCatalog, self.inner_catalog), RUN, self.clock() + 60)


def test_a_capacity_fallback_that_meets_the_pace_goes_on_from_where_it_stopped(
    world: World,
) -> None:
    clock = TaskClock(T0)
    world.catalog.pace_clock = clock
    world.ec2.no_capacity.add(("us-east-1b", "t3.medium"))
    state, _ = run(world, {"instance_id": world.web1}, until="begin")
    pacing = pacing_for(world.catalog, clock)
    ec2 = _DrainedAfterOneCall(world.ec2, pacing, clock=clock)
    ec2.inner_catalog = world.catalog
    ports = replace(world.ports, ec2_restore=cast(Any, ec2))
    event = world.event({"instance_id": world.web1}, **state)
    stopped = restore.launch(event, ports, NOW, pacing)
    # The first attempt went at once and was refused; the second is a call more, handed out
    # a minute later: the task stops, keeping the attempt it made and the call it reserved
    assert isinstance(stopped, LaunchDeferred) and stopped.reserved == {"RunInstances": 1}
    assert [(a.availability_zone, a.instance_type) for a in stopped.attempts] == [
        ("us-east-1b", "t3.medium")
    ]
    reserved = world.catalog.read_pace(RUN)
    state["launch"] = {"launched": stopped.model_dump(mode="json")}
    clock.at = parse_iso(stopped.wait_until).timestamp()
    made, _ = _launch(world, state, clock)
    # Called again, it tries the next type with that attempt's own client token, once
    assert isinstance(made, Launched) and made.instance_type == "t3a.medium" and made.waits == 1
    assert [a.instance_type for a in made.capacity_fallbacks] == ["t3.medium"]
    assert [launch["token"] for launch in world.ec2.launches] == [client_token("restore-1", 1)]
    assert world.catalog.read_pace(RUN) == reserved


def test_a_restore_in_another_region_draws_on_that_region_s_bucket(world: World) -> None:
    clock = TaskClock(T0)
    world.catalog.pace_clock = clock
    drain(world.catalog, "us-west-2#RunInstances", T0 + 60)
    state, _ = run(world, {"instance_id": world.web1}, until="begin")
    state["begin"]["plan"]["region"] = "us-west-2"
    pacing = pacing_for(world.catalog, clock, "us-west-2")
    there = PacedEc2Restore(world.ec2, pacing, region="us-west-2", clock=clock)
    ports = replace(world.ports, regional=lambda region: replace(world.ports, ec2_restore=there))
    event = world.event({"instance_id": world.web1}, **state)
    stopped = restore.launch(event, ports, NOW, pacing)
    # The home bucket is untouched: the copy region's own (drained) bucket deferred it
    assert isinstance(stopped, LaunchDeferred) and world.catalog.read_pace(RUN) is None
    assert world.catalog.read_pace("us-west-2#RunInstances") == pytest.approx(T0 + 60 + 1 / RATE)
    # A pacing of another region cannot pace it (it would reserve in the wrong bucket)
    with pytest.raises(ValueError, match="us-east-1 cannot pace a launch in us-west-2"):
        restore.launch(event, ports, NOW, pacing_for(world.catalog, clock))


def test_a_database_restore_calls_no_paced_api(world: World) -> None:
    clock = TaskClock(T0)
    world.catalog.pace_clock = clock
    state, _ = run(world, {"db_instance_id": "elearn-db"}, until="begin")
    event = world.event({"db_instance_id": "elearn-db"}, **state)
    made = restore.launch(event, world.ports, NOW, pacing_for(world.catalog, clock))
    assert isinstance(made, Launched) and made.kind == "db"
    assert not [k for k in world.catalog.items if k[0].startswith("PACE#")]


def test_an_abort_after_a_deferred_launch_releases_the_lock_and_terminates_nothing(
    world: World,
) -> None:
    clock = TaskClock(T0)
    world.catalog.pace_clock = clock
    drain(world.catalog, RUN, T0 + 60)
    state, _ = run(world, {"instance_id": world.web1}, until="begin")
    stopped, _ = _launch(world, state, clock)
    state["launch"] = {"launched": stopped.model_dump(mode="json")}
    state["error"] = {"Error": "PaceWaitsExceeded", "Cause": "stopped 50 times"}
    event = world.event({"instance_id": world.web1}, **state)
    with pytest.raises(Exception, match="Launch's result is missing"):
        event.launched()  # a launch waiting for the pace has no replacement yet
    result = restore.abort(event, world.ports, NOW)
    assert result["status"] == "failed" and "replacement" not in result["undone"]
    assert not world.catalog.locks and not world.ec2.launches


def test_reserving_is_refused_in_another_region_s_pacing() -> None:
    catalog, clock = FakeCatalog(), TaskClock(T0)
    catalog.pace_clock = clock
    pacing = pacing_for(catalog, clock, "eu-west-1")
    assert reserve_launch(pacing, "eu-west-1", {"RunInstances": 1}, None) is None
    assert catalog.read_pace("eu-west-1#RunInstances") is not None
    with pytest.raises(ValueError, match="eu-west-1"):
        reserve_launch(pacing, "us-east-1", {"RunInstances": 1}, None)


# --- 100 restores at once (an AZ evacuation) --------------------------------------------------
class TaskTime:
    """Each thread is one Lambda invocation with its own clock: it starts at the moment the
    state machine calls it and moves on by what it sleeps."""

    def __init__(self) -> None:
        self.local = threading.local()

    def start(self, at: float) -> None:
        self.local.now, self.local.slept = at, 0.0

    def __call__(self) -> float:
        return float(self.local.now)

    def sleep(self, seconds: float) -> None:
        self.local.now += seconds
        self.local.slept += seconds


def test_a_hundred_restores_at_once_keep_to_the_shared_bucket(world: World) -> None:
    # Given 100 restore executions whose Launch tasks all start at the same moment (an AZ
    # evacuation: `lifeboat restore start --force` for each server), each its own process
    time = TaskTime()
    world.catalog.pace_clock = time
    state, _ = run(world, {"instance_id": world.web1}, until="begin")
    names = [f"restore-{n:03d}" for n in range(100)]
    results: dict[str, Any] = {}
    calls: list[float] = []
    slept: list[float] = []
    guard = threading.Lock()

    def task(name: str, at: float, task_state: dict[str, Any]) -> None:
        time.start(at)
        pacing = pacing_for(world.catalog, time)
        ec2 = PacedEc2Restore(world.ec2, pacing, clock=time)
        ports = replace(world.ports, ec2_restore=cast(Any, ec2))
        event = world.event({"instance_id": world.web1}, name, **task_state)
        result = restore.launch(event, ports, NOW, pacing)
        with guard:
            results[name] = result
            calls.extend(ec2.calls)
            slept.append(time.local.slept)

    # When each Launch runs (threads), and every one that stopped is called again at its
    # wait_until (its state machine's Wait), until all have launched
    pending = {name: (T0, dict(state)) for name in names}
    rounds = 0
    while pending:
        rounds += 1
        assert rounds <= MAX_LAUNCH_WAITS
        threads = [
            threading.Thread(target=task, args=(name, at, task_state))
            for name, (at, task_state) in pending.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        pending = {}
        for name in names:
            result = results.get(name)
            if isinstance(result, LaunchDeferred):
                waited = {**state, "launch": {"launched": result.model_dump(mode="json")}}
                pending[name] = (parse_iso(result.wait_until).timestamp(), waited)
                del results[name]
    # Then every restore launched exactly once
    launched = [r for r in results.values() if isinstance(r, Launched)]
    assert len(launched) == 100 and len({r.id for r in launched}) == 100
    assert len(world.ec2.launches) == len(calls) == 100
    # and all the RunInstances calls together kept to one bucket that started full: by any
    # moment t, at most capacity + rate × (t − t0) calls (PaceShare of EC2's 5 / 2 per second)
    ordered = sorted(calls)
    assert all(n + 1 <= CAPACITY + RATE * (t - T0) + 1e-6 for n, t in enumerate(ordered))
    # at the bucket's pace, not slower: the last call when the refill floor allows it
    assert ordered[-1] - T0 == pytest.approx((100 - CAPACITY) / RATE, abs=1.0)
    # no invocation slept longer than a Wait state's worth; the others waited in the machine
    assert max(slept) <= BREAK_EVEN
    assert sum(1 for r in launched if r.waits) >= 100 - CAPACITY - int(BREAK_EVEN * RATE) - 1
    # and no reservation was made twice: exactly 100 calls reserved from the bucket
    assert world.catalog.read_pace(RUN) == pytest.approx(T0 + 100 / RATE, abs=0.01)
