"""Finalize a backup run: record a failed point for each resource of a batch whose task failed
after its retries, adopt what killed tasks made, fail what is still pending, clean up failed
points' artifacts, publish the rule's RPO, report per resource and notify."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lifeboat.backup.check import IMAGE_KINDS, adopt
from lifeboat.backup.lock import lock_points
from lifeboat.backup.points import new_point
from lifeboat.backup.rpo import publish_rpo
from lifeboat.copies.enqueue import queue_and_start
from lifeboat.models import (
    CreateBatchEvent,
    FinalizeEvent,
    Outcome,
    PointStatus,
    RecoveryPoint,
)
from lifeboat.observability import metrics
from lifeboat.plans import Kind, PlanSet
from lifeboat.ports import Ports

MAX_OUTCOMES_IN_OUTPUT = 500
MAX_FAILURES_IN_OUTPUT = 50


def finalize_run(
    event: FinalizeEvent,
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    copier_arn: str | None = None,
    lock_max_days: int | None = None,
) -> dict[str, Any]:
    run = ports.catalog.get_run(event.run_id) or {}
    plan_name, rule_name = run.get("plan", ""), run.get("rule", "")
    _record_failed_batches(event, plans, ports, now)
    points = _adopt_leftovers(event.run_id, ports.catalog.points_for_run(event.run_id), ports)
    outcomes = [_settle(point, ports, now) for point in points]
    failed = [o for o in outcomes if o.status is PointStatus.FAILED]
    report: dict[str, Any] = {
        "run_id": event.run_id,
        "plan": plan_name,
        "rule": rule_name,
        "status": "failed" if failed else "succeeded",
        "completed": len(outcomes) - len(failed),
        "failed": len(failed),
        "failures": [o.model_dump(mode="json") for o in failed[:MAX_FAILURES_IN_OUTPUT]],
    }
    if len(outcomes) <= MAX_OUTCOMES_IN_OUTPUT:
        report["outcomes"] = [o.model_dump(mode="json", exclude_none=True) for o in outcomes]
    else:
        report["outcomes_note"] = "too many to list here: lifeboat recovery-points list"
    metrics.add_metric(
        name="RecoveryPointsCompleted", unit=MetricUnit.Count, value=report["completed"]
    )
    metrics.add_metric(name="RecoveryPointsFailed", unit=MetricUnit.Count, value=report["failed"])
    completed = [p for p in points if p.status is PointStatus.COMPLETED]
    locks = lock_points(completed, plans, ports, now, lock_max_days)
    if locks:
        report["locks"] = locks
    copies = queue_and_start(completed, plans, ports, now, event.run_id, copier_arn)
    if copies:
        report["copies"] = copies
    rpo = publish_rpo(plan_name, rule_name, points, ports, now)
    if rpo is not None:
        report["rpo_seconds"] = round(rpo, 1)
    ports.catalog.finish_run(
        event.run_id,
        report["status"],
        {"completed": report["completed"], "failed": report["failed"]},
    )
    if failed and ports.notifier is not None:
        ports.notifier.publish(
            f"Lifeboat backup {plan_name}/{rule_name} failed for {len(failed)} resource(s)",
            {k: v for k, v in report.items() if k != "outcomes"},
        )
    return report


def _settle(found: RecoveryPoint, ports: Ports, now: datetime) -> Outcome:
    """The point's outcome: still pending fails now; a failed point's artifacts are removed."""
    point = found
    if point.status is PointStatus.PENDING:
        reason = "did not complete within the run's polling limit"
        point = ports.catalog.mark(point, PointStatus.FAILED, when=now, error=reason)
    if point.status is PointStatus.FAILED and point.artifact_ids():
        cleanup_artifacts(point, ports)
    completed = point.status is PointStatus.COMPLETED
    return Outcome(
        resource_id=point.source_id,
        resource_type=point.source_type,
        kind=point.kind,
        status=point.status,
        recovery_point_id=point.recovery_point_id if completed else None,
        artifact_ids=point.artifact_ids() if completed else [],
        error=point.error,
        consistency=point.consistency if point.source_type == "instance" else None,
    )


def _adopt_leftovers(run_id: str, points: list[RecoveryPoint], ports: Ports) -> list[RecoveryPoint]:
    """Points of the run with an intent and nothing recorded (their task died after the create
    call, or EC2 answered the check before listing what it made): what the call made, found by
    the run's tags and matched to the intent, so that the clean-up below removes it."""
    bare = [
        p
        for p in points
        if p.intent is not None
        and not p.artifact_ids()
        and p.status in (PointStatus.PENDING, PointStatus.FAILED)
    ]
    if not bare:
        return points
    sources = sorted({p.source_id for p in bare if p.source_type in ("instance", "asg")})
    kinds = {p.kind for p in bare}
    images = ports.ec2.run_images(run_id, sources) if sources and IMAGE_KINDS & kinds else {}
    snaps = (
        ports.ec2.run_snapshots(run_id, Kind.EBS.value, sources)
        if sources and Kind.EBS in kinds
        else {}
    )
    found = {p.recovery_point_id: adopt(p, images, snaps, ports.rds) for p in bare}
    ports.catalog.put_points(
        [p for i, p in found.items() if p.artifact_ids()]  # recorded before anything is undone
    )
    return [found.get(p.recovery_point_id, p) for p in points]


