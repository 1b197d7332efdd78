"""Orphans: artifacts the catalog proves Lifeboat made that nothing live references."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat import tags as T
from lifeboat.backup import INTENT_SKEW, made_by_intent
from lifeboat.errors import NotOwnedError
from lifeboat.models import LIVE_STATUSES, PointStatus, RecoveryPoint
from lifeboat.ports import Ports
from lifeboat.prune.models import ORPHAN_GRACE, Locked, Orphan, epoch
from lifeboat.timeutil import parse_iso


@dataclass
class Provenance:
    """What the catalog proves Lifeboat made: every point of the plan, whatever its status,
    with the intents written before each create call."""

    images: dict[str, RecoveryPoint] = field(default_factory=dict)
    image_names: dict[str, RecoveryPoint] = field(default_factory=dict)
    snapshots: dict[str, RecoveryPoint] = field(default_factory=dict)
    intents: dict[tuple[str, str, str], RecoveryPoint] = field(default_factory=dict)
    db_snapshots: dict[str, RecoveryPoint] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, points: list[RecoveryPoint]) -> Provenance:
        found = cls()
        for p in points:
            if p.image_id:
                found.images[p.image_id] = p
            for snap in p.snapshots:
                found.snapshots[snap.snapshot_id] = p
            for sid in (p.db_snapshot_id, p.db_cluster_snapshot_id):
                if sid:
                    found.db_snapshots[sid] = p
            if p.intent is not None:
                found.intents[(p.run_id, p.source_id, p.kind.value)] = p
                if p.intent.image_name:
                    found.image_names[p.intent.image_name] = p
                if p.intent.db_snapshot_id:
                    found.db_snapshots.setdefault(p.intent.db_snapshot_id, p)
            if p.status in LIVE_STATUSES:
                found.live.update(p.artifact_ids())
        return found

    def of_image(self, image: dict[str, Any]) -> RecoveryPoint | None:
        point = self.images.get(image["ImageId"])
        if point is not None:
            return point
        # The intent proves only what its point never recorded (the task died after the call):
        # once a point records its artifacts, nothing else can claim to be them.
        point = self.image_names.get(str(image.get("Name", "")))
        created = _when(image.get("CreationDate"))
        if point is not None and point.intent is not None and created is not None:
            if point.image_id:
                return None
            return point if created >= point.intent.at - INTENT_SKEW else None
        return None

    def of_snapshot(self, snap: dict[str, Any]) -> RecoveryPoint | None:
        point = self.snapshots.get(snap["SnapshotId"])
        if point is not None:
            return point
        tags = T.to_dict(snap.get("Tags"))
        point = self.intents.get(
            (tags.get(T.RUN, ""), tags.get(T.SOURCE, ""), tags.get(T.KIND, ""))
        )
        if (
            point is not None
            and point.intent is not None
            and not point.artifact_ids()
            and made_by_intent(snap, point.intent)
        ):
            return point
        return None


# (artifact type, id, the point that proves Lifeboat made it or None, created, GiB, tags)
Artifact = tuple[str, str, RecoveryPoint | None, datetime | None, int, dict[str, str]]


@dataclass
class Census:
    orphans: list[Orphan] = field(default_factory=list)
    foreign: list[Orphan] = field(default_factory=list)
    refusal: str | None = None
    broken: list[str] = field(default_factory=list)
    locked: list[Locked] = field(default_factory=list)  # orphans a snapshot lock holds


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return parse_iso(value)
    return None


def find_orphans(
    plan: str,
    rule_names: list[str],
    plan_points: list[RecoveryPoint],
    ports: Ports,
    now: datetime,
) -> Census:
    """Orphans of ``rule_names``: artifacts the catalog proves Lifeboat made for the plan, that
    no live point (pending, completed, deleting) and no registered AMI references, whose
    resource is not under restore, older than :data:`ORPHAN_GRACE` (so no run in progress can
    own them). Managed-tagged artifacts without such proof are ``foreign-tagged``."""
    proof = Provenance.of(plan_points)
    images = ports.ec2.managed_images(plan)
    in_images = {
        m["Ebs"]["SnapshotId"]
        for i in images
        for m in i.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("SnapshotId")
    }
    # (artifact type, artifact, its owner or None, its creation time, size)
    found: list[Artifact] = []
    for image in images:
        found.append(
            (
                "image",
                image["ImageId"],
                proof.of_image(image),
                _when(image.get("CreationDate")),
                0,
                T.to_dict(image.get("Tags")),
            )
        )
    for snap in ports.ec2.managed_snapshots(plan):
        found.append(
            (
                "snapshot",
                snap["SnapshotId"],
                proof.of_snapshot(snap),
                _when(snap.get("StartTime")),
                int(snap.get("VolumeSize", 0)),
                T.to_dict(snap.get("Tags")),
            )
        )
    for kind, snap in ports.rds.managed_snapshots(plan):
        sid = snap.get("DBSnapshotIdentifier") or snap.get("DBClusterSnapshotIdentifier") or ""
        found.append(
            (
                f"{kind}-snapshot",
                sid,
                proof.db_snapshots.get(sid),
                _when(snap.get("SnapshotCreateTime")),
                int(snap.get("AllocatedStorage", 0)),
                T.to_dict(snap.get("TagList")),
            )
        )
    # Live AMI points whose AMI someone deregistered by hand: their snapshots are orphans.
    listed = {i["ImageId"] for i in images}
    # (completed and past the grace only: a new AMI may not be listed yet)
    missing = [
        p.image_id
        for p in plan_points
        if p.status is PointStatus.COMPLETED
        and p.image_id
        and p.image_id not in listed
        and now - p.created_at > ORPHAN_GRACE
    ]
    gone = {i for i in missing if i} - set(ports.ec2.images([i for i in missing if i]))
    owners = [o for _, _, o, _, _, _ in found if o is not None]
    held = ports.catalog.active_locks(sorted({o.source_id for o in owners}), epoch(now))
    snapshots_of = {
        i["ImageId"]: [
            m["Ebs"]["SnapshotId"]
            for m in i.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        ]
        for i in images
    }
    census = Census()
    candidates: list[tuple[Orphan, RecoveryPoint, list[str]]] = []
    for kind, artifact, owner, created, size, tags in found:
        if owner is None:
            if tags.get(T.RULE, "") in rule_names or T.RULE not in tags:
                census.foreign.append(
                    Orphan(
                        artifact_id=artifact,
                        artifact_type=kind,
                        size_gb=size,
                        reason="foreign-tagged: tagged as Lifeboat's, but no catalog record "
                        "proves Lifeboat made it; never deleted",
                    )
                )
            continue
        if owner.rule not in rule_names:
            continue
        ami_gone = owner.image_id in gone and kind == "snapshot"
        if (
            ((artifact in proof.live or owner.status in LIVE_STATUSES) and not ami_gone)
            or artifact in in_images
            or owner.source_id in held
            or created is None
            or now - created < ORPHAN_GRACE
        ):
            continue
        orphan = Orphan(
            artifact_id=artifact,
            artifact_type=kind,
            size_gb=size,
            recovery_point_id=owner.recovery_point_id,
            reason=f"its AMI {owner.image_id} is gone (deregistered outside Lifeboat)"
            if ami_gone
            else f"made by run {owner.run_id} for {owner.source_id} (point "
            f"{owner.status.value}); no live recovery point uses it",
        )
        sids = [artifact] if kind == "snapshot" else snapshots_of.get(artifact, [])
        candidates.append((orphan, owner, sids))
    census.orphans, census.locked = _unlocked(candidates, ports, now)
    census.refusal = _refusal(plan, plan_points, census.foreign, found)
    census.broken = sorted(
        p.recovery_point_id for p in plan_points if p.image_id in gone and p.rule in rule_names
    )
    return census


def _unlocked(
    candidates: list[tuple[Orphan, RecoveryPoint, list[str]]], ports: Ports, now: datetime
) -> tuple[list[Orphan], list[Locked]]:
    """Orphans, less those a snapshot lock holds (an orphan snapshot, or a snapshot of an
    orphan AMI): by the owner's ``locked_until``, or as EC2 reports. Never deletable before
    the lock ends, so never counted as an orphan to delete."""
    ids = [sid for _, _, sids in candidates for sid in sids]
    live = ports.ec2.snapshot_locks(ids) if ids else {}
    orphans: list[Orphan] = []
    locked: list[Locked] = []
    for orphan, owner, sids in candidates:
        held = [live[sid] for sid in sids if sid in live]
        recorded = bool(sids) and owner.locked_until is not None and owner.locked_until > now
        if not held and not recorded:
            orphans.append(orphan)
            continue
        ends = [lock.expires_on for lock in held if lock.expires_on is not None]
        if recorded and owner.locked_until is not None:
            ends.append(owner.locked_until)
        modes = {(lock.state or "").removesuffix("-cooloff") for lock in held}
        if recorded and owner.lock_mode:
            modes.add(owner.lock_mode)
        locked.append(
            Locked(
                id=orphan.artifact_id,
                kind="orphan",
                locked_until=max(ends, default=None),
                mode=",".join(sorted(modes)) or None,
                size_gb=orphan.size_gb,
                snapshots=sorted(lock.snapshot_id for lock in held),
            )
        )
    return orphans, locked


def _refusal(
    plan: str,
    plan_points: list[RecoveryPoint],
    foreign: list[Orphan],
    found: list[Artifact],
) -> str | None:
    """Why deleting orphans is unsafe on this catalog (fail closed), or None."""
    if not plan_points:
        return (
            f"the catalog holds no recovery points of plan {plan!r}: it is new, emptied or not "
            "the one these backups were recorded in (a re-created stack makes a new table; the "
            "old one is retained). Lifeboat deletes nothing it cannot prove it made: point the "
            "stack at the old catalog, or prune without --delete-orphans"
        )
    first = min(p.created_at for p in plan_points)
    foreign_ids = {o.artifact_id for o in foreign}
    older = sorted(
        run
        for _, artifact, _, _, _, tags in found
        if artifact in foreign_ids
        for run in [tags.get(T.RUN, "")]
        if (started := _run_started(run)) is not None and started < first - timedelta(days=1)
    )
    if older:
        return (
            f"the catalog's history of plan {plan!r} starts {first:%Y-%m-%d %H:%M} UTC, but "
            f"artifacts tagged with older runs exist (e.g. {older[0]}): the catalog lacks the "
            "plan's run history, so what is an orphan cannot be proven; nothing is deleted"
        )
    return None


def _run_started(run_id: str) -> datetime | None:
    stamp = run_id.split("-", 1)[0]
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%MZ"):
        try:
            return datetime.strptime(stamp, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def delete_orphan(orphan: Orphan, ports: Ports) -> str:
    if orphan.artifact_type == "image":
        try:
            snapshot_ids = ports.ec2.deregister_image(orphan.artifact_id)
            ports.ec2.delete_snapshots(snapshot_ids, ignore_image=orphan.artifact_id)
        except NotOwnedError:
            return "not-owned"
        return "deregistered"
    if orphan.artifact_type == "snapshot":
        return ports.ec2.delete_snapshot(orphan.artifact_id)
    return ports.rds.delete_snapshot(
        orphan.artifact_type.removesuffix("-snapshot"), orphan.artifact_id
    )
