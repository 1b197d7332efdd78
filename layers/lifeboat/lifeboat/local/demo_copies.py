"""The demo's copies in another region: the daily run's points copied to us-west-2 by the copier
the run started (outside the run), re-encrypted with the DR region's key and catalogued there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifeboat.aws.clients import client
from lifeboat.local.seed import DR_REGION
from lifeboat.models import PointStatus
from lifeboat.output import table

if TYPE_CHECKING:
    from lifeboat.demo import Scene


def copies_to_dr_region(scene: Scene) -> None:
    story = scene.story
    story.step(f"The daily points are copied to {DR_REGION} (the copier the run started)")
    daily = scene.reports.get("daily", {})
    copier = daily.get("copies", {}).get("copier")
    story.check("the daily run queued its copies and started the copier", bool(copier))
    if copier:
        result = story.follow(str(copier))
        story.check("the copier finished", result["status"] == "SUCCEEDED", str(result))
    home = [
        p
        for p in scene.catalog.points_for_run(daily.get("run_id", ""))
        if p.status is PointStatus.COMPLETED
    ]
    rows, missing = [], []
    for point in sorted(home, key=lambda p: p.source_id):
        copies = scene.catalog.copies_for_resource(point.source_id, DR_REGION)
        copy = next((c for c in copies if c.copy_of == point.recovery_point_id), None)
        if copy is None or copy.status is not PointStatus.COMPLETED:
            missing.append(point.source_id)
            continue
        rows.append(
            (
                point.source_id,
                point.kind.value,
                ", ".join(point.artifact_ids()),
                ", ".join(copy.artifact_ids()),
            )
        )
    story.line(table(["RESOURCE", "KIND", "HOME (us-east-1)", f"COPY ({DR_REGION})"], rows))
    story.check(
        f"every daily point has a completed copy in {DR_REGION}", not missing, ", ".join(missing)
    )
    snapshots = client("ec2", DR_REGION).describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:lifeboat:managed", "Values": ["true"]}]
    )["Snapshots"]
    story.check(
        "the copies are encrypted with the DR region's key",
        bool(snapshots) and all(s["Encrypted"] for s in snapshots),
    )
    story.facts["copies"] = {"region": DR_REGION, "copied": len(rows)}


def region_lost_restore(scene: Scene) -> None:
    """The runbook's region-loss page, played: web-1 restored in us-west-2 from its copy."""
    from lifeboat import executions

    story, seeded = scene.story, scene.seeded
    web = seeded.protected_instances["web-1"]
    story.step(f"Region lost: lifeboat restore start --instance {web} --region {DR_REGION} --force")
    payload = {
        "instance_id": web,
        "region": DR_REGION,
        "force": True,  # web-1 was restored minutes ago (cooldown); its current instance
        "reason": "demo: us-east-1 lost",
        "requested_by": "demo",
    }
    arn = executions.start(scene.stack.outputs["RestoreStateMachineArn"], payload, "region-lost")
    result = story.follow(arn)
    story.check("the restore in the DR region succeeded", result["status"] == "SUCCEEDED")
    ec2 = client("ec2", DR_REGION)
    running = [
        i
        for r in ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )["Reservations"]
        for i in r["Instances"]
    ]
    dr = seeded.dr
    web_subnets = {dr.subnets["web-a"], dr.subnets["web-b"]} if dr else set()
    placed = [i for i in running if i.get("SubnetId") in web_subnets]
    for instance in placed:
        story.line(
            f"   web-1 now also runs as {instance['InstanceId']} in "
            f"{instance['Placement']['AvailabilityZone']} (DR VPC, web tier), from the copied AMI "
            f"{instance['ImageId']}"
        )
    story.check(f"web-1 runs in {DR_REGION}'s web subnet", len(placed) == 1)
    story.line(
        "   not automated (runbook): DNS, the load balancer and Elastic IP, application "
        "configuration pointing at the new database endpoint"
    )
