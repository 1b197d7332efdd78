"""Drills keep their promises (issue 20, items 7–9), on the fakes, driven as the drill state
machine drives them: one drill per scheduled slot however often Scheduler delivers it; an
Aurora cluster is drilled (restored, checked, measured, deleted) or listed with the reason it
was not; drills sample what is protected now (lineage-aware), never the catalog's memory."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeboat import drill
from lifeboat import tags as T
from lifeboat.asg.membership import GROUP_TAG
from lifeboat.drill.models import ForeignResourceError
from lifeboat.drill.planner import drill_identifier
from lifeboat.drill.ports import DrillClusterBusyError
from lifeboat.drill.slot import SLOT_EARLY
from lifeboat.drill.stages import record_key
from lifeboat.errors import InvalidInputError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind, PlanSet
from lifeboat.restore.lineage import record_replacement
from lifeboat.timeutil import iso
from tests.fakes.drills import FakeDrills
from tests.fakes.metrics import FakeMetrics
from tests.worlds.drill import PLANS, event, make_drill_world, run_drill
from tests.worlds.restore import ARN, NOW, World, ami_point, ebs_point, instance_config

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[World, FakeDrills, FakeMetrics]:
    return make_drill_world(monkeypatch)


def _records(given: World) -> list[dict[str, Any]]:
    return given.catalog.records("DRILL#standard")


# --- item 7: one drill per scheduled slot ------------------------------------------------------
def test_a_slot_delivered_twice_runs_one_drill(world: Any) -> None:
    # Given Scheduler delivers the Sunday 04:00 slot twice (two executions, same scheduled_time)
    given, drills, _ = world
    slot = {"plan": "standard", "requested_by": "schedule", "scheduled_time": iso(NOW)}
    first_state, first = run_drill(given, slot, name="drill-first")
    second_state, second = run_drill(given, slot, name="drill-second")
    # Then the first drills; the second ends as a duplicate naming it, launching nothing
    assert first["status"] == "succeeded" and len(first["resources"]) == 2
    plan = second_state["begin"]["plan"]
    assert plan["duplicate"] is True and plan["resources"] == []
    assert plan["original_execution"] == ARN + "drill-first"
    assert second["status"] == "duplicate"
    assert len(drills.launches) == 1 and len(drills.dbs) == 1, "every copy made once"
    # ...and records nothing: the slot's one drill is the readiness report's verdict
    (record,) = _records(given)
    assert record["sk"] == record_key("standard", NOW, "drill-first")[1]
    assert first_state["begin"]["plan"]["duplicate"] is False


def test_a_retried_begin_of_the_same_execution_still_drills(world: Any) -> None:
    given, drills, _ = world
    slot = {"plan": "standard", "scheduled_time": iso(NOW)}
    drill.begin(event(slot, "drill-1", {}), PLANS, given.ports, NOW)  # the task, retried
    _state, summary = run_drill(given, slot, name="drill-1")
    assert summary["status"] == "succeeded" and drills.launches


@pytest.mark.parametrize(
    ("ahead", "refused"),
    [(timedelta(0), False), (SLOT_EARLY, False), (SLOT_EARLY + timedelta(seconds=1), True)],
)
def test_a_drill_slot_in_the_future_is_refused_beyond_seconds_of_skew(
    world: Any, ahead: timedelta, refused: bool
) -> None:
    # Scheduler never fires early: a slot ahead of the start by more than clock skew was typed
    # by hand and would take the slot the real trigger is coming for.
    given, drills, _ = world
    slot = {"plan": "standard", "scheduled_time": iso(NOW + ahead)}
    if refused:
        with pytest.raises(InvalidInputError) as err:
            drill.begin(event(slot, "drill-1", {}), PLANS, given.ports, NOW)
        assert err.value.field == "scheduled_time"
        assert given.catalog.runs == {} and not _records(given) and not drills.launches
    else:
        assert not drill.begin(event(slot, "drill-1", {}), PLANS, given.ports, NOW).duplicate


# --- item 8: an Aurora cluster is drilled, or listed with its reason -----------------------------
def _aurora(given: World, with_point: bool = True) -> None:
    given.rds.clusters["elearn-aurora"] = {
        "DBClusterIdentifier": "elearn-aurora",
        "Engine": "aurora-mysql",
        "EngineVersion": "8.0.mysql_aurora.3.05.2",
        "Status": "available",
        "DBClusterMembers": [{"DBInstanceIdentifier": "elearn-aurora-1", "IsClusterWriter": True}],
        "TagList": [{"Key": T.PLAN, "Value": "standard"}],
    }
    given.rds.dbs["elearn-aurora-1"] = {
        "DBInstanceIdentifier": "elearn-aurora-1",
        "DBClusterIdentifier": "elearn-aurora",
        "DBInstanceClass": "db.r6g.large",
        "AvailabilityZone": "us-east-1a",
        "DBInstanceStatus": "available",
        "TagList": [],
    }
    if with_point:
        given.catalog.put_point(
            RecoveryPoint(
                recovery_point_id="rp-aurora-1",
                run_id="run-db-1",
                plan="standard",
                rule="daily",
                kind=Kind.RDS,
                source_id="elearn-aurora",
                source_type="cluster",
                status=PointStatus.COMPLETED,
                created_at=NOW - timedelta(hours=2),
                db_cluster_snapshot_id="lifeboat-elearn-aurora-run-db-1",
            )
        )


def test_an_aurora_cluster_is_restored_checked_measured_and_deleted(world: Any) -> None:
    given, drills, metrics = world
    _aurora(given)
    _state, summary = run_drill(given, {"plan": "standard"})
    results = {r["id"]: r for r in summary["resources"]}
    assert set(results) == {given.web1, "elearn-db", "elearn-aurora"}
    cluster = results["elearn-aurora"]
    assert cluster["type"] == "cluster" and cluster["result"] == "healthy"
    assert cluster["rto_seconds"] == 30.0 and cluster["rpo_seconds"] == 2 * 3600.0
    assert summary["status"] == "succeeded" and summary["not_drilled"] == []
    # restored into the drill network, from the newest cluster snapshot, one instance in
    # another AZ than the writer's, with the writer's class; then deleted, instance and all
    (made,) = drills.clusters.values()
    plan = made["plan"]
    assert made["id"] == drill_identifier("elearn-aurora", "drill-1")
    assert plan.snapshot_id == "lifeboat-elearn-aurora-run-db-1"
    assert plan.subnet_group == "lifeboat-drill" and plan.security_group_ids == ["sg-drilldb"]
    assert plan.instance_class == "db.r6g.large" and plan.target_az != "us-east-1a"
    assert made["tags"][T.DRILL] == ARN + "drill-1" and T.PLAN not in made["tags"]
    assert made["state"] == "deleted" and drills.live() == {}
    assert ("DrillRtoSeconds", "elearn-aurora") in {
        (n, d["Resource"]) for _ns, n, _v, _u, d in metrics.points
    }
    assert given.rds.clusters["elearn-aurora"]["Status"] == "available", "production untouched"


def test_a_cluster_still_deleting_its_instance_is_retried_not_left(world: Any) -> None:
    # RDS deletes the cluster only once its instance is gone: the tear-down raises a typed
    # error that TearDownDrillCopy retries (statemachines/drill.asl.json), then deletes it.
    given, drills, _ = world
    _aurora(given)
    payload = {"plan": "standard", "resource": "elearn-aurora"}
    begun = drill.begin(event(payload, "drill-1", {}), PLANS, given.ports, NOW)
    item: dict[str, Any] = {"target": begun.resources[0].model_dump(mode="json")}
    launched = drill.launch(event(payload, "drill-1", item), given.ports, NOW)
    item["launch"] = {"launched": launched.model_dump(mode="json")}
    drills.busy = 1
    with pytest.raises(DrillClusterBusyError):
        drill.tear_down_resource(event(payload, "drill-1", item), given.ports)
    result = drill.tear_down_resource(event(payload, "drill-1", item), given.ports)  # retried
    assert result.torn_down == [launched.id] and drills.live() == {}
    machine = json.loads((ROOT / "statemachines" / "drill.asl.json").read_text())
    teardown = machine["States"]["DrillEachResource"]["ItemProcessor"]["States"][
        "TearDownDrillCopy"
    ]
    (retry,) = [r for r in teardown["Retry"] if r["ErrorEquals"] == ["DrillClusterBusyError"]]
    waited = sum(
        min(retry["IntervalSeconds"] * retry["BackoffRate"] ** n, retry["MaxDelaySeconds"])
        for n in range(retry["MaxAttempts"])
    )
    assert waited >= 15 * 60, "long enough for RDS to delete an Aurora instance"


def test_a_cluster_that_cannot_be_drilled_fails_the_drill_with_its_reason(world: Any) -> None:
    given, drills, _ = world
    _aurora(given)
    drills.groups = [g for g in drills.groups if g["GroupId"] != "sg-drilldb"]
    _state, summary = run_drill(given, {"plan": "standard"})
    results = {r["id"]: r for r in summary["resources"]}
    assert results["elearn-aurora"]["result"] == "failed"
    assert "no security group tagged lifeboat:drill-tier=db" in results["elearn-aurora"]["error"]
    assert summary["status"] == "failed"


def test_a_protected_resource_not_drilled_is_listed_with_why(world: Any) -> None:
    # A cluster with no completed snapshot yet, and databases off in the drill rule: never
    # silently left out while the drill says N/N.
    given, _drills, _ = world
    _aurora(given, with_point=False)
    _state, summary = run_drill(given, {"plan": "standard"})
    assert {"id": "elearn-aurora", "type": "cluster", "reason": "no completed recovery point"} in (
        summary["not_drilled"]
    )
    raw = PLANS.model_dump(mode="json")
    raw["plans"]["standard"]["drill"]["databases"] = False
    _aurora(given)
    _state, summary = run_drill(given, {"plan": "standard"}, plans=PlanSet.model_validate(raw))
    assert {r["id"] for r in summary["resources"]} == {given.web1}
    reasons = {n["id"]: n["reason"] for n in summary["not_drilled"]}
    assert reasons == {
        "elearn-db": "the plan's drill rule has databases: false",
        "elearn-aurora": "the plan's drill rule has databases: false",
    }


# --- item 9: what is protected now, lineage-aware ---------------------------------------------
def _sampled(sample: dict[str, int]) -> PlanSet:
    raw = PLANS.model_dump(mode="json")
    raw["plans"]["standard"]["drill"]["sample"] = sample
    return PlanSet.model_validate(raw)


def test_a_terminated_untagged_server_is_never_sampled_the_live_one_is(world: Any) -> None:
    # Given an old web server, terminated and untagged, whose points are still catalogued and
    # whose id sorts before the live web-1's
    given, drills, _ = world
    gone = "i-00000000000000000"
    given.ec2.instances[gone] = {"InstanceId": gone, "State": {"Name": "terminated"}, "Tags": []}
    given.catalog.put_points(
        [
            ami_point(gone, NOW - timedelta(days=1), instance_config(), n=7),
            ebs_point(gone, NOW - timedelta(hours=1), n=7),
        ]
    )
    # When the drill samples one web server
    _state, summary = run_drill(given, {"plan": "standard"}, plans=_sampled({"web": 1}))
    # Then the live web-1 is drilled; the terminated one is neither drilled nor "skipped"
    drilled = {r["id"] for r in summary["resources"]}
    assert given.web1 in drilled and gone not in drilled
    assert gone not in summary["skipped"]
    assert [launch["plan"].source_id for launch in drills.launches] == [given.web1]


def test_after_a_restore_the_replacement_is_drilled_not_the_fenced_original(world: Any) -> None:
    # Given web-1 was restored: the original is stopped and fenced, its replacement carries the
    # plan tag and has no points of its own yet (the lineage record says whose it stands for)
    given, drills, _ = world
    original = given.web1
    given.ec2.instances[original]["State"] = {"Name": "stopped"}
    given.ec2.instances[original]["Tags"].append({"Key": T.FENCED, "Value": "restore-1"})
    replacement = given.ec2.add_instance("us-east-1b", {"Name": "web-1", T.PLAN: "standard"})
    record_replacement(given.catalog, original, replacement, ARN + "restore-1", NOW)
    _state, summary = run_drill(given, {"plan": "standard"})
    drilled = {r["id"]: r for r in summary["resources"]}
    assert set(drilled) == {replacement, "elearn-db"}
    assert drilled[replacement]["result"] == "healthy"
    # ...from the server's points (the original's), which the drill held while it ran
    (launch,) = drills.launches
    assert launch["plan"].image_id and launch["plan"].source_id == replacement
    pk, sk = record_key("standard", NOW, "drill-1")
    (record,) = [r for r in given.catalog.records(pk) if r["sk"] == sk]
    assert record["status"] == "succeeded"


def test_an_auto_scaling_group_member_is_never_drilled_one_by_one(world: Any) -> None:
    # Given a member of an Auto Scaling group: EC2 Auto Scaling propagated the group's tags
    # (lifeboat:plan among them) and the instance has catalogued points of its own
    given, drills, _ = world
    member = given.ec2.add_instance(
        "us-east-1b", {"Name": "web-asg", T.PLAN: "standard", GROUP_TAG: "elearn-web"}
    )
    given.catalog.put_points([ami_point(member, NOW - timedelta(hours=2), instance_config(), n=9)])
    # When the plan is drilled
    _state, summary = run_drill(given, {"plan": "standard"})
    # Then the member is neither launched nor counted: it is listed as not drilled, with why
    assert member not in {r["id"] for r in summary["resources"]}
    assert [launch["plan"].source_id for launch in drills.launches] == [given.web1]
    (why,) = [n for n in summary["not_drilled"] if n["id"] == member]
    assert "elearn-web" in why["reason"] and "Auto Scaling group" in why["reason"]
    # ...and a drill asked for that one member by name is refused, naming why
    with pytest.raises(InvalidInputError) as err:
        request = {"plan": "standard", "resource": member}
        drill.begin(event(request, "d-2", {}), PLANS, given.ports, NOW)
    assert err.value.field == "resource" and "Auto Scaling group" in str(err.value)


@pytest.mark.parametrize("kind", ["cluster", "db"])
def test_a_drill_deletes_only_copies_its_catalog_says_it_launched(world: Any, kind: str) -> None:
    # Given, while the drill runs, someone makes a database (an Aurora cluster) with the very
    # identifier and tags this drill would give a copy of "ledger" -- a source this drill never
    # launched (no DRILLEXEC provenance record for it)
    given, drills, _ = world
    forged_id = drill_identifier("ledger", "drill-1")
    tags = {T.DRILL: ARN + "drill-1", T.DRILL_SOURCE: "ledger"}

    def forge(at: Any) -> None:
        store = drills.clusters if kind == "cluster" else drills.dbs
        if forged_id not in store:
            store[forged_id] = {"id": forged_id, "state": "available", "tags": dict(tags),
                                "launched_at": at, "members": []}  # fmt: skip

    _state, summary = run_drill(given, {"plan": "standard"}, during=forge)
    # Then its tear-down leaves it alone and says so: name and tags are not provenance
    assert forged_id in drills.live(), "deleted a database this drill never launched"
    assert any(forged_id in line and "refused" in line for line in summary["not_torn_down"])


def test_a_retried_cluster_launch_still_gives_the_copy_its_instance(world: Any) -> None:
    # Given the launch task restored the cluster, then died before CreateDBInstance (a
    # throttle after botocore's retries, a Lambda time-out): Step Functions retries the task
    given, drills, _ = world
    _aurora(given)
    payload = {"plan": "standard", "resource": "elearn-aurora"}
    begun = drill.begin(event(payload, "drill-1", {}), PLANS, given.ports, NOW)
    item: dict[str, Any] = {"target": begun.resources[0].model_dump(mode="json")}
    drills.fail = {"add_instance": "ThrottlingException"}
    with pytest.raises(Exception, match="ThrottlingException"):
        drill.launch(event(payload, "drill-1", item), given.ports, NOW)
    drills.fail = {}
    launched = drill.launch(event(payload, "drill-1", item), given.ports, NOW)  # retried
    # Then the retried task adopts its cluster and still adds its one instance: a cluster with
    # no instance never becomes available, and the drill would wait hours to call it unhealthy
    (made,) = drills.clusters.values()
    assert launched.id == made["id"] and len(made["members"]) == 1
    item["launch"] = {"launched": launched.model_dump(mode="json")}
    health = drill.check(event(payload, "drill-1", item), given.ports, NOW + timedelta(minutes=1))
    assert health.healthy


@pytest.mark.parametrize("kind", ["db", "cluster"])
def test_a_copy_made_before_the_drill_asked_for_it_is_never_adopted(world: Any, kind: str) -> None:
    # Given a database (an Aurora cluster) launched later in the drill (the Map reaches it an
    # hour and a half in), and someone made one with its derived identifier and this drill's
    # tags half an hour before that request: a retried task cannot have made it
    given, drills, _ = world
    if kind == "cluster":
        _aurora(given)
    source = "elearn-aurora" if kind == "cluster" else "elearn-db"
    payload = {"plan": "standard", "resource": source}
    begun = drill.begin(event(payload, "drill-1", {}), PLANS, given.ports, NOW)
    item: dict[str, Any] = {"target": begun.resources[0].model_dump(mode="json")}
    forged_id = drill_identifier(source, "drill-1")
    store = drills.clusters if kind == "cluster" else drills.dbs
    store[forged_id] = {"id": forged_id, "state": "available", "members": [],
                        "tags": {T.DRILL: ARN + "drill-1", T.DRILL_SOURCE: source},
                        "launched_at": NOW + timedelta(hours=1)}  # fmt: skip
    # When the drill asks for its copy
    with pytest.raises(ForeignResourceError):
        drill.launch(event(payload, "drill-1", item), given.ports, NOW + timedelta(hours=1.5))
    # Then it neither drills nor deletes it
    item["error"] = {"Error": "ForeignResourceError", "Cause": "x"}
    result = drill.tear_down_resource(event(payload, "drill-1", item), given.ports)
    assert result.result == "failed" and forged_id in drills.live()
