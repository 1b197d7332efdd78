"""What a copy in flight has become (read in its region), and removing a failed or expired
copy's artifacts (only those tagged with its id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.copies.models import COPY_DEADLINE, RegionReport
from lifeboat.copies.ports import CopyPort
from lifeboat.copies.provenance import made_after
from lifeboat.models import PointStatus, RecoveryPoint, VolumeSnapshot
from lifeboat.pace import PaceDeferred
from lifeboat.ports import Ports
from lifeboat.timeutil import parse_iso

State = tuple[str, str | None, dict[str, Any]]


def copy_states(copies: list[RecoveryPoint], copier: CopyPort) -> dict[str, State]:
    """Each copy's state: ``pending``, ``completed`` (with what to record), ``failed`` (why) or
    ``foreign`` (what is recorded was not made for it: never deleted); the images and
    snapshots of all of them read in one call each."""
    image_ids = [c.image_id for c in copies if c.image_id]
    snapshot_ids = [s.snapshot_id for c in copies if not c.image_id for s in c.snapshots]
    images = copier.images(image_ids) if image_ids else {}
    snaps = copier.snapshots(snapshot_ids) if snapshot_ids else {}
    states: dict[str, State] = {}
    for copy in copies:
        if copy.image_id:
            states[copy.recovery_point_id] = _image_state(copy, images)
        elif copy.snapshots:
            states[copy.recovery_point_id] = _snapshots_state(copy, snaps)
        else:
            states[copy.recovery_point_id] = _db_state(copy, copier)
    return states


def _image_state(copy: RecoveryPoint, images: dict[str, dict[str, Any]]) -> State:
    if copy.image_id:
        image = images.get(copy.image_id)
        if image is None:
            return "failed", f"copied image {copy.image_id} disappeared", {}
        if not _made_for(copy, image):  # e.g. returned for our ClientToken, made by another
            return "foreign", _foreign_reason(copy, [copy.image_id]), {"not_ours": [copy.image_id]}
        state = image.get("State", "pending")
        if state == "available":
            return "completed", None, {"snapshots": _image_snapshots(image, copy)}
        if state == "pending":
            return "pending", None, {}
        reason = image.get("StateReason", {}).get("Message", "")
        return "failed", f"copied image {copy.image_id} {state}: {reason}", {}
    return "failed", "no image recorded", {}


def _snapshots_state(copy: RecoveryPoint, found: dict[str, dict[str, Any]]) -> State:
    if copy.snapshots:
        foreign = [
            s.snapshot_id
            for s in copy.snapshots
            if s.snapshot_id in found and not _made_for(copy, found[s.snapshot_id])
        ]
        if foreign:
            return "foreign", _foreign_reason(copy, foreign), {"not_ours": foreign}
        states = [found.get(s.snapshot_id, {}).get("State", "missing") for s in copy.snapshots]
        if all(s == "completed" for s in states):
            return "completed", None, {}
        bad = [s for s in states if s in ("error", "missing", "recoverable")]
        return ("failed", f"snapshot copies {bad}", {}) if bad else ("pending", None, {})
    return "failed", "no snapshots recorded", {}


def _made_for(copy: RecoveryPoint, made: dict[str, Any]) -> bool:
    """EC2 dates it after the copy's intent (no intent recorded: nothing to check against)."""
    if copy.intent is None:
        return True
    created = made.get("CreationDate") or made.get("StartTime")
    if created is None:
        return False
    moment = created if isinstance(created, datetime) else parse_iso(str(created))
    return made_after(moment, copy.intent.at)


def _foreign_reason(copy: RecoveryPoint, ids: list[str]) -> str:
    return (
        f"{ids} were made before this copy was started (not Lifeboat's copy): left untouched "
        "and not recorded; the copy is failed"
    )


