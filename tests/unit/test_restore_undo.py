"""``restore list`` and ``restore rollback`` on fakes: a running restore's stage, what each kind
of rollback does and refuses, and the registry a new kind (Auto Scaling groups) plugs into."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.errors import InvalidInputError
from lifeboat.restore.listing import ExecutionSummary, list_restores
from lifeboat.restore.undo import (
    ROLLBACKS,
    RollbackContext,
    RollbackRequest,
    register_rollback,
    roll_back,
)
from tests.worlds.restore import ARN, EIP, NOW, TG, World, make_world, run

pytestmark = pytest.mark.unit
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:lifeboat-restore"


@dataclass
class FakeHistory:
    """The restore state machine's executions (implements ``RestoreExecutionsPort``)."""

    found: dict[str, ExecutionSummary] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, payload: dict[str, Any], status: str, output: Any = None) -> str:
        self.found[ARN + name] = ExecutionSummary(
            arn=ARN + name,
            name=name,
            status=status,
            started_at=NOW,
            stopped_at=None if status == "RUNNING" else NOW + timedelta(minutes=10),
            input=payload,
            output=output,
        )
        return ARN + name

    def executions(self, state_machine_arn: str, since: Any) -> list[ExecutionSummary]:
        return [s for s in self.found.values() if s.status == "RUNNING" or s.started_at >= since]

    def execution(self, execution_arn: str) -> ExecutionSummary | None:
        return self.found.get(execution_arn)

    def current_state(self, execution_arn: str) -> str | None:
        return self.states.get(execution_arn)


@dataclass
class FakeDatabases:
    world: World
    deleted: list[tuple[str, str]] = field(default_factory=list)

    def endpoint(self, db_id: str) -> str | None:
        return f"{db_id}.example.internal"

    def delete_restored(
        self,
        db_id: str,
        execution_arn: str,
        final_snapshot: str,
        since: datetime,
        until: datetime | None,
    ) -> str:
        db = self.world.rds.dbs.get(db_id)
        if db is None:
            return "gone"
        if T.to_dict(db.get("TagList")).get(T.RESTORE_EXECUTION) != execution_arn:
            return "not-owned"
        del self.world.rds.dbs[db_id]
        self.deleted.append((db_id, final_snapshot))
        return "deleting"


def restored(world: World, history: FakeHistory, payload: dict[str, Any], name: str) -> Any:
    """A restore run through every stage, as the state machine records it."""
    _state, result = run(world, payload, name)
    history.add(name, payload, "SUCCEEDED", result)
    return result


def rollback(world: World, history: FakeHistory, name: str, dry_run: bool = False) -> Any:
    request = RollbackRequest(execution_arn=ARN + name, dry_run=dry_run, requested_by="me")
    return roll_back(request, MACHINE, world.ports, history, FakeDatabases(world), NOW)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    return make_world(monkeypatch)


def test_a_running_restore_is_listed_at_its_stage(world: World) -> None:
    history = FakeHistory()
    arn = history.add("alarm-web-1-1", {"instance_id": world.web1}, "RUNNING")
    history.states[arn] = "CheckHealth"
    world.guards.put_auto("alarm-web-1-1", {"resource_id": world.web1})
    rows = list_restores(history, world.guards, world.catalog, MACHINE, NOW + timedelta(minutes=3))
    assert [(r.trigger, r.status, r.stage, r.age_seconds) for r in rows] == [
        ("alarm", "running", "CheckHealth", 180)
    ]


def test_an_alarm_trigger_is_never_taken_from_the_name_alone(world: World) -> None:
    history = FakeHistory()
    history.add("alarm-web-1-2", {"instance_id": world.web1}, "RUNNING")
    rows = list_restores(history, world.guards, world.catalog, MACHINE, NOW)
    assert rows[0].trigger == "api" and rows[0].stage == "starting"


def test_an_instance_rollback_does_what_the_by_hand_steps_did(world: World) -> None:
    history = FakeHistory()
    result = restored(world, history, {"instance_id": world.web1}, "restore-1")
    new = result["replacement_id"]
    assert world.ec2.eips[EIP]["InstanceId"] == new

    planned = rollback(world, history, "restore-1", dry_run=True)
    assert planned.status == "planned" and world.ec2.eips[EIP]["InstanceId"] == new
    assert any(f"terminate the replacement {new}" in s for s in planned.steps)

    done = rollback(world, history, "restore-1")

    assert done.status == "rolled-back" and done.done["replacement"] == "terminated"
    assert world.ec2.eips[EIP]["InstanceId"] == world.web1
    assert world.ec2.groups[TG] == {world.web1}
    assert world.ec2.state_of(world.web1) == "running"
    assert T.FENCED not in world.ec2.tags_of(world.web1)
    assert world.ec2.state_of(new) == "terminated"
    assert world.catalog.records(f"REPLACED#{world.web1}") == []
    assert world.catalog.active_locks([world.web1, new], int(NOW.timestamp())) == {}
    assert world.notifier.sent[-1][0].endswith("ROLLED BACK")
    assert rollback(world, history, "restore-1").status == "already-rolled-back"


