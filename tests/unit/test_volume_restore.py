"""Volume restore on the fakes: choosing the point and device, and the steps of each mode and of
its rollback, driven the way the machine drives them (advance until done)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.errors import InvalidInputError, RestoreInProgressError
from lifeboat.models import ExecutionContext, PointStatus, RecoveryPoint, VolumeSnapshot
from lifeboat.plans import Kind
from lifeboat.volumes.planner import choose, free_device, parse_point
from lifeboat.volumes.stages import NotProtectedError, begin, finish, undo
from lifeboat.volumes.steps import advance
from tests.fakes import FakeCatalog
from tests.fakes.ports import fake_ports
from tests.fakes.volumes import FakeVolumes

pytestmark = pytest.mark.unit
T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def _point(n: int, source: str, kind: Kind = Kind.EBS, **snap: Any) -> RecoveryPoint:
    return RecoveryPoint(
        recovery_point_id=f"run-{n}/{source}/{kind.value}",
        run_id=f"run-{n}",
        plan="standard",
        rule="hourly",
        kind=kind,
        source_id=source,
        source_type="instance",
        status=PointStatus.COMPLETED,
        created_at=T0 + timedelta(hours=n),
        snapshots=[
            VolumeSnapshot(
                volume_id="vol-r", snapshot_id=f"snap-root-{n}", device_name="/dev/xvda", boot=True
            ),
            VolumeSnapshot(
                volume_id="vol-d",
                snapshot_id=f"snap-data-{n}",
                device_name="/dev/sdf",
                size_gb=20,
                volume_type="gp3",
                **snap,
            ),
        ],
    )


# --- planner ---------------------------------------------------------------------------------
def test_point_specs() -> None:
    assert parse_point("latest").latest and parse_point("").latest
    assert parse_point("run-1/i-1/ebs").point_id == "run-1/i-1/ebs"
    assert parse_point("2026-12-05T09:30:00Z").at == datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
    with pytest.raises(InvalidInputError, match="point: .*no time zone"):
        parse_point("2026-12-05T09:30:00")


def test_choose_latest_by_id_or_at_or_before_a_time() -> None:
    points = [_point(n, "i-1") for n in (1, 2, 3)]
    points.append(_point(4, "i-1").model_copy(update={"status": PointStatus.FAILED}))
    assert choose(points, "/dev/sdf", parse_point("latest"))[1].snapshot_id == "snap-data-3"
    # /dev/xvdf names the same attachment as /dev/sdf
    assert choose(points, "/dev/xvdf", parse_point("run-1/i-1/ebs"))[1].snapshot_id == "snap-data-1"
    assert choose(points, "/dev/sdf", parse_point("snap-data-2"))[0].run_id == "run-2"
    exact = (T0 + timedelta(hours=1)).isoformat()  # to the second: the point of 09:00:00.4 too
    late = [
        _point(1, "i-1").model_copy(
            update={"created_at": T0 + timedelta(hours=1, microseconds=400)}
        )
    ]
    assert choose(late, "/dev/sdf", parse_point(exact))[0].run_id == "run-1"
    at = (T0 + timedelta(hours=2, minutes=30)).isoformat()
    assert choose(points, "/dev/sdf", parse_point(at))[0].run_id == "run-2"
    with pytest.raises(InvalidInputError, match="point: .*at or before"):
        choose(points, "/dev/sdf", parse_point(T0.isoformat()))
    with pytest.raises(InvalidInputError, match="point: 'run-4/i-1/ebs' is not a completed"):
        choose(points, "/dev/sdf", parse_point("run-4/i-1/ebs"))
    with pytest.raises(InvalidInputError, match="device: no completed recovery point"):
        choose(points, "/dev/sdg", parse_point("latest"))


def test_free_device_skips_taken_names_in_either_spelling() -> None:
    assert free_device({"/dev/xvda", "/dev/sdf"}) == "/dev/sdg"
    assert free_device({"/dev/xvdf", "/dev/xvdg"}) == "/dev/sdh"


# --- the machine's steps ---------------------------------------------------------------------
class World:
    def __init__(self) -> None:
        self.ec2 = FakeVolumes()
        self.catalog = FakeCatalog()
        self.ports = fake_ports(catalog=self.catalog, volumes=self.ec2)
        self.iid = self.ec2.add_instance(
            {T.PLAN: "standard"}, {"/dev/xvda": "", "/dev/sdf": ""}, root="/dev/xvda"
        )
        self.catalog.put_points([_point(n, self.iid, kms_key_id=None) for n in (1, 2)])
        self.runs = 0

    def execution(self) -> ExecutionContext:
        self.runs += 1
        name = f"vol-{self.runs}"
        return ExecutionContext(
            id=f"arn:aws:states:us-east-1:123456789012:execution:lifeboat-VolumeRestore:{name}",
            name=name,
            start_time=(T0 + timedelta(days=1, minutes=self.runs)).isoformat(),
        )

    def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        execution = self.execution()
        state = begin(payload, execution, self.ports, T0)
        for _ in range(60):
            if state["done"]:
                break
            state = advance(state, execution, self.ports)
        assert state["done"]
        return finish(state, execution, self.ports, T0)

    def devices(self) -> dict[str, str]:
        return dict(self.ec2.instances[self.iid]["devices"])


def test_attach_beside_the_original_and_roll_back() -> None:
    world = World()
    before = world.devices()
    done = world.run({"instance_id": world.iid, "device": "/dev/sdf"})
    assert done["status"] == "completed" and done["attached_as"] == "/dev/sdg"
    new = done["new_volume_id"]
    assert world.devices() == {**before, "/dev/sdg": new}
    assert world.ec2.volumes[new]["snapshot"] == "snap-data-2"
    assert world.ec2.volumes[new]["tags"][T.RESTORED_FROM] == done["recovery_point_id"]
    assert not any(c[0] in ("stop", "detach") for c in world.ec2.calls)
    assert world.catalog.active_locks([world.iid], 0) == {}  # released
    rolled = world.run({"rollback_of": done["execution_arn"]})
    assert rolled["status"] == "rolled-back"
    assert world.devices() == before and new not in world.ec2.volumes


def test_replace_a_data_volume_stop_detach_attach_start_and_roll_back() -> None:
    world = World()
    before = world.devices()
    done = world.run(
        {
            "instance_id": world.iid,
            "device": "/dev/sdf",
            "replace": True,
            "point": "run-1/" + world.iid + "/ebs",
        }
    )
    new, old = done["new_volume_id"], before["/dev/sdf"]
    kinds = [c[0] for c in world.ec2.calls]
    assert kinds == ["create", "stop", "detach", "attach", "start"]
    assert world.devices() == {**before, "/dev/sdf": new}
    assert world.ec2.volumes[old]["tags"]["lifeboat:replaced-by"] == done["execution_arn"]
    assert world.ec2.instances[world.iid]["state"] in ("pending", "running")
    world.run({"rollback_of": done["execution_arn"]})
    assert world.devices() == before and new not in world.ec2.volumes
    with pytest.raises(InvalidInputError, match="rollback_of: .* is not a completed"):
        world.run({"rollback_of": done["execution_arn"]})  # rolled back already


def test_replace_the_root_volume_with_a_replace_root_task_and_roll_back() -> None:
    world = World()
    before = world.devices()
    done = world.run({"instance_id": world.iid, "device": "/dev/xvda", "replace": True})
    assert done["mode"] == "replace-root"
    assert [c[0] for c in world.ec2.calls] == ["create", "replace-root"]
    assert world.devices()["/dev/xvda"] == done["new_volume_id"]
    world.run({"rollback_of": done["execution_arn"]})
    assert world.devices() == before and done["new_volume_id"] not in world.ec2.volumes


def test_a_later_restore_must_be_rolled_back_first() -> None:
    world = World()
    first = world.run({"instance_id": world.iid, "device": "/dev/sdf"})
    world.run({"instance_id": world.iid, "device": "/dev/sdf", "attach_as": "/dev/sdh"})
    with pytest.raises(InvalidInputError, match="a later volume restore"):
        world.run({"rollback_of": first["execution_arn"]})


def test_refusals_change_nothing() -> None:
    world = World()
    bare = world.ec2.add_instance({}, {"/dev/xvda": ""}, root="/dev/xvda")
    with pytest.raises(NotProtectedError):
        world.run({"instance_id": bare, "device": "/dev/xvda"})
    with pytest.raises(InvalidInputError, match="attach_as: /dev/sdf is in use"):
        world.run({"instance_id": world.iid, "device": "/dev/sdf", "attach_as": "/dev/sdf"})
    with pytest.raises(InvalidInputError, match="device"):
        world.run({"instance_id": world.iid, "device": "/dev/root"})
    world.catalog.acquire_lock(world.iid, "arn:other", int(T0.timestamp()) + 86400, 3600, {})
    with pytest.raises(RestoreInProgressError):
        world.run({"instance_id": world.iid, "device": "/dev/sdf"})
    assert world.ec2.calls == []


def test_a_dry_run_plans_and_changes_nothing() -> None:
    world = World()
    done = world.run(
        {"instance_id": world.iid, "device": "/dev/sdf", "replace": True, "dry_run": True}
    )
    assert done["status"] == "dry-run" and done["plan"]["mode"] == "replace-data"
    assert world.ec2.calls == [] and world.catalog.active_locks([world.iid], 0) == {}


def test_a_failure_after_the_swap_is_undone_by_the_same_loop() -> None:
    world = World()
    before = world.devices()
    execution = world.execution()
    state = begin(
        {"instance_id": world.iid, "device": "/dev/sdf", "replace": True},
        execution,
        world.ports,
        T0,
    )
    while state["stage"] != "wait-detached":
        state = advance(state, execution, world.ports)
    world.ec2.fail_attach.add(state["new_volume_id"])
    with pytest.raises(ClientError, match="InvalidParameterValue"):  # once the original is off
        for _ in range(5):
            state = advance(state, execution, world.ports)
    assert before["/dev/sdf"] not in world.devices().values()
    state = undo(state, world.ports)
    assert state["plan"]["mode"] == "rollback-replace" and state["failed"]
    for _ in range(60):
        if state["done"]:
            break
        state = advance(state, execution, world.ports)
    finish(state, execution, world.ports, T0, failed=True)
    assert world.devices() == before
    assert world.ec2.instances[world.iid]["state"] in ("pending", "running")
    assert not any(T.RESTORED_FROM in v["tags"] for v in world.ec2.volumes.values())


def test_a_later_restore_rolled_back_no_longer_blocks_the_earlier_s_rollback() -> None:
    world = World()
    before = world.devices()
    first = world.run({"instance_id": world.iid, "device": "/dev/sdf"})
    second = world.run({"instance_id": world.iid, "device": "/dev/sdf", "attach_as": "/dev/sdh"})
    assert world.run({"rollback_of": second["execution_arn"]})["status"] == "rolled-back"
    assert world.run({"rollback_of": first["execution_arn"]})["status"] == "rolled-back"
    assert world.devices() == before


def test_a_replacement_restores_from_the_points_of_what_stood_before_it() -> None:
    from lifeboat.restore.lineage import record_replacement

    world = World()
    replacement = world.ec2.add_instance(
        {T.PLAN: "standard"}, {"/dev/xvda": "", "/dev/sdf": ""}, root="/dev/xvda"
    )
    record_replacement(world.catalog, world.iid, replacement, "arn:restore", T0)
    world.ec2.instances[world.iid]["tags"][T.FENCED] = "arn:restore"
    done = world.run({"instance_id": replacement, "device": "/dev/sdf", "dry_run": True})
    assert done["recovery_point_id"].endswith(f"/{world.iid}/ebs")  # the original's newest
    with pytest.raises(InvalidInputError, match=f"stands for it now, {replacement}"):
        world.run({"instance_id": world.iid, "device": "/dev/sdf"})


def test_a_retried_step_does_not_attach_twice() -> None:
    world = World()
    execution = world.execution()
    state = begin({"instance_id": world.iid, "device": "/dev/sdf"}, execution, world.ports, T0)
    while state["stage"] != "wait-attached":
        previous = state
        state = advance(state, execution, world.ports)
    # The task that attached is retried (its answer was lost): nothing is attached twice.
    again = advance(previous, execution, world.ports)
    assert again["stage"] == "wait-attached"
    assert [c for c in world.ec2.calls if c[0] == "attach"] == [
        ("attach", f"{state['new_volume_id']}@/dev/sdg")
    ]
