"""A protected Auto Scaling group in the report: one resource (never its members), its AZ
spread (members InService per AZ), its newest point per rule, and "if AZ x failed": the
capacity left in its other AZs and whether its subnets span another AZ to launch replacements
in. A group whose subnets are all in one AZ is a finding."""

from __future__ import annotations

from datetime import timedelta
from html import escape

from lifeboat.asg.models import AutoScalingGroup
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind
from lifeboat.report.models import (
    AzLoss,
    Decommissioned,
    Drill,
    Finding,
    FleetInputs,
    GroupSpread,
    ResourceStatus,
)

GROUP_KINDS = frozenset({Kind.AMI, Kind.ASG})  # the rules that back groups up


def spread(group: AutoScalingGroup) -> GroupSpread:
    counts = group.in_service_by_az()
    zones = sorted(set(group.availability_zones) | set(counts))
    return GroupSpread(
        desired=group.desired_capacity,
        min_size=group.min_size,
        max_size=group.max_size,
        in_service_by_az=counts,
        if_az_failed={
            az: AzLoss(
                capacity_left=sum(n for other, n in counts.items() if other != az),
                other_azs=[z for z in zones if z != az],
            )
            for az in zones
        },
        single_az=len(set(group.availability_zones)) < 2,
    )


def group_statuses(
    inputs: FleetInputs, by_source: dict[str, list[RecoveryPoint]], drills: dict[str, list[Drill]]
) -> list[ResourceStatus]:
    from lifeboat.report.build import _status, rule_statuses, timeline  # one module's helpers

    found: list[ResourceStatus] = []
    for group in sorted(inputs.groups, key=lambda g: g.name):
        points = [p for p in by_source.get(group.name, []) if p.kind is Kind.ASG]
        plan = group.tags.get("lifeboat:plan", "")
        mine = drills.get(group.name, [])
        found.append(
            _status(
                ResourceStatus(
                    id=group.name,
                    type="asg",
                    name=group.tags.get("Name", group.name),
                    plan=plan,
                    tier=None,
                    status="green",
                    rules=rule_statuses(inputs, plan, GROUP_KINDS, points),
                    last_drill=mine[0] if mine else None,
                    timeline=timeline(points, mine),
                    group=spread(group),
                )
            )
        )
    return found


def single_az_groups(inputs: FleetInputs) -> list[Finding]:
    return [
        Finding(
            kind="single_az_group",
            id=group.name,
            name=group.tags.get("Name", ""),
            detail=f"its subnets are all in {', '.join(group.availability_zones) or '?'}: if "
            "that AZ fails the group has nowhere to launch replacements (add a subnet of "
            "another AZ)",
        )
        for group in sorted(inputs.groups, key=lambda g: g.name)
        if len(set(group.availability_zones)) < 2
    ]


def group_line(found: GroupSpread) -> str:
    """The spread in one line: members InService per AZ, and each AZ's loss."""
    per_az = ", ".join(f"{az} {n}" for az, n in sorted(found.in_service_by_az.items()))
    losses = "; ".join(
        f"if {az} failed: {loss.capacity_left} of {found.desired} left"
        + ("" if loss.other_azs else ", no other AZ to replace in")
        for az, loss in sorted(found.if_az_failed.items())
    )
    return f"group of {found.desired} (InService {per_az or 'none'}); {losses}"


def decommissioned(inputs: FleetInputs) -> list[Decommissioned]:
    """Resources first seen gone (by prune) that still have completed points, and until when
    those are kept."""
    rows: list[Decommissioned] = []
    for source, since in sorted(inputs.gone.items()):
        points = [
            p
            for p in inputs.points
            if p.source_id == source and p.status is PointStatus.COMPLETED and not p.is_copy
        ]
        if not points:
            continue
        plan = points[0].plan
        found = inputs.plans.plans.get(plan)
        days = found.decommissioned_days if found else 90
        rows.append(
            Decommissioned(
                id=source,
                plan=plan,
                gone_since=since,
                kept_until=since + timedelta(days=days),
                points=len(points),
            )
        )
    return rows


def decommissioned_html(rows: list[Decommissioned]) -> str:
    if not rows:
        return ""
    items = "".join(
        f"<li><code>{escape(r.id)}</code> ({escape(r.plan)}): gone since "
        f"{r.gone_since:%Y-%m-%d}; its {r.points} point(s) kept until {r.kept_until:%Y-%m-%d} "
        "(decommissioned_days), then expired</li>"
        for r in rows
    )
    return f"<h2>Decommissioned</h2><ul>{items}</ul>"
