"""What a drill launches, and the clocks it keeps — each test tries to break one promise:

* the copy has no public address, no key pair, and every volume (an AMI device the catalog never
  listed, marked ``DeleteOnTermination: false`` by the AMI, included) goes with it — checked on
  the request ``DrillOps.launch`` really sends, against EC2's own rules for what a launch
  creates and a termination deletes (``AwsLikeEc2Client``);
* a database already in the copy's place is adopted only when this drill made it;
* a retried launch does not restart the RTO clock;
* no health deadline outlives the drill's own time-out, and nothing launches too late to check;
* the sweeper ages a database RDS has not dated yet, and settles drills of any plan."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lifeboat import drill
from lifeboat import tags as T
from lifeboat.aws.clients import Retrier
from lifeboat.aws.drill_ops import DrillOps
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.rds import RdsGateway
from lifeboat.drill.models import DRILL_TIMEOUT, DrillInput, DrillTarget
from lifeboat.drill.planner import drill_identifier, drill_tags, plan_drill
from lifeboat.drill.provenance import provenance_key
from lifeboat.drill.stages import client_token, record_key
from lifeboat.plans import PlanSet
from lifeboat.restore.models import Candidate
from lifeboat.timeutil import iso
from tests.fakes.drills import AwsLikeEc2Client, FakeDrills
from tests.fakes.metrics import FakeMetrics
from tests.worlds.drill import PLANS, drill_network, event, make_drill_world, run_drill
from tests.worlds.restore import ARN, NOW, World

pytestmark = pytest.mark.unit
DRILL = ARN + "drill-1"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[World, FakeDrills, FakeMetrics]:
    return make_drill_world(monkeypatch)


def web_target(given: World, key_name: str | None = None) -> DrillTarget:
    points = [
        p.model_copy(update={"instance": p.instance.model_copy(update={"key_name": key_name})})
        if p.instance is not None
        else p
        for p in given.catalog.all_points()
    ]
    rule = PLANS.plans["standard"].drill
    assert rule is not None
    targets, _ = plan_drill(
        DrillInput(plan="standard", resource=given.web1),
        rule,
        points,
        drill_network().network(),
        [],
        "drill-1",
    )
    (target,) = targets
    return target


def ami(image_id: str) -> dict[str, Any]:
    """The AMI as DescribeImages gives it: every EBS device DeleteOnTermination false, and a
    scratch device (/dev/sdg) the catalog never recorded."""

    def ebs(snapshot: str, size: int) -> dict[str, Any]:
        return {
            "SnapshotId": snapshot,
            "VolumeSize": size,
            "VolumeType": "gp3",
            "Iops": 3000,
            "Throughput": 125,
            "DeleteOnTermination": False,
        }

    return {
        "ImageId": image_id,
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/sda1", "Ebs": ebs("snap-root-1", 8)},
            {"DeviceName": "/dev/sdf", "Ebs": ebs("snap-data-1", 20)},
            {"DeviceName": "/dev/sdg", "Ebs": ebs("snap-scratch-1", 50)},
            {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
        ],
    }


def launch_on_ec2(target: DrillTarget) -> tuple[AwsLikeEc2Client, DrillOps, str]:
    assert target.instance is not None and target.subnet_id and target.availability_zone
    ec2 = AwsLikeEc2Client(images={target.instance.image_id: ami(target.instance.image_id)})
    ops = DrillOps(Ec2Gateway(Retrier(), ec2=ec2), RdsGateway(Retrier(), rds=object()))
    candidate = Candidate(availability_zone=target.availability_zone, subnet_id=target.subnet_id)
    tags = drill_tags(DRILL, target.id, "web-1")
    instance = ops.launch(target.instance, candidate, client_token(DRILL, target.id), tags)
    return ec2, ops, str(instance["InstanceId"])


# --- the launch request (what RunInstances really receives) -----------------------------------
def test_the_copy_gets_no_public_address_and_no_key_pair(world: Any) -> None:
    given, _drills, _ = world
    target = web_target(given, key_name="elearn-production")
    assert target.instance is not None and target.instance.key_name is None  # the planner
    # Even a plan that carries the key (an older state, a future planner) launches without it.
    planned = target.model_copy(
        update={"instance": target.instance.model_copy(update={"key_name": "elearn-production"})}
    )
    ec2, _ops, _iid = launch_on_ec2(planned)
    (request,) = ec2.requests
    assert "KeyName" not in request
    assert "SubnetId" not in request and "SecurityGroupIds" not in request
    assert request["NetworkInterfaces"] == [
        {
            "DeviceIndex": 0,
            "SubnetId": "subnet-drillbweb",
            "Groups": ["sg-drillweb"],
            "AssociatePublicIpAddress": False,
            "DeleteOnTermination": True,
        }
    ]
    assert "IamInstanceProfile" not in request  # no check configured: no role at all
    assert {s["ResourceType"] for s in request["TagSpecifications"]} == {
        "instance",
        "volume",
        "network-interface",
    }
    for spec in request["TagSpecifications"]:
        tags = T.to_dict(spec["Tags"])
        assert tags[T.DRILL] == DRILL and T.PLAN not in tags and T.MANAGED not in tags


def test_every_volume_goes_with_the_copy_even_an_ami_device_the_catalog_never_listed(
    world: Any,
) -> None:
    # Given an AMI whose every device says DeleteOnTermination false, one of them (/dev/sdg) not
    # in the catalog: EC2 creates a volume for it whatever the request names.
    given, _drills, _ = world
    ec2, ops, instance_id = launch_on_ec2(web_target(given))
    devices = sorted(v["device"] for v in ec2.volumes.values())
    assert devices == ["/dev/sda1", "/dev/sdf", "/dev/sdg"]
    assert all(T.to_dict(v["Tags"])[T.DRILL] == DRILL for v in ec2.volumes.values())
    (request,) = ec2.requests
    scratch = next(m for m in request["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdg")
    assert scratch["Ebs"] == {
        "VolumeSize": 50,
        "VolumeType": "gp3",
        "Iops": 3000,
        "Throughput": 125,
        "DeleteOnTermination": True,
    }
    assert "/dev/sdb" not in {m["DeviceName"] for m in request["BlockDeviceMappings"]}
    # When the drill tears the copy down, nothing of it is left.
    assert ops.terminate(instance_id, DRILL) == "terminated"
    assert ec2.volumes == {}


# --- a database in the copy's place -----------------------------------------------------------
def test_a_foreign_database_in_the_copy_s_place_fails_that_resource_and_is_left_alone(
    world: Any,
) -> None:
    given, drills, _ = world
    taken = drill_identifier("elearn-db", "drill-1")
    # Someone made a database with the name this drill will derive: no drill tags, or this
    # drill's tags forged on a database older than the drill.
    for tags, made in (
        ({"team": "elearn"}, NOW + timedelta(minutes=1)),
        ({T.DRILL: DRILL, T.DRILL_SOURCE: "elearn-db"}, NOW - timedelta(days=2)),
    ):
        drills.dbs.clear()
        drills.plant("db", taken, tags, made)
        drills.hidden = {taken}  # not listed as this drill's: the restore meets it
        _state, summary = run_drill(given, {"plan": "standard", "resource": "elearn-db"})
        (result,) = summary["resources"]
        assert result["result"] == "failed" and "ForeignResourceError" in result["error"]
        assert drills.dbs[taken]["state"] == "available", "never deleted"
        assert drills.dbs[taken]["tags"] == tags


def test_a_retried_restore_adopts_the_database_this_drill_made(world: Any) -> None:
    given, drills, _ = world
    (target,) = [
        t
        for t in drill.begin(
            event({"plan": "standard"}, "drill-1", {}), PLANS, given.ports, NOW
        ).model_dump(mode="json")["resources"]
        if t["type"] == "db"
    ]
    item = {"target": target}
    first = drill.launch(event({"plan": "standard"}, "drill-1", item), given.ports, NOW)
    drills.hidden = {first.id}  # the retry does not see it listed; the restore says it exists
    again = drill.launch(event({"plan": "standard"}, "drill-1", item), given.ports, NOW)
    assert again.id == first.id and len(drills.dbs) == 1


# --- clocks -----------------------------------------------------------------------------------
def test_a_retried_launch_keeps_the_first_request_time(world: Any) -> None:
    # Given the launch task ran, asked EC2 for the copy, and its Lambda died before answering:
    # Step Functions retries it three minutes later.
    given, drills, _ = world
    begun = drill.begin(event({"plan": "standard"}, "drill-1", {}), PLANS, given.ports, NOW)
    web = next(t for t in begun.model_dump(mode="json")["resources"] if t["type"] == "instance")
    item: dict[str, Any] = {"target": web}
    first = drill.launch(event({"plan": "standard"}, "drill-1", item), given.ports, NOW)
    retried = drill.launch(
        event({"plan": "standard"}, "drill-1", item), given.ports, NOW + timedelta(minutes=3)
    )
    assert retried.id == first.id and len(drills.launches) == 1
    assert retried.requested_at == NOW  # the RTO counts from the first request
    (record,) = given.catalog.records(provenance_key(DRILL))
    assert record["launched_at"] == iso(NOW)


def test_no_health_deadline_outlives_the_drill_and_nothing_launches_too_late(world: Any) -> None:
    given, drills, _ = world
    begun = drill.begin(event({"plan": "standard"}, "drill-1", {}), PLANS, given.ports, NOW)
    db = next(t for t in begun.model_dump(mode="json")["resources"] if t["type"] == "db")
    # A database launched late in a long drill (the Map runs 5 at once): its own 3-hour
    # deadline would end after the drill's 4-hour time-out.
    late = NOW + timedelta(hours=3, minutes=30)
    item: dict[str, Any] = {"target": db}
    launched = drill.launch(event({"plan": "standard"}, "drill-1", item), given.ports, late)
    item["launch"] = {"launched": launched.model_dump(mode="json")}
    drills.dbs[launched.id]["state"] = "creating"
    health = drill.check(event({"plan": "standard"}, "drill-1", item), given.ports, late)
    assert not health.deadline_passed
    at = NOW + DRILL_TIMEOUT - timedelta(minutes=19)  # the drill's deadline is 20 min earlier
    health = drill.check(event({"plan": "standard"}, "drill-1", item), given.ports, at)
    assert health.deadline_passed and not health.healthy
    # Later still, the next resource is not launched at all (nothing could check or delete it).
    web = next(t for t in begun.model_dump(mode="json")["resources"] if t["type"] == "instance")
    with pytest.raises(drill.models.DrillOutOfTimeError, match="time-out"):
        drill.launch(event({"plan": "standard"}, "drill-1", {"target": web}), given.ports, at)
    assert not drills.launches
    assert [r["sk"] for r in given.catalog.records(provenance_key(DRILL))] == ["elearn-db"]


# --- the sweeper ------------------------------------------------------------------------------
def test_the_sweeper_ages_a_database_rds_has_not_dated_by_the_drill_s_record(world: Any) -> None:
    given, drills, _ = world
    drills.fail["delete_db"] = "InvalidDBInstanceState"
    run_drill(given, {"plan": "standard", "resource": "elearn-db"})
    del drills.fail["delete_db"]
    (left,) = drills.dbs
    drills.dbs[left]["launched_at"] = None  # no InstanceCreateTime (never got created)
    assert drill.sweep(given.ports, NOW + timedelta(hours=1))["running"] == [left]
    swept = drill.sweep(given.ports, NOW + timedelta(hours=6))
    assert swept["deleted"] == [left] and drills.live() == {}


def test_the_sweeper_settles_unfinished_drills_of_a_plan_plans_yaml_no_longer_has(
    world: Any,
) -> None:
    given, _drills, _ = world
    rule = PLANS.plans["standard"]
    retired = PlanSet.model_validate({"plans": {"retired": rule.model_dump()}})
    # A drill of plan "retired" began, then the execution was stopped (no FinishDrill), and
    # plans.yaml dropped the plan.
    drill.begin(event({"plan": "retired"}, "drill-old", {}), retired, given.ports, NOW)
    pk, sk = record_key("retired", NOW, "drill-old")
    assert given.catalog.records(pk)[0]["status"] == "running"
    swept = drill.sweep(given.ports, NOW + timedelta(hours=6))
    assert swept["settled"] == [sk]
    (record,) = given.catalog.records(pk)
    assert record["status"] == "failed" and "timed out" in record["error"]
