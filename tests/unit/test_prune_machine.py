"""The prune state machine's steps on in-memory ports (statemachines/prune.asl.json runs them
in the emulator: tests/integration/test_prune_machine.py): marks written one batch at a time,
deletes paced chunk by chunk, every pass bounded by its remaining time, and a pass killed
part-way finished by the next one at once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeboat.errors import InvalidInputError
from lifeboat.models import PointStatus
from lifeboat.pace import WAKE_LEAD, SharedPacing
from lifeboat.prune import PruneRequest, deletes, machine, passes
from lifeboat.prune.machine import finish_run, plan_run
from lifeboat.prune.passes import PassEvent, PassResult, delete_pass
from lifeboat.timeutil import iso, parse_iso
from tests.fakes import TaskKilled
from tests.worlds.prune import PLANS, World

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
OWNER = "arn:aws:states:us-east-1:123456789012:execution:lifeboat-prune:p1"


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "BATCH_POINTS", 3)


class Machine:
    """Drives the steps as prune.asl.json does, on a World's ports and clock."""

    def __init__(self, world: World, owner: str = OWNER, share: float = 0.8) -> None:
        self.world, self.owner, self.share = world, owner, share
        world.catalog.pace_clock = lambda: world.now.timestamp()  # noqa: PLW0108 - it moves
        self.remaining_ms = 600_000
        self.passes = 0

    def plan(self) -> dict[str, Any]:
        request = PruneRequest(plan="standard", step="plan", owner=self.owner)
        return plan_run(request, PLANS, self.world.ports, self.world.now)

    def one_pass(self, previous: PassResult | None = None) -> PassResult:
        pacing = SharedPacing(
            self.world.catalog.reserve_pace,
            "us-east-1",
            self.share,
            sleep=lambda seconds: None,
            clock=lambda: self.world.now.timestamp(),  # noqa: PLW0108 - it moves
        )
        event = PassEvent(
            owner=self.owner,
            plan="standard",
            region="us-east-1",
            passes=previous.passes if previous else 0,
            reserved=previous.reserved if previous else {},
            reserved_at=previous.reserved_at if previous else 0.0,
            cursor=previous.cursor if previous else "",
        )
        self.passes += 1
        return delete_pass(
            event, self.world.ports, pacing, lambda: self.remaining_ms, lambda: self.world.now
        )

    def until_done(self, previous: PassResult | None = None, limit: int = 100) -> PassResult:
        result = previous or self.one_pass()
        for _ in range(limit):
            if result.done:
                return result
            self.world.now = max(self.world.now, parse_iso(result.wait_until))  # Wait state
            result = self.one_pass(result)
        raise AssertionError("the region's passes did not end")

    def finish(self, failed: bool = False) -> dict[str, Any]:
        request = PruneRequest(plan="standard", step="finish", owner=self.owner, failed=failed)
        return finish_run(request, PLANS, self.world.ports)


def _statuses(world: World) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for point in world.catalog.all_points():
        found.setdefault(point.status.value, []).append(point.recovery_point_id)
    return found


def test_marks_are_written_one_batch_at_a_time_and_the_deletes_follow_the_pace() -> None:
    # Given 12 daily points, 10 expired (batches of 3), and a small pace (share 0.02: 2
    # DeleteSnapshot, 2 DeregisterImage at once, then one every 10 s): one point per chunk
    world = World()
    world.daily_runs(12)
    run = Machine(world, share=0.02)
    plan = run.plan()
    assert plan["regions"] == [{"region": "us-east-1", "batches": 4, "points": 10}]
    assert PointStatus.DELETING.value not in _statuses(world)  # planning marks nothing
    # When the first pass runs: the bucket is full for one chunk, the next one comes later
    first = run.one_pass()
    assert not first.done and parse_iso(first.wait_until) > world.now
    assert first.reserved  # the next chunk's calls, reserved: the machine waits for them
    # ... and wakes the pass WAKE_LEAD before their moment (it loads its batch, then sleeps)
    woken = parse_iso(first.wait_until).timestamp()
    assert first.reserved_at - WAKE_LEAD - 1 < woken <= first.reserved_at - WAKE_LEAD
    # Then only the first batch is marked (never all first), one point of it deleted
    statuses = _statuses(world)
    assert len(statuses["deleted"]) == 1 and len(statuses["deleting"]) == 2
    assert all(
        p.deleting_by == OWNER for p in world.catalog.all_points() if p.status.value != "completed"
    )
    # And when the machine has waited each time until the pace's moment, all are deleted
    last = run.until_done(first)
    assert last.done and run.passes == 10  # one chunk (one point) per refill
    assert len(_statuses(world)["deleted"]) == 10 and "deleting" not in _statuses(world)
    summary = run.finish()
    assert summary["deleted"] == 10 and summary["unfinished_batches"] == 0


