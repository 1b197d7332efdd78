"""The launch's siblings on the shared pace (lifeboat.restore.pace): a drill copy's and an
evacuation member's RunInstances, a volume restore's CreateVolume; and the state machines that
wait for them (Choice → Wait until the moment handed out → the same task, bounded)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeboat import drill
from lifeboat.apps.evacuation import Acted, MemberEvent
from lifeboat.apps.stages import act, member_check
from lifeboat.drill.models import DrillLaunched
from lifeboat.drill.provenance import provenance_key
from lifeboat.models import ExecutionContext, PointStatus, RecoveryPoint, VolumeSnapshot
from lifeboat.pace import WAKE_LEAD, SharedPacing
from lifeboat.plans import Kind
from lifeboat.prices import wait_state_break_even
from lifeboat.restore.models import LaunchDeferred
from lifeboat.restore.pace import MAX_LAUNCH_WAITS
from lifeboat.timeutil import iso, parse_iso
from lifeboat.volumes.stages import begin as begin_volume
from lifeboat.volumes.steps import advance
from tests.fakes.catalog import FakeCatalog
from tests.fakes.common import TaskClock
from tests.fakes.ports import fake_ports
from tests.fakes.volumes import FakeVolumes
from tests.worlds.drill import PLANS as DRILL_PLANS
from tests.worlds.drill import event as drill_event
from tests.worlds.drill import make_drill_world
from tests.worlds.restore import ARN, NOW, make_world, run

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0
BREAK_EVEN = wait_state_break_even(512)


def pacing_for(catalog: FakeCatalog, clock: TaskClock) -> SharedPacing:
    """A task's own pacing (each Lambda invocation its own process)."""
    return SharedPacing(
        catalog.reserve_pace,
        "us-east-1",
        0.8,
        inline_wait=BREAK_EVEN,
        sleep=clock.sleep,
        clock=clock,
    )


def drain(catalog: FakeCatalog, api: str, until: float) -> None:
    """Another execution of the stack has taken the bucket's calls until ``until``."""
    key = f"us-east-1#{api}"
    assert catalog.write_pace(key, until, catalog.read_pace(key))


# --- a drill copy ---------------------------------------------------------------------------------
def test_a_drill_copy_waits_for_the_pace_and_keeps_its_first_request_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given, drills, _ = make_drill_world(monkeypatch)
    clock = TaskClock(T0)
    given.catalog.pace_clock = clock
    drain(given.catalog, "RunInstances", T0 + 60)
    payload = {"plan": "standard"}
    begun = drill.begin(drill_event(payload, "drill-1", {}), DRILL_PLANS, given.ports, NOW)
    web = next(t for t in begun.model_dump(mode="json")["resources"] if t["type"] == "instance")
    item: dict[str, Any] = {"target": web}
    # When the copy's launch meets a drained bucket, it stops (no copy, no sleep)
    pacing = pacing_for(given.catalog, clock)
    stopped = drill.launch(drill_event(payload, "drill-1", item), given.ports, NOW, pacing)
    assert isinstance(stopped, LaunchDeferred) and stopped.reserved == {"RunInstances": 1}
    assert not drills.launches and clock.slept == []
    # with its provenance recorded first (the sweeper's proof, the RTO's start)
    (record,) = given.catalog.records(provenance_key(ARN + "drill-1"))
    assert record["launched_at"] == iso(NOW)
    reserved = given.catalog.read_pace("us-east-1#RunInstances")
    # A tear-down reached now (the drill's Catch) finds no copy and says so
    item["launch"] = {"launched": stopped.model_dump(mode="json")}
    with pytest.raises(Exception, match="Launch's result is missing"):
        drill_event(payload, "drill-1", item).launched()
    # When WaitForDrillCopyPace has waited and the task runs again, minutes later
    clock.at = parse_iso(stopped.wait_until).timestamp()
    later = NOW.replace(minute=1)
    again = pacing_for(given.catalog, clock)
    made = drill.launch(drill_event(payload, "drill-1", item), given.ports, later, again)
    # Then it launches the copy once, spends its reservation, and the RTO counts from the
    # first request (the wait for the pace is part of the recovery)
    assert isinstance(made, DrillLaunched) and made.waits == 1 and made.requested_at == NOW
    assert len(drills.launches) == 1
    assert given.catalog.read_pace("us-east-1#RunInstances") == reserved


