"""Starting one copy: the intent first, then the copy calls in the destination region (or,
after an interrupted start, adopting what those calls made, found by the copy's tag)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.copies.models import ADOPT_AFTER, copy_point_id
from lifeboat.copies.ports import CopyPort
from lifeboat.copies.provenance import CopyTargetExistsError, adopt_db_copy, made_after
from lifeboat.errors import LifeboatError
from lifeboat.models import Intent, PointStatus, RecoveryPoint
from lifeboat.plans import CopyTarget, Kind
from lifeboat.ports import Ports
from lifeboat.timeutil import parse_iso


class CopySourceGoneError(LifeboatError):
    """What a copy would copy is gone at home: this copy fails, the others go on."""


def copy_tags(source: RecoveryPoint, copy_id: str, copy_of: str, home: str) -> dict[str, str]:
    """The source's tags (Lifeboat's and the resource's own), plus what this copy is."""
    config = source.instance or source.database
    own = T.backup_tags(
        source_id=source.source_id,
        plan=source.plan,
        rule=source.rule,
        run_id=source.run_id,
        kind=source.kind.value,
        source_tags=config.tags if config else {},
    )
    extra = {T.COPY_OF: copy_of, T.COPY_POINT: copy_id, T.SOURCE_REGION: home}
    ours = {k: v for k, v in own.items() if k.startswith("lifeboat:")}
    users = [(k, v) for k, v in own.items() if not k.startswith("lifeboat:")]
    return {**dict(users[: T.MAX_TAGS - len(ours) - len(extra)]), **ours, **extra}


def client_token(copy_id: str) -> str:
    return hashlib.sha256(copy_id.encode()).hexdigest()[:64]


def start_copy(
    source: RecoveryPoint,
    copy: RecoveryPoint,
    interrupted: bool,
    target: CopyTarget,
    copier: CopyPort,
    ports: Ports,
    now: datetime,
) -> RecoveryPoint | None:
    """Make the copy calls of ``copy`` (its intent already in the catalog), or, after an
    ``interrupted`` start, adopt what they made; None when that start is too recent to tell
    whether its calls were made. The caller records the result."""
    found: dict[str, dict[str, Any]] = {}
    if interrupted and copy.intent is not None:
        since = copy.intent.at
        # Only what was made after the intent: a tag alone (the copy id is predictable) never
        # makes an image or snapshot this copy's.
        found = {
            k: v for k, v in copier.find(copy.recovery_point_id).items() if made_since(v, since)
        }
        # (A DB copy's name is deterministic: RDS answers at once whether one is there.)
        if not found and now - copy.intent.at < ADOPT_AFTER and source.kind is not Kind.RDS:
            return None
    return _call(source, copy, target, copier, ports, found)


def new_copy(source: RecoveryPoint, region: str, now: datetime) -> RecoveryPoint:
    return source.model_copy(
        update={
            "recovery_point_id": copy_point_id(source, region),
            "region": region,
            "copy_of": source.recovery_point_id,
            "status": PointStatus.PENDING,
            "completed_at": None,
            "image_id": None,
            "snapshots": [],
            "db_snapshot_id": None,
            "db_cluster_snapshot_id": None,
            "intent": Intent(at=now),
            "copy_started_at": now,
            "copy_snapshots": 1
            if source.kind is Kind.RDS
            else max(1, source.copy_snapshots, len(source.snapshots)),
            "error": None,
            # Lifeboat locks no copy (the rule's lock is for the home snapshots): a copy never
            # claims the lock of the point it copies.
            "locked_until": None,
            "lock_mode": None,
        }
    )


def _call(
    source: RecoveryPoint,
    copy: RecoveryPoint,
    target: CopyTarget,
    copier: CopyPort,
    ports: Ports,
    found: dict[str, dict[str, Any]],
) -> RecoveryPoint:
    home, cid = ports.home_region, copy.recovery_point_id
    if source.kind in (Kind.AMI, Kind.ASG) and source.image_id:  # a group's point: its AMI
        image = found.get(source.image_id, {}).get("ImageId") or copier.copy_image(
            home,
            source.image_id,
            T.image_name(source.source_id, source.run_id),
            target.kms_key,
            client_token(cid),
            copy_tags(source, cid, source.image_id, home),
        )
        return copy.model_copy(update={"image_id": image})
    if source.kind is Kind.EBS:
        snapshots = []
        for snap in source.snapshots:
            made = found.get(snap.snapshot_id, {}).get("SnapshotId") or copier.copy_snapshot(
                home,
                snap.snapshot_id,
                target.kms_key,
                copy_tags(source, cid, snap.snapshot_id, home),
            )
            snapshots.append(
                snap.model_copy(
                    update={"snapshot_id": made, "encrypted": True, "kms_key_id": target.kms_key}
                )
            )
        return copy.model_copy(update={"snapshots": snapshots})
    kind = "cluster" if source.db_cluster_snapshot_id else "db"
    snapshot_id = source.db_cluster_snapshot_id or source.db_snapshot_id or ""
    described = ports.rds.snapshot(kind, snapshot_id) or {}
    arn = described.get("DBClusterSnapshotArn" if kind == "cluster" else "DBSnapshotArn")
    if not arn:
        raise CopySourceGoneError(
            f"{snapshot_id}: RDS no longer has it (deleted outside Lifeboat?)"
        )
    # RDS encrypts the copy of an unencrypted DB snapshot with the key given; it refuses a key
    # for an unencrypted Aurora cluster snapshot, whose copy then stays unencrypted.
    encrypted = kind == "db" or bool(described.get("StorageEncrypted"))
    try:
        made = copier.copy_db_snapshot(
            kind,
            home,
            str(arn),
            snapshot_id,
            target.kms_key if encrypted else None,
            copy_tags(source, cid, snapshot_id, home),
        )
    except CopyTargetExistsError as exc:  # a repeat after a task died, or someone else's
        since = copy.intent.at if copy.intent else copy.created_at
        made = adopt_db_copy(exc.found, exc.target_id, str(arn), since)
    field_name = "db_cluster_snapshot_id" if kind == "cluster" else "db_snapshot_id"
    return copy.model_copy(update={field_name: made})


def made_since(made: dict[str, Any], since: datetime) -> bool:
    """An image or snapshot EC2 says was created at or after ``since`` (a minute's slack)."""
    created = made.get("CreationDate") or made.get("StartTime")
    if created is None:
        return False
    moment = created if isinstance(created, datetime) else parse_iso(str(created))
    return made_after(moment, since)