def test_each_pass_reads_from_the_batch_the_last_one_stopped_at() -> None:
    # Given 10 expired points in 4 batches, deleted one point per pass (40 passes' worth of
    # reads if every pass read every batch)
    world = World()
    world.daily_runs(12)
    run = Machine(world, share=0.02)
    run.plan()
    world.catalog.record_reads = 0
    # When the passes run until the region is done
    last = run.until_done()
    # Then each read the batch it was handed and those it went on to: its reads do not grow
    # with the prune's size
    assert last.done and run.passes == 10
    assert world.catalog.record_reads <= run.passes + 4
    assert last.cursor == "B#us-east-1#000003"


def test_a_pass_stops_before_its_time_runs_out_and_the_next_goes_on_at_once() -> None:
    world = World()
    world.daily_runs(6)
    run = Machine(world)
    run.plan()
    run.remaining_ms = passes.MARGIN_MS - 1  # as a Lambda near its time-out
    stopped = run.one_pass()
    assert not stopped.done and stopped.wait_until == iso(world.now)  # no wait: at once
    assert "deleting" not in _statuses(world)  # it started nothing it could not finish
    run.remaining_ms = 600_000
    assert run.until_done(stopped).done
    assert len(_statuses(world)["deleted"]) == 4


def test_a_pass_killed_part_way_is_finished_by_the_next_pass_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a pass killed (a Lambda time-out) right after it deleted a point's artifacts
    world = World()
    world.daily_runs(7)
    run = Machine(world)
    run.plan()
    real = deletes.delete_artifacts
    calls = {"n": 0}

    def killed_after_the_second(point: Any, ports: Any) -> dict[str, str]:
        calls["n"] += 1
        outcome: dict[str, str] = real(point, ports)
        if calls["n"] == 2:
            raise TaskKilled(point.recovery_point_id)
        return outcome

    monkeypatch.setattr(passes, "delete_artifacts", killed_after_the_second)
    with pytest.raises(TaskKilled):
        run.one_pass()
    assert _statuses(world).get("deleting")  # its marks stay (never offered for restore)
    monkeypatch.setattr(passes, "delete_artifacts", real)
    # When Step Functions retries the pass (Sandbox.Timedout) a second later, not 16 minutes
    world.now += timedelta(seconds=1)
    assert run.until_done().done
    # Then every expired point is deleted, none left deleting, and counted exactly once
    assert len(_statuses(world)["deleted"]) == 5 and "deleting" not in _statuses(world)
    assert run.finish()["deleted"] == 5
    kept = [p for p in world.catalog.all_points() if p.status is PointStatus.COMPLETED]
    assert len(kept) == 2 and all(p.image_id in world.ec2.amis for p in kept)


