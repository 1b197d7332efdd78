"""Building the report, pure: :class:`FleetInputs` in, :class:`Report` out (same inputs, same
report). Per resource: newest completed point per rule and its RPO against the rule's target,
last drill, alarms, timeline; then the AZ failures (:mod:`.azs`), what is not protected
(:mod:`.findings`) and the red/amber/green summary."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, Literal

from lifeboat import tags as T
from lifeboat.alarms import alarm_name
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind
from lifeboat.report.azs import az_failures
from lifeboat.report.findings import not_protected
from lifeboat.report.groups import decommissioned, group_statuses, single_az_groups
from lifeboat.report.models import (
    Drill,
    FleetInputs,
    Mark,
    Rag,
    Report,
    ResourceStatus,
    RuleStatus,
    Summary,
)
from lifeboat.timeutil import parse_iso

INSTANCE_KINDS = frozenset({Kind.AMI, Kind.EBS})
DATABASE_KINDS = frozenset({Kind.RDS})
TIMELINE_LIMIT = 400  # marks per resource (the picture shows the retention window)


def build_report(inputs: FleetInputs) -> Report:
    by_source: dict[str, list[RecoveryPoint]] = defaultdict(list)
    for point in inputs.points:
        by_source[point.source_id].append(point)
    for iid, chain in inputs.lineages.items():  # a replacement's points are its server's
        by_source[iid] = [p for member in dict.fromkeys([*chain, iid]) for p in by_source[member]]
    drills = drills_by_resource(inputs.drills)
    resources = [
        _instance_status(iid, described, inputs, by_source[iid], drills.get(iid, []))
        for iid, described in sorted(inputs.instances.items())
    ]
    resources += [
        _database_status(db_id, kind, plan, inputs, by_source[db_id], drills.get(db_id, []))
        for db_id, (plan, kind) in sorted(inputs.protected_dbs.items())
    ]
    resources += group_statuses(inputs, by_source, drills)
    failures = az_failures(inputs, by_source, drills)
    findings = [*not_protected(inputs, resources), *single_az_groups(inputs)]
    return Report(
        generated_at=inputs.now,
        plans=inputs.plan_names,
        margin_seconds=inputs.margin_seconds,
        summary=_summary(resources, failures, findings),
        resources=resources,
        az_failures=failures,
        not_protected=findings,
        decommissioned=decommissioned(inputs),
    )


# --- drills -------------------------------------------------------------------------------------
def drills_by_resource(records: dict[str, list[dict[str, Any]]]) -> dict[str, list[Drill]]:
    """Each resource's drills, newest first, from the ``DRILL#<plan>`` records."""
    found: dict[str, list[Drill]] = defaultdict(list)
    for items in records.values():
        for item in sorted(items, key=lambda i: str(i.get("sk", "")), reverse=True):
            execution = str(item.get("sk", "")).partition("#")[2] or str(item.get("sk", ""))
            for resource in item.get("resources") or []:
                found[str(resource.get("id"))].append(
                    Drill(
                        execution=execution,
                        started_at=_time(item.get("started_at")),
                        status=str(item.get("status", "unknown")),
                        result=resource.get("result"),
                        rto_seconds=_number(resource.get("rto_seconds")),
                        rpo_seconds=_number(resource.get("rpo_seconds")),
                        error=resource.get("error"),
                    )
                )
    # Newest first across plans too (a resource that moved plans has drills in both).
    for drills in found.values():
        drills.sort(key=_drill_order, reverse=True)
    return found


def _drill_order(drill: Drill) -> tuple[datetime, str]:
    return (drill.started_at or datetime.min.replace(tzinfo=UTC), drill.execution)


def last_rto(drills: list[Drill]) -> float | None:
    """The RTO of the newest drill, when it passed (an older passing drill's RTO does not
    stand for a restore that failed since)."""
    newest = drills[0] if drills else None
    return newest.rto_seconds if newest is not None and newest.result == "healthy" else None


def _time(value: Any) -> datetime | None:
    try:
        return parse_iso(str(value)) if value else None
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    """A number from a record (DynamoDB gives ``Decimal``), or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --- resources ----------------------------------------------------------------------------------
def rule_statuses(
    inputs: FleetInputs, plan: str, kinds: frozenset[Kind], points: list[RecoveryPoint]
) -> list[RuleStatus]:
    """The resource's newest completed point of each rule of its plan that applies to it."""
    found = inputs.plans.plans.get(plan)
    statuses: list[RuleStatus] = []
    for rule_name, rule in sorted(found.rules.items()) if found else []:
        if not kinds.intersection(rule.kinds):
            continue
        target = rule.interval_seconds()
        done = [p for p in points if p.rule == rule_name and p.status is PointStatus.COMPLETED]
        newest = max(done, key=lambda p: p.created_at) if done else None
        rpo = int((inputs.now - newest.created_at).total_seconds()) if newest else None
        statuses.append(
            RuleStatus(
                rule=rule_name,
                target_seconds=target,
                newest_point_id=newest.recovery_point_id if newest else None,
                newest_at=newest.created_at if newest else None,
                rpo_seconds=rpo,
                stale=rpo is None or rpo > target + inputs.margin_seconds,
                newest_consistency=(
                    newest.consistency if newest and newest.source_type == "instance" else None
                ),
            )
        )
    return statuses


