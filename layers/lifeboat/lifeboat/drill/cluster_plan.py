"""An Aurora cluster's drill, planned (pure): its newest completed cluster snapshot restored as a
new cluster ``lifeboat-drill-…`` into the drill's DB subnet group and security groups, with one
DB instance (Aurora serves nothing without one) in another AZ than the original's writer. Both
carry the drill's tags and are deleted like a drill database (``lifeboat.drill.stages``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from lifeboat import tags as T
from lifeboat.models import RecoveryPoint
from lifeboat.plans import DrillRule, Kind

DB_TIER = "db"
INSTANCE_SUFFIX = "-i"  # the drill cluster's one instance: <cluster id>-i (63 characters at most)


class ClusterPlan(BaseModel):
    """What a drill restores for an Aurora cluster."""

    source_id: str
    recovery_point_id: str
    snapshot_id: str
    data_taken_at: datetime
    new_identifier: str = Field(description="the drill cluster's identifier")
    instance_identifier: str = Field(description="its one DB instance")
    engine: str
    engine_version: str | None = None
    instance_class: str
    subnet_group: str | None
    security_group_ids: list[str]
    target_az: str | None
    source_az: str | None = None


def instance_identifier(cluster_identifier: str) -> str:
    return f"{cluster_identifier}{INSTANCE_SUFFIX}"


def cluster_target(
    source_id: str,
    points: list[RecoveryPoint],
    rule: DrillRule,
    groups: Sequence[dict[str, Any]],
    zones: Sequence[str],
    execution_name: str,
    live: dict[str, Any] | None = None,
) -> Any:
    """The drill target of cluster ``source_id`` (a ``DrillTarget``; ``error`` when it cannot be
    drilled: no completed cluster snapshot, no drill security group, no engine or class).
    ``live``: the cluster now (``Engine``, ``EngineVersion``, ``instance_class`` of its writer,
    ``availability_zone`` of its writer)."""
    from lifeboat.drill.models import DrillTarget  # models imports the planner's types
    from lifeboat.drill.planner import drill_identifier

    snapshots = [p for p in points if p.kind is Kind.RDS and p.db_cluster_snapshot_id]
    if not snapshots:
        return DrillTarget(
            id=source_id, type="cluster", tier=DB_TIER, error="no completed cluster snapshot point"
        )
    point = max(snapshots, key=lambda p: p.created_at)
    target = DrillTarget(id=source_id, type="cluster", tier=DB_TIER, data_taken_at=point.created_at)
    sgs = sorted(
        g["GroupId"] for g in groups if T.to_dict(g.get("Tags")).get(T.DRILL_TIER) == DB_TIER
    )
    found = live or {}
    engine, instance_class = found.get("engine"), found.get("instance_class")
    error = None
    if not sgs:
        error = f"no security group tagged {T.DRILL_TIER}={DB_TIER}"
    elif not engine or not instance_class:
        error = "the cluster's engine or its writer's instance class could not be read"
    if error is not None:
        return target.model_copy(update={"error": error})
    source_az = found.get("availability_zone")
    others = [z for z in sorted(zones) if z != source_az]
    new_id = drill_identifier(source_id, execution_name)
    plan = ClusterPlan(
        source_id=source_id,
        recovery_point_id=point.recovery_point_id,
        snapshot_id=str(point.db_cluster_snapshot_id),
        data_taken_at=point.created_at,
        new_identifier=new_id,
        instance_identifier=instance_identifier(new_id),
        engine=str(engine),
        engine_version=found.get("engine_version"),
        instance_class=str(instance_class),
        subnet_group=rule.db_subnet_group,
        security_group_ids=sgs,
        target_az=others[0] if others else None,
        source_az=source_az,
    )
    return target.model_copy(
        update={"availability_zone": plan.target_az, "security_group_ids": sgs, "cluster": plan}
    )
