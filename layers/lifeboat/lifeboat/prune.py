"""Pruning: apply a rule's retention to its recovery points, safely.

* only points of the plan and rule, and only artifacts tagged ``lifeboat:managed=true`` with the
  same plan and rule tags (checked here; IAM enforces ``lifeboat:managed`` too);
* write-ahead: a point is marked ``deleting`` (no longer offered for restore) before its
  artifacts go and ``deleted`` after; a point left ``deleting`` by an interrupted prune is
  finished by the next one; a point of a resource under restore (its lock held) is put back;
* an AMI is deregistered first, then the snapshots it owned are deleted, so none is orphaned;
  a snapshot still used by another AMI, or under a snapshot lock, is skipped and reported;
  ``NotFound`` is treated as already done;
* the dry run computes the same plan (what, why, how much storage it frees) and changes nothing;
* orphans are artifacts the catalog proves Lifeboat made (an intent or a point of the plan)
  that nothing live references, older than :data:`ORPHAN_GRACE`; tagged artifacts the catalog
  never heard of are ``foreign-tagged`` and never deleted. Orphans are removed only when asked,
  and never on a catalog that is empty or lacks the plan's history (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from lifeboat import tags as T
from lifeboat.backup import INTENT_SKEW, made_by_intent
from lifeboat.errors import NotOwnedError, UnsafeToDeleteError
from lifeboat.models import LIVE_STATUSES, PointStatus, RecoveryPoint, marked
from lifeboat.observability import metrics
from lifeboat.plans import Kind, Name, PlanSet
from lifeboat.ports import Ports
from lifeboat.retention import decide
from lifeboat.timeutil import iso, parse_iso

MAX_LISTED = 200
BACKUP_TIMEOUT = timedelta(seconds=21600)  # the backup state machine's TimeoutSeconds
# An artifact younger than this may belong to a run still in progress (its points not yet
# recorded): it is never an orphan. Longer than the longest run (a unit test reads the ASL).
ORPHAN_GRACE = BACKUP_TIMEOUT + timedelta(hours=1)
PRUNE_TAKEOVER = timedelta(minutes=16)  # the prune function's 15-minute time-out, and a minute


class PruneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: Name
    rule: Name | None = None
    dry_run: bool = False
    delete_orphans: bool = False
    summary_only: bool = Field(False, description="answer counts only (inside a backup run)")


class Deletion(BaseModel):
    recovery_point_id: str
    source_id: str
    kind: Kind
    rule: str
    created_at: datetime
    reason: str
    artifacts: list[str]
    size_gb: int
    outcome: dict[str, str] = Field(default_factory=dict)


class Orphan(BaseModel):
    artifact_id: str
    artifact_type: str
    reason: str
    size_gb: int = 0
    recovery_point_id: str | None = Field(None, description="the catalog record that proves it")
    outcome: str | None = None


class PruneReport(BaseModel):
    plan: str
    rules: list[str]
    dry_run: bool
    evaluated: int = 0
    kept: int = 0
    expired: list[Deletion] = Field(default_factory=list)
    deleted: int = 0
    skipped: list[str] = Field(default_factory=list)
    stale: list[str] = Field(default_factory=list)
    frees_gb: int = 0
    orphans: list[Orphan] = Field(default_factory=list)
    foreign_tagged: list[Orphan] = Field(default_factory=list)
    orphans_refused: str | None = None
    broken: list[str] = Field(
        default_factory=list, description="points whose AMI was deregistered outside Lifeboat"
    )

    def summary(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "rules": self.rules,
            "dry_run": self.dry_run,
            "evaluated": self.evaluated,
            "kept": self.kept,
            "expired": len(self.expired),
            "deleted": self.deleted,
            "skipped": len(self.skipped),
            "stale": self.stale[:50],
            "frees_gb": self.frees_gb,
            "orphans": len(self.orphans),
            "foreign_tagged": len(self.foreign_tagged),
            "orphans_refused": self.orphans_refused,
            "broken": len(self.broken),
        }


def _size(point: RecoveryPoint) -> int:
    if point.snapshots:
        return sum(s.size_gb for s in point.snapshots)
    return point.size_gb


def prune(request: PruneRequest, plans: PlanSet, ports: Ports, now: datetime) -> PruneReport:
    rule_names = plans.rule_names(request.plan, request.rule)
    plan = plans.plans[request.plan]
    report = PruneReport(plan=request.plan, rules=rule_names, dry_run=request.dry_run)
    # Everything is read before anything is deleted: an unreadable catalog deletes nothing.
    plan_points = ports.catalog.points_for_plan(request.plan, sorted(plan.rules))
    work: list[tuple[RecoveryPoint, Deletion]] = []
    for name in rule_names:
        rule = plan.rules[name]
        ours = [p for p in plan_points if p.rule == name]
        points = [p for p in ours if p.status not in (PointStatus.DELETED, PointStatus.DELETING)]
        result = decide(
            points,
            retention=rule.retention,
            min_keep=plan.min_keep,
            timezone=rule.timezone,
            interval_seconds=rule.interval_seconds(),
            now=now,
        )
        report.evaluated += len(points)
        report.kept += len(result.kept)
        report.stale.extend(f"{name}:{group}" for group in result.stale_groups)
        by_id = {p.recovery_point_id: p for p in points}
        expired = [(by_id[i], result.decisions[i].reasons[0]) for i in result.expired]
        # 'deleting' for longer than a prune can run: its prune was interrupted (a younger
        # mark belongs to a prune still running, which finishes or puts it back itself).
        interrupted = [
            (p, "completing an interrupted prune")
            for p in ours
            if p.status is PointStatus.DELETING
            and (p.deleting_since is None or now - p.deleting_since > PRUNE_TAKEOVER)
        ]
        for point, reason in [*interrupted, *expired]:
            deletion = Deletion(
                recovery_point_id=point.recovery_point_id,
                source_id=point.source_id,
                kind=point.kind,
                rule=name,
                created_at=point.created_at,
                reason=reason,
                artifacts=point.artifact_ids(),
                size_gb=_size(point),
            )
            report.expired.append(deletion)
            report.frees_gb += deletion.size_gb
            work.append((point, deletion))
    census = find_orphans(request.plan, rule_names, plan_points, ports, now)
    report.orphans, report.foreign_tagged = census.orphans, census.foreign
    report.broken = census.broken
    if request.delete_orphans:
        report.orphans_refused = census.refusal
        if census.refusal and not request.dry_run:
            raise UnsafeToDeleteError(census.refusal)
    if request.dry_run:
        held = ports.catalog.active_locks([p.source_id for p, _ in work], _epoch(now))
        for point, deletion in work:
            if point.source_id in held:
                deletion.outcome = {"pinned": _pinned(point, held)}
        return report
    _delete_points(work, report, ports, now)
    pruned = {p.recovery_point_id for p, _ in work}
    broken = [
        p
        for p in plan_points
        if p.recovery_point_id in set(census.broken) and p.recovery_point_id not in pruned
    ]
    for point in broken:
        ports.catalog.transition(
            point,
            PointStatus.COMPLETED,
            PointStatus.FAILED,
            {"error": "its AMI was deregistered outside Lifeboat"},
        )
    if request.delete_orphans:
        for orphan in report.orphans:
            orphan.outcome = _delete_orphan(orphan, ports)
    return report


def _epoch(now: datetime) -> int:
    return int(now.timestamp())


def _pinned(point: RecoveryPoint, held: dict[str, dict[str, Any]]) -> str:
    owner = held[point.source_id].get("owner", "unknown")
    return f"a restore of {point.source_id} holds its lock ({owner}): kept until it ends"


def _delete_points(
    work: list[tuple[RecoveryPoint, Deletion]], report: PruneReport, ports: Ports, now: datetime
) -> None:
    """Write-ahead: mark each point ``deleting`` (only if still completed), then read the
    restore locks (a restore takes its lock before it chooses a point, so one of the two sees
    the other), put pinned points back, delete the rest and mark them ``deleted``."""
    catalog = ports.catalog
    claimed: list[tuple[RecoveryPoint, Deletion]] = []
    fresh: set[str] = set()  # marked by this prune: nothing of them is deleted yet
    for point, deletion in work:
        if point.status is PointStatus.DELETING:
            claimed.append((point, deletion))
        elif catalog.transition(
            point, PointStatus.COMPLETED, PointStatus.DELETING, {"deleting_since": iso(now)}
        ):
            fresh.add(point.recovery_point_id)
            claimed.append((point.model_copy(update={"status": PointStatus.DELETING}), deletion))
        else:
            deletion.outcome = {"skipped": "its status changed since it was read"}
            report.skipped.append(f"{point.recovery_point_id}: status changed; left alone")
    held = catalog.active_locks([p.source_id for p, _ in claimed], _epoch(now))
    done: list[RecoveryPoint] = []
    try:
        for point, deletion in claimed:
            if point.source_id in held:
                # Put back only what this prune marked (all its artifacts still there); an
                # interrupted deletion may have lost some: it stays 'deleting', untouched.
                if point.recovery_point_id in fresh:
                    catalog.transition(point, PointStatus.DELETING, PointStatus.COMPLETED)
                deletion.outcome = {"pinned": _pinned(point, held)}
                report.skipped.append(f"{point.recovery_point_id}: {_pinned(point, held)}")
                continue
            if _delete_artifacts(point, report, deletion, ports):
                why = deletion.reason
                problems = {k: v for k, v in deletion.outcome.items() if v not in _DONE}
                if problems:
                    why += f"; skipped {problems}"
                done.append(marked(point, PointStatus.DELETED, when=now, reason=f"pruned: {why}"))
                report.deleted += 1
            else:
                catalog.transition(point, PointStatus.DELETING, PointStatus.COMPLETED)
    finally:
        # A failure here leaves points 'deleting' (never offered for restore): the next prune
        # finishes them.
        catalog.put_points(done)


_DONE = ("deleted", "gone", "deregistered")


def _delete_artifacts(
    point: RecoveryPoint, report: PruneReport, deletion: Deletion, ports: Ports
) -> bool:
    """Delete a point's artifacts; False when they turned out not to be Lifeboat's."""
    owner = {T.PLAN: point.plan, T.RULE: point.rule}
    outcome: dict[str, str] = {}
    try:
        if point.image_id:
            owned_snapshots = ports.ec2.deregister_image(point.image_id, owner)
            outcome[point.image_id] = "deregistered"
            snapshot_ids = sorted(set(owned_snapshots) | {s.snapshot_id for s in point.snapshots})
            outcome.update(
                ports.ec2.delete_snapshots(snapshot_ids, owner, ignore_image=point.image_id)
            )
        elif point.kind is Kind.EBS:
            ids = [s.snapshot_id for s in point.snapshots]
            outcome.update(ports.ec2.delete_snapshots(ids, owner))
        if point.db_snapshot_id:
            outcome[point.db_snapshot_id] = ports.rds.delete_snapshot(
                "db", point.db_snapshot_id, owner
            )
        if point.db_cluster_snapshot_id:
            outcome[point.db_cluster_snapshot_id] = ports.rds.delete_snapshot(
                "cluster", point.db_cluster_snapshot_id, owner
            )
    except NotOwnedError as exc:
        outcome["refused"] = str(exc)
    deletion.outcome = outcome
    problems = {k: v for k, v in outcome.items() if v not in _DONE}
    report.skipped.extend(f"{k}: {v}" for k, v in problems.items())
    return "refused" not in outcome


# --- orphans ---------------------------------------------------------------------------------
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
    held = ports.catalog.active_locks(sorted({o.source_id for o in owners}), _epoch(now))
    census = Census()
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
        census.orphans.append(
            Orphan(
                artifact_id=artifact,
                artifact_type=kind,
                size_gb=size,
                recovery_point_id=owner.recovery_point_id,
                reason=f"its AMI {owner.image_id} is gone (deregistered outside Lifeboat)"
                if ami_gone
                else f"made by run {owner.run_id} for {owner.source_id} (point "
                f"{owner.status.value}); no live recovery point uses it",
            )
        )
    census.refusal = _refusal(plan, plan_points, census.foreign, found)
    census.broken = sorted(
        p.recovery_point_id for p in plan_points if p.image_id in gone and p.rule in rule_names
    )
    return census


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


def _delete_orphan(orphan: Orphan, ports: Ports) -> str:
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


def run_prune(request: PruneRequest, plans: PlanSet, ports: Ports, now: datetime) -> dict[str, Any]:
    """The prune task: the full report, or its summary inside a backup run's state."""
    report = prune(request, plans, ports, now)
    metrics.add_metric(
        name="RecoveryPointsExpired", unit=MetricUnit.Count, value=len(report.expired)
    )
    metrics.add_metric(name="RecoveryPointsPruned", unit=MetricUnit.Count, value=report.deleted)
    metrics.add_metric(name="StaleBackupGroups", unit=MetricUnit.Count, value=len(report.stale))
    if request.summary_only:
        return report.summary()
    data = report.model_dump(mode="json")
    data["expired"] = data["expired"][:MAX_LISTED]
    data["orphans"] = data["orphans"][:MAX_LISTED]
    data["foreign_tagged"] = data["foreign_tagged"][:MAX_LISTED]
    data["broken"] = data["broken"][:MAX_LISTED]
    data["summary"] = report.summary()
    return data
