"""Every volume of the server comes back (issue 20, item 13): a volume the AMI lacks comes from
the newest EBS set at or before the point, an unattachable one is refused naming it, and a
volume no point holds is named by the plan and the readiness report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lifeboat.aws.restore_ops import run_instances_request
from lifeboat.errors import InvalidInputError
from lifeboat.models import BlockDevice, PointStatus, VolumeSnapshot
from lifeboat.report.azs import server_row
from lifeboat.report.models import FleetInputs
from lifeboat.restore import volumes
from lifeboat.restore.models import InstancePlan, RestoreInput
from lifeboat.restore.planner import SourceInstance, plan_instance
from tests.worlds.restore import (
    NOW,
    PLANS,
    ami_point,
    ebs_point,
    instance_config,
    make_world,
    run,
    subnet,
)

pytestmark = pytest.mark.unit
SOURCE = "i-0123456789abcdef0"
SDG = VolumeSnapshot(
    volume_id="vol-late",
    snapshot_id="snap-late",
    device_name="/dev/sdg",
    size_gb=30,
    volume_type="gp3",
    encrypted=True,
)


def with_sdg(n: int, hours_ago: int, snap: VolumeSnapshot = SDG) -> Any:
    """An hourly set of web-1 that holds /dev/sdg (attached after the AMI), with its layout."""
    point = ebs_point(SOURCE, NOW - timedelta(hours=hours_ago), n)
    config = instance_config()
    layout = [
        *config.block_devices,
        BlockDevice(
            device_name="/dev/sdg",
            volume_id="vol-late",
            size_gb=30,
            volume_type="gp3",
            delete_on_termination=False,
        ),
    ]
    return point.model_copy(
        update={
            "snapshots": [*point.snapshots, snap.model_copy(update={"snapshot_id": f"snap-g{n}"})],
            "instance": config.model_copy(update={"block_devices": layout}),
        }
    )


def history() -> list[Any]:
    return [
        ami_point(SOURCE, NOW - timedelta(days=1), instance_config()),
        with_sdg(2, 3),
        with_sdg(3, 1),
    ]


def original(**devices: str) -> SourceInstance:
    return SourceInstance(
        instance_id=SOURCE,
        availability_zone="us-east-1a",
        state="running",
        tags={"lifeboat:plan": "standard"},
        devices=devices,
    )


def plan(points: list[Any], source: SourceInstance | None = None) -> Any:
    subnets = [subnet("us-east-1a"), subnet("us-east-1b")]
    return plan_instance(
        RestoreInput(instance_id=SOURCE), source or original(), points, subnets, PLANS
    )


def test_a_volume_the_ami_lacks_comes_from_the_newest_set() -> None:
    planned = plan(history())
    by_device = {v.device_name: v for v in planned.volumes}
    assert set(by_device) == {"/dev/sda1", "/dev/sdf", "/dev/sdg"}
    sdg = by_device["/dev/sdg"]
    assert sdg.snapshot_id == "snap-g3" and sdg.not_in_image and sdg.source == "EBS set rp-ebs-3"
    assert (sdg.size_gb, sdg.volume_type, sdg.delete_on_termination) == (30, "gp3", False)
    assert planned.data_taken_at == NOW - timedelta(hours=1)
    assert planned.warnings == []


def test_a_volume_in_an_older_set_only_is_not_brought_back() -> None:
    # Given /dev/sdg was detached before the newest set: the server has it no more
    points = [*history()[:2], ebs_point(SOURCE, NOW - timedelta(minutes=30), 4)]
    assert "/dev/sdg" not in {v.device_name for v in plan(points).volumes}


def test_an_older_point_takes_the_sets_at_or_before_it() -> None:
    chosen, *sets = history()
    until = NOW - timedelta(hours=2)
    planned = volumes.plan_volumes(chosen, sets, overlay=True, until=until)
    sdg = next(v for v in planned if v.device_name == "/dev/sdg")
    assert sdg.snapshot_id == "snap-g2"  # the set of 3 h ago, not the newer one


def test_a_volume_that_cannot_be_attached_is_refused_naming_it() -> None:
    unnamed = SDG.model_copy(update={"device_name": None})
    points = [*history()[:2], with_sdg(3, 1, unnamed)]
    with pytest.raises(InvalidInputError) as refused:
        plan(points)
    assert "vol-late" in refused.value.message and "nothing was launched" in refused.value.message


def test_a_volume_no_point_holds_is_a_warning_of_the_plan() -> None:
    source = original(**{"/dev/sda1": "vol-root", "/dev/sdf": "vol-data", "/dev/sdh": "vol-new"})
    planned = plan(history(), source)
    assert any("/dev/sdh (vol-new)" in w and "would not bring" in w for w in planned.warnings)


def test_the_replacement_is_launched_with_every_volume(monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world(monkeypatch)
    world.catalog.put_point(with_sdg(5, 0).model_copy(update={"source_id": world.web1}))
    state, launched = run(world, {"instance_id": world.web1}, until="launch")
    planned = InstancePlan.model_validate(state["begin"]["plan"])
    request = run_instances_request(planned, planned.candidates[0], "t3.medium", "token", {})
    devices = {m["DeviceName"]: m["Ebs"] for m in request["BlockDeviceMappings"]}
    assert devices["/dev/sdg"] == {
        "DeleteOnTermination": False,
        "SnapshotId": "snap-g5",
        "VolumeType": "gp3",
        "VolumeSize": 30,
    }
    assert {"ResourceType": "volume", "Tags": []} in request["TagSpecifications"]
    assert launched.id in world.ec2.instances


def test_the_report_names_data_a_restore_would_not_bring_back() -> None:
    described = {
        "InstanceId": SOURCE,
        "State": {"Name": "running"},
        "Placement": {"AvailabilityZone": "us-east-1a"},
        "Tags": [{"Key": "lifeboat:plan", "Value": "standard"}, {"Key": "Name", "Value": "web-1"}],
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeId": "vol-root"}},
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeId": "vol-data"}},
            {"DeviceName": "/dev/sdg", "Ebs": {"VolumeId": "vol-late"}},
            {"DeviceName": "/dev/sdh", "Ebs": {"VolumeId": "vol-new"}},
        ],
    }
    inputs = FleetInputs(
        now=NOW,
        plans=PLANS,
        plan_names=["standard"],
        instances={SOURCE: described},
        volumes={},
        subnets={"vpc-0123456789abcdef0": [subnet("us-east-1a"), subnet("us-east-1b")]},
        neighbours=[],
        instance_storage={},
        databases=[],
        protected_dbs={},
        points=[],
        alarms=set(),
        drills={},
    )
    row = server_row(SOURCE, described, "us-east-1a", inputs, history(), [])
    assert any("/dev/sdh (vol-new)" in p for p in row.problems)
    assert not any("/dev/sdg" in p for p in row.problems)  # the newest set brings it back
    assert all(p.status is PointStatus.COMPLETED for p in history())