def test_a_rollback_is_refused_after_a_later_restore(world: World) -> None:
    history = FakeHistory()
    first = restored(world, history, {"instance_id": world.web1}, "restore-1")
    restored(world, history, {"instance_id": first["replacement_id"], "force": True}, "restore-2")
    with pytest.raises(InvalidInputError) as refused:
        rollback(world, history, "restore-1")
    assert "a later restore replaced" in refused.value.message
    assert "nothing was changed" in refused.value.message


def test_a_rollback_is_refused_when_the_original_is_gone(world: World) -> None:
    history = FakeHistory()
    restored(world, history, {"instance_id": world.web1}, "restore-1")
    world.ec2.instances[world.web1]["State"] = {"Name": "terminated"}
    with pytest.raises(InvalidInputError) as refused:
        rollback(world, history, "restore-1", dry_run=True)
    assert "nothing to go back to" in refused.value.message


@pytest.mark.parametrize(
    ("status", "output", "why"),
    [
        ("RUNNING", None, "still running"),
        ("FAILED", None, "abort step"),
        ("SUCCEEDED", {"status": "refused"}, "refused"),
        ("SUCCEEDED", {"dry_run": True}, "dry run"),
    ],
)
def test_what_did_not_finish_is_not_rolled_back(
    world: World, status: str, output: Any, why: str
) -> None:
    history = FakeHistory()
    history.add("restore-9", {"instance_id": world.web1}, status, output)
    with pytest.raises(InvalidInputError) as refused:
        rollback(world, history, "restore-9")
    assert why in refused.value.message
    # what a failed restore's abort kept is named as the operator's to remove
    assert ("keep-on-failure" in refused.value.message) == (status == "FAILED")


def test_a_database_rollback_deletes_only_the_restored_database(world: World) -> None:
    history = FakeHistory()
    result = restored(world, history, {"db_instance_id": "elearn-db"}, "restore-db")
    databases = FakeDatabases(world)
    request = RollbackRequest(execution_arn=ARN + "restore-db", requested_by="me")
    done = roll_back(request, MACHINE, world.ports, history, databases, NOW)
    assert databases.deleted == [(result["replacement_id"], f"{result['replacement_id']}-rollback")]
    assert "elearn-db" in world.rds.dbs
    assert "elearn-db.example.internal" in done.steps[0]


