"""Pruning: apply a rule's retention to its recovery points, safely.

* only points of the plan and rule, and only artifacts tagged ``lifeboat:managed=true`` with the
  same plan and rule tags (checked here; IAM enforces ``lifeboat:managed`` too);
* an AMI is deregistered first, then the snapshots it owned are deleted, so none is orphaned;
  a snapshot still used by another AMI, or under a snapshot lock, is skipped and reported;
  ``NotFound`` is treated as already done;
* the dry run computes the same plan (what, why, how much storage it frees) and changes nothing;
* pruned points stay in the catalog, marked deleted with when and why;
* orphans (managed snapshots whose AMI is gone, artifacts with no catalog entry) are reported,
  and removed only when asked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from lifeboat import tags as T
from lifeboat.backup import Ports
from lifeboat.errors import NotOwnedError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.observability import metrics
from lifeboat.plans import Kind, Name, PlanSet
from lifeboat.retention import decide

MAX_LISTED = 200


class PruneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: Name
    rule: Name | None = None
    dry_run: bool = False
    delete_orphans: bool = False
    summary_only: bool = Field(False, description="answer counts only (inside a backup run)")


class Deletion(BaseModel):
    recovery_point_id: str
    source_id: str
    kind: Kind
    rule: str
    created_at: datetime
    reason: str
    artifacts: list[str]
    size_gb: int
    outcome: dict[str, str] = Field(default_factory=dict)


class Orphan(BaseModel):
    artifact_id: str
    artifact_type: str
    reason: str
    size_gb: int = 0
    outcome: str | None = None


class PruneReport(BaseModel):
    plan: str
    rules: list[str]
    dry_run: bool
    evaluated: int = 0
    kept: int = 0
    expired: list[Deletion] = Field(default_factory=list)
    deleted: int = 0
    skipped: list[str] = Field(default_factory=list)
    stale: list[str] = Field(default_factory=list)
    frees_gb: int = 0
    orphans: list[Orphan] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "rules": self.rules,
            "dry_run": self.dry_run,
            "evaluated": self.evaluated,
            "kept": self.kept,
            "expired": len(self.expired),
            "deleted": self.deleted,
            "skipped": len(self.skipped),
            "stale": self.stale[:50],
            "frees_gb": self.frees_gb,
            "orphans": len(self.orphans),
        }


def _size(point: RecoveryPoint) -> int:
    if point.snapshots:
        return sum(s.size_gb for s in point.snapshots)
    return point.size_gb


def prune(request: PruneRequest, plans: PlanSet, ports: Ports, now: datetime) -> PruneReport:
    rule_names = plans.rule_names(request.plan, request.rule)
    plan = plans.plans[request.plan]
    report = PruneReport(plan=request.plan, rules=rule_names, dry_run=request.dry_run)
    catalog_points: list[RecoveryPoint] = []
    for name in rule_names:
        rule = plan.rules[name]
        points = [
            p
            for p in ports.catalog.points_for_rule(request.plan, name)
            if p.status is not PointStatus.DELETED
        ]
        catalog_points.extend(points)
        result = decide(
            points,
            retention=rule.retention,
            min_keep=plan.min_keep,
            timezone=rule.timezone,
            interval_seconds=rule.interval_seconds(),
            now=now,
        )
        report.evaluated += len(points)
        report.kept += len(result.kept)
        report.stale.extend(f"{name}:{group}" for group in result.stale_groups)
        by_id = {p.recovery_point_id: p for p in points}
        for point_id in result.expired:
            point = by_id[point_id]
            report.expired.append(
                Deletion(
                    recovery_point_id=point_id,
                    source_id=point.source_id,
                    kind=point.kind,
                    rule=name,
                    created_at=point.created_at,
                    reason=result.decisions[point_id].reasons[0],
                    artifacts=point.artifact_ids(),
                    size_gb=_size(point),
                )
            )
            report.frees_gb += _size(point)
            if not request.dry_run:
                _delete_point(point, report, report.expired[-1], ports, now)
    report.orphans = find_orphans(request.plan, catalog_points, ports)
    if request.delete_orphans and not request.dry_run:
        for orphan in report.orphans:
            orphan.outcome = _delete_orphan(orphan, ports)
    return report


def _delete_point(
    point: RecoveryPoint, report: PruneReport, deletion: Deletion, ports: Ports, now: datetime
) -> None:
    owner = {T.PLAN: point.plan, T.RULE: point.rule}
    outcome: dict[str, str] = {}
    try:
        if point.image_id:
            owned_snapshots = ports.ec2.deregister_image(point.image_id, owner)
            outcome[point.image_id] = "deregistered"
            snapshot_ids = sorted(set(owned_snapshots) | {s.snapshot_id for s in point.snapshots})
            outcome.update(
                ports.ec2.delete_snapshots(snapshot_ids, owner, ignore_image=point.image_id)
            )
        elif point.kind is Kind.EBS:
            ids = [s.snapshot_id for s in point.snapshots]
            outcome.update(ports.ec2.delete_snapshots(ids, owner))
        if point.db_snapshot_id:
            outcome[point.db_snapshot_id] = ports.rds.delete_snapshot(
                "db", point.db_snapshot_id, owner
            )
        if point.db_cluster_snapshot_id:
            outcome[point.db_cluster_snapshot_id] = ports.rds.delete_snapshot(
                "cluster", point.db_cluster_snapshot_id, owner
            )
    except NotOwnedError as exc:
        outcome["refused"] = str(exc)
    deletion.outcome = outcome
    problems = {k: v for k, v in outcome.items() if v not in ("deleted", "gone", "deregistered")}
    if problems:
        report.skipped.extend(f"{k}: {v}" for k, v in problems.items())
    if "refused" in outcome:
        return
    report.deleted += 1
    why = deletion.reason + (f"; skipped {problems}" if problems else "")
    ports.catalog.mark(point, PointStatus.DELETED, when=now, reason=f"pruned: {why}")


def find_orphans(plan: str, points: list[RecoveryPoint], ports: Ports) -> list[Orphan]:
    """Managed artifacts of the plan that pruning would never reach on its own."""
    known = {a for p in points for a in p.artifact_ids()}
    images = ports.ec2.managed_images(plan)
    image_snapshots = {
        m["Ebs"]["SnapshotId"]
        for i in images
        for m in i.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("SnapshotId")
    }
    orphans: list[Orphan] = []
    for image in images:
        if image["ImageId"] not in known:
            orphans.append(
                Orphan(
                    artifact_id=image["ImageId"], artifact_type="image", reason="no catalog entry"
                )
            )
    for snap in ports.ec2.managed_snapshots(plan):
        tags = T.to_dict(snap.get("Tags"))
        sid = snap["SnapshotId"]
        size = int(snap.get("VolumeSize", 0))
        if tags.get(T.KIND) == Kind.AMI.value and sid not in image_snapshots:
            orphans.append(
                Orphan(
                    artifact_id=sid,
                    artifact_type="snapshot",
                    reason="its AMI is gone",
                    size_gb=size,
                )
            )
        elif sid not in known and sid not in image_snapshots:
            orphans.append(
                Orphan(
                    artifact_id=sid,
                    artifact_type="snapshot",
                    reason="no catalog entry",
                    size_gb=size,
                )
            )
    for kind, snap in ports.rds.managed_snapshots(plan):
        sid = snap.get("DBSnapshotIdentifier") or snap.get("DBClusterSnapshotIdentifier") or ""
        if sid not in known:
            orphans.append(
                Orphan(
                    artifact_id=sid,
                    artifact_type=f"{kind}-snapshot",
                    reason="no catalog entry",
                    size_gb=int(snap.get("AllocatedStorage", 0)),
                )
            )
    return orphans


def _delete_orphan(orphan: Orphan, ports: Ports) -> str:
    if orphan.artifact_type == "image":
        try:
            snapshot_ids = ports.ec2.deregister_image(orphan.artifact_id)
            ports.ec2.delete_snapshots(snapshot_ids, ignore_image=orphan.artifact_id)
        except NotOwnedError:
            return "not-owned"
        return "deregistered"
    if orphan.artifact_type == "snapshot":
        return ports.ec2.delete_snapshot(orphan.artifact_id)
    return ports.rds.delete_snapshot(
        orphan.artifact_type.removesuffix("-snapshot"), orphan.artifact_id
    )


def run_prune(request: PruneRequest, plans: PlanSet, ports: Ports, now: datetime) -> dict[str, Any]:
    """The prune task: the full report, or its summary inside a backup run's state."""
    report = prune(request, plans, ports, now)
    metrics.add_metric(
        name="RecoveryPointsExpired", unit=MetricUnit.Count, value=len(report.expired)
    )
    metrics.add_metric(name="RecoveryPointsPruned", unit=MetricUnit.Count, value=report.deleted)
    metrics.add_metric(name="StaleBackupGroups", unit=MetricUnit.Count, value=len(report.stale))
    if request.summary_only:
        return report.summary()
    data = report.model_dump(mode="json")
    data["expired"] = data["expired"][:MAX_LISTED]
    data["orphans"] = data["orphans"][:MAX_LISTED]
    data["summary"] = report.summary()
    return data