def test_a_drill_database_calls_no_paced_api(monkeypatch: pytest.MonkeyPatch) -> None:
    given, _, _ = make_drill_world(monkeypatch)
    clock = TaskClock(T0)
    given.catalog.pace_clock = clock
    payload = {"plan": "standard"}
    begun = drill.begin(drill_event(payload, "drill-1", {}), DRILL_PLANS, given.ports, NOW)
    db = next(t for t in begun.model_dump(mode="json")["resources"] if t["type"] == "db")
    pacing = pacing_for(given.catalog, clock)
    made = drill.launch(drill_event(payload, "drill-1", {"target": db}), given.ports, NOW, pacing)
    assert isinstance(made, DrillLaunched) and made.type == "db"
    assert not [k for k in given.catalog.items if k[0].startswith("PACE#")]


# --- an evacuation member ---------------------------------------------------------------------
def test_an_evacuation_member_waits_for_the_pace_then_launches_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = make_world(monkeypatch)
    clock = TaskClock(T0)
    world.catalog.pace_clock = clock
    drain(world.catalog, "RunInstances", T0 + 60)
    state, _ = run(world, {"instance_id": world.web1}, until="begin")
    member = f"{ARN}evac-1/{world.web1}"
    step = {
        "resource_id": world.web1,
        "kind": "instance",
        "tier": "web",
        "action": "restore_instance",
        "source_az": "us-east-1a",
        "execution_name": f"evac-1-{world.web1}",
        "execution_arn": member,
        "restore": state["begin"]["plan"],
    }

    def event(member_state: dict[str, Any], stage: str = "act") -> MemberEvent:
        return MemberEvent.model_validate(
            {
                "stage": stage,
                "state": {"step": step, **member_state},
                "execution": {"Id": ARN + "evac-1", "Name": "evac-1", "StartTime": iso(NOW)},
            }
        )

    stopped = act(event({}), world.ports, NOW, pacing_for(world.catalog, clock))
    assert isinstance(stopped, LaunchDeferred) and not world.ec2.launches
    reserved = world.catalog.read_pace("us-east-1#RunInstances")
    waiting = {"act": {"result": stopped.model_dump(mode="json")}}
    with pytest.raises(Exception, match="first task result is missing"):
        event(waiting).acted()  # MemberCheck is never reached while it waits
    clock.at = parse_iso(stopped.wait_until).timestamp()
    later = NOW.replace(minute=2)
    acted = act(event(waiting), world.ports, later, pacing_for(world.catalog, clock))
    assert isinstance(acted, Acted) and acted.waits == 1 and acted.started_at == later
    assert acted.launched is not None and acted.launched["id"] == acted.id
    assert [launch["id"] for launch in world.ec2.launches] == [acted.id]
    assert world.ec2.tags_of(acted.id)["lifeboat:restore-execution"] == member
    assert world.catalog.read_pace("us-east-1#RunInstances") == reserved
    # and the member's health check reads the replacement as before
    checked = event({"act": {"result": acted.model_dump(mode="json")}}, "check")
    deadlines = {"instance": timedelta(hours=1), "db": timedelta(hours=1)}
    assert member_check(checked, world.ports, later, deadlines).healthy


# --- a volume restore -----------------------------------------------------------------------------
def _volume_world() -> tuple[FakeVolumes, FakeCatalog, Any, str]:
    ec2, catalog = FakeVolumes(), FakeCatalog()
    ports = fake_ports(catalog=catalog, volumes=ec2)
    iid = ec2.add_instance(
        {"lifeboat:plan": "standard"}, {"/dev/xvda": "", "/dev/sdf": ""}, "/dev/xvda"
    )
    catalog.put_point(
        RecoveryPoint(
            recovery_point_id=f"run-1/{iid}/ebs",
            run_id="run-1",
            plan="standard",
            rule="hourly",
            kind=Kind.EBS,
            source_id=iid,
            source_type="instance",
            status=PointStatus.COMPLETED,
            created_at=NOW,
            snapshots=[
                VolumeSnapshot(
                    volume_id="vol-d", snapshot_id="snap-data-1", device_name="/dev/sdf", size_gb=20
                )
            ],
        )
    )
    return ec2, catalog, ports, iid


