"""Where the copies stand, per destination region: what is queued and in flight, the oldest
waiting, and per rule the copies' RPO (the age of the oldest "newest completed copy" across
the rule's resources: what a region loss would cost now)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from lifeboat.copies.pump import QUEUE
from lifeboat.models import PointStatus
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.timeutil import parse_iso


class RuleCopies(BaseModel):
    plan: str
    rule: str
    resources: int = 0
    rpo_seconds: float | None = Field(None, description="None: a resource has no copy yet")
    without_copy: list[str] = Field(default_factory=list)
    failed_last_day: int = 0


class RegionCopies(BaseModel):
    region: str
    queued: int = 0
    in_flight: int = 0
    oldest_queued_seconds: float | None = None
    rules: list[RuleCopies] = Field(default_factory=list)


def copy_status(plans: PlanSet, ports: Ports, now: datetime) -> list[RegionCopies]:
    found = []
    for region in plans.copy_regions():
        items = ports.catalog.records(QUEUE + region)
        started = [i for i in items if i.get("started_at")]
        waiting = [parse_iso(str(i["queued_at"])) for i in items if not i.get("started_at")]
        status = RegionCopies(
            region=region,
            queued=len(items) - len(started),
            in_flight=len(started),
            oldest_queued_seconds=(now - min(waiting)).total_seconds() if waiting else None,
        )
        for plan_name, plan in sorted(plans.plans.items()):
            for rule_name, rule in sorted(plan.rules.items()):
                if any(t.region == region for t in rule.copy_to):
                    status.rules.append(_rule(region, plan_name, rule_name, ports, now))
        found.append(status)
    return found


def _rule(region: str, plan: str, rule: str, ports: Ports, now: datetime) -> RuleCopies:
    home = ports.catalog.points_for_rule(plan, rule)
    copies = ports.catalog.copies_for_rule(region, plan, rule)
    newest: dict[str, datetime] = {}
    for copy in copies:
        if copy.status is PointStatus.COMPLETED:
            seen = newest.get(copy.source_id)
            newest[copy.source_id] = max(copy.created_at, seen) if seen else copy.created_at
    resources = sorted({p.source_id for p in home if p.status is PointStatus.COMPLETED})
    missing = [r for r in resources if r not in newest]
    ages = [(now - newest[r]).total_seconds() for r in resources if r in newest]
    return RuleCopies(
        plan=plan,
        rule=rule,
        resources=len(resources),
        rpo_seconds=None if missing or not ages else max(ages),
        without_copy=missing,
        failed_last_day=sum(
            1
            for c in copies
            if c.status is PointStatus.FAILED and (now - c.created_at).total_seconds() < 86400
        ),
    )