def test_a_new_kind_plugs_into_the_registry(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    history = FakeHistory()
    restored(world, history, {"instance_id": world.web1}, "restore-1")
    seen: list[str] = []

    class Recording:
        def refusal(self, ctx: RollbackContext) -> str | None:
            return None

        def locks(self, ctx: RollbackContext) -> list[str]:
            return []

        def steps(self, ctx: RollbackContext) -> list[str]:
            return ["group step"]

        def apply(self, ctx: RollbackContext) -> dict[str, str]:
            seen.append(ctx.plan.kind)
            return {"group": "done"}

    monkeypatch.setitem(ROLLBACKS, "instance", ROLLBACKS["instance"])
    register_rollback("instance", Recording())
    done = rollback(world, history, "restore-1")
    assert seen == ["instance"] and done.steps == ["group step"] and done.done == {"group": "done"}


def test_an_original_that_will_not_start_keeps_the_replacement(world: World) -> None:
    history = FakeHistory()
    result = restored(world, history, {"instance_id": world.web1}, "restore-1")
    new = result["replacement_id"]
    # Given the original's AZ still fails: it will not start
    world.ec2.fail["StartInstances"] = "InsufficientInstanceCapacity"

    done = rollback(world, history, "restore-1")

    # Then nothing is moved back, the replacement keeps serving and standing for the server
    assert done.status == "incomplete" and "InsufficientInstanceCapacity" in done.done["original"]
    assert world.ec2.eips[EIP]["InstanceId"] == new and world.ec2.state_of(new) == "running"
    assert world.catalog.records(f"REPLACED#{world.web1}") != []
    assert world.notifier.sent[-1][0].endswith("rollback INCOMPLETE")
    # and once it starts, the rollback run again finishes
    del world.ec2.fail["StartInstances"]
    assert rollback(world, history, "restore-1").status == "rolled-back"
    assert world.ec2.eips[EIP]["InstanceId"] == world.web1


def test_a_database_restore_renamed_into_the_originals_place_is_not_rolled_back(
    world: World,
) -> None:
    history = FakeHistory()
    result = restored(world, history, {"db_instance_id": "elearn-db"}, "restore-db")
    # Given the restored database was renamed into the original's name (to keep the
    # application's endpoint), and the original renamed aside
    dbs = world.rds.dbs
    dbs["elearn-db-old"] = dbs.pop("elearn-db")
    dbs["elearn-db"] = dbs.pop(result["replacement_id"])
    databases = FakeDatabases(world)
    request = RollbackRequest(execution_arn=ARN + "restore-db", requested_by="me")

    with pytest.raises(InvalidInputError) as refused:
        roll_back(request, MACHINE, world.ports, history, databases, NOW)

    assert "renamed into the original's name" in refused.value.message
    assert databases.deleted == [] and {"elearn-db", "elearn-db-old"} <= set(dbs)


def test_two_rollbacks_of_one_restore_at_once_one_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = FakeHistory()
    result = restored(world, history, {"instance_id": world.web1}, "restore-1")
    new = result["replacement_id"]
    instance = ROLLBACKS["instance"]
    refusals: list[str] = []
    held: dict[str, Any] = {}

    class SecondOperator:
        """While the first rollback works, a second operator rolls the same restore back."""

        def __getattr__(self, name: str) -> Any:
            return getattr(instance, name)

        def apply(self, ctx: RollbackContext) -> dict[str, str]:
            monkeypatch.setitem(ROLLBACKS, "instance", instance)
            try:
                rollback(world, history, "restore-1")
            except InvalidInputError as exc:
                refusals.append(exc.message)
            held.update(world.catalog.active_locks([world.web1, new], int(NOW.timestamp())))
            return instance.apply(ctx)

    monkeypatch.setitem(ROLLBACKS, "instance", SecondOperator())

    done = rollback(world, history, "restore-1")

    # Then the second is refused, changing nothing, and the first keeps its locks to the end
    assert done.status == "rolled-back"
    assert len(refusals) == 1 and "already being rolled back" in refusals[0]
    assert set(held) == {world.web1, new}
    assert world.catalog.active_locks([world.web1, new], int(NOW.timestamp())) == {}


def test_a_rollback_that_lost_the_race_for_the_locks_does_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = FakeHistory()
    restored(world, history, {"instance_id": world.web1}, "restore-1")
    instance = ROLLBACKS["instance"]
    second: list[str] = []

    class Racing:
        """Both rollbacks pass their checks; the second takes the locks and finishes first."""

        def __getattr__(self, name: str) -> Any:
            return getattr(instance, name)

        def locks(self, ctx: RollbackContext) -> list[str]:
            if not second:
                monkeypatch.setitem(ROLLBACKS, "instance", instance)
                second.append(rollback(world, history, "restore-1").status)
            return instance.locks(ctx)

    monkeypatch.setitem(ROLLBACKS, "instance", Racing())

    first = rollback(world, history, "restore-1")

    assert second == ["rolled-back"] and first.status == "already-rolled-back"
    assert len(world.ec2.terminations) == 1 and len(world.notifier.sent) == 2


def test_a_target_group_deleted_since_does_not_block_the_rollback(world: World) -> None:
    history = FakeHistory()
    result = restored(world, history, {"instance_id": world.web1}, "restore-1")
    new = result["replacement_id"]
    # Given a person deleted the web target group after the restore
    world.ec2.fail["RegisterTargets"] = "TargetGroupNotFound"

    done = rollback(world, history, "restore-1")

    # Then there is no traffic to give back there, and the rest is rolled back
    assert done.status == "rolled-back", done.done
    assert "gone" in done.done[f"register {TG}"]
    assert world.ec2.state_of(new) == "terminated"
    assert world.ec2.eips[EIP]["InstanceId"] == world.web1


def test_a_forced_restore_rolled_back_is_listed_as_such_and_frees_the_earlier_one(
    world: World,
) -> None:
    history = FakeHistory()
    restored(world, history, {"instance_id": world.web1}, "restore-1")
    # Given the server restored again by its original's id (--force: the current one restored)
    second = restored(world, history, {"instance_id": world.web1, "force": True}, "restore-2")
    assert rollback(world, history, "restore-2").status == "rolled-back"

    rows = list_restores(history, world.guards, world.catalog, MACHINE, NOW)

    by_name = {r.name: r for r in rows}
    assert by_name["restore-2"].status == "rolled-back", second
    assert by_name["restore-1"].status == "restored"
    # and the earlier restore, no longer followed by a standing one, can be rolled back in turn
    assert rollback(world, history, "restore-1").status == "rolled-back"
    assert world.ec2.eips[EIP]["InstanceId"] == world.web1


def test_abort_and_rollback_terminate_with_the_executions_own_time_window(world: World) -> None:
    # The replacement's volumes are its own only if made while its execution ran: the abort
    # passes the execution's start (and no end: it is running), a rollback start and end.
    from lifeboat import restore

    history = FakeHistory()
    payload = {"instance_id": world.web1}
    state, _ = run(world, payload, "restore-a", until="launch")
    restore.abort(world.event(payload, "restore-a", **state), world.ports, NOW)
    restored(world, history, payload, "restore-b")
    rollback(world, history, "restore-b")

    assert [(since, until) for _, since, until in world.ec2.terminations] == [
        (NOW, None),
        (NOW, NOW + timedelta(minutes=10)),
    ]