def test_a_volume_restore_s_create_step_waits_for_the_pace_in_its_loop() -> None:
    ec2, catalog, ports, iid = _volume_world()
    clock = TaskClock(T0)
    catalog.pace_clock = clock
    drain(catalog, "CreateVolume", T0 + 60)
    execution = ExecutionContext(id=f"{ARN}vol-1", name="vol-1", start_time=iso(NOW))
    state = begin_volume({"instance_id": iid, "device": "/dev/sdf"}, execution, ports, NOW)
    assert state["stage"] == "create"
    stopped = advance(state, execution, ports, pacing_for(catalog, clock))
    # It stays at create, WaitForVolumeStep waiting until the call is handed out (rounded up)
    ready = T0 + 60 + 1 / 4.0 - 80 / 4.0  # CreateVolume: 80 at once, 4 per second
    assert stopped["stage"] == "create" and not ec2.calls
    assert stopped["wait_seconds"] == (ready - WAKE_LEAD - T0) // 1 and stopped["pace"][
        "reserved"
    ] == {"CreateVolume": 1}
    reserved = catalog.read_pace("us-east-1#CreateVolume")
    clock.at += stopped["wait_seconds"]
    made = advance(stopped, execution, ports, pacing_for(catalog, clock))
    # Called again: the volume created once, the reservation spent, the loop's own wait back
    assert made["stage"] == "wait-available" and ec2.calls == [("create", "snap-data-1")]
    assert made["pace"] is None and made["wait_seconds"] == 5 and made["attempt"] == 2
    assert catalog.read_pace("us-east-1#CreateVolume") == reserved


def test_a_pace_wait_longer_than_the_loop_allows_waits_again_without_reserving() -> None:
    ec2, catalog, ports, iid = _volume_world()
    clock = TaskClock(T0)
    catalog.pace_clock = clock
    drain(catalog, "CreateVolume", T0 + 1000)
    execution = ExecutionContext(id=f"{ARN}vol-2", name="vol-2", start_time=iso(NOW))
    state = begin_volume({"instance_id": iid, "device": "/dev/sdf"}, execution, ports, NOW)
    first = advance(state, execution, ports, pacing_for(catalog, clock))
    assert first["wait_seconds"] == 300 and first["pace_capped"]
    reserved = catalog.read_pace("us-east-1#CreateVolume")
    clock.at += 300
    second = advance(first, execution, ports, pacing_for(catalog, clock))
    assert second["stage"] == "create" and not ec2.calls and second["pace"]["waits"] == 2
    assert catalog.read_pace("us-east-1#CreateVolume") == reserved  # the same reservation
    while second["stage"] == "create":
        clock.at += second["wait_seconds"]
        second = advance(second, execution, ports, pacing_for(catalog, clock))
    assert ec2.calls == [("create", "snap-data-1")] and clock.slept == []


