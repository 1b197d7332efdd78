"""The demo's restore drill: the eLearn stack restored into a drill network of its own, each
copy checked healthy and measured, then deleted; production unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifeboat import executions
from lifeboat import tags as T
from lifeboat.aws.clients import client
from lifeboat.local.seed import seed_drill_network
from lifeboat.output import table

if TYPE_CHECKING:
    from lifeboat.demo import Scene


def _leftovers() -> list[str]:
    ec2 = client("ec2")
    live = ["pending", "running", "stopping", "stopped", "shutting-down"]
    flt = [{"Name": "tag-key", "Values": [T.DRILL]}]
    instances = [
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[*flt, {"Name": "instance-state-name", "Values": live}]
        )["Reservations"]
        for i in r["Instances"]
    ]
    volumes = [v["VolumeId"] for v in ec2.describe_volumes(Filters=flt)["Volumes"]]
    dbs = [
        d["DBInstanceIdentifier"]
        for d in client("rds").describe_db_instances()["DBInstances"]
        if d["DBInstanceIdentifier"].startswith("lifeboat-drill-")
    ]
    return instances + volumes + dbs


def _traffic(scene: Scene) -> tuple[Any, set[str]]:
    address = client("ec2").describe_addresses(
        AllocationIds=[scene.seeded.elastic_ip["allocation_id"]]
    )["Addresses"][0]
    health = client("elbv2").describe_target_health(TargetGroupArn=scene.seeded.target_group_arn)
    return address.get("InstanceId"), {
        d["Target"]["Id"] for d in health["TargetHealthDescriptions"]
    }


def restore_drill(scene: Scene) -> None:
    story = scene.story
    story.step("Restore drill: every protected server and the database, restored and measured")
    network = seed_drill_network()
    story.line(
        f"   drill network {network['vpc_id']} (its own VPC, no route to production): "
        "subnets and security groups tagged lifeboat:drill-tier"
    )
    before = _traffic(scene)
    arn = executions.start(
        scene.stack.outputs["DrillStateMachineArn"],
        {"plan": "standard", "requested_by": "demo"},
        f"drill-standard-{scene.now:%Y%m%dT%H%M%S}",
    )
    result = story.follow(arn)
    summary = result.get("output") or {}
    story.check("the drill succeeded", result["status"] == "SUCCEEDED", str(result.get("cause")))
    names = {v: k for k, v in scene.seeded.protected_instances.items()}
    rows = [
        (
            names.get(r["id"], r["id"]),
            r["result"],
            "-" if r["rto_seconds"] is None else f"{r['rto_seconds']} s",
            "-" if r["rpo_seconds"] is None else f"{round(r['rpo_seconds'] / 60)} min",
        )
        for r in summary.get("resources", [])
    ]
    story.line(table(["RESOURCE", "RESULT", "RTO (measured)", "RPO (data age)"], rows))
    story.line("   (the emulator compresses waits; on AWS a drill's RTO is minutes)")
    story.check("nothing of the drill is left (instances, volumes, databases)", not _leftovers())
    story.check("the Elastic IP and the target group are unchanged", _traffic(scene) == before)
    story.facts["drill"] = summary