def _instance_status(
    iid: str,
    described: dict[str, Any],
    inputs: FleetInputs,
    points: list[RecoveryPoint],
    drills: list[Drill],
) -> ResourceStatus:
    tags = T.to_dict(described.get("Tags"))
    plan = tags.get(T.PLAN, "")
    az = described.get("Placement", {}).get("AvailabilityZone")
    subnet = next(
        (
            s
            for s in inputs.subnets.get(described.get("VpcId", ""), [])
            if s["SubnetId"] == described.get("SubnetId")
        ),
        None,
    )
    expected = alarm_name(plan, iid, "system")
    alarms = sorted(a for a in inputs.alarms if a.startswith(f"lifeboat-{plan}-{iid}-"))
    return _status(
        ResourceStatus(
            id=iid,
            type="instance",
            name=tags.get("Name", iid),
            plan=plan,
            availability_zone=az,
            tier=T.subnet_tier(T.to_dict(subnet.get("Tags")), az or "") if subnet else None,
            status="green",
            rules=rule_statuses(inputs, plan, INSTANCE_KINDS, points),
            last_drill=drills[0] if drills else None,
            alarms=alarms,
            missing_alarms=[] if expected in alarms else [expected],
            timeline=timeline(points, drills),
        )
    )


def _database_status(
    db_id: str,
    kind: str,
    plan: str,
    inputs: FleetInputs,
    points: list[RecoveryPoint],
    drills: list[Drill],
) -> ResourceStatus:
    described = inputs.clusters.get(db_id, {}) if kind == "cluster" else next(
        (d for d in inputs.databases if d.get("DBInstanceIdentifier") == db_id), {}
    )  # fmt: skip
    tags = T.to_dict(described.get("TagList"))
    resource_type: Literal["db", "cluster"] = "cluster" if kind == "cluster" else "db"
    return _status(
        ResourceStatus(
            id=db_id,
            type=resource_type,
            name=tags.get("Name", db_id),
            plan=plan,
            availability_zone=described.get("AvailabilityZone"),
            status="green",
            rules=rule_statuses(inputs, plan, DATABASE_KINDS, points),
            last_drill=drills[0] if drills else None,
            timeline=timeline(points, drills),
        )
    )


def _status(resource: ResourceStatus) -> ResourceStatus:
    """Red: a rule is stale or never completed; amber: no healthy drill yet, or an alarm is
    missing; green otherwise."""
    rag: Rag = "green"
    drill = resource.last_drill
    if resource.missing_alarms or drill is None or drill.result != "healthy":
        rag = "amber"
    if not resource.rules or any(r.stale for r in resource.rules):
        rag = "red"
    return resource.model_copy(update={"status": rag})


def timeline(points: list[RecoveryPoint], drills: list[Drill]) -> list[Mark]:
    marks = [
        Mark(
            at=p.created_at,
            what="point",
            label=f"{p.rule} {p.kind.value} {p.status.value}",
            ok=p.status is PointStatus.COMPLETED,
        )
        for p in points
        if p.status in (PointStatus.COMPLETED, PointStatus.FAILED)
    ]
    marks += [
        Mark(
            at=d.started_at,
            what="drill",
            label=f"drill {d.result or d.status}"
            + (f", RTO {round(d.rto_seconds)} s" if d.rto_seconds is not None else ""),
            ok=d.result == "healthy",
        )
        for d in drills
        if d.started_at is not None
    ]
    return sorted(marks, key=lambda m: m.at)[-TIMELINE_LIMIT:]


# --- summary ------------------------------------------------------------------------------------
def _summary(resources: list[ResourceStatus], failures: list[Any], findings: list[Any]) -> Summary:
    stale = [f for f in findings if f.kind == "stale_rule"]
    other = [f for f in findings if f.kind != "stale_rule"]
    unrestorable = {
        row.id for failure in failures for row in (*failure.servers, *failure.databases)
        if not row.restorable
    }  # fmt: skip
    undrilled = [r for r in resources if r.last_drill is None or r.last_drill.result != "healthy"]
    reasons: list[str] = []
    if stale:
        reasons.append(f"{len(stale)} rule(s) with a stale newest point")
    if unrestorable:
        reasons.append(f"{len(unrestorable)} resource(s) could not be restored if their AZ failed")
    if other:
        reasons.append(f"{len(other)} finding(s) not protected")
    if undrilled:
        reasons.append(f"{len(undrilled)} resource(s) without a healthy drill")
    if any(r.missing_alarms for r in resources):
        reasons.append("status-check alarms missing")
    status: Rag = "green"
    if other or undrilled or any(r.missing_alarms for r in resources):
        status = "amber"
    if stale or unrestorable or any(r.status == "red" for r in resources):
        status = "red"
    return Summary(
        status=status,
        reasons=reasons or ["every protected resource is fresh, drilled and restorable"],
        protected_instances=sum(1 for r in resources if r.type == "instance"),
        protected_databases=sum(1 for r in resources if r.type in ("db", "cluster")),
        stale_rules=len(stale),
        not_protected=len(other),
        unrestorable=len(unrestorable),
        protected_groups=sum(1 for r in resources if r.type == "asg"),
    )