# --- the state machines ---------------------------------------------------------------------------
def _states(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of a machine, inside Maps and Parallels too."""
    found: dict[str, dict[str, Any]] = {}
    names: list[str] = []

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            names.append(name)
            found[name] = state
            inner = state.get("ItemProcessor") or state.get("Iterator")
            if inner:
                walk(inner["States"])
            for branch in state.get("Branches", []):
                walk(branch["States"])

    walk(machine["States"])
    assert len(names) == len(set(names)), "state names must be unique in the whole machine"
    return found


@pytest.mark.parametrize(
    ("machine", "task", "result", "choice", "wait", "exceeded", "go_on", "failed"),
    [
        ("restore", "Launch", "$.launch.launched", "LaunchPaced", "WaitForLaunchPace",
         "LaunchPaceWaitsExceeded", "CheckHealth", "Abort"),
        ("drill", "LaunchDrillCopy", "$.launch.launched", "DrillCopyPaced",
         "WaitForDrillCopyPace", "DrillCopyPaceWaitsExceeded", "CheckDrillCopy",
         "TearDownDrillCopy"),
        ("evacuate", "MemberAct", "$.act.result", "MemberActPaced", "WaitForMemberPace",
         "MemberPaceWaitsExceeded", "MemberCheck", "MemberFailed"),
    ],
)  # fmt: skip
def test_a_deferred_launch_waits_in_its_machine_bounded(  # noqa: PLR0913
    machine: str,
    task: str,
    result: str,
    choice: str,
    wait: str,
    exceeded: str,
    go_on: str,
    failed: str,
) -> None:
    states = _states(json.loads((ROOT / "statemachines" / f"{machine}.asl.json").read_text()))
    launch = states[task]
    # The task keeps its Retry and Catch; its result goes to the Choice
    assert launch["Next"] == choice and launch["Retry"] and launch["Catch"]
    bound, deferred = states[choice]["Choices"]
    assert states[choice]["Default"] == go_on
    assert bound["And"] == [
        {"Variable": f"{result}.deferred", "BooleanEquals": True},
        {"Variable": f"{result}.waits", "NumericGreaterThanEquals": MAX_LAUNCH_WAITS},
    ]
    assert bound["Next"] == exceeded
    assert states[exceeded]["Next"] == failed and states[exceeded]["ResultPath"] == "$.error"
    assert deferred == {"Variable": f"{result}.deferred", "BooleanEquals": True, "Next": wait}
    # Wait until the moment the pace handed out, then the same task (it spends its reservation)
    assert states[wait] == {
        "Type": "Wait",
        "Comment": states[wait]["Comment"],
        "TimestampPath": f"{result}.wait_until",
        "Next": task,
    }


class _PacedTags(FakeVolumes):
    """CreateTags through the task's pacing, as the adapter's Retrier does."""

    pacing: SharedPacing | None = None

    def mark_replaced(self, volume_id: str, execution_arn: str) -> None:
        assert self.pacing is not None
        self.pacing.acquire("CreateTags")
        super().mark_replaced(volume_id, execution_arn)


def test_another_step_s_paced_call_stops_that_step_where_it_was() -> None:
    # Given a data volume replaced in place, and the CreateTags bucket drained by others
    _, catalog, _, _ = _volume_world()
    ec2 = _PacedTags()
    iid = ec2.add_instance(
        {"lifeboat:plan": "standard"}, {"/dev/xvda": "", "/dev/sdf": ""}, "/dev/xvda"
    )
    for point in catalog.all_points():
        catalog.put_point(point.model_copy(update={"source_id": iid}))
    ports = fake_ports(catalog=catalog, volumes=ec2)
    clock = TaskClock(T0)
    catalog.pace_clock = clock
    drain(catalog, "CreateTags", T0 + 60)
    execution = ExecutionContext(id=f"{ARN}vol-3", name="vol-3", start_time=iso(NOW))
    payload = {"instance_id": iid, "device": "/dev/sdf", "replace": True}
    state = begin_volume(payload, execution, ports, NOW)
    original = ec2.instances[iid]["devices"]["/dev/sdf"]
    for _ in range(10):  # create, wait-available, stop, wait-stopped (tags the original)
        ec2.pacing = pacing_for(catalog, clock)
        state = advance(state, execution, ports, ec2.pacing)
        if state["pace"]:
            break
    # When the step that tags the original meets the pace, it stays where it was, not failed
    assert state["stage"] == "wait-stopped" and state["pace"]["reserved"] == {"CreateTags": 1}
    assert not state["failed"] and "lifeboat:replaced-by" not in ec2.volumes[original]["tags"]
    reserved = catalog.read_pace("us-east-1#CreateTags")
    clock.at += state["wait_seconds"]
    ec2.pacing = pacing_for(catalog, clock)
    state = advance(state, execution, ports, ec2.pacing)
    # Then, called again, it tags the original with the call it reserved, and goes on
    assert state["stage"] == "wait-detached" and state["pace"] is None
    assert ec2.volumes[original]["tags"]["lifeboat:replaced-by"] == execution.id
    assert catalog.read_pace("us-east-1#CreateTags") == reserved
