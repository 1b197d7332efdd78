"""The prune request, its report, and the time limits the safety rules rest on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind, Name
from lifeboat.timeutil import iso

MAX_LISTED = 200
BACKUP_TIMEOUT = timedelta(seconds=21600)  # the backup state machine's TimeoutSeconds
# An artifact younger than this may belong to a run still in progress (its points not yet
# recorded): it is never an orphan. Longer than the longest run (a unit test reads the ASL).
ORPHAN_GRACE = BACKUP_TIMEOUT + timedelta(hours=1)
PRUNE_TAKEOVER = timedelta(minutes=16)  # the prune function's 15-minute time-out, and a minute


class Takeover(BaseModel):
    """Whose ``deleting`` marks a prune finishes at once: its own (``owner``, marked by an
    interrupted pass of the same prune) and those of prunes known to have ended (``ended``);
    any other mark only once it is older than :data:`PRUNE_TAKEOVER` (its prune may still be
    running, and finishes or puts it back itself)."""

    owner: str | None = None
    ended: frozenset[str] = frozenset()

    def interrupted(self, point: RecoveryPoint, now: datetime) -> bool:
        if point.status is not PointStatus.DELETING:
            return False
        by = point.deleting_by
        if by is not None and (by == self.owner or by in self.ended):
            return True
        return point.deleting_since is None or now - point.deleting_since > PRUNE_TAKEOVER


class PruneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: Name
    rule: Name | None = None
    dry_run: bool = False
    delete_orphans: bool = False
    summary_only: bool = Field(False, description="answer counts only (inside a backup run)")
    step: Literal["all", "plan", "finish"] = Field(
        "all",
        description="all: the whole prune here; plan / finish: the prune state machine's steps",
    )
    owner: str | None = Field(None, description="the prune state machine's execution id")
    failed: bool = Field(False, description="finish: the machine's deletes failed")


class Deletion(BaseModel):
    recovery_point_id: str
    source_id: str
    kind: Kind
    rule: str
    region: str | None = Field(None, description="a copy's region (None: home)")
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


class Locked(BaseModel):
    """Kept because an EBS Snapshot Lock holds it (retention expired it, or it is an orphan):
    never counted as deleted or freed; deletable once the lock ends."""

    id: str = Field(description="the recovery point, or the orphan artifact")
    kind: Literal["point", "orphan"]
    locked_until: datetime | None = Field(None, description="None: the lock's end is unknown")
    mode: str | None = None
    size_gb: int = 0
    snapshots: list[str] = Field(default_factory=list, description="locked, as EC2 reports")

    def describe(self) -> str:
        until = f"until {iso(self.locked_until)}" if self.locked_until else "(EC2 reports a lock)"
        mode = f" ({self.mode})" if self.mode else ""
        return f"{self.id}: locked {until}{mode}; kept until the lock ends"


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
    decommissioned: list[str] = Field(
        default_factory=list,
        description="rule:source/kind of resources that no longer exist (kept by retention for "
        "the plan's decommissioned_days after they disappeared, then expired; never failing)",
    )
    frees_gb: int = 0
    orphans: list[Orphan] = Field(default_factory=list)
    foreign_tagged: list[Orphan] = Field(default_factory=list)
    orphans_refused: str | None = None
    broken: list[str] = Field(
        default_factory=list, description="points whose AMI was deregistered outside Lifeboat"
    )
    locked: list[Locked] = Field(
        default_factory=list, description="kept: an EBS Snapshot Lock holds them"
    )
    recycle_bin_days: int = Field(
        0, description="deleted snapshots and AMIs stay recoverable (and billed) this long"
    )

    @property
    def recycle_bin(self) -> str | None:
        if not self.recycle_bin_days:
            return None
        return (
            f"deleted recovery points stay in the Recycle Bin for {self.recycle_bin_days} days "
            "(recoverable: aws ec2 list-snapshots-in-recycle-bin, list-images-in-recycle-bin); "
            f"their storage (up to {self.frees_gb} GiB here) is still billed until then"
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
            "decommissioned": self.decommissioned[:50],
            "frees_gb": self.frees_gb,
            "orphans": len(self.orphans),
            "foreign_tagged": len(self.foreign_tagged),
            "orphans_refused": self.orphans_refused,
            "broken": len(self.broken),
            "locked": len(self.locked),
            "locked_gb": sum(lock.size_gb for lock in self.locked),
            "recycle_bin": self.recycle_bin,
        }


def point_size(point: RecoveryPoint) -> int:
    if point.snapshots:
        return sum(s.size_gb for s in point.snapshots)
    return point.size_gb


def epoch(now: datetime) -> int:
    return int(now.timestamp())
