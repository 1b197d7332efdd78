"""EC2 for retiring recovery points: deregister and delete only Lifeboat's own artifacts, never a
snapshot an AMI still uses or a locked one; and the reads these checks rest on (the locks:
:mod:`lifeboat.aws.ec2_locks`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.clients import Retrier
from lifeboat.aws.ec2_locks import Ec2Locks
from lifeboat.aws.ec2_shapes import chunks
from lifeboat.aws.permissions import needs
from lifeboat.errors import NotOwnedError, error_code


class Ec2Retirement(Ec2Locks):
    def __init__(self, ec2: Any, retrier: Retrier) -> None:
        self.ec2 = ec2
        self.retrier = retrier

    def _pages(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for page in self.ec2.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])

    def _by_filter(self, operation: str, key: str, name: str, ids: list[str]) -> list[Any]:
        out: list[Any] = []
        for part in chunks(sorted(set(ids))):
            out.extend(self._pages(operation, key, Filters=[{"Name": name, "Values": part}]))
        return out

    @needs("ec2:DescribeImages")
    def images(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            i["ImageId"]: i for i in self._by_filter("describe_images", "Images", "image-id", ids)
        }

    @needs("ec2:DescribeSnapshots")
    def snapshots(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            s["SnapshotId"]: s
            for s in self._by_filter("describe_snapshots", "Snapshots", "snapshot-id", ids)
        }

    # --- clean-up of failed artifacts (only Lifeboat's own) ---------------------------------
    @needs("ec2:DeregisterImage", "ec2:DescribeImages")
    def deregister_image(
        self, image_id: str, owner_tags: dict[str, str] | None = None
    ) -> list[str]:
        """Deregister a managed image; returns the ids of its snapshots (to delete next)."""
        images = self.images([image_id])
        image = images.get(image_id)
        if image is None:
            return []
        tags = T.to_dict(image.get("Tags"))
        if not T.is_managed(tags) or any(tags.get(k) != v for k, v in (owner_tags or {}).items()):
            raise NotOwnedError(
                f"{image_id} is not a Lifeboat recovery point of this plan and rule "
                f"({T.MANAGED}=true and matching tags); refusing to touch it"
            )
        snapshot_ids = [
            m["Ebs"]["SnapshotId"]
            for m in image.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        ]
        try:
            self.retrier.call(self.ec2.deregister_image, ImageId=image_id)
        except ClientError as exc:
            if error_code(exc) not in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"):
                raise
        return snapshot_ids

    @needs(
        "ec2:DeleteSnapshot",
        "ec2:DescribeSnapshots",
        "ec2:DescribeImages",
        "ec2:DescribeLockedSnapshots",
    )
    def delete_snapshot(
        self,
        snapshot_id: str,
        owner_tags: dict[str, str] | None = None,
        ignore_image: str | None = None,
    ) -> str:
        """Delete one managed snapshot (see :meth:`delete_snapshots`)."""
        return self.delete_snapshots([snapshot_id], owner_tags, ignore_image)[snapshot_id]

    @needs(
        "ec2:DeleteSnapshot",
        "ec2:DescribeSnapshots",
        "ec2:DescribeImages",
        "ec2:DescribeLockedSnapshots",
    )
    def delete_snapshots(
        self,
        snapshot_ids: list[str],
        owner_tags: dict[str, str] | None = None,
        ignore_image: str | None = None,
    ) -> dict[str, str]:
        """Delete managed snapshots; each gets 'deleted', 'gone', 'in-use', 'locked' or
        'not-owned'. ``owner_tags`` must all match a snapshot's tags (plan and rule); a snapshot
        still used by an AMI (other than ``ignore_image``, being deregistered) or locked is
        skipped. Three Describe calls for the whole set, then one delete per snapshot."""
        found = self.snapshots(snapshot_ids)
        outcome: dict[str, str] = {}
        candidates: list[str] = []
        for sid in snapshot_ids:
            snap = found.get(sid)
            tags = T.to_dict((snap or {}).get("Tags"))
            if snap is None:
                outcome[sid] = "gone"
            elif not T.is_managed(tags) or any(
                tags.get(k) != v for k, v in (owner_tags or {}).items()
            ):
                outcome[sid] = "not-owned"
            else:
                candidates.append(sid)
        locked = self.locked_snapshots(candidates) if candidates else set()
        in_use = self.snapshots_in_use(candidates, ignore_image) if candidates else set()
        for sid in candidates:
            if sid in locked:
                outcome[sid] = "locked"
            elif sid in in_use:
                outcome[sid] = "in-use"
            else:
                outcome[sid] = self._delete(sid)
        return outcome

    def _delete(self, snapshot_id: str) -> str:
        try:
            self.retrier.call(self.ec2.delete_snapshot, SnapshotId=snapshot_id)
        except ClientError as exc:
            code = error_code(exc)
            if code == "InvalidSnapshot.NotFound":
                return "gone"
            if code == "InvalidSnapshot.InUse":
                return "in-use"
            if "Lock" in code:
                return "locked"
            raise
        return "deleted"

    @needs("ec2:DescribeImages")
    def snapshots_in_use(
        self, snapshot_ids: list[str], ignore_image: str | None = None
    ) -> set[str]:
        """Which of the snapshots back a registered AMI (other than ``ignore_image``)."""
        used: set[str] = set()
        wanted = set(snapshot_ids)
        for part in chunks(sorted(wanted)):
            for image in self._pages(
                "describe_images",
                "Images",
                Owners=["self"],
                Filters=[{"Name": "block-device-mapping.snapshot-id", "Values": part}],
            ):
                if image["ImageId"] == ignore_image:
                    continue
                for mapping in image.get("BlockDeviceMappings", []):
                    sid = mapping.get("Ebs", {}).get("SnapshotId")
                    if sid in wanted:
                        used.add(sid)
        return used

    @needs("ec2:DescribeImages")
    def managed_images(self, plan: str) -> list[dict[str, Any]]:
        return list(
            self._pages(
                "describe_images",
                "Images",
                Owners=["self"],
                Filters=[
                    {"Name": f"tag:{T.MANAGED}", "Values": ["true"]},
                    {"Name": f"tag:{T.PLAN}", "Values": [plan]},
                ],
            )
        )

    @needs("ec2:DescribeSnapshots")
    def managed_snapshots(self, plan: str) -> list[dict[str, Any]]:
        return list(
            self._pages(
                "describe_snapshots",
                "Snapshots",
                OwnerIds=["self"],
                Filters=[
                    {"Name": f"tag:{T.MANAGED}", "Values": ["true"]},
                    {"Name": f"tag:{T.PLAN}", "Values": [plan]},
                ],
                PaginationConfig={"PageSize": 1000},
            )
        )
