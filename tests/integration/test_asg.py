"""Auto Scaling groups through the real state machines: the group is protected, never its
members. A daily run makes one AMI per group and none per member; a member's failure is the
group's to replace (no Lifeboat restore); a member is never restored standalone; a group is
rolled to an older point and back; a group deleted by hand is recreated from its point, and in
us-west-2 from its copy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import executions
from lifeboat import tags as T
from lifeboat.asg.membership import GROUP_TAG
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_INPUT, EXIT_OK, main
from lifeboat.local.bridge import BRIDGE
from lifeboat.local.harness import alarm_state_change
from lifeboat.local.seed_asg import SeededGroup, seed_web_group
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind
from tests.integration.helpers import managed_images, run_schedule, wait_copiers

pytestmark = pytest.mark.integration
DR = "us-west-2"
ROUTER = "lifeboat-AlarmRouterFunction"


@pytest.fixture
def web_group(stack: Any, elearn: Any) -> SeededGroup:
    return seed_web_group(elearn)


def _daily(stack: Any, minutes_ago: int = 5) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    result = run_schedule(stack, "daily", now - timedelta(minutes=minutes_ago))
    assert result["status"] == "SUCCEEDED", result


def _points(stack: Any, source: str) -> list[RecoveryPoint]:
    points = Catalog(stack.outputs["CatalogTableName"]).points_for_resource(source)
    return sorted(points, key=lambda p: p.created_at)


def _group(name: str, region: str | None = None) -> dict[str, Any] | None:
    found = client("autoscaling", region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[name]
    )["AutoScalingGroups"]
    return found[0] if found else None


def _running(ids: list[str], region: str | None = None) -> list[dict[str, Any]]:
    if not ids:
        return []
    reservations = client("ec2", region).describe_instances(
        InstanceIds=ids, Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def _member_images(name: str, region: str | None = None) -> set[str]:
    group = _group(name, region)
    assert group is not None
    return {i["ImageId"] for i in _running([m["InstanceId"] for m in group["Instances"]], region)}


def _restore_executions(stack: Any) -> list[dict[str, Any]]:
    return list(
        client("stepfunctions").list_executions(
            stateMachineArn=stack.outputs["RestoreStateMachineArn"]
        )["executions"]
    )


def _group_restore(stack: Any, payload: dict[str, Any], name: str) -> dict[str, Any]:
    arn = executions.start(stack.outputs["GroupRestoreStateMachineArn"], payload, name)
    return executions.wait(arn, timeout=120, poll=0.05)


def test_a_daily_run_makes_one_ami_per_group_and_none_per_member(
    stack: Any, elearn: Any, web_group: SeededGroup
) -> None:
    # Given a group of 2 across two AZs whose members carry the group's lifeboat:plan tag
    group = _group(web_group.name)
    assert group is not None
    assert len({m["AvailabilityZone"] for m in group["Instances"]}) == 2
    # When the daily run (kinds ami, rds) backs the plan up
    _daily(stack)
    # Then the group has one completed point of kind asg: an AMI of one current member and the
    # group's configuration
    (point,) = _points(stack, web_group.name)
    assert point.kind is Kind.ASG and point.status is PointStatus.COMPLETED, point
    assert point.group is not None and point.image_id
    assert point.group.member_id in web_group.members
    assert point.group.template_id == web_group.template_id
    assert point.group.launch_template_data["InstanceType"] == "t3.small"
    assert (point.group.min_size, point.group.desired_capacity) == (2, 2)
    assert set(point.group.subnet_ids) == set(web_group.subnets)
    assert set(point.group.subnet_tiers.values()) == {"web"}
    # And no member has a point, an AMI, a snapshot set or an alarm of its own
    for member in web_group.members:
        assert _points(stack, member) == []
    sources = [T.to_dict(i.get("Tags")).get(T.SOURCE) for i in managed_images()]
    assert sources.count(web_group.name) == 1
    assert not set(sources) & set(web_group.members)
    alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix="lifeboat-")["MetricAlarms"]
    alarmed = {d["Value"] for a in alarms for d in a.get("Dimensions", [])}
    assert not alarmed & set(web_group.members)
    # While the standalone web servers keep theirs
    assert elearn.protected_instances["web-1"] in alarmed
    assert any(p.kind is Kind.AMI for p in _points(stack, elearn.protected_instances["web-1"]))


def test_a_members_failure_is_the_groups_to_replace(
    stack: Any, elearn: Any, web_group: SeededGroup
) -> None:
    _daily(stack)
    member = web_group.members[0]
    # Given a status-check alarm on a member named as Lifeboat's (one an older Lifeboat made)
    cloudwatch = client("cloudwatch")
    name = f"lifeboat-standard-{member}-system"
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/EC2",
        MetricName="StatusCheckFailed_System",
        Dimensions=[{"Name": "InstanceId", "Value": member}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=2,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Tags=[{"Key": T.MANAGED, "Value": "true"}],
    )
    # When it fires (EC2 reports the member impaired)
    BRIDGE.async_results.clear()
    alarm_state_change(name, "ALARM", "Threshold Crossed", datetime.now(UTC))
    BRIDGE.wait_async()
    (routed,) = [p for n, p, _e in BRIDGE.async_results if n == ROUTER]
    # Then the router ignores it, naming the group, and starts no restore
    assert routed["action"] == "ignored" and routed["group"] == web_group.name, routed
    assert _restore_executions(stack) == []
    # And the group replaces its member itself (its EC2 health check marks it unhealthy)
    client("autoscaling").set_instance_health(InstanceId=member, HealthStatus="Unhealthy")
    group = _group(web_group.name)
    assert group is not None
    ids = [m["InstanceId"] for m in group["Instances"]]
    assert member not in ids and len(_running(ids)) == group["DesiredCapacity"] == 2
    tagged = client("ec2").describe_instances(
        Filters=[
            {"Name": f"tag:{GROUP_TAG}", "Values": [web_group.name]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    assert sum(len(r["Instances"]) for r in tagged) == 2
    assert _restore_executions(stack) == []
    # And the next run removes the leftover alarm of the member (never creates one)
    _daily(stack, minutes_ago=3)
    left = cloudwatch.describe_alarms(AlarmNamePrefix=f"lifeboat-standard-{member}")
    assert left["MetricAlarms"] == []


def test_a_member_is_never_restored_standalone(
    stack: Any, elearn: Any, web_group: SeededGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    member = web_group.members[0]
    for dry_run in (["--dry-run"], []):
        capsys.readouterr()
        code = main(["restore", "start", "--instance", member, *dry_run])
        err = capsys.readouterr().err
        assert code == EXIT_INPUT, err
        assert web_group.name in err and f"--asg {web_group.name}" in err
    assert len(_running(web_group.members)) == 2  # nothing stopped, nothing launched


def test_a_group_is_rolled_to_an_older_point_and_back(
    stack: Any, elearn: Any, web_group: SeededGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two daily points of the group (two AMIs)
    _daily(stack, minutes_ago=30)
    _daily(stack, minutes_ago=5)
    older, newer = _points(stack, web_group.name)
    assert older.image_id != newer.image_id
    before = _member_images(web_group.name)
    group = _group(web_group.name)
    assert group is not None
    # When the group is restored to the older point (the dry run first changes nothing)
    assert (
        main(
            [
                "restore",
                "start",
                "--asg",
                web_group.name,
                "--point",
                older.recovery_point_id,
                "--dry-run",
            ]
        )
        == EXIT_OK
    )
    assert "Would restore Auto Scaling group" in capsys.readouterr().out
    assert _member_images(web_group.name) == before
    result = _group_restore(
        stack, {"asg": web_group.name, "recovery_point": older.recovery_point_id}, "asg-older"
    )
    # Then a new template version with the older AMI is the group's, described as restored
    assert result["status"] == "SUCCEEDED", result
    output = result["output"]
    restored = _group(web_group.name)
    assert restored is not None
    assert restored["LaunchTemplate"]["Version"] == str(output["version"])
    version = client("ec2").describe_launch_template_versions(
        LaunchTemplateId=web_group.template_id, Versions=[str(output["version"])]
    )["LaunchTemplateVersions"][0]
    assert version["LaunchTemplateData"]["ImageId"] == older.image_id
    assert version["LaunchTemplateData"]["InstanceType"] == "t3.small"
    assert f"{T.RESTORED_FROM}={older.recovery_point_id}" in version["VersionDescription"]
    # And the instance refresh (started with a checkpoint) replaced every member
    assert output["refresh_id"]
    refresh = client("autoscaling").describe_instance_refreshes(
        AutoScalingGroupName=web_group.name, InstanceRefreshIds=[output["refresh_id"]]
    )["InstanceRefreshes"][0]
    assert refresh["Status"] == "Successful"
    assert refresh["Preferences"]["CheckpointPercentages"] == [50, 100]
    assert _member_images(web_group.name) == {older.image_id}
    assert len(_running([m["InstanceId"] for m in restored["Instances"]])) == 2
    # When it is rolled back (the dry run first says so and changes nothing)
    capsys.readouterr()
    arn = result["execution_arn"]
    assert main(["restore", "rollback", arn, "--dry-run"]) == EXIT_OK
    assert "Would roll back Auto Scaling group" in capsys.readouterr().out
    assert _member_images(web_group.name) == {older.image_id}
    assert main(["restore", "rollback", arn, "--yes"]) == EXIT_OK, capsys.readouterr()
    # Then the previous version is the group's again and its members run its image
    back = _group(web_group.name)
    assert back is not None
    assert back["LaunchTemplate"]["Version"] == str(output["previous"]["version"])
    assert _member_images(web_group.name) == before
    assert _restore_executions(stack) == []


def test_a_group_deleted_by_hand_is_recreated_from_its_point(
    stack: Any, elearn: Any, web_group: SeededGroup
) -> None:
    _daily(stack)
    (point,) = _points(stack, web_group.name)
    # Given the group and its launch template deleted by hand
    client("autoscaling").delete_auto_scaling_group(
        AutoScalingGroupName=web_group.name, ForceDelete=True
    )
    client("ec2").delete_launch_template(LaunchTemplateId=web_group.template_id)
    assert _group(web_group.name) is None
    # When the group is restored
    result = _group_restore(stack, {"asg": web_group.name}, "asg-recreate")
    # Then a template and the group are created from the point, tagged as restored
    assert result["status"] == "SUCCEEDED", result
    assert result["output"]["action"] == "recreate_group"
    group = _group(web_group.name)
    assert group is not None
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags[T.RESTORED_FROM] == point.recovery_point_id and tags[T.PLAN] == "standard"
    assert set(group["VPCZoneIdentifier"].split(",")) == set(web_group.subnets)
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (2, 4, 2)
    assert group["LaunchTemplate"]["LaunchTemplateId"] != web_group.template_id
    assert _member_images(web_group.name) == {point.image_id}
    assert len(_running([m["InstanceId"] for m in group["Instances"]])) == 2


def test_a_lost_region_s_group_is_created_in_us_west_2_from_its_copy(
    stack: Any, elearn: Any, web_group: SeededGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the group's daily point copied to the DR region
    _daily(stack)
    assert all(r["status"] == "SUCCEEDED" for r in wait_copiers(stack))
    catalog = Catalog(stack.outputs["CatalogTableName"])
    (copy,) = catalog.copies_for_resource(web_group.name, DR)
    assert copy.kind is Kind.ASG and copy.status is PointStatus.COMPLETED and copy.image_id
    # When the group is restored there, with a desired capacity of its own
    code = main(
        ["restore", "start", "--asg", web_group.name, "--region", DR, "--desired", "3", "--wait"]
    )
    assert code == EXIT_OK, capsys.readouterr()
    # Then the template and group are created there, in the DR VPC's web subnets, from the copy
    group = _group(web_group.name, DR)
    assert group is not None
    dr = elearn.dr
    assert set(group["VPCZoneIdentifier"].split(",")) == {dr.subnets["web-a"], dr.subnets["web-b"]}
    assert group["DesiredCapacity"] == 3
    assert _member_images(web_group.name, DR) == {copy.image_id}
    template = client("ec2", DR).describe_launch_template_versions(
        LaunchTemplateId=group["LaunchTemplate"]["LaunchTemplateId"], Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert template["SecurityGroupIds"] == [dr.security_groups["web"]]
    assert "KeyName" not in template  # key pairs are per region: none of that name there
    # And the home group is untouched
    home = _group(web_group.name)
    assert home is not None and len(_running([m["InstanceId"] for m in home["Instances"]])) == 2


def test_a_drill_of_a_group_launches_one_instance_from_its_point_in_the_drill_network(
    stack: Any, elearn: Any, web_group: SeededGroup
) -> None:
    from lifeboat.local.seed import seed_drill_network

    _daily(stack)
    (point,) = _points(stack, web_group.name)
    network = seed_drill_network()
    arn = executions.start(
        stack.outputs["DrillStateMachineArn"],
        {"plan": "standard", "resource": web_group.name, "requested_by": "test"},
        "drill-group",
    )
    result = executions.wait(arn, timeout=180, poll=0.05)
    assert result["status"] == "SUCCEEDED", result
    (outcome,) = result["output"]["resources"]
    assert outcome["id"] == web_group.name and outcome["result"] == "healthy", outcome
    # The copy (one instance, from the group's AMI, in the drill network) is gone again
    copies = client("ec2").describe_instances(
        Filters=[{"Name": f"tag:{T.DRILL_SOURCE}", "Values": [web_group.name]}]
    )["Reservations"]
    (copy,) = [i for r in copies for i in r["Instances"]]
    assert copy["ImageId"] == point.image_id
    assert copy["SubnetId"] in set(network["subnets"].values())
    assert copy["State"]["Name"] in ("shutting-down", "terminated")
    # The group itself is as it was
    group = _group(web_group.name)
    assert group is not None and len(_running([m["InstanceId"] for m in group["Instances"]])) == 2


def test_points_of_a_resource_that_is_gone_are_listed_as_decommissioned(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given web-2's points, then web-2 terminated
    _daily(stack)
    web2 = elearn.protected_instances["web-2"]
    client("ec2").terminate_instances(InstanceIds=[web2])
    # When prune runs (dry run, then for real: nothing of it is due yet)
    for extra in (["--dry-run"], ["--yes"]):
        capsys.readouterr()
        assert main(["prune", "--plan", "standard", *extra]) == EXIT_OK
        out = capsys.readouterr().out
        # Then it is listed as decommissioned, its points kept (never failing, never stale)
        assert f"decommissioned: daily:{web2}/ami" in out, out
        assert f"no recent completed backup for daily:{web2}" not in out
    assert any(p.status is PointStatus.COMPLETED for p in _points(stack, web2))
    catalog = Catalog(stack.outputs["CatalogTableName"])
    assert catalog.records("GONE") == []  # only looked at: nothing recorded
    # And the next run's prune records the day it was first seen gone, once
    _daily(stack, minutes_ago=2)
    (gone,) = catalog.records("GONE")
    assert gone["sk"] == web2
    _daily(stack, minutes_ago=1)
    assert catalog.records("GONE") == [gone]
