"""The census of a copy region: catalogued copies whose artifacts are gone (deleted outside
Lifeboat: never offered for a restore, never counted by ``copies status``, marked failed by
prune) and artifacts tagged as Lifeboat copies that the catalog never recorded (a
``CopySnapshot`` re-sent after a time-out, a copy someone made by hand): reported, never
deleted (only the catalog's record proves an artifact Lifeboat's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from lifeboat.copies.provenance import CopyArtifact
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports

Describe = Callable[[list[str]], dict[str, dict[str, Any]]]
DescribeDb = Callable[[str, str], dict[str, Any] | None]


class RegionCensus(BaseModel):
    region: str
    vanished: dict[str, list[str]] = Field(
        default_factory=dict, description="copy id → its artifacts gone from the region"
    )
    uncatalogued: list[CopyArtifact] = Field(
        default_factory=list, description="tagged as Lifeboat copies, unknown to the catalog"
    )


def vanished(
    copies: list[RecoveryPoint], images: Describe, snapshots: Describe, db: DescribeDb
) -> dict[str, list[str]]:
    """Copy id → the artifacts it records that its region no longer has (images and
    snapshots read in one batched call each; DB snapshots one by one)."""
    image_ids = sorted({c.image_id for c in copies if c.image_id})
    snapshot_ids = sorted({s.snapshot_id for c in copies for s in c.snapshots})
    found_images = images(image_ids) if image_ids else {}
    found_snaps = snapshots(snapshot_ids) if snapshot_ids else {}
    gone: dict[str, list[str]] = {}
    for copy in copies:
        missing = [i for i in [copy.image_id] if i and i not in found_images]
        missing += [s.snapshot_id for s in copy.snapshots if s.snapshot_id not in found_snaps]
        for kind, db_id in (("db", copy.db_snapshot_id), ("cluster", copy.db_cluster_snapshot_id)):
            if db_id and db(kind, db_id) is None:
                missing.append(db_id)
        if missing:
            gone[copy.recovery_point_id] = missing
    return gone


def census(region: str, plan_names: list[str], plans: PlanSet, ports: Ports) -> RegionCensus:
    """The census of ``region`` for the plans named (their rules copying there)."""
    if ports.copies is None:
        raise RuntimeError("no copy adapter configured")
    copier = ports.copies(region)
    copies: list[RecoveryPoint] = []
    for name in plan_names:
        for rule_name, rule in sorted(plans.plans[name].rules.items()):
            if any(t.region == region for t in rule.copy_to):
                copies += ports.catalog.copies_for_rule(region, name, rule_name)
    completed = [c for c in copies if c.status is PointStatus.COMPLETED]
    result = RegionCensus(
        region=region,
        vanished=vanished(completed, copier.images, copier.snapshots, copier.db_snapshot),
    )
    known = {a for c in copies for a in c.artifact_ids()}
    # An image's own snapshots, and what an interrupted start made (the pump adopts it).
    images = copier.images(sorted({c.image_id for c in copies if c.image_id}))
    known |= {
        m["Ebs"]["SnapshotId"]
        for image in images.values()
        for m in image.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("SnapshotId")
    }
    adopting = {
        c.recovery_point_id
        for c in copies
        if c.status is PointStatus.PENDING and not c.artifact_ids()
    }
    result.uncatalogued = [
        a
        for a in copier.inventory()
        if a.plan in plan_names and a.artifact_id not in known and a.copy_point_id not in adopting
    ]
    return result


def mark_vanished(copies: list[RecoveryPoint], found: RegionCensus, ports: Ports) -> list[str]:
    """Record the copies whose artifacts vanished as failed (never offered again); the ids."""
    marked = []
    for copy in copies:
        missing = found.vanished.get(copy.recovery_point_id)
        if missing and ports.catalog.transition(
            copy,
            PointStatus.COMPLETED,
            PointStatus.FAILED,
            {"error": f"its artifacts {missing} were deleted outside Lifeboat"},
        ):
            marked.append(copy.recovery_point_id)
    return marked