def _db_state(copy: RecoveryPoint, copier: CopyPort) -> State:
    kind = "cluster" if copy.db_cluster_snapshot_id else "db"
    snapshot_id = copy.db_cluster_snapshot_id or copy.db_snapshot_id or ""
    snap = copier.db_snapshot(kind, snapshot_id)
    if snap is None:
        return "failed", f"copied DB snapshot {snapshot_id} disappeared", {}
    status = str(snap.get("Status", "creating"))
    if status == "available":
        return "completed", None, {}
    if status in ("creating", "copying", "pending"):
        return "pending", None, {}
    return "failed", f"copied DB snapshot {snapshot_id} {status}", {}


def _image_snapshots(image: dict[str, Any], copy: RecoveryPoint) -> list[VolumeSnapshot]:
    """The copied image's snapshots (its block-device mappings), in the catalog's shape."""
    found = [
        VolumeSnapshot(
            volume_id="",
            snapshot_id=m["Ebs"]["SnapshotId"],
            device_name=m["DeviceName"],
            size_gb=int(m["Ebs"].get("VolumeSize", 0)),
            encrypted=True,
            boot=m["DeviceName"] == image.get("RootDeviceName"),
        )
        for m in image.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("SnapshotId")
    ]
    return found or copy.snapshots


def remove_copy(copy: RecoveryPoint, copier: CopyPort) -> dict[str, str]:
    """Delete a copy's artifacts, all or none: each is read first, and if any still there does
    not carry the copy's ``lifeboat:copy-point`` tag (re-tagged, or never ours) nothing is
    deleted and the copy is refused (``refused``); if any snapshot is under an EBS Snapshot
    Lock in that region nothing is deleted either (each locked one ``locked``). An image's
    recorded snapshots are deleted too when the image itself is already gone (a prune that
    died after the deregister)."""
    cid = copy.recovery_point_id
    foreign, snapshot_ids = _not_ours(copy, copier)
    if foreign:
        return {**dict.fromkeys(foreign, "not-owned"), "refused": f"not this copy's: {foreign}"}
    # Locks are read before the first delete: a set is deleted whole or not at all (an image
    # deregistered and its locked snapshots left would be orphans).
    locked = sorted(copier.snapshot_locks(snapshot_ids)) if snapshot_ids else []
    if locked:
        return dict.fromkeys(locked, "locked")
    results: dict[str, str] = {}
    if copy.image_id:
        results.update(copier.delete_image(copy.image_id, cid))
    for snap in copy.snapshots:
        if snap.snapshot_id not in results:
            results[snap.snapshot_id] = copier.delete_snapshot(snap.snapshot_id, cid)
    if copy.db_snapshot_id:
        results[copy.db_snapshot_id] = copier.delete_db_snapshot("db", copy.db_snapshot_id, cid)
    if copy.db_cluster_snapshot_id:
        results[copy.db_cluster_snapshot_id] = copier.delete_db_snapshot(
            "cluster", copy.db_cluster_snapshot_id, cid
        )
    return results


def _not_ours(copy: RecoveryPoint, copier: CopyPort) -> tuple[list[str], list[str]]:
    """The copy's artifacts that exist and do not carry its tag (an image's snapshots too),
    and its snapshots that exist."""
    cid = copy.recovery_point_id
    found: list[str] = []
    snapshot_ids = [s.snapshot_id for s in copy.snapshots]
    if copy.image_id:
        image = copier.images([copy.image_id]).get(copy.image_id)
        if image is not None:
            if not _tagged(image.get("Tags"), cid):
                found.append(copy.image_id)
            snapshot_ids += [
                m["Ebs"]["SnapshotId"]
                for m in image.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("SnapshotId")
            ]
    snaps = copier.snapshots(sorted(set(snapshot_ids))) if snapshot_ids else {}
    found += [sid for sid, snap in sorted(snaps.items()) if not _tagged(snap.get("Tags"), cid)]
    for kind, db_id in (("db", copy.db_snapshot_id), ("cluster", copy.db_cluster_snapshot_id)):
        db = copier.db_snapshot(kind, db_id) if db_id else None
        if db is not None and db_id and not _tagged(db.get("TagList"), cid):
            found.append(db_id)
    return found, sorted(snaps)


def _tagged(tags: Any, copy_point_id: str) -> bool:
    found = T.to_dict(tags)
    return T.is_managed(found) and found.get(T.COPY_POINT) == copy_point_id


