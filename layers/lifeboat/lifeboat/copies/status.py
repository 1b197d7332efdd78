"""Where the copies stand, per destination region: what is queued and in flight, the oldest
waiting, and per rule the copies' RPO (the age of the oldest "newest completed copy" across
the rule's resources: what a region loss would cost now)."""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from lifeboat.copies.census import RegionCensus, census
from lifeboat.copies.provenance import CopyArtifact
from lifeboat.copies.pump import QUEUE
from lifeboat.copies.reconcile import forgotten
from lifeboat.errors import LifeboatError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.timeutil import parse_iso


class RuleCopies(BaseModel):
    plan: str
    rule: str
    resources: int = 0
    rpo_seconds: float | None = Field(None, description="None: a resource has no copy yet")
    without_copy: list[str] = Field(
        default_factory=list,
        description="resources with no usable copy, or whose newer point was never queued",
    )
    not_queued: list[str] = Field(
        default_factory=list, description="completed points with neither a copy nor a queue item"
    )
    vanished: list[str] = Field(
        default_factory=list, description="copies whose artifacts were deleted outside Lifeboat"
    )
    failed_last_day: int = 0


class RegionCopies(BaseModel):
    region: str
    queued: int = 0
    in_flight: int = 0
    oldest_queued_seconds: float | None = None
    rules: list[RuleCopies] = Field(default_factory=list)
    uncatalogued: list[CopyArtifact] = Field(
        default_factory=list,
        description="artifacts tagged as Lifeboat copies the catalog never recorded (never "
        "deleted)",
    )
    census_error: str | None = Field(None, description="the region's artifacts were not read")


def copy_status(plans: PlanSet, ports: Ports, now: datetime) -> list[RegionCopies]:
    """Per destination region; the copies' artifacts are read there (a census): a copy whose
    artifacts vanished is not counted, and a point never queued counts as without a copy."""
    found = []
    for region in plans.copy_regions():
        lost = forgotten(region, plans, ports, now)
        seen: RegionCensus | None = None
        error = None
        if ports.copies is not None:
            try:
                seen = census(region, sorted(plans.plans), plans, ports)
            except (ClientError, BotoCoreError, LifeboatError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
        items = ports.catalog.records(QUEUE + region)
        started = [i for i in items if i.get("started_at")]
        waiting = [parse_iso(str(i["queued_at"])) for i in items if not i.get("started_at")]
        status = RegionCopies(
            region=region,
            queued=len(items) - len(started),
            in_flight=len(started),
            oldest_queued_seconds=(now - min(waiting)).total_seconds() if waiting else None,
            uncatalogued=seen.uncatalogued if seen else [],
            census_error=error,
        )
        gone = seen.vanished if seen else {}
        for plan_name, plan in sorted(plans.plans.items()):
            for rule_name, rule in sorted(plan.rules.items()):
                if any(t.region == region for t in rule.copy_to):
                    never = [p for p in lost if (p.plan, p.rule) == (plan_name, rule_name)]
                    status.rules.append(
                        _rule(region, plan_name, rule_name, ports, now, never, gone)
                    )
        found.append(status)
    return found


def _rule(
    region: str,
    plan: str,
    rule: str,
    ports: Ports,
    now: datetime,
    never: list[RecoveryPoint],
    gone: dict[str, list[str]],
) -> RuleCopies:
    home = ports.catalog.points_for_rule(plan, rule)
    copies = ports.catalog.copies_for_rule(region, plan, rule)
    newest: dict[str, datetime] = {}
    for copy in copies:
        if copy.status is PointStatus.COMPLETED and copy.recovery_point_id not in gone:
            seen = newest.get(copy.source_id)
            newest[copy.source_id] = max(copy.created_at, seen) if seen else copy.created_at
    resources = sorted({p.source_id for p in home if p.status is PointStatus.COMPLETED})
    # Never queued and newer than its newest copy: what a region loss would cost is not what
    # the copies' age says.
    behind = {p.source_id for p in never if p.created_at > newest.get(p.source_id, p.created_at)}
    missing = [r for r in resources if r not in newest or r in behind]
    ages = [(now - newest[r]).total_seconds() for r in resources if r in newest]
    return RuleCopies(
        plan=plan,
        rule=rule,
        resources=len(resources),
        rpo_seconds=None if missing or not ages else max(ages),
        without_copy=missing,
        not_queued=[p.recovery_point_id for p in never],
        vanished=sorted(c.recovery_point_id for c in copies if c.recovery_point_id in gone),
        failed_last_day=sum(
            1
            for c in copies
            if c.status is PointStatus.FAILED and (now - c.created_at).total_seconds() < 86400
        ),
    )
