"""Expired copies, by their own retention in their region (prune's safety rules: the newest
``min_keep`` always kept, write-ahead ``deleting``, restore locks honoured, only artifacts tagged
with the copy's id deleted); and the home points a copy still needs (queued or in flight), which
prune keeps."""

from __future__ import annotations

from datetime import datetime

from lifeboat.copies.pump import QUEUE
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Plan
from lifeboat.ports import Ports
from lifeboat.prune.models import Deletion, Takeover, point_size
from lifeboat.retention import decide


def copies_needing_sources(plan: Plan, ports: Ports) -> dict[str, str]:
    """Home point id → the region still copying it (its copy queued or in flight)."""
    needed: dict[str, str] = {}
    for region in sorted({t.region for r in plan.rules.values() for t in r.copy_to}):
        for item in ports.catalog.records(QUEUE + region):
            needed[f"{item['run_id']}/{item['source_id']}/{item['kind']}"] = region
    return needed


def expired_copies(
    plan_name: str,
    plan: Plan,
    rule_names: list[str],
    ports: Ports,
    now: datetime,
    takeover: Takeover | None = None,
) -> tuple[list[tuple[RecoveryPoint, Deletion]], int, int]:
    """The copies to delete, with the number evaluated and kept (``takeover``: whose
    interrupted marks are finished at once)."""
    takeover = takeover or Takeover()
    work: list[tuple[RecoveryPoint, Deletion]] = []
    evaluated = kept = 0
    for name in rule_names:
        rule = plan.rules[name]
        for target in rule.copy_to:
            copies = ports.catalog.copies_for_rule(target.region, plan_name, name)
            live = [
                c for c in copies if c.status not in (PointStatus.DELETED, PointStatus.DELETING)
            ]
            result = decide(
                live,
                retention=target.retention,
                min_keep=plan.min_keep,
                timezone=rule.timezone,
                interval_seconds=rule.interval_seconds(),
                now=now,
            )
            evaluated += len(live)
            kept += len(result.kept)
            by_id = {c.recovery_point_id: c for c in live}
            chosen = [(by_id[i], result.decisions[i].reasons[0]) for i in result.expired]
            chosen += [
                (c, "completing an interrupted prune")
                for c in copies
                if takeover.interrupted(c, now)
            ]
            work += [(c, _deletion(c, name, why)) for c, why in chosen]
    return work, evaluated, kept


def _deletion(copy: RecoveryPoint, rule: str, reason: str) -> Deletion:
    return Deletion(
        recovery_point_id=copy.recovery_point_id,
        source_id=copy.source_id,
        kind=copy.kind,
        rule=rule,
        region=copy.region,
        created_at=copy.created_at,
        reason=f"{reason} (copy in {copy.region})",
        artifacts=copy.artifact_ids(),
        size_gb=point_size(copy),
    )
