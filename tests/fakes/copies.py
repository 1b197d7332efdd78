"""A destination region in memory (implements ``CopyPort``): copies start ``pending`` and
complete after ``polls_to_complete`` reads; faults: a failing copy, a call that dies after AWS
made the copy (the task never records it), a copy AWS reports in error."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.copies.ports import CopyPort
from lifeboat.copies.provenance import CopyArtifact, CopyTargetExistsError, DbCopyInfo
from lifeboat.models import SnapshotLock
from lifeboat.pacing import Pacing
from tests.fakes.common import client_error

_ids = itertools.count(1)


class DiedAfterCall(Exception):
    """The task died after AWS accepted the copy call (nothing recorded)."""


@dataclass
class FakeCopier:
    region: str = "us-west-2"
    images_: dict[str, dict[str, Any]] = field(default_factory=dict)
    snaps: dict[str, dict[str, Any]] = field(default_factory=dict)
    dbs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    polls_to_complete: int = 1
    fail_copies: int = 0  # the next copy calls are refused
    die_after_calls: int = 0  # the next copy calls succeed, then the task dies
    die_before_calls: int = 0  # the task dies before the next copy calls reach AWS
    error_next: bool = False  # the next copy made ends in AWS's 'error' state
    calls: list[str] = field(default_factory=list)
    image_snapshots: dict[str, int] = field(default_factory=dict)  # source image → snapshots
    peak_in_flight: int = 0  # EBS snapshot copies pending at once, at most
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    locks: dict[str, SnapshotLock] = field(default_factory=dict)  # set by hand in the region
    # As the adapter's Retrier: each mutating call first takes its turn from the pace (of this
    # region), which may sleep or raise PaceDeferred.
    pacing: Pacing | None = None

    def _turn(self, api: str) -> None:
        if self.pacing is not None:
            self.pacing.acquire(api, self.region)

    # --- start -------------------------------------------------------------------------------
    def _made(self, kind: str, made: dict[str, Any]) -> None:
        self.calls.append(kind)
        if self.error_next:
            made["_error"], self.error_next = True, False
        self.peak_in_flight = max(self.peak_in_flight, self.snapshots_in_flight())
        if self.die_after_calls:
            self.die_after_calls -= 1
            raise DiedAfterCall(kind)

    def _refuse(self, operation: str) -> None:
        if self.die_before_calls:
            self.die_before_calls -= 1
            raise DiedAfterCall(f"{operation} never sent")
        if self.fail_copies:
            self.fail_copies -= 1
            raise client_error("InvalidParameterValue", operation)

    def copy_image(
        self,
        source_region: str,
        image_id: str,
        name: str,
        kms_key: str,
        client_token: str,
        tags: dict[str, str],
    ) -> str:
        self._turn("CopyImage")
        self._refuse("CopyImage")
        if client_token in self.tokens:
            return self.tokens[client_token]
        new = f"ami-c{next(_ids):07x}"
        snaps = []
        for n in range(self.image_snapshots.get(image_id, 1)):
            sid = self._snapshot(tags, copy_of=image_id)
            snaps.append({"DeviceName": f"/dev/sd{'abcdefgh'[n]}", "Ebs": {"SnapshotId": sid}})
        self.images_[new] = {
            "ImageId": new,
            "CreationDate": self.clock().isoformat(),
            "State": "pending",
            "Name": name,
            "Tags": T.to_list(tags),
            "BlockDeviceMappings": snaps,
            "RootDeviceName": "/dev/sda",
            "_polls": 0,
            "KmsKeyId": kms_key,
        }
        self.tokens[client_token] = new
        self._made("CopyImage", self.images_[new])
        return new

    def _snapshot(self, tags: dict[str, str], copy_of: str) -> str:
        sid = f"snap-c{next(_ids):07x}"
        self.snaps[sid] = {
            "SnapshotId": sid,
            "StartTime": self.clock(),
            "State": "pending",
            "Tags": T.to_list({**tags, T.COPY_OF: copy_of}),
            "_polls": 0,
        }
        return sid

    def copy_snapshot(
        self, source_region: str, snapshot_id: str, kms_key: str, tags: dict[str, str]
    ) -> str:
        self._turn("CopySnapshot")
        self._refuse("CopySnapshot")
        sid = self._snapshot(tags, copy_of=snapshot_id)
        self._made("CopySnapshot", self.snaps[sid])
        return sid

    def copy_db_snapshot(
        self,
        kind: str,
        source_region: str,
        source_arn: str,
        target_id: str,
        kms_key: str | None,
        tags: dict[str, str],
    ) -> str:
        self._turn("CopyDBClusterSnapshot" if kind == "cluster" else "CopyDBSnapshot")
        self._refuse("CopyDBSnapshot")
        found = self.dbs.get(target_id)
        if found is not None:  # as CopyOps does: what RDS says of the one in the way
            raise CopyTargetExistsError(
                target_id,
                DbCopyInfo(
                    snapshot_id=target_id,
                    source_arn=found.get("SourceArn"),
                    created_at=found.get("SnapshotCreateTime"),
                    status=found["Status"],
                ),
            )
        self.dbs[target_id] = {
            "kind": kind,
            "Status": "copying",
            "TagList": T.to_list(tags),
            "_polls": 0,
            "SourceArn": source_arn,
            "SnapshotCreateTime": self.clock(),
        }
        self._made("CopyDBSnapshot", self.dbs[target_id])
        return target_id

    # --- read --------------------------------------------------------------------------------
    def _poll(self, item: dict[str, Any], done: str, key: str) -> dict[str, Any]:
        item["_polls"] += 1
        if item["_polls"] >= self.polls_to_complete and item[key] in ("pending", "copying"):
            item[key] = "error" if item.get("_error") else done
            if key == "State" and done == "available":
                for m in item["BlockDeviceMappings"]:
                    if m["Ebs"]["SnapshotId"] in self.snaps:  # (unless deleted by hand)
                        self.snaps[m["Ebs"]["SnapshotId"]]["State"] = "completed"
        return item

    def find(self, copy_point_id: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for image in self.images_.values():
            tags = T.to_dict(image["Tags"])
            if tags.get(T.COPY_POINT) == copy_point_id:
                found[tags.get(T.COPY_OF, "")] = image
        for snap in self.snaps.values():
            tags = T.to_dict(snap["Tags"])
            if tags.get(T.COPY_POINT) == copy_point_id and tags[T.COPY_OF].startswith("snap-"):
                found[tags[T.COPY_OF]] = snap
        return found

    def images(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            i: self._poll(self.images_[i], "available", "State") for i in ids if i in self.images_
        }

    def snapshots(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: self._poll(self.snaps[i], "completed", "State") for i in ids if i in self.snaps}

    def db_snapshot(self, kind: str, snapshot_id: str) -> dict[str, Any] | None:
        found = self.dbs.get(snapshot_id)
        return self._poll(found, "available", "Status") if found else None

    def snapshot_locks(self, ids: list[str]) -> dict[str, SnapshotLock]:
        return {i: self.locks[i] for i in ids if i in self.locks and i in self.snaps}

    def inventory(self) -> list[CopyArtifact]:
        found: list[CopyArtifact] = []
        for kind, items, key in (
            ("image", self.images_, "Tags"),
            ("snapshot", self.snaps, "Tags"),
            ("db-snapshot", self.dbs, "TagList"),
        ):
            for artifact_id, item in items.items():
                tags = T.to_dict(item[key])
                if T.is_managed(tags) and tags.get(T.COPY_POINT):
                    found.append(
                        CopyArtifact(
                            artifact_id=artifact_id,
                            artifact_type="cluster-snapshot"
                            if item.get("kind") == "cluster"
                            else kind,
                            copy_point_id=tags[T.COPY_POINT],
                            plan=tags.get(T.PLAN, ""),
                            created_at=_dated(
                                item.get("StartTime")
                                or item.get("CreationDate")
                                or item.get("SnapshotCreateTime")
                            ),
                        )
                    )
        return found

    def snapshots_in_flight(self) -> int:
        return sum(1 for s in self.snaps.values() if s["State"] == "pending")

    # --- delete ------------------------------------------------------------------------------
    def _ours(self, tags: Any, copy_point_id: str) -> bool:
        found = T.to_dict(tags)
        return T.is_managed(found) and found.get(T.COPY_POINT) == copy_point_id

    def delete_image(self, image_id: str, copy_point_id: str) -> dict[str, str]:
        image = self.images_.get(image_id)
        if image is None:
            return {image_id: "gone"}
        if not self._ours(image["Tags"], copy_point_id):
            return {image_id: "not-owned"}
        self._turn("DeregisterImage")
        del self.images_[image_id]
        results = {image_id: "deregistered"}
        for m in image["BlockDeviceMappings"]:
            results[m["Ebs"]["SnapshotId"]] = self.delete_snapshot(
                m["Ebs"]["SnapshotId"], copy_point_id
            )
        return results

    def delete_snapshot(self, snapshot_id: str, copy_point_id: str) -> str:
        snap = self.snaps.get(snapshot_id)
        if snap is None:
            return "gone"
        if not self._ours(snap["Tags"], copy_point_id):
            return "not-owned"
        if snapshot_id in self.locks:  # EC2 refuses to delete a locked snapshot
            return "locked"
        self._turn("DeleteSnapshot")
        del self.snaps[snapshot_id]
        return "deleted"

    def delete_db_snapshot(self, kind: str, snapshot_id: str, copy_point_id: str) -> str:
        snap = self.dbs.get(snapshot_id)
        if snap is None:
            return "gone"
        if not self._ours(snap["TagList"], copy_point_id):
            return "not-owned"
        self._turn("DeleteDBClusterSnapshot" if kind == "cluster" else "DeleteDBSnapshot")
        del self.dbs[snapshot_id]
        return "deleted"


_copier: CopyPort = FakeCopier()


def _dated(value: Any) -> datetime | None:
    """As EC2 and RDS date them (CreationDate is an ISO string)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if isinstance(value, datetime) else None
