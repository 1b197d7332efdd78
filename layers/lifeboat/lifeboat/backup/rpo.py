"""The recovery point objective a backup run leaves behind, published as a CloudWatch metric:
per plan and rule, the age of the oldest "newest completed point" across the rule's resources
(the run's resources), put by each run's finalize step and, between runs, every 5 minutes by the
RPO publisher from what the last run measured. The RPO alarms of ``template.yaml`` fire when it
exceeds the rule's interval plus a margin (docs/runbooks/backups-failing.md)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.timeutil import iso, parse_iso

NAMESPACE = "Lifeboat"
METRIC = "RpoSeconds"
RECORD = "RPO"  # the catalog's RPO#<plan> items, one per rule (sk): what the last run measured


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
            NAMESPACE, METRIC, round(value, 1), "Seconds", {"Plan": plan, "Rule": rule}, at=now
        )
        # From now on the RPO grows by the clock until the next run measures it again: the
        # publisher (publish_rpo_ages) puts it every few minutes from this record.
        oldest = now - timedelta(seconds=value)
        ports.catalog.put_record(
            f"{RECORD}#{plan}", rule, {"oldest_at": iso(oldest), "measured_at": iso(now)}
        )
    return value


def publish_rpo_ages(plans: PlanSet, ports: Ports, now: datetime) -> dict[str, float]:
    """Put every declared rule's RPO as it stands now: the age of the oldest "newest completed
    point" its last run measured. A CloudWatch alarm sees a datapoint every few minutes, so it
    is OK while the RPO is within the rule's target (between runs too, whatever the rule's
    interval) and goes to ALARM once it is not, whether the runs are late, fail or stopped. A
    rule no run ever measured gets no datapoint (its alarm treats missing data as breaching:
    "no run reported")."""
    published: dict[str, float] = {}
    for plan_name, plan in sorted(plans.plans.items()):
        records = {str(r["sk"]): r for r in ports.catalog.records(f"{RECORD}#{plan_name}")}
        for rule in sorted(plan.rules):
            found = records.get(rule)
            if found is None or not found.get("oldest_at"):
                continue
            age = max(0.0, (now - parse_iso(str(found["oldest_at"]))).total_seconds())
            ports.metrics.put(
                NAMESPACE, METRIC, round(age, 1), "Seconds", {"Plan": plan_name, "Rule": rule},
                at=now,
            )  # fmt: skip
            published[f"{plan_name}/{rule}"] = round(age, 1)
    return published