def test_a_pass_killed_past_its_first_batch_is_retried_from_its_own_cursor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given passes one point each, until one is handed the second batch as its cursor
    world = World()
    world.daily_runs(12)
    run = Machine(world, share=0.02)
    run.plan()
    result = run.one_pass()
    while result.cursor != "B#us-east-1#000001":
        world.now = max(world.now, parse_iso(result.wait_until))
        result = run.one_pass(result)
    world.now = max(world.now, parse_iso(result.wait_until))
    # When the next pass is killed while deleting, and Step Functions retries it (same input)
    real = deletes.delete_artifacts

    def killed(point: Any, ports: Any) -> dict[str, str]:
        real(point, ports)
        raise TaskKilled(point.recovery_point_id)

    monkeypatch.setattr(passes, "delete_artifacts", killed)
    with pytest.raises(TaskKilled):
        run.one_pass(result)
    monkeypatch.setattr(passes, "delete_artifacts", real)
    last = run.until_done(run.one_pass(result))
    # Then every expired point is deleted, none left deleting, each counted once
    assert last.done and len(_statuses(world)["deleted"]) == 10
    assert "deleting" not in _statuses(world) and run.finish()["deleted"] == 10


def test_a_cursor_of_another_region_reads_from_the_first_batch() -> None:
    world = World()
    world.daily_runs(6)
    run = Machine(world)
    run.plan()
    pacing = SharedPacing(world.catalog.reserve_pace, "us-east-1", 0.8, sleep=lambda s: None)
    event = PassEvent(owner=OWNER, plan="standard", region="us-east-1", cursor="B#us-west-2#000000")
    result = delete_pass(event, world.ports, pacing, lambda: 600_000, lambda: world.now)
    assert result.done and len(_statuses(world)["deleted"]) == 4


def test_another_prunes_marks_wait_while_it_runs_and_are_taken_over_once_it_ended() -> None:
    # Given prune A marked a batch and stopped (its machine still running)
    world = World()
    world.daily_runs(6)
    a = Machine(world, owner=OWNER, share=0.02)
    a.plan()
    a.one_pass()
    marked_by_a = {
        p.recovery_point_id for p in world.catalog.all_points() if p.status.value == "deleting"
    }
    assert marked_by_a
    # When prune B plans a minute later: A's marks are A's (B leaves them alone)
    world.now += timedelta(minutes=1)
    b = Machine(world, owner=OWNER.replace("p1", "p2"))
    b.plan()
    b.until_done()
    assert marked_by_a <= set(_statuses(world)["deleting"])
    # When A's machine ends (here after a failure) and prune C plans, at once
    a.finish(failed=True)
    c = Machine(world, owner=OWNER.replace("p1", "p3"))
    c.plan()
    c.until_done()
    # Then C took A's marks over and finished them
    assert "deleting" not in _statuses(world)
    assert marked_by_a <= set(_statuses(world)["deleted"])


def _marks_of_a_failed_prune() -> World:
    """Six daily points, and prune A, which marked a batch, deleted one point of it and ended
    (failed): its marks are left for the next prune to take over."""
    world = World()
    world.daily_runs(6)
    a = Machine(world, owner=OWNER, share=0.02)
    a.plan()
    a.one_pass()
    a.finish(failed=True)
    return world


def test_a_taken_over_mark_under_a_snapshot_lock_is_planned_locked_not_deleted() -> None:
    # Given prune A marked a batch, then ended (failed), and someone locked a snapshot of
    # one of its marked points by hand
    world = _marks_of_a_failed_prune()
    marked = [p for p in world.catalog.all_points() if p.status is PointStatus.DELETING]
    held = marked[-1]
    world.ec2.lock_by_hand(held.snapshots[0].snapshot_id, world.now + timedelta(days=3))
    # When prune B plans and runs (the marks taken over)
    b = Machine(world, owner=OWNER.replace("p1", "p2"))
    plan = b.plan()
    assert b.until_done().done
    # Then the locked one is planned locked, not expired, and left 'deleting' whole
    assert plan["summary"]["locked"] == 1
    batched = [
        tuple(key)
        for batch in world.catalog.records(machine.BATCHES + b.owner)
        for key in batch["points"]
    ]
    assert (held.source_id, held.run_id, held.kind.value) not in batched
    assert len(batched) == plan["summary"]["expired"] >= len(marked) - 1
    after = world.catalog.get_point(held.source_id, held.run_id, held.kind.value)
    assert after is not None and after.status is PointStatus.DELETING
    assert all(world.ec2.exists(a) for a in held.artifact_ids())


