"""The recovery point objective a backup run leaves behind, published as a CloudWatch metric:
per plan and rule, the age of the oldest "newest completed point" across the rule's resources
(the run's resources). The RPO alarms of ``template.yaml`` fire when it exceeds the rule's
interval plus a margin."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.ports import Ports

NAMESPACE = "Lifeboat"
METRIC = "RpoSeconds"


def rule_rpo_seconds(
    points: Iterable[RecoveryPoint], sources: set[str], now: datetime
) -> float | None:
    """The worst RPO across ``sources``: for each, the age of its newest completed point; a
    source without any completed point counts from its first attempt (it has been unprotected
    since then). None when no source has any point at all."""
    newest: dict[str, datetime] = {}
    first: dict[str, datetime] = {}
    for point in points:
        source = point.source_id
        if source not in sources:
            continue
        first[source] = min(first.get(source, point.created_at), point.created_at)
        if point.status is PointStatus.COMPLETED:
            newest[source] = max(newest.get(source, point.created_at), point.created_at)
    ages = [
        (now - (newest.get(s) or first[s])).total_seconds()
        for s in sources
        if s in newest or s in first
    ]
    return max(0.0, *ages) if ages else None


def publish_rpo(
    plan: str, rule: str, run_points: list[RecoveryPoint], ports: Ports, now: datetime
) -> float | None:
    """Publish ``RpoSeconds`` (dimensions Plan, Rule) for the run's resources; the value, or
    None when there is nothing to measure (an empty run)."""
    sources = {p.source_id for p in run_points}
    if not plan or not rule or not sources:
        return None
    value = rule_rpo_seconds(ports.catalog.points_for_rule(plan, rule), sources, now)
    if value is not None:
        ports.metrics.put(
            NAMESPACE, METRIC, round(value, 1), "Seconds", {"Plan": plan, "Rule": rule}
        )
    return value
