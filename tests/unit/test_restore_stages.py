"""The restore's stages on in-memory fakes (no sockets): refusals leave nothing behind, the
capacity fallback, every stage run twice changes nothing more, a roll-back gives back only
what is its own, and a restored database is never deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import restore
from lifeboat import tags as T
from lifeboat.errors import (
    CutOverError,
    InvalidInputError,
    NoCapacityError,
    ReplacementFailedError,
    RestoreInProgressError,
)
from lifeboat.guardrails import Refused
from lifeboat.restore.models import MissingStageError
from tests.worlds.restore import ARN, EIP, NOW, PLANS, TG, World, make_world, run

pytestmark = pytest.mark.unit


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    return make_world(monkeypatch)


def _nothing_held(world: World, name: str = "restore-1") -> bool:
    return not world.catalog.locks and not world.catalog.records(f"EXEC#{name}")


# --- begin ----------------------------------------------------------------------------------------
def test_begin_plans_another_az_the_newest_data_and_locks_first(world: World) -> None:
    plan = restore.begin(world.event({"instance_id": world.web1}), PLANS, world.ports, NOW)
    assert isinstance(plan, restore.InstancePlan)
    assert [c.availability_zone for c in plan.candidates] == ["us-east-1b", "us-east-1c"]
    assert plan.instance_types == ["t3.medium", "t3a.medium", "m5.large"]
    by_device = {v.device_name: v.snapshot_id for v in plan.volumes}
    assert by_device == {"/dev/sda1": "snap-root-1", "/dev/sdf": "snap-hdata-1"}
    assert plan.data_taken_at == NOW - timedelta(hours=1) and not plan.same_az
    assert plan.locked == [world.web1] == plan.lineage
    assert world.catalog.locks[world.web1]["owner"] == ARN + "restore-1"
    recorded = world.catalog.records("EXEC#restore-1")[0]
    assert recorded["plan"] == plan.model_dump(mode="json") and recorded["locked"] == plan.locked


def test_a_dry_run_locks_and_records_nothing(world: World) -> None:
    event = world.event({"instance_id": world.web1, "dry_run": True})
    plan = restore.begin(event, PLANS, world.ports, NOW)
    assert plan.dry_run and plan.locked == [] and _nothing_held(world)


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({"instance_id": "i-0000000000000dead"}, "instance_id", "does not exist"),
        ({"instance_id": "WEB1", "target_az": "eu-west-1a"}, "target_az", "not an Availability"),
        ({"instance_id": "WEB1", "target_az": "us-east-1a"}, "target_az", "--same-az"),
        ({"instance_id": "WEB1", "trigger": "alarm"}, "trigger", "alarm router"),
        ({"instance_id": "WEB1", "recovery_point": "rp-nope"}, "recovery_point", "rp-nope"),
        ({"instance_id": "WEB1", "colour": "red"}, "colour", "unknown field"),
        ({"db_instance_id": "elearn-db", "target_az": "us-east-1a"}, "target_az", "--same-az"),
        (
            {"db_instance_id": "elearn-db", "restore_time": "2026-11-28T02:59:00Z"},
            "restore_time",
            "latest restorable",
        ),
    ],
)
def test_refusals_name_the_field_and_leave_nothing_behind(
    world: World, payload: dict[str, Any], field: str, fragment: str
) -> None:
    payload = {k: world.web1 if v == "WEB1" else v for k, v in payload.items()}
    with pytest.raises(InvalidInputError) as refused:
        restore.begin(world.event(payload), PLANS, world.ports, NOW)
    assert refused.value.field == field and fragment in refused.value.message
    assert _nothing_held(world) and not world.ec2.launches


def test_an_untagged_instance_without_points_is_refused(world: World) -> None:
    stranger = world.ec2.add_instance("us-east-1a", {"Name": "bastion"})
    with pytest.raises(InvalidInputError, match="not protected"):
        restore.begin(world.event({"instance_id": stranger}), PLANS, world.ports, NOW)


def test_a_second_restore_of_a_locked_server_is_refused_and_takes_nothing(world: World) -> None:
    restore.begin(world.event({"instance_id": world.web1}, "first"), PLANS, world.ports, NOW)
    with pytest.raises(RestoreInProgressError, match="first"):
        restore.begin(world.event({"instance_id": world.web1}, "second"), PLANS, world.ports, NOW)
    assert world.catalog.locks[world.web1]["owner"] == ARN + "first"
    assert not world.catalog.records("EXEC#second")


def test_the_cooldown_refuses_a_manual_restore_unless_forced(world: World) -> None:
    run(world, {"instance_id": world.web1}, "first")
    replacement = world.ec2.replacement_of(ARN + "first")
    assert replacement is not None
    # the replacement carries the cooldown too
    with pytest.raises(Refused):
        event = world.event({"instance_id": replacement["InstanceId"]}, "again")
        restore.begin(event, PLANS, world.ports, NOW)
    forced = world.event({"instance_id": replacement["InstanceId"], "force": True}, "forced")
    assert restore.begin(forced, PLANS, world.ports, NOW).source_id == replacement["InstanceId"]


def test_begin_twice_plans_the_same_and_holds_one_lock(world: World) -> None:
    event = world.event({"instance_id": world.web1})
    first = restore.begin(event, PLANS, world.ports, NOW)
    assert restore.begin(event, PLANS, world.ports, NOW) == first
    assert list(world.catalog.locks) == [world.web1]


# --- launch ---------------------------------------------------------------------------------------
def test_launch_falls_back_across_types_then_azs(world: World) -> None:
    world.ec2.no_capacity |= {
        ("us-east-1b", "t3.medium"),
        ("us-east-1b", "t3a.medium"),
        ("us-east-1b", "m5.large"),
        ("us-east-1c", "t3.medium"),
    }
    _, launched = run(world, {"instance_id": world.web1}, until="launch")
    assert (launched.availability_zone, launched.instance_type) == ("us-east-1c", "t3a.medium")
    assert [(a.availability_zone, a.instance_type) for a in launched.capacity_fallbacks] == [
        ("us-east-1b", "t3.medium"),
        ("us-east-1b", "t3a.medium"),
        ("us-east-1b", "m5.large"),
        ("us-east-1c", "t3.medium"),
    ]
    tags = world.ec2.tags_of(launched.id)
    assert tags[T.RESTORED_FROM] == world.web1 and tags[T.PLAN] == "standard"
    assert tags["team"] == "elearn" and T.MANAGED not in tags


def test_no_capacity_anywhere_launches_nothing(world: World) -> None:
    world.ec2.no_capacity |= {
        (z, t)
        for z in ("us-east-1b", "us-east-1c")
        for t in ("t3.medium", "t3a.medium", "m5.large")
    }
    with pytest.raises(NoCapacityError):
        run(world, {"instance_id": world.web1}, until="launch")
    assert world.ec2.live() == {world.web1}


def test_launch_twice_launches_once(world: World) -> None:
    state, first = run(world, {"instance_id": world.web1}, until="launch")
    again = restore.launch(world.event({"instance_id": world.web1}, **state), world.ports, NOW)
    assert again.id == first.id and len(world.ec2.live()) == 2


def test_a_stage_without_its_input_says_which_is_missing(world: World) -> None:
    with pytest.raises(MissingStageError, match="ValidateAndPlan"):
        restore.launch(world.event({"instance_id": world.web1}), world.ports, NOW)


def test_a_database_is_restored_once_from_its_snapshot(world: World) -> None:
    state, launched = run(world, {"db_instance_id": "elearn-db"}, until="launch")
    assert launched.kind == "db" and launched.id.startswith("elearn-db-restored-")
    assert world.rds.dbs[launched.id]["AvailabilityZone"] == "us-east-1b"
    again = restore.launch(world.event({"db_instance_id": "elearn-db"}, **state), world.ports, NOW)
    assert again.id == launched.id and len(world.rds_restore.restores) == 1


# --- health ---------------------------------------------------------------------------------------
def test_health_counts_its_checks_and_fails_a_stopped_replacement(world: World) -> None:
    state, launched = run(world, {"instance_id": world.web1}, until="launch")
    world.ec2.statuses[launched.id] = {"system": "initializing", "instance": "ok"}
    event = world.event({"instance_id": world.web1}, **state)
    first = restore.check(event, world.ports, NOW)
    assert (first.healthy, first.attempt, first.wait_seconds) == (False, 1, 10)
    state["check"] = {"health": first.model_dump(mode="json")}
    second = restore.check(world.event({"instance_id": world.web1}, **state), world.ports, NOW)
    assert (second.attempt, second.wait_seconds) == (2, 20)
    late = restore.check(event, world.ports, NOW + timedelta(hours=2))
    assert late.deadline_passed and not late.healthy
    world.ec2.instances[launched.id]["State"] = {"Name": "stopped"}
    with pytest.raises(ReplacementFailedError):
        restore.check(event, world.ports, NOW)


def test_a_database_is_healthy_once_available(world: World) -> None:
    state, launched = run(world, {"db_instance_id": "elearn-db"}, until="launch")
    event = world.event({"db_instance_id": "elearn-db"}, **state)
    assert not restore.check(event, world.ports, NOW).healthy
    world.rds.dbs[launched.id].update(DBInstanceStatus="available", Endpoint={"Address": "db.x"})
    health = restore.check(event, world.ports, NOW)
    assert health.healthy and health.endpoint == "db.x"


# --- cut-over and finish --------------------------------------------------------------------------
def test_cut_over_fences_moves_and_is_safe_to_repeat(world: World) -> None:
    state, cut = run(world, {"instance_id": world.web1}, until="cut_over")
    new = state["launch"]["launched"]["id"]
    assert cut.fenced == "running" and cut.stopped and cut.eip_moved
    assert world.ec2.eips[EIP]["InstanceId"] == new and world.ec2.groups[TG] == {new}
    assert world.ec2.tags_of(world.web1)[T.FENCED] == "restore-1"
    again = restore.cut_over(world.event({"instance_id": world.web1}, **state), world.ports)
    assert again.eip_moved and world.ec2.eips[EIP]["InstanceId"] == new
    assert world.ec2.groups[TG] == {new}


def test_cut_over_refuses_to_take_an_address_someone_else_holds(world: World) -> None:
    state, _ = run(world, {"instance_id": world.web1}, until="check")
    world.ec2.eips[EIP]["InstanceId"] = "i-0000000000000beef"
    with pytest.raises(CutOverError, match="refusing"):
        restore.cut_over(world.event({"instance_id": world.web1}, **state), world.ports)


def test_finish_reports_records_the_lineage_and_releases(world: World) -> None:
    state, result = run(world, {"instance_id": world.web1})
    new = state["launch"]["launched"]["id"]
    assert result["status"] == "restored" and result["replacement_id"] == new
    assert result["rpo_seconds"] == 3600 and result["rto_seconds"] == 600
    assert result["cutover"]["eip_moved"] and "stop_outcome" in result["cutover"]
    assert result["trigger"] == "manual" and not world.catalog.locks
    assert world.catalog.records(f"REPLACED#{world.web1}")[0]["by"] == new
    assert {r["status"] for r in world.catalog.records(f"RESTORE#{new}")} == {"restored"}
    assert world.notifier.sent[-1][0].startswith("Lifeboat restored")
    # the original cannot be restored again: its replacement stands for the server now
    with pytest.raises(InvalidInputError, match=new):
        event = world.event({"instance_id": world.web1, "force": False}, "again")
        restore.begin(event, PLANS, world.ports, NOW + timedelta(hours=2))


def test_an_alarm_restore_settles_its_guardrails_once(world: World) -> None:
    world.guard.record_alarm_execution("auto-1", world.web1, "lifeboat-standard-x-system", NOW)
    world.guards.slots["auto-1"] = int(NOW.timestamp())  # taken by the router
    world.guards.breaker_item["consecutive_failures"] = 2
    run(world, {"instance_id": world.web1, "trigger": "alarm"}, "auto-1")
    assert world.guard.running() == [] and world.guard.breaker()["consecutive_failures"] == 0


# --- abort and roll-back --------------------------------------------------------------------------
def _abort(world: World, state: dict[str, Any], payload: dict[str, Any], name: str) -> Any:
    state = {**state, "error": {"Error": "CutOverError", "Cause": "boom"}}
    return restore.abort(world.event(payload, name, **state), world.ports, NOW)


def test_abort_after_cut_over_gives_everything_back(world: World) -> None:
    payload = {"instance_id": world.web1}
    state, _ = run(world, payload, until="cut_over")
    new = state["launch"]["launched"]["id"]
    result = _abort(world, state, payload, "restore-1")
    assert result["undone"]["replacement"] == "terminated" and world.ec2.live() == {world.web1}
    assert world.ec2.eips[EIP]["InstanceId"] == world.web1 and world.ec2.groups[TG] == {world.web1}
    assert world.ec2.state_of(world.web1) == "running"
    assert T.FENCED not in world.ec2.tags_of(world.web1)
    assert not world.catalog.locks and result["error"] == "CutOverError"
    assert new not in world.ec2.live()


def test_abort_never_unfences_what_another_restore_fenced(world: World) -> None:
    payload = {"instance_id": world.web1, "force": True}
    world.ec2.fence(world.web1, "someone-else")
    world.ec2.stop(world.web1)
    state, cut = run(world, payload, "mine", until="cut_over")
    assert cut.previous_fence == "someone-else" and cut.fenced is None
    _abort(world, state, payload, "mine")
    assert world.ec2.tags_of(world.web1)[T.FENCED] == "someone-else"
    assert world.ec2.state_of(world.web1) == "stopped"
    assert world.ec2.eips[EIP]["InstanceId"] == world.web1  # its own move is undone


def test_abort_removes_only_what_its_own_execution_launched(world: World) -> None:
    payload = {"instance_id": world.web1}
    state, _ = run(world, payload, "mine", until="launch")
    other = world.ec2.add_instance(
        "us-east-1b", {T.RESTORED_FROM: world.web1, T.RESTORE_EXECUTION: ARN + "other"}
    )
    state["launch"]["launched"]["id"] = other  # a state that names someone else's instance
    result = _abort(world, state, payload, "mine")
    assert result["undone"]["replacement"] == "not-owned" and other in world.ec2.live()


def test_abort_finds_a_replacement_whose_launch_result_was_lost(world: World) -> None:
    payload = {"instance_id": world.web1}
    state, launched = run(world, payload, until="launch")
    del state["launch"]
    result = _abort(world, state, payload, "restore-1")
    assert result["undone"]["replacement"] == "terminated" and launched.id not in world.ec2.live()


def test_keep_on_failure_keeps_the_replacement(world: World) -> None:
    payload = {"instance_id": world.web1, "keep_on_failure": True}
    state, launched = run(world, payload, until="cut_over")
    result = _abort(world, state, payload, "restore-1")
    assert "keep_on_failure" in result["undone"]["replacement"] and launched is not None
    assert world.ec2.live() == {world.web1, state["launch"]["launched"]["id"]}


def test_a_restored_database_is_never_deleted(world: World) -> None:
    payload = {"db_instance_id": "elearn-db"}
    state, launched = run(world, payload, until="launch")
    result = _abort(world, state, payload, "restore-1")
    assert "kept database" in result["undone"]["replacement"] and launched.id in world.rds.dbs
    del state["launch"]  # also when only the plan says which database it was
    assert "kept database" in _abort(world, state, payload, "restore-1")["undone"]["replacement"]
    assert launched.id in world.rds.dbs and not world.catalog.locks


def test_abort_twice_counts_the_failure_once(world: World) -> None:
    world.guard.record_alarm_execution("auto-1", world.web1, "lifeboat-standard-x-system", NOW)
    payload = {"instance_id": world.web1, "trigger": "alarm"}
    state, _ = run(world, payload, "auto-1", until="launch")
    _abort(world, state, payload, "auto-1")
    _abort(world, state, payload, "auto-1")
    assert world.guard.breaker()["consecutive_failures"] == 1
    assert world.ec2.live() == {world.web1}


def test_abort_before_any_plan_releases_what_was_recorded(world: World) -> None:
    world.catalog.put_record("EXEC#early", "PLAN", {"locked": [world.web1]})
    world.catalog.acquire_lock(world.web1, ARN + "early", int(NOW.timestamp()), 60, {})
    _abort(world, {}, {"instance_id": world.web1}, "early")
    assert not world.catalog.locks


# --- executions that never reached Abort ----------------------------------------------------
def _stopped(world: World, name: str, status: str = "ABORTED") -> Any:
    millis = int((NOW - timedelta(hours=1)).timestamp() * 1000)
    change = restore.ExecutionStatusChange.model_validate(
        {
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": ARN + name,
                "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:r",
                "name": name,
                "status": status,
                "startDate": millis,
                "stopDate": millis,
                "input": f'{{"instance_id": "{world.web1}"}}',
            },
        }
    )
    slept: list[float] = []
    return restore.clean_up(change, world.ports, NOW, sleep=slept.append), slept


def test_clean_up_of_an_execution_that_locked_nothing(world: World) -> None:
    result, slept = _stopped(world, "never-locked", "TIMED_OUT")
    assert result["status"] == "nothing-to-clean" and slept == []


def test_clean_up_rolls_back_before_the_cut_over(world: World) -> None:
    run(world, {"instance_id": world.web1}, "stopped", until="launch")
    result, _ = _stopped(world, "stopped")
    assert result["status"] == "failed" and result["error"] == "ExecutionAborted"
    assert world.ec2.live() == {world.web1} and not world.catalog.locks


def test_clean_up_lets_a_completed_cut_over_stand(world: World) -> None:
    state, _ = run(world, {"instance_id": world.web1}, "late", until="cut_over")
    result, _ = _stopped(world, "late", "TIMED_OUT")
    assert result["status"] == "restored" and "TIMED_OUT" in result["note"]
    assert result["replacement_id"] == state["launch"]["launched"]["id"]
    assert not world.catalog.locks


def test_the_start_time_is_read_as_utc(world: World) -> None:
    event = world.event({"instance_id": world.web1})
    assert event.execution.start_time == NOW and event.execution.start_time.tzinfo == UTC
    naive = event.execution.model_validate(
        {"Id": ARN + "x", "Name": "x", "StartTime": "2026-11-28T03:00:00.123"}
    )
    assert naive.start_time == datetime(2026, 11, 28, 3, 0, 0, 123000, tzinfo=UTC)
