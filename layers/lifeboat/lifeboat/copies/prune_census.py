"""Prune's census of a plan's copy regions (:mod:`lifeboat.copies.census`): vanished copies
marked failed and listed ``broken``, uncatalogued copy artifacts listed ``foreign_tagged``."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from lifeboat.copies.census import census, mark_vanished
from lifeboat.errors import LifeboatError
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.prune.models import Orphan


def prune_census(
    plan_name: str, plans: PlanSet, ports: Ports, dry_run: bool, pruned: set[str]
) -> tuple[list[str], list[Orphan], list[str]]:
    """Prune's census of the plan's copy regions: the copies whose artifacts vanished (marked
    failed unless this prune deleted them, or a dry run), the uncatalogued copy artifacts
    (``foreign_tagged``: never deleted), and the regions it could not read."""
    broken: list[str] = []
    foreign: list[Orphan] = []
    skipped: list[str] = []
    plan = plans.plans[plan_name]
    if ports.copies is None:  # no adapter for other regions here
        return broken, foreign, skipped
    for region in sorted({t.region for r in plan.rules.values() for t in r.copy_to}):
        try:
            found = census(region, [plan_name], plans, ports)
        except (ClientError, BotoCoreError, LifeboatError) as exc:
            skipped.append(f"census of the copies in {region} not done: {exc}"[:500])
            continue
        broken += sorted(found.vanished)
        if not dry_run:
            rules = [n for n, r in plan.rules.items() if any(t.region == region for t in r.copy_to)]
            copies = [c for n in rules for c in ports.catalog.copies_for_rule(region, plan_name, n)]
            mark_vanished([c for c in copies if c.recovery_point_id not in pruned], found, ports)
        foreign += [
            Orphan(
                artifact_id=a.artifact_id,
                artifact_type=a.artifact_type,
                size_gb=a.size_gb,
                reason=f"tagged as copy {a.copy_point_id} in {region}, but the catalog never "
                "recorded it (a copy call re-sent after a time-out, or made by hand): reported, "
                "never deleted",
            )
            for a in found.uncatalogued
        ]
    return broken, foreign, skipped
