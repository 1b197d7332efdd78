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