def _record_failed_batches(
    event: FinalizeEvent, plans: PlanSet, ports: Ports, now: datetime
) -> None:
    """A batch whose task failed after every retry: each of its resources gets a failed point."""
    for batch in event.batches:
        if "error" not in batch:
            continue
        create = CreateBatchEvent.model_validate(
            {k: batch[k] for k in ("run_id", "plan", "rule", "resources")}
        )
        _plan, rule = plans.rule(create.plan, create.rule)
        cause = batch["error"].get("Error", "BatchFailed")
        wanted = [
            (ref, kind)
            for ref in create.resources
            for kind in dict.fromkeys([*rule.kinds, Kind.ASG])
            if _point_kind_of(ref.type, kind)
        ]
        recorded = ports.catalog.get_points([(r.id, create.run_id, k.value) for r, k in wanted])
        ports.catalog.put_points(
            [
                new_point(
                    create,
                    ref.id,
                    ref.type,
                    kind,
                    now,
                    status=PointStatus.FAILED,
                    error=f"{cause}: the create task failed after its retries",
                )
                for ref, kind in wanted
                if (ref.id, kind.value) not in recorded
            ]
        )


def cleanup_artifacts(point: RecoveryPoint, ports: Ports) -> dict[str, str]:
    """Remove what a failed recovery point left behind (never half-made backups)."""
    results: dict[str, str] = {}
    if point.image_id:
        snapshot_ids = ports.ec2.deregister_image(point.image_id)
        results[point.image_id] = "deregistered"
        results.update(ports.ec2.delete_snapshots(snapshot_ids, ignore_image=point.image_id))
    if point.kind is Kind.EBS:
        results.update(ports.ec2.delete_snapshots([s.snapshot_id for s in point.snapshots]))
    if point.db_snapshot_id:
        results[point.db_snapshot_id] = ports.rds.delete_snapshot("db", point.db_snapshot_id)
    if point.db_cluster_snapshot_id:
        results[point.db_cluster_snapshot_id] = ports.rds.delete_snapshot(
            "cluster", point.db_cluster_snapshot_id
        )
    return results


def _point_kind_of(resource_type: str, kind: Kind) -> bool:
    """Whether a resource of ``resource_type`` gets a point of ``kind`` (a group: ``asg``)."""
    if resource_type == "asg":
        return kind is Kind.ASG
    return kind is not Kind.ASG and (kind is Kind.RDS) == (resource_type != "instance")
