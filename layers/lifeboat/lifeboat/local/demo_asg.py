"""The demo's Auto Scaling group: eLearn's web tier as a group of 2 across two AZs. Lifeboat
backs up the group (one AMI and its launch template data), never its members; a failed member is
the group's to replace (no Lifeboat restore); after a bad deploy, ``lifeboat restore start
--asg`` puts the group back on an older point, and ``lifeboat restore rollback`` undoes that."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifeboat import executions
from lifeboat.aws.clients import client
from lifeboat.local.seed_asg import SeededGroup, seed_web_group
from lifeboat.models import RecoveryPoint
from lifeboat.output import table
from lifeboat.plans import Kind

if TYPE_CHECKING:
    from lifeboat.demo import Scene


def _members(name: str) -> list[dict[str, Any]]:
    group = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return list(group["AutoScalingGroups"][0]["Instances"])


def _images(name: str) -> set[str]:
    ids = [m["InstanceId"] for m in _members(name)]
    found = client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    return {i["ImageId"] for r in found for i in r["Instances"] if i["State"]["Name"] == "running"}


def _restores(scene: Scene) -> int:
    arn = scene.stack.outputs["RestoreStateMachineArn"]
    return len(client("stepfunctions").list_executions(stateMachineArn=arn)["executions"])


def _backup(scene: Scene, name: str) -> RecoveryPoint | None:
    arn = executions.start(
        scene.stack.outputs["BackupStateMachineArn"], {"plan": "standard", "rule": "daily"}, name
    )
    result = executions.wait(arn, timeout=120, poll=0.1)
    scene.story.check(f"backup run {name} succeeded", result["status"] == "SUCCEEDED")
    points = [p for p in scene.catalog.points_for_resource("elearn-web") if p.kind is Kind.ASG]
    return max(points, key=lambda p: p.created_at) if points else None


def _deploy(group: SeededGroup, image: str) -> None:
    """The operators' deploy: a new template version and an instance refresh (not Lifeboat)."""
    client("ec2").create_launch_template_version(
        LaunchTemplateId=group.template_id,
        SourceVersion="$Latest",
        LaunchTemplateData={"ImageId": image},
        VersionDescription="deploy 2.0 (broken)",
    )
    autoscaling = client("autoscaling")
    refresh = autoscaling.start_instance_refresh(
        AutoScalingGroupName=group.name, Preferences={"MinHealthyPercentage": 50}
    )["InstanceRefreshId"]
    for _ in range(10):
        found = autoscaling.describe_instance_refreshes(
            AutoScalingGroupName=group.name, InstanceRefreshIds=[refresh]
        )["InstanceRefreshes"][0]
        if found["Status"] == "Successful":
            return


def auto_scaling_group(scene: Scene) -> None:
    story = scene.story
    story.step("An Auto Scaling group: the web tier as a group of 2 across two AZs")
    group = seed_web_group(scene.seeded)
    story.line(table(["MEMBER", "AZ", "STATE"], [
        (m["InstanceId"], m["AvailabilityZone"], m["LifecycleState"]) for m in _members(group.name)
    ]))  # fmt: skip
    story.line(f"   group {group.name} carries lifeboat:plan=standard (propagated to its members)")

    story.step("A backup run protects the group, not its members")
    good = _backup(scene, "demo-asg-backup-1")
    story.check("the group has a point of kind asg", good is not None and bool(good.image_id))
    if good is None or good.group is None:
        return
    story.line(
        f"   {good.recovery_point_id}: AMI {good.image_id} of {good.group.member_id}, launch "
        f"template {good.group.template_id} v{good.group.template_version}, "
        f"{good.group.desired_capacity} desired in {', '.join(good.group.availability_zones)}"
    )
    members = [m["InstanceId"] for m in _members(group.name)]
    story.check(
        "no member has a point of its own",
        all(not scene.catalog.points_for_resource(m) for m in members),
    )
    alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix="lifeboat-")["MetricAlarms"]
    alarmed = {d["Value"] for a in alarms for d in a.get("Dimensions", [])}
    story.check("no member has a Lifeboat status-check alarm", not alarmed & set(members))

    story.step("A member fails: the group replaces it (Lifeboat restores nothing)")
    before = _restores(scene)
    failed = members[0]
    client("autoscaling").set_instance_health(InstanceId=failed, HealthStatus="Unhealthy")
    now = _members(group.name)
    story.line(f"   {failed} marked unhealthy by the group's health check; replaced by the group")
    story.check(
        "the group runs exactly its desired 2, without the failed member",
        len(now) == 2 and failed not in {m["InstanceId"] for m in now},
    )
    story.check("no Lifeboat restore was started", _restores(scene) == before)

    story.step("A bad deploy: template version 2 with a broken image, rolled out by the group")
    broken = client("ec2").register_image(
        Name="elearn-lamp-2.0-broken",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]
    _deploy(group, broken)
    story.check("the members run the broken image", _images(group.name) == {broken})
    bad = _backup(scene, "demo-asg-backup-2")
    story.line(f"   the next run's point {bad.recovery_point_id if bad else '-'} holds it too")

    story.step(f"lifeboat restore start --asg {group.name} --point {good.recovery_point_id}")
    arn = executions.start(
        scene.stack.outputs["GroupRestoreStateMachineArn"],
        {"asg": group.name, "recovery_point": good.recovery_point_id, "requested_by": "demo"},
        "demo-restore-asg",
    )
    result = story.follow(arn)
    out = result.get("output") or {}
    story.check("the group restore succeeded", result["status"] == "SUCCEEDED", str(result))
    story.line(
        f"   launch template version {out.get('version')} (the point's data and AMI), made the "
        f"group's; instance refresh {out.get('refresh_id')} (checkpoint at 50%)"
    )
    story.check("the members run the point's image again", _images(group.name) == {good.image_id})

    story.step(f"lifeboat restore rollback {arn}")
    back = story.follow(
        executions.start(
            scene.stack.outputs["GroupRestoreStateMachineArn"],
            {"asg": group.name, "rollback_of": arn, "requested_by": "demo"},
            "demo-rollback-asg",
        )
    )
    story.check("the rollback succeeded", back["status"] == "SUCCEEDED", str(back))
    story.check(
        "the previous version (the deploy) is the group's again", _images(group.name) == {broken}
    )
    story.facts["auto_scaling_group"] = {"restore": out, "rollback": back.get("output")}
