"""Properties of the pure restore planner (hypothesis): the replacement never goes into the
failed AZ unless the operator allows it, the point launched from is the newest completed one
with an AMI, the data volumes come from the newest snapshots taken after that AMI (exactly the
instance's own volumes, never the root), and a plan is a function of its inputs."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lifeboat.errors import InvalidInputError, NoTargetError
from lifeboat.models import PointStatus, RecoveryPoint, VolumeSnapshot
from lifeboat.plans import Kind
from lifeboat.restore.models import InstancePlan, RestoreInput
from lifeboat.restore.planner import SourceInstance, plan_database, plan_instance
from tests.worlds.restore import NOW, PLANS, ami_point, ebs_point, instance_config, subnet

pytestmark = pytest.mark.unit
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
SOURCE = "i-0123456789abcdef0"
DEVICES = ["/dev/sda1", "/dev/sdf", "/dev/sdg"]
STATUSES = [PointStatus.COMPLETED] * 4 + [
    PointStatus.FAILED,
    PointStatus.PENDING,
    PointStatus.DELETING,
]
EXAMPLES = settings(max_examples=25, deadline=None)


@st.composite
def histories(draw: Any) -> list[RecoveryPoint]:
    """AMI and EBS points of one instance at distinct times, in any status; some AMI points
    lost their image id (a broken point), some EBS sets cover only some devices."""
    count = draw(st.integers(1, 10))
    minutes = draw(
        st.lists(st.integers(1, 30 * 24 * 60), min_size=count, max_size=count, unique=True)
    )
    points: list[RecoveryPoint] = []
    for n, age in enumerate(minutes):
        at = NOW - timedelta(minutes=age)
        status = PointStatus.COMPLETED if n == 0 else draw(st.sampled_from(STATUSES))
        if n == 0 or draw(st.booleans()):  # at least one AMI point, usually usable
            point = ami_point(SOURCE, at, instance_config(), n)
            if n and draw(st.integers(0, 5)) == 0:
                point = point.model_copy(update={"image_id": None})
        else:
            devices = draw(st.lists(st.sampled_from(DEVICES), unique=True, max_size=3))
            point = ebs_point(SOURCE, at, n).model_copy(
                update={
                    "snapshots": [
                        VolumeSnapshot(
                            volume_id=f"vol-{d[-1]}", snapshot_id=f"snap-{n}-{d[-1]}", device_name=d
                        )
                        for d in devices
                    ]
                }
            )
        points.append(point.model_copy(update={"status": status}))
    return points


@st.composite
def requests(draw: Any) -> RestoreInput:
    return RestoreInput(
        instance_id=SOURCE,
        target_az=draw(st.none() | st.sampled_from(ZONES)),
        allow_same_az=draw(st.booleans()),
        avoid_azs=draw(st.lists(st.sampled_from(ZONES), unique=True, max_size=3)),
    )


subnet_sets = st.lists(st.sampled_from(ZONES), unique=True, min_size=1).map(
    lambda zones: [subnet(z) for z in zones] + [subnet(z, "db") for z in zones]
)
failed_zones = st.sampled_from(ZONES)


def _plan(
    request: RestoreInput, points: list[RecoveryPoint], subnets: list[dict[str, Any]], failed: str
) -> InstancePlan:
    original = SourceInstance(
        instance_id=SOURCE, availability_zone=failed, state="running", tags={"lifeboat:plan": "x"}
    )
    try:
        return plan_instance(request, original, points, subnets, PLANS)
    except (InvalidInputError, NoTargetError):
        assume(False)
        raise


@EXAMPLES
@given(requests(), histories(), subnet_sets, failed_zones)
def test_never_the_failed_az_unless_allowed(
    request: RestoreInput, points: list[RecoveryPoint], subnets: list[dict[str, Any]], failed: str
) -> None:
    plan = _plan(request, points, subnets, failed)
    zones = {c.availability_zone for c in plan.candidates}
    if failed in zones:
        assert request.allow_same_az and request.target_az == failed
        assert plan.same_az and plan.warnings
    else:
        assert not plan.same_az and not plan.warnings
    if request.target_az:
        assert zones == {request.target_az}
    # only subnets of the original's tier
    assert {c.subnet_id for c in plan.candidates} <= {
        s["SubnetId"] for s in subnets if s["Tags"][0]["Value"] == "web"
    }


@EXAMPLES
@given(requests(), histories(), subnet_sets, failed_zones)
def test_the_newest_completed_point_with_an_ami_is_chosen(
    request: RestoreInput, points: list[RecoveryPoint], subnets: list[dict[str, Any]], failed: str
) -> None:
    usable = [
        p for p in points if p.kind is Kind.AMI and p.image_id and p.status is PointStatus.COMPLETED
    ]
    try:
        plan = plan_instance(
            request,
            SourceInstance(instance_id=SOURCE, availability_zone=failed, state="running"),
            points,
            subnets,
            PLANS,
        )
    except InvalidInputError as refused:
        if refused.field == "instance_id":
            assert not usable  # refused only when there is no such point
        return
    except NoTargetError:
        return
    newest = max(usable, key=lambda p: p.created_at)
    assert plan.recovery_point_id == newest.recovery_point_id and plan.image_id == newest.image_id


@EXAMPLES
@given(requests(), histories(), subnet_sets, failed_zones)
def test_data_volumes_come_from_the_newest_snapshot_after_the_ami(
    request: RestoreInput, points: list[RecoveryPoint], subnets: list[dict[str, Any]], failed: str
) -> None:
    plan = _plan(request, points, subnets, failed)
    chosen = next(p for p in points if p.recovery_point_id == plan.recovery_point_id)
    sets = sorted(
        (
            p
            for p in points
            if p.kind is Kind.EBS
            and p.status is PointStatus.COMPLETED
            and p.created_at > chosen.created_at
        ),
        key=lambda p: p.created_at,
    )
    ami_devices = {s.device_name or "" for s in chosen.snapshots}
    newest = sets[-1] if sets else None
    added = {
        s.device_name: s.snapshot_id
        for s in (newest.snapshots if newest else [])
        if s.device_name and s.device_name not in ami_devices and s.device_name != "/dev/sda1"
    }
    # exactly the instance's volumes: the AMI's devices and those of the newest set the AMI
    # lacks (a volume attached after the AMI), no more, no fewer
    assert [v.device_name for v in plan.volumes] == sorted(ami_devices | set(added))
    for volume in plan.volumes:
        if volume.device_name in added:
            assert newest is not None and volume.not_in_image
            assert (volume.snapshot_id, volume.taken_at) == (
                added[volume.device_name],
                newest.created_at,
            )
            continue
        newer = [
            (p.created_at, s.snapshot_id)
            for p in points
            if p.kind is Kind.EBS
            and p.status is PointStatus.COMPLETED
            and p.created_at > chosen.created_at
            for s in p.snapshots
            if s.device_name == volume.device_name
        ]
        if volume.device_name == plan.root_device_name or not newer:
            ami = next(s for s in chosen.snapshots if s.device_name == volume.device_name)
            assert volume.snapshot_id == ami.snapshot_id and volume.taken_at == chosen.created_at
        else:
            assert volume.snapshot_id == max(newer)[1] and volume.taken_at == max(newer)[0]
    data = [v for v in plan.volumes if v.device_name != plan.root_device_name]
    assert plan.data_taken_at == min(v.taken_at for v in data)


@EXAMPLES
@given(requests(), histories(), subnet_sets, failed_zones, st.randoms(use_true_random=False))
def test_a_plan_is_a_function_of_its_inputs(
    request: RestoreInput,
    points: list[RecoveryPoint],
    subnets: list[dict[str, Any]],
    failed: str,
    rng: random.Random,
) -> None:
    plan = _plan(request, points, subnets, failed)
    shuffled_points, shuffled_subnets = list(points), list(subnets)
    rng.shuffle(shuffled_points)
    rng.shuffle(shuffled_subnets)
    assert _plan(request, points, subnets, failed) == plan
    assert _plan(request, shuffled_points, shuffled_subnets, failed) == plan


@EXAMPLES
@given(st.none() | st.sampled_from(ZONES), st.booleans(), st.sampled_from(ZONES))
def test_a_database_goes_to_another_az_unless_allowed(
    target: str | None, allowed: bool, original_az: str
) -> None:
    from lifeboat.models import DatabaseConfig
    from lifeboat.restore.planner import SourceDatabase

    request = RestoreInput(db_instance_id="elearn-db", target_az=target, allow_same_az=allowed)
    source = SourceDatabase(
        config=DatabaseConfig(availability_zone=original_az), tags={"lifeboat:plan": "x"}
    )
    point = RecoveryPoint(
        recovery_point_id="rp-db",
        run_id="r",
        plan="standard",
        rule="daily",
        kind=Kind.RDS,
        source_id="elearn-db",
        source_type="db",
        status=PointStatus.COMPLETED,
        created_at=NOW - timedelta(hours=1),
        db_snapshot_id="snap-db",
    )
    try:
        plan = plan_database(request, source, [point], ZONES, "exec", NOW)
    except InvalidInputError as refused:
        assert target == original_az and not allowed and refused.field == "target_az"
        return
    assert (plan.target_az == original_az) == plan.same_az
    assert plan.target_az != original_az or allowed
    assert plan.snapshot_id == "snap-db" and plan.data_taken_at == point.created_at