def test_a_restore_lock_read_after_the_mark_puts_the_batch_back() -> None:
    world = World()
    world.daily_runs(5)
    run = Machine(world)
    run.plan()
    world.catalog.acquire_lock(world.instance, "restore-1", int(world.now.timestamp()), 3600, {})
    assert run.until_done().done
    # The points were marked by this prune, nothing of them deleted: offered for restore again
    assert "deleting" not in _statuses(world) and "deleted" not in _statuses(world)
    assert run.finish()["deleted"] == 0


def test_the_steps_refuse_what_the_machine_cannot_do() -> None:
    world = World()
    with pytest.raises(Exception, match="owner"):
        plan_run(PruneRequest(plan="standard", step="plan"), PLANS, world.ports, world.now)
    with pytest.raises(Exception, match="delete_orphans"):
        request = PruneRequest(plan="standard", step="plan", owner=OWNER, delete_orphans=True)
        plan_run(request, PLANS, world.ports, world.now)
    # an unknown plan is named, with the declared ones (not a KeyError)
    with pytest.raises(InvalidInputError, match="unknown plan 'standard-eu'"):
        request = PruneRequest(plan="standard-eu", step="plan", owner=OWNER)
        plan_run(request, PLANS, world.ports, world.now)


def test_the_machine_time_out_matches_the_takeover_rule() -> None:
    import json

    from tests.callgraph import ROOT

    asl = json.loads((ROOT / "statemachines" / "prune.asl.json").read_text(encoding="utf-8"))
    assert asl["TimeoutSeconds"] == machine.MACHINE_TIMEOUT


def test_a_taken_over_mark_is_never_put_back_by_a_restore_lock() -> None:
    # Given prune A marked a batch, deleted one point of it, and ended (failed)
    world = _marks_of_a_failed_prune()
    marked_by_a = {
        p.recovery_point_id for p in world.catalog.all_points() if p.status.value == "deleting"
    }
    # When a restore holds the resource and prune C runs
    world.catalog.acquire_lock(world.instance, "restore-1", int(world.now.timestamp()), 3600, {})
    c = Machine(world, owner=OWNER.replace("p1", "p3"))
    c.plan()
    c.until_done()
    # Then A's marks stay 'deleting' (some of their artifacts may be gone): never offered again
    statuses = {p.recovery_point_id: p.status for p in world.catalog.all_points()}
    assert marked_by_a and all(statuses[i] is PointStatus.DELETING for i in marked_by_a)
    # while C's own marks (nothing of them deleted) are put back
    assert "deleting" not in {
        statuses[i].value
        for i in statuses
        if i not in marked_by_a and statuses[i].value != "deleted"
    }


def test_the_machine_hands_each_pass_what_the_last_one_returned() -> None:
    # Every field a pass carries over (its count, its reserved calls, its cursor) is set by
    # FirstPass, passed in DeletePass's payload and kept from its result: one missing, and
    # the next pass starts over (reads every batch again, or loses its reservation).
    asl = json.loads((ROOT / "statemachines" / "prune.asl.json").read_text(encoding="utf-8"))
    states = asl["States"]["DeleteInEachRegion"]["ItemProcessor"]["States"]
    carried = set(PassEvent.model_fields) - {"owner", "plan", "region"}
    assert carried == {"passes", "reserved", "reserved_at", "cursor"}
    assert carried <= set(states["FirstPass"]["Result"])
    payload = states["DeletePass"]["Parameters"]["Payload"]
    selected = states["DeletePass"]["ResultSelector"]
    for name in carried:
        assert payload[f"{name}.$"] == f"$.pass.{name}", name
        assert selected[f"{name}.$"] == f"$.Payload.{name}", name
        assert name in PassResult.model_fields, name