_NO_ARTIFACTS: dict[str, Any] = {
    "image_id": None,
    "snapshots": [],
    "db_snapshot_id": None,
    "db_cluster_snapshot_id": None,
}


def settle(
    in_flight: list[tuple[dict[str, Any], RecoveryPoint]],
    copier: CopyPort,
    ports: Ports,
    now: datetime,
    report: RegionReport,
) -> None:
    """Settle the copies in flight: read together, recorded together, then dequeued (a task
    dying between the two leaves settled items queued: the next pump dequeues them)."""
    states = copy_states([c for _i, c in in_flight], copier)
    settled: list[RecoveryPoint] = []
    dequeued: list[str] = []
    paced = False
    for item, copy in in_flight:
        status, detail, updates = states[copy.recovery_point_id]
        started = copy.copy_started_at or (copy.intent.at if copy.intent else now)
        if status == "pending" and now - started > COPY_DEADLINE:
            status, detail = "failed", f"not complete {COPY_DEADLINE} after it started"
        if status == "pending" or (paced and status != "completed"):
            continue
        if status == "completed":
            update = {**updates, "status": PointStatus.COMPLETED, "completed_at": now}
            report.completed.append(copy.recovery_point_id)
        else:
            try:
                update = _failed(copy, status, detail, updates, copier)
            except PaceDeferred:
                # The region's delete bucket hands out its next call later than the pump
                # waits (a prune there): this failed copy, and the others, stay in flight and
                # are removed by a later pump (removing is safe to repeat).
                paced = True
                continue
            fallback = "not Lifeboat's" if status == "foreign" else "failed"
            report.failed[copy.recovery_point_id] = detail or fallback
        settled.append(copy.model_copy(update=update))
        dequeued.append(str(item["sk"]))
    ports.catalog.put_points(settled)
    ports.catalog.dequeue_copies(report.region, dequeued)


def _failed(
    copy: RecoveryPoint,
    status: str,
    detail: str | None,
    updates: dict[str, Any],
    copier: CopyPort,
) -> dict[str, Any]:
    """A failed copy's artifacts removed (only its own); what to record of it."""
    if status == "foreign":  # not ours: forgotten by the catalog, never deleted
        return {
            **_NO_ARTIFACTS,
            **_remove_own(copy, set(updates.get("not_ours", [])), copier),
            "status": PointStatus.FAILED,
            "error": detail,
        }
    results = remove_copy(copy, copier)
    if copy.image_id and results.get(copy.image_id) == "gone":
        _remove_image_leftovers(copy, copier)
    return {"status": PointStatus.FAILED, "error": detail}


def _remove_own(copy: RecoveryPoint, not_ours: set[str], copier: CopyPort) -> dict[str, Any]:
    """A set with a foreign member: its own snapshots (made for it) are deleted, all or none,
    as a failed copy's are; the foreign ones are forgotten, never deleted. What of its own
    could not be deleted (a lock set by hand) stays recorded."""
    own = [s for s in copy.snapshots if s.snapshot_id not in not_ours]
    if not own or copy.image_id in not_ours:
        return {}
    results = remove_copy(copy.model_copy(update={"image_id": None, "snapshots": own}), copier)
    return {"snapshots": [s for s in own if results.get(s.snapshot_id) not in ("deleted", "gone")]}


def _remove_image_leftovers(copy: RecoveryPoint, copier: CopyPort) -> None:
    """An image copy whose image vanished mid-copy (deregistered by hand) leaves the snapshots
    EC2 was copying for it, which the catalog never recorded: those tagged with the copy's id
    and made after its intent — the proof :func:`lifeboat.copies.start.start_copy` adopts by —
    are deleted (each only if it still carries the tag); anything older is never touched."""
    if copy.intent is None:
        return
    for found in copier.inventory():
        if (
            found.artifact_type == "snapshot"
            and found.copy_point_id == copy.recovery_point_id
            and made_after(found.created_at, copy.intent.at)
        ):
            copier.delete_snapshot(found.artifact_id, copy.recovery_point_id)
