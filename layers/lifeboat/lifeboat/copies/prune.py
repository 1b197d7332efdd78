"""Expired copies, by their own retention in their region (prune's safety rules: the newest
``min_keep`` always kept, write-ahead ``deleting``, restore locks honoured, only artifacts tagged
with the copy's id deleted); and the home points a copy still needs (queued or in flight), which
prune keeps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from lifeboat.copies.ports import CopyPort
from lifeboat.copies.pump import QUEUE
from lifeboat.models import PointStatus, RecoveryPoint, SnapshotLock
from lifeboat.plans import Kind, Plan
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
    gone: Mapping[str, datetime] | None = None,
    takeover: Takeover | None = None,
) -> tuple[list[tuple[RecoveryPoint, Deletion]], int, int]:
    """The copies to delete, with the number evaluated and kept (``gone``: home resources
    that no longer exist, and since when: their copies follow decommissioned_days too;
    ``takeover``: whose interrupted marks are finished at once)."""
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
                gone_since=gone,
                decommissioned_days=plan.decommissioned_days,
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


def copy_locks(copies: list[RecoveryPoint], ports: Ports) -> dict[str, list[SnapshotLock]]:
    """Copy id → the EBS Snapshot Locks in force on its snapshots (its image's included), read
    in each copy's region (a lock set there by hand: Lifeboat locks no copy), in one call per
    region, before anything is deleted."""
    found: dict[str, list[SnapshotLock]] = {}
    by_region: dict[str, list[RecoveryPoint]] = {}
    for copy in copies:
        if copy.region and copy.kind is not Kind.RDS:
            by_region.setdefault(copy.region, []).append(copy)
    for region, members in sorted(by_region.items()):
        if ports.copies is None:
            break
        copier = ports.copies(region)
        sets = {c.recovery_point_id: copy_snapshot_ids(c, copier) for c in members}
        ids = sorted({s for found_ids in sets.values() for s in found_ids})
        locks = copier.snapshot_locks(ids) if ids else {}
        for cid, snapshot_ids in sets.items():
            held = [locks[s] for s in snapshot_ids if s in locks]
            if held:
                found[cid] = held
    return found


def copy_snapshot_ids(copy: RecoveryPoint, copier: CopyPort) -> list[str]:
    """A copy's snapshots: those recorded, and those its image maps (read in its region)."""
    ids = [s.snapshot_id for s in copy.snapshots]
    if copy.image_id:
        image = copier.images([copy.image_id]).get(copy.image_id) or {}
        ids += [
            m["Ebs"]["SnapshotId"]
            for m in image.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        ]
    return sorted(set(ids))
