"""Auto Scaling groups on in-memory fakes: the group's point (one AMI of a current member, never
one of another version), members never backed up, alarmed or restored one by one, the restore
plan (a new version, the template or the group recreated, a rollback), retention of resources
that are gone (decommissioned_days)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifeboat import tags as T
from lifeboat.alarms import _live
from lifeboat.asg.apply import run_step
from lifeboat.asg.backup import current_member
from lifeboat.asg.membership import GROUP_TAG
from lifeboat.asg.template import with_image
from lifeboat.backup import begin_run, create_batch
from lifeboat.errors import InvalidInputError, NoTargetError
from lifeboat.models import (
    BeginTask,
    CreateBatchEvent,
    ExecutionContext,
    PointStatus,
    RecoveryPoint,
    ResourceRef,
)
from lifeboat.observability import metrics
from lifeboat.plans import Kind, Retention
from lifeboat.prune.decommissioned import GONE_PK, gone_since
from lifeboat.restore.begin import _refuse_member
from lifeboat.retention import decide
from lifeboat.timeutil import iso
from tests.worlds.asg import NOW, PLANS, World

pytestmark = pytest.mark.unit


@pytest.fixture
def world() -> Iterator[World]:
    yield World()
    metrics.clear_metrics()


# --- backup ----------------------------------------------------------------------------------
def test_a_run_discovers_the_group_and_leaves_its_members_out(world: World) -> None:
    standalone = world.ec2.add_instance("standard")
    begun = begin_run(
        BeginTask(
            state={"plan": "standard", "rule": "daily"},
            execution=ExecutionContext(
                id="arn:aws:states:us-east-1:123456789012:execution:backup:b1",
                name="b1",
                start_time=iso(NOW),
            ),
        ),
        PLANS,
        world.ports,
        batch_size=10,
        ttl_days=30,
    )
    refs = {(r["type"], r["id"]) for batch in begun["batches"] for r in batch}
    members = {m.instance_id for m in world.group.members}
    assert refs == {("asg", "web"), ("instance", standalone)}
    assert not {i for _t, i in refs} & members


def test_a_groups_point_is_one_ami_of_a_current_member_and_its_configuration(
    world: World,
) -> None:
    batch = world.run()
    point = world.catalog.get_point("web", batch.run_id, Kind.ASG.value)
    assert point is not None and point.status is PointStatus.COMPLETED, point
    assert point.group is not None and point.group.template_version == 1
    assert point.group.launch_template_data["KeyName"] == "ops"
    assert point.group.member_id in {m.instance_id for m in world.group.members}
    image = world.ec2.amis[point.image_id or ""]
    assert T.to_dict(image["Tags"])[T.SOURCE] == "web"
    assert T.to_dict(image["Tags"])[T.KIND] == "asg"
    assert len(world.ec2.amis) == 1  # one AMI for the group, none per member


def test_no_member_of_the_current_version_fails_the_point_and_images_nothing(
    world: World,
) -> None:
    # Given the group's template moved on to version 2 while its members run version 1
    world.groups.create_template_version(world.template, {"ImageId": "ami-new"}, "deploy", "token")
    batch = world.run()
    point = world.catalog.get_point("web", batch.run_id, Kind.ASG.value)
    assert point is not None and point.status is PointStatus.FAILED
    assert point.error is not None and point.error.startswith("NoCurrentMember")
    assert "version 2" in point.error and world.ec2.amis == {}


def test_current_member_needs_in_service_the_version_and_its_image(world: World) -> None:
    version = world.groups.template_version(world.template, "$Latest")
    assert version is not None
    first, second = world.group.members
    images = {first.instance_id: "ami-other", second.instance_id: "ami-base"}
    assert current_member(world.group, version, images.get) == second.instance_id
    unhealthy = world.group.model_copy(
        update={"members": (first, second.model_copy(update={"health_status": "Unhealthy"}))}
    )
    assert current_member(unhealthy, version, images.get) is None


def test_a_member_found_in_a_batch_is_skipped(world: World) -> None:
    member = world.group.members[0].instance_id
    batch = CreateBatchEvent(
        run_id="r1",
        plan="standard",
        rule="daily",
        resources=[ResourceRef(type="instance", id=member)],
    )
    counts = create_batch(batch, PLANS, world.ports, NOW)
    assert counts["skipped"] == 1 and world.catalog.points_for_resource(member) == []


def test_members_get_no_alarm_and_are_never_restored_standalone(world: World) -> None:
    member = world.group.members[0].instance_id
    assert not _live(world.ec2.instances[member], "standard")

    class Restorer:
        def instance(self, instance_id: str) -> dict[str, Any] | None:
            return world.ec2.instances.get(instance_id)

    world.ports.ec2_restore = Restorer()  # type: ignore[assignment]
    with pytest.raises(InvalidInputError) as refused:
        _refuse_member(member, world.ports)
    assert "--asg web" in str(refused.value)
    # A member without the tag (attached by hand) is still known by Auto Scaling's answer
    tags = world.ec2.instances[member]["Tags"]
    world.ec2.instances[member]["Tags"] = [t for t in tags if t["Key"] != GROUP_TAG]
    with pytest.raises(InvalidInputError):
        _refuse_member(member, world.ports)


# --- restore ---------------------------------------------------------------------------------
def test_a_restore_adds_a_version_with_the_points_ami_and_records_the_previous(
    world: World,
) -> None:
    batch = world.run()
    point = world.catalog.get_point("web", batch.run_id, Kind.ASG.value)
    assert point is not None
    result = world.restore({"asg": "web"})
    assert result["action"] == "update" and result["version"] == 2
    assert result["previous"] == {"template_id": world.template, "version": 1}
    made = world.groups.templates[world.template][-1]
    assert made.image_id == point.image_id and made.data["KeyName"] == "ops"
    assert f"{T.RESTORED_FROM}={point.recovery_point_id}" in made.description
    assert ("start_refresh", ("web", [50, 100])) in world.groups.calls
    # The way back: the previous version, through the same steps
    back = world.restore(
        {"asg": "web", "rollback_of": result["rollback"].split()[-1]}, name="rollback-asg-1"
    )
    assert back["action"] == "rollback" and back["version"] == 1
    group = world.groups.groups(["web"])[0]
    assert group.launch_template is not None and group.launch_template.version == "1"


def test_a_group_gone_is_recreated_and_cannot_be_rolled_back(world: World) -> None:
    world.run()
    del world.groups.groups_by_name["web"]
    world.ec2.subnet_list = [{"SubnetId": "subnet-a"}, {"SubnetId": "subnet-b"}]
    result = world.restore({"asg": "web", "desired": 3})
    assert result["action"] == "recreate_group" and "rollback" not in result
    group = world.groups.groups(["web"])[0]
    assert group.desired_capacity == 3 and group.max_size == 4
    assert group.tags[T.PLAN] == "standard" and T.RESTORED_FROM in group.tags
    state = {"asg": "web", "rollback_of": world.task("begin", {}).execution.id}
    with pytest.raises(InvalidInputError, match="created the group"):
        run_step(world.task("begin", state, name="rollback-2"), world.ports, NOW)


def test_refusals_change_nothing(world: World) -> None:
    with pytest.raises(NoTargetError):  # no point yet
        run_step(world.task("begin", {"asg": "web"}), world.ports, NOW)
    world.run()
    with pytest.raises(InvalidInputError, match="desired"):  # the group exists
        run_step(world.task("begin", {"asg": "web", "desired": 3}), world.ports, NOW)
    with pytest.raises(InvalidInputError, match="recovery_point"):
        run_step(world.task("begin", {"asg": "web", "recovery_point": "nope"}), world.ports, NOW)
    with pytest.raises(InvalidInputError, match="bogus"):
        run_step(world.task("begin", {"asg": "web", "bogus": 1}), world.ports, NOW)
    assert world.catalog.active_locks(["web"], int(NOW.timestamp())) == {}
    assert len(world.groups.templates[world.template]) == 1


def test_a_template_for_another_region_uses_its_groups_and_drops_home_only_fields() -> None:
    data = {
        "ImageId": "ami-home",
        "SecurityGroupIds": ["sg-home"],
        "Placement": {"AvailabilityZone": "us-east-1a"},
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1"}}],
    }
    out = with_image(data, "ami-dr", ["sg-dr"])
    assert out["ImageId"] == "ami-dr" and out["SecurityGroupIds"] == ["sg-dr"]
    assert "Placement" not in out and "SnapshotId" not in out["BlockDeviceMappings"][0]["Ebs"]
    assert data["SecurityGroupIds"] == ["sg-home"]  # the recorded data is left as it was


# --- retention of resources that are gone ----------------------------------------------------
def _points(source: str, days: int) -> list[RecoveryPoint]:
    return [
        RecoveryPoint(
            recovery_point_id=f"p{n}/{source}",
            run_id=f"r{n}",
            plan="standard",
            rule="daily",
            kind=Kind.AMI,
            source_id=source,
            source_type="instance",
            status=PointStatus.COMPLETED,
            created_at=NOW - timedelta(days=n),
        )
        for n in range(days)
    ]


def _decide(points: list[RecoveryPoint], now: datetime, gone: dict[str, datetime]) -> Any:
    return decide(
        points,
        retention=Retention(daily=7),
        min_keep=3,
        timezone="UTC",
        interval_seconds=86400,
        now=now,
        gone_since=gone,
        decommissioned_days=90,
    )


def test_points_of_a_gone_resource_are_kept_then_expire_after_decommissioned_days() -> None:
    points = _points("i-gone", 10)
    gone_at = NOW + timedelta(days=1)
    # Within decommissioned_days: the rule's retention and min_keep, never stale
    later = NOW + timedelta(days=30)
    within = _decide(points, later, {"i-gone": gone_at})
    assert len(within.kept) == 3 and within.stale_groups == []
    assert within.decommissioned_groups == ["i-gone/ami"]
    # Without the decommission the same points would all be kept (a stale group)
    assert len(_decide(points, later, {}).kept) == 10
    # After it: every point expires, min_keep included
    after = _decide(points, gone_at + timedelta(days=90), {"i-gone": gone_at})
    assert after.kept == [] and len(after.expired) == 10
    reason = after.decisions[points[0].recovery_point_id].reasons[0]
    assert reason.startswith("decommissioned: i-gone gone since")


@settings(max_examples=40, deadline=None)
@given(days_gone=st.integers(min_value=0, max_value=400), count=st.integers(1, 20))
def test_a_gone_resource_keeps_its_newest_points_until_the_end_of_its_window(
    days_gone: int, count: int
) -> None:
    points = _points("i-x", count)
    gone_at = NOW
    result = _decide(points, NOW + timedelta(days=days_gone), {"i-x": gone_at})
    if days_gone >= 90:
        assert result.kept == []
    else:
        assert len(result.kept) >= min(3, count)


def test_first_seen_gone_is_recorded_once_and_reset_when_it_comes_back(world: World) -> None:
    iid = world.ec2.add_instance("standard")
    points = _points(iid, 1)
    assert gone_since(points, world.ports, NOW, dry_run=False) == {}
    world.ec2.instances[iid]["State"] = {"Name": "terminated"}
    assert gone_since(points, world.ports, NOW, dry_run=True) == {iid: NOW}
    assert world.catalog.records(GONE_PK) == []  # a dry run records nothing
    assert gone_since(points, world.ports, NOW, dry_run=False) == {iid: NOW}
    later = NOW + timedelta(days=5)
    assert gone_since(points, world.ports, later, dry_run=False) == {iid: NOW}
    world.ec2.instances[iid]["State"] = {"Name": "running"}  # it came back
    assert gone_since(points, world.ports, later, dry_run=False) == {}
    assert world.catalog.records(GONE_PK) == []
    # A group deleted is gone too
    group_points = [p.model_copy(update={"source_id": "web", "source_type": "asg"}) for p in points]
    del world.groups.groups_by_name["web"]
    assert gone_since(group_points, world.ports, later, dry_run=True) == {"web": later}


# --- report ----------------------------------------------------------------------------------
def test_the_report_shows_a_group_as_one_resource_with_its_spread(world: World) -> None:
    from lifeboat.plans import default_plans
    from lifeboat.report import build_report, gather, render_html

    world.run()
    world.groups.add_group("batch", world.groups.add_template("batch", "ami-b"), size=1)
    lonely = world.groups.groups_by_name["batch"]
    world.groups.groups_by_name["batch"] = lonely.model_copy(
        update={"availability_zones": ("us-east-1a",), "subnet_ids": ("subnet-a",)}
    )
    world.catalog.put_record(GONE_PK, "i-gone", {"since": iso(NOW - timedelta(days=2))})
    world.catalog.put_points(_points("i-gone", 2))
    report = build_report(gather(world.ports, default_plans(), ["standard"], NOW))
    rows = {r.id: r for r in report.resources}
    members = {m.instance_id for g in world.groups.groups() for m in g.members}
    assert not members & set(rows)  # members are never rows of their own
    web = rows["web"]
    assert web.type == "asg" and web.group is not None
    assert web.group.in_service_by_az == {"us-east-1a": 1, "us-east-1b": 1}
    assert web.group.if_az_failed["us-east-1a"].capacity_left == 1
    assert web.group.if_az_failed["us-east-1a"].other_azs == ["us-east-1b"]
    assert web.rules[0].newest_point_id is not None and not web.rules[0].stale
    (finding,) = [f for f in report.not_protected if f.kind == "single_az_group"]
    assert finding.id == "batch"
    assert report.summary.protected_groups == 2 and report.summary.protected_instances == 0
    (gone,) = report.decommissioned
    assert gone.id == "i-gone" and gone.points == 2
    assert gone.kept_until == NOW - timedelta(days=2) + timedelta(days=90)
    page = render_html(report)
    assert "if us-east-1a failed: 1 of 2 left" in page and "Decommissioned" in page


def test_a_members_legacy_points_count_as_those_of_a_resource_that_is_gone(world: World) -> None:
    # Given points a member got before its group was protected as a whole
    member = world.group.members[0].instance_id
    points = _points(member, 4)
    # Then prune sees it as gone (its group is protected instead): kept, then expired
    assert gone_since(points, world.ports, NOW, dry_run=True) == {member: NOW}
    result = _decide(points, NOW + timedelta(days=91), {member: NOW})
    assert result.kept == [] and result.stale_groups == []
