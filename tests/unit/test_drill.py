"""Drills on the in-memory fakes, driven as statemachines/drill.asl.json drives them: a drill
restores each resource into the drill network, measures RTO and RPO, always tears down (on
success, on an unhealthy copy, on a failure mid-way, run twice), never touches production; the
sweeper deletes only recorded drill copies older than the time-out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lifeboat import drill
from lifeboat import tags as T
from lifeboat.drill.models import DrillInput, DrillRefusedError
from lifeboat.drill.planner import drill_identifier, plan_drill
from lifeboat.drill.stages import record_key
from lifeboat.errors import InvalidInputError
from lifeboat.plans import PlanSet
from lifeboat.timeutil import iso
from tests.fakes.drills import FakeDrills
from tests.fakes.metrics import FakeMetrics
from tests.worlds.drill import (
    DRILL_VPC,
    PLANS,
    drill_network,
    event,
    make_drill_world,
    production,
    run_drill,
)
from tests.worlds.restore import ARN, EIP, NOW, TG, VPC, World, instance_config

pytestmark = pytest.mark.unit


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[World, FakeDrills, FakeMetrics]:
    return make_drill_world(monkeypatch)


# --- success ---------------------------------------------------------------------------------
def test_drill_restores_measures_and_tears_everything_down(world: Any) -> None:
    given, drills, metrics = world
    before = production(given)
    _state, summary = run_drill(given, {"plan": "standard"})
    assert summary["status"] == "succeeded"
    results = {r["id"]: r for r in summary["resources"]}
    assert set(results) == {given.web1, "elearn-db"}
    assert all(r["result"] == "healthy" for r in results.values())
    # RTO: request → healthy (the first check, 30 s later); RPO: the age of the data restored
    # (the hourly EBS set, 1 h old; the DB snapshot, 3 h old).
    assert results[given.web1]["rto_seconds"] == 30.0
    assert results[given.web1]["rpo_seconds"] == 3600.0
    assert results["elearn-db"]["rpo_seconds"] == 3 * 3600.0
    assert drills.live() == {}, "nothing of the drill is left"
    assert production(given) == before, "production untouched"
    assert given.ec2.eips[EIP]["InstanceId"] == given.web1 and given.ec2.groups[TG] == {given.web1}
    names = {(n, d["Resource"]) for _ns, n, _v, _u, d in metrics.points}
    assert ("DrillRtoSeconds", given.web1) in names and ("DrillRpoSeconds", "elearn-db") in names
    pk, sk = record_key("standard", NOW, "drill-1")
    (record,) = [r for r in given.catalog.records(pk) if r["sk"] == sk]
    assert record["status"] == "succeeded" and record["finished_at"]
    assert {r["id"] for r in record["resources"]} == {given.web1, "elearn-db"}
    assert set(record["resources"][0]) == {
        "id",
        "type",
        "result",
        "rto_seconds",
        "rpo_seconds",
        "error",
    }


def test_the_copy_goes_into_the_drill_network_in_another_az_without_role_or_plan(
    world: Any,
) -> None:
    given, drills, _ = world
    run_drill(given, {"plan": "standard", "resource": given.web1})
    (launch,) = drills.launches
    (instance,) = drills.instances.values()
    assert instance["subnet"] == "subnet-drillbweb"  # us-east-1b: the original ran in 1a
    assert instance["groups"] == ["sg-drillweb"]
    assert launch["plan"].iam_instance_profile_arn is None
    assert all(v["delete_on_termination"] for v in instance["volumes"])
    # the newer hourly EBS set, not the AMI's data volume
    assert {v["snapshot_id"] for v in instance["volumes"]} >= {"snap-hdata-1"}
    assert instance["tags"][T.DRILL] == ARN + "drill-1"
    assert T.PLAN not in instance["tags"] and T.MANAGED not in instance["tags"]
    assert not drills.dbs


def test_the_drill_database_is_a_new_single_az_instance_in_the_drill_subnet_group(
    world: Any,
) -> None:
    given, drills, _ = world
    run_drill(given, {"plan": "standard", "resource": "elearn-db"})
    (db,) = drills.dbs.values()
    plan = db["plan"]
    assert plan.new_identifier == drill_identifier("elearn-db", "drill-1")
    assert plan.new_identifier.startswith("lifeboat-drill-elearn-db-")
    assert plan.subnet_group == "lifeboat-drill" and plan.security_group_ids == ["sg-drilldb"]
    assert plan.target_az != "us-east-1a" and not plan.multi_az
    assert db["state"] == "deleted"


# --- failure paths: always torn down -----------------------------------------------------------
def test_an_unhealthy_copy_is_torn_down_and_the_drill_fails(world: Any) -> None:
    given, drills, metrics = world
    drills.statuses = _Impaired()
    _state, summary = run_drill(given, {"plan": "standard", "resource": given.web1}, checks=2)
    assert summary["status"] == "failed"
    (result,) = summary["resources"]
    assert result["result"] == "unhealthy" and result["rto_seconds"] is None
    assert drills.live() == {}
    assert not [p for p in metrics.points if p[1] == "DrillRtoSeconds"]


class _Impaired(dict[str, dict[str, str]]):
    def get(self, key: str, default: Any = None) -> dict[str, str]:
        return {"system": "impaired", "instance": "ok"}


def test_a_failure_mid_way_still_tears_down(world: Any) -> None:
    given, drills, _ = world
    drills.fail["status"] = "InternalError"  # launched, then the health check fails
    before = production(given)
    _state, summary = run_drill(given, {"plan": "standard"})
    assert summary["status"] == "failed"
    assert {r["result"] for r in summary["resources"]} == {"failed"}
    assert all("InternalError" in (r["error"] or "") for r in summary["resources"])
    assert drills.live() == {}
    assert production(given) == before


def test_a_failed_tear_down_is_finished_by_finish(world: Any) -> None:
    given, drills, _ = world
    drills.fail["terminate"] = "InternalError"
    state, _ = run_drill(given, {"plan": "standard", "resource": given.web1})
    assert state["results"][0]["result"] == "failed"
    assert drills.live(), "still standing after the failed tear-down"
    summary = drill.finish(event({"plan": "standard"}, "drill-1", state), given.ports, NOW)
    assert summary["status"] == "failed" and summary["not_torn_down"]
    del drills.fail["terminate"]
    summary = drill.finish(event({"plan": "standard"}, "drill-1", state), given.ports, NOW)
    assert summary["leftovers_torn_down"] and drills.live() == {}


def test_a_launch_that_fails_leaves_nothing_and_says_why(world: Any) -> None:
    given, drills, _ = world
    drills.fail["launch"] = "InsufficientInstanceCapacity"
    _state, summary = run_drill(given, {"plan": "standard", "resource": given.web1})
    (result,) = summary["resources"]
    assert result["result"] == "failed" and "InsufficientInstanceCapacity" in result["error"]
    assert drills.live() == {}


def test_run_twice_each_drill_tears_down_only_its_own(world: Any) -> None:
    given, drills, _ = world
    first, _ = run_drill(given, {"plan": "standard"}, name="drill-1")
    second, summary = run_drill(given, {"plan": "standard"}, name="drill-2")
    assert summary["status"] == "succeeded" and drills.live() == {}
    assert len(drills.launches) == 1 + 1  # one instance per drill (plus a DB each)
    # A retried launch finds its copy instead of launching a second one.
    (web,) = [t for t in second["begin"]["plan"]["resources"] if t["type"] == "instance"]
    item = {"target": web}
    given.ports.drills = drills
    drill.launch(event({"plan": "standard"}, "drill-3", item), given.ports, NOW)
    drill.launch(event({"plan": "standard"}, "drill-3", item), given.ports, NOW)
    assert len(drills.launches) == 3
    assert len(drills.resources(ARN + "drill-3")) == 1
    # Another drill's tear-down does not touch drill-3's copy.
    drill.finish(event({"plan": "standard"}, "drill-2", second), given.ports, NOW)
    assert len(drills.resources(ARN + "drill-3")) == 1


# --- refusals ---------------------------------------------------------------------------------
def test_a_production_security_group_tagged_for_drills_refuses_the_drill(world: Any) -> None:
    given, drills, _ = world
    drills.groups.append(
        {
            "GroupId": "sg-0123456789abcdef0",
            "VpcId": DRILL_VPC,
            "Tags": [{"Key": T.DRILL_TIER, "Value": "web"}],
        }
    )
    _state, summary = run_drill(given, {"plan": "standard"})
    assert summary["status"] == "failed" and "DrillRefusedError" in summary["error"]
    assert drills.launches == [] and drills.live() == {}


def test_a_production_subnet_tagged_for_drills_is_refused() -> None:
    from tests.worlds.restore import ami_point

    config = instance_config().model_copy(update={"subnet_id": "subnet-drillbweb"})
    points = [ami_point("i-0123456789abcdef0", NOW, config)]
    network = drill_network().network()
    rule = PLANS.plans["standard"].drill
    assert rule is not None
    with pytest.raises(DrillRefusedError, match="subnet-drillbweb"):
        plan_drill(DrillInput(plan="standard"), rule, points, network, [], "d")


def test_a_drill_subnet_any_plan_s_protected_instance_uses_refuses_the_drill(world: Any) -> None:
    # Given an instance of another plan (not drilled, never backed up yet: only its plan tag
    # says it is production) running in a subnet someone tagged for drills.
    given, drills, _ = world
    given.ec2.instances["i-0other0000000000a"] = {
        "InstanceId": "i-0other0000000000a",
        "State": {"Name": "running"},
        "VpcId": DRILL_VPC,
        "SubnetId": "subnet-drillbweb",
        "SecurityGroups": [{"GroupId": "sg-0other"}],
        "Tags": [{"Key": T.PLAN, "Value": "other"}],
    }
    _state, summary = run_drill(given, {"plan": "standard"})
    assert summary["status"] == "failed" and "DrillRefusedError" in summary["error"]
    assert "subnet-drillbweb" in summary["error"]
    assert drills.launches == [] and drills.live() == {}


def test_a_drill_subnet_of_another_plan_s_catalog_point_refuses_the_drill(world: Any) -> None:
    # Given a point of another declared plan whose instance (gone now) used the drill subnet.
    from tests.worlds.restore import ami_point

    given, drills, _ = world
    config = instance_config().model_copy(update={"subnet_id": "subnet-drillaweb"})
    other = ami_point("i-0gone00000000000b", NOW, config, n=9).model_copy(update={"plan": "other"})
    given.catalog.put_point(other)
    plans = PlanSet.model_validate(
        {"plans": {**PLANS.model_dump()["plans"], "other": PLANS.model_dump()["plans"]["standard"]}}
    )
    _state, summary = run_drill(given, {"plan": "standard"}, plans=plans)
    assert "DrillRefusedError" in summary["error"] and "subnet-drillaweb" in summary["error"]
    assert drills.launches == []


def test_a_drill_network_inside_a_production_vpc_refuses_the_drill(world: Any) -> None:
    # Given drill subnets and groups of their own, but in the VPC web-1 runs in: a copy there
    # would reach production over the VPC's local route.
    given, drills, _ = world
    for item in [*drills.subnets, *drills.groups]:
        item["VpcId"] = VPC
    _state, summary = run_drill(given, {"plan": "standard"})
    assert summary["status"] == "failed" and "DrillRefusedError" in summary["error"]
    assert "VPC of its own" in summary["error"] and VPC in summary["error"]
    assert drills.launches == [] and drills.dbs == {}


def test_no_drill_subnet_outside_the_original_az_fails_that_resource_only(world: Any) -> None:
    given, drills, _ = world
    drills.subnets = [s for s in drills.subnets if s["AvailabilityZone"] == "us-east-1a"]
    _state, summary = run_drill(given, {"plan": "standard"})
    results = {r["id"]: r for r in summary["resources"]}
    assert results[given.web1]["result"] == "failed"
    assert "outside us-east-1a" in results[given.web1]["error"]
    assert results["elearn-db"]["result"] == "healthy"
    assert drills.live() == {}


def test_sample_per_tier_and_unknown_resource(world: Any) -> None:
    given, _drills, _ = world
    rule = PLANS.plans["standard"].drill
    assert rule is not None
    points = given.catalog.all_points()
    sampled = rule.model_copy(update={"sample": {"web": 0}})
    targets, skipped = plan_drill(
        DrillInput(plan="standard"), sampled, points, drill_network().network(), [], "d"
    )
    assert skipped == [given.web1] and [t.id for t in targets] == ["elearn-db"]
    with pytest.raises(InvalidInputError, match="resource"):
        plan_drill(
            DrillInput(plan="standard", resource="i-0000000000000000f"),
            rule,
            points,
            drill_network().network(),
            [],
            "d",
        )


# --- the sweeper ------------------------------------------------------------------------------
def test_sweeper_deletes_only_recorded_drill_copies_older_than_the_time_out(world: Any) -> None:
    given, drills, _ = world
    drills.fail["terminate"] = "InternalError"
    drills.fail["delete_db"] = "InternalError"
    run_drill(given, {"plan": "standard"})  # tear-downs fail: two copies left
    del drills.fail["terminate"], drills.fail["delete_db"]
    left = set(drills.live())
    assert len(left) == 2
    old = NOW - timedelta(hours=6)
    # A production instance with a forged drill tag; a forged tag naming the same drill on a
    # resource it never launched; a drill-looking DB without a catalog record.
    drills.plant(
        "instance",
        "i-0prod00000000000a",
        {T.PLAN: "standard", T.DRILL: ARN + "drill-1", T.DRILL_SOURCE: given.web1},
        old,
    )
    drills.plant(
        "instance",
        "i-0forged000000000b",
        {T.DRILL: ARN + "drill-1", T.DRILL_SOURCE: "i-0notdrilled00000"},
        old,
    )
    drills.plant("db", "lifeboat-drill-x-1", {T.DRILL: ARN + "drill-9", T.DRILL_SOURCE: "x"}, old)
    drills.plant("db", "elearn-db", {T.DRILL: ARN + "drill-1", T.DRILL_SOURCE: "elearn-db"}, old)
    # Young copies stay (their drill may still be running).
    young = drill.sweep(given.ports, NOW + timedelta(hours=1))
    assert young["deleted"] == [] and set(young["running"]) == left
    swept = drill.sweep(given.ports, NOW + timedelta(hours=6))
    assert set(swept["deleted"]) == left
    assert set(swept["refused"]) == {
        "i-0prod00000000000a",
        "i-0forged000000000b",
        "lifeboat-drill-x-1",
        "elearn-db",
    }
    assert set(drills.live()) == set(swept["refused"])


def test_a_forged_drill_tag_on_an_older_resource_is_never_adopted_nor_torn_down(
    world: Any,
) -> None:
    # Someone tags an unprotected production server with the coming drill's execution and a
    # source it will drill: older than the drill, it is neither taken as the copy nor deleted.
    given, drills, _ = world
    forged = {T.DRILL: ARN + "drill-1", T.DRILL_SOURCE: given.web1}
    drills.plant("instance", "i-0prod00000000000f", forged, NOW - timedelta(days=30))
    run_drill(given, {"plan": "standard"})
    assert "i-0prod00000000000f" in drills.live()
    assert set(drills.live()) == {"i-0prod00000000000f"}  # every real copy is gone


def test_sweeper_with_nothing_to_do(world: Any) -> None:
    given, _drills, _ = world
    assert drill.sweep(given.ports, NOW) == {
        "deleted": [],
        "refused": {},
        "running": [],
        "settled": [],
    }


def test_a_drill_that_never_finished_is_recorded_failed_after_its_time_out(world: Any) -> None:
    given, _drills, _ = world
    started = NOW - timedelta(hours=2)
    sk = f"{iso(started)}#drill-stopped"
    given.ports.catalog.put_record(
        "DRILL#standard", sk, {"status": "running", "started_at": iso(started), "resources": []}
    )
    assert drill.sweep(given.ports, NOW)["settled"] == []  # may still be running
    later = NOW + timedelta(hours=4)
    assert drill.sweep(given.ports, later)["settled"] == [sk]
    (record,) = given.ports.catalog.records("DRILL#standard")
    assert record["status"] == "failed" and "timed out" in record["error"]
    assert record["finished_at"] == iso(later)
    assert drill.sweep(given.ports, later)["settled"] == []  # settled once


def test_begin_refuses_a_plan_without_drill(world: Any) -> None:
    given, _drills, _ = world
    bare = PlanSet.model_validate(
        {"plans": {"standard": PLANS.plans["standard"].model_copy(update={"drill": None})}}
    )
    with pytest.raises(InvalidInputError, match="no drill rule"):
        drill.begin(event({"plan": "standard"}, "d", {}), bare, given.ports, NOW)
    with pytest.raises(InvalidInputError, match="unknown plan"):
        drill.begin(event({"plan": "other"}, "d", {}), PLANS, given.ports, NOW)


def test_errors_are_recorded_as_their_message_not_a_stack_trace() -> None:
    from lifeboat.drill.stages import describe_error

    cause = '{"errorType": "X", "errorMessage": "no capacity", "stackTrace": ["..."]}'
    assert describe_error("NoCapacityError", cause) == "NoCapacityError: no capacity"
    assert describe_error("States.Timeout", None) == "States.Timeout"
    assert describe_error("E", "plain words") == "E: plain words"
