"""EC2 and RDS in a copy's destination region: start copies (tagged at creation), find what an
interrupted start made, read their state, delete Lifeboat's own copies (prune, failed copies).

Every call here is made in the destination region: ``CopyImage``, ``CopySnapshot``,
``CopyDBSnapshot`` and ``CopyDBClusterSnapshot`` are called where the copy will live, naming the
source region (boto3 builds the pre-signed URL RDS and CopySnapshot need from ``SourceRegion``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.ec2_locks import Ec2Locks
from lifeboat.aws.ec2_retire import Ec2Retirement
from lifeboat.aws.permissions import needs
from lifeboat.aws.rds import RdsGateway
from lifeboat.copies.provenance import CopyArtifact, CopyTargetExistsError, DbCopyInfo
from lifeboat.errors import error_code
from lifeboat.models import SnapshotLock

# What EBS and RDS do with the keys on the caller's behalf during a copy (re-encryption with
# the destination key, reading a source under a customer managed key): template.yaml grants
# these on the CopyKmsKeyArns parameter's keys only.
KMS_FOR_COPIES = (
    "kms:DescribeKey",
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:CreateGrant",
)
_GONE = ("InvalidSnapshot.NotFound", "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable")
_DB_GONE = ("DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault")


def home_region() -> str:
    """The region Lifeboat runs in (its Lambdas' and the catalog's)."""
    return str(client("ec2").meta.region_name)


class CopyOps:
    """One destination region. ``ec2``/``rds`` are clients of that region (tests pass their
    own)."""

    def __init__(
        self, region: str, retrier: Retrier | None = None, ec2: Any = None, rds: Any = None
    ) -> None:
        self.region = region
        self.retrier = retrier or Retrier()
        self.ec2 = ec2 or client("ec2", region)
        self.rds = rds or client("rds", region)
        # The reads the home adapters already make, on this region's clients.
        self._ec2_reads = Ec2Retirement(self.ec2, self.retrier)
        self._rds_reads = RdsGateway(self.retrier, rds=self.rds)
        self._locks = _RegionLocks(self.ec2, self.retrier)

    # --- start ------------------------------------------------------------------------------
    @needs("ec2:CopyImage", "ec2:CreateTags", *KMS_FOR_COPIES)
    def copy_image(
        self,
        source_region: str,
        image_id: str,
        name: str,
        kms_key: str,
        client_token: str,
        tags: dict[str, str],
    ) -> str:
        """``CopyImage`` with a ``ClientToken`` (a repeat returns the same image), encrypted
        with the destination key; the image and its snapshots tagged at creation."""
        response = self.retrier.call(
            self.ec2.copy_image,
            SourceRegion=source_region,
            SourceImageId=image_id,
            Name=name,
            Description=f"Lifeboat copy of {image_id} ({source_region})",
            Encrypted=True,
            KmsKeyId=kms_key,
            ClientToken=client_token,
            TagSpecifications=[
                {"ResourceType": "image", "Tags": T.to_list(tags)},
                {"ResourceType": "snapshot", "Tags": T.to_list(tags)},
            ],
        )
        return str(response["ImageId"])

    @needs("ec2:CopySnapshot", "ec2:CreateTags", *KMS_FOR_COPIES)
    def copy_snapshot(
        self, source_region: str, snapshot_id: str, kms_key: str, tags: dict[str, str]
    ) -> str:
        """``CopySnapshot`` (no idempotency token: the caller looks for a tagged copy first)."""
        response = self.retrier.call(
            self.ec2.copy_snapshot,
            SourceRegion=source_region,
            SourceSnapshotId=snapshot_id,
            Description=f"Lifeboat copy of {snapshot_id} ({source_region})",
            Encrypted=True,
            KmsKeyId=kms_key,
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": T.to_list(tags)}],
        )
        return str(response["SnapshotId"])

    @needs(
        "rds:CopyDBSnapshot",
        "rds:CopyDBClusterSnapshot",
        "rds:AddTagsToResource",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
        *KMS_FOR_COPIES,
    )
    def copy_db_snapshot(
        self,
        kind: str,
        source_region: str,
        source_arn: str,
        target_id: str,
        kms_key: str | None,
        tags: dict[str, str],
    ) -> str:
        """``CopyDBSnapshot`` / ``CopyDBClusterSnapshot`` to ``target_id`` (deterministic: a
        repeat finds it already there: :class:`CopyTargetExistsError`, with what RDS reports
        of the snapshot in the way)."""
        params: dict[str, Any] = {"SourceRegion": source_region, "Tags": T.to_list(tags)}
        if kms_key:  # None: an unencrypted Aurora snapshot, which RDS cannot encrypt by copy
            params["KmsKeyId"] = kms_key
        try:
            if kind == "cluster":
                self.retrier.call(
                    self.rds.copy_db_cluster_snapshot,
                    SourceDBClusterSnapshotIdentifier=source_arn,
                    TargetDBClusterSnapshotIdentifier=target_id,
                    **params,
                )
            else:
                self.retrier.call(
                    self.rds.copy_db_snapshot,
                    SourceDBSnapshotIdentifier=source_arn,
                    TargetDBSnapshotIdentifier=target_id,
                    **params,
                )
        except ClientError as exc:
            if "AlreadyExists" not in error_code(exc):
                raise
            # Whose it is, RDS says (its source and its date), never its tags: the caller
            # decides (lifeboat.copies.provenance).
            raise CopyTargetExistsError(target_id, self._db_copy_info(kind, target_id)) from exc
        return target_id

    def _db_copy_info(self, kind: str, snapshot_id: str) -> DbCopyInfo | None:
        found = self.db_snapshot(kind, snapshot_id)
        if found is None:
            return None
        source = found.get(
            "SourceDBClusterSnapshotArn" if kind == "cluster" else "SourceDBSnapshotIdentifier"
        )
        created = found.get("SnapshotCreateTime")
        return DbCopyInfo(
            snapshot_id=snapshot_id,
            source_arn=str(source) if source else None,
            created_at=created if isinstance(created, datetime) else None,
            status=str(found.get("Status", "unknown")),
        )

    # --- read -------------------------------------------------------------------------------
    @needs("ec2:DescribeImages", "ec2:DescribeSnapshots")
    def find(self, copy_point_id: str) -> dict[str, dict[str, Any]]:
        """What earlier attempts of this copy made: images and snapshots tagged with its id,
        by the artifact they copy (``lifeboat:copy-of``)."""
        filters = [{"Name": f"tag:{T.COPY_POINT}", "Values": [copy_point_id]}]
        found: dict[str, dict[str, Any]] = {}
        for image in self._pages("describe_images", "Images", Owners=["self"], Filters=filters):
            found[T.to_dict(image.get("Tags")).get(T.COPY_OF, "")] = image
        for snap in self._pages(
            "describe_snapshots", "Snapshots", OwnerIds=["self"], Filters=filters
        ):
            copy_of = T.to_dict(snap.get("Tags")).get(T.COPY_OF, "")
            if copy_of.startswith("snap-"):  # an image's own snapshots copy the image
                found[copy_of] = snap
        return found

    @needs("ec2:DescribeImages")
    def images(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return self._ec2_reads.images(ids)

    @needs("ec2:DescribeSnapshots")
    def snapshots(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return self._ec2_reads.snapshots(ids)

    @needs("rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots")
    def db_snapshot(self, kind: str, snapshot_id: str) -> dict[str, Any] | None:
        return self._rds_reads.snapshot(kind, snapshot_id)

    @needs("ec2:DescribeSnapshots")
    def snapshots_in_flight(self) -> int:
        """Lifeboat's snapshot copies EC2 reports still copying here (``pending``)."""
        filters = [
            {"Name": "status", "Values": ["pending"]},
            {"Name": f"tag:{T.MANAGED}", "Values": ["true"]},
            {"Name": "tag-key", "Values": [T.COPY_POINT]},
        ]
        return len(
            self._pages("describe_snapshots", "Snapshots", OwnerIds=["self"], Filters=filters)
        )

    @needs("ec2:DescribeLockedSnapshots")
    def snapshot_locks(self, ids: list[str]) -> dict[str, SnapshotLock]:
        """The EBS Snapshot Locks in force on ``ids`` in this region (a lock set by hand)."""
        return self._locks.snapshot_locks(ids)

    @needs(
        "ec2:DescribeImages",
        "ec2:DescribeSnapshots",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
    )
    def inventory(self) -> list[CopyArtifact]:
        """Every image, snapshot, DB and cluster snapshot of this account here that carries a
        Lifeboat copy's tags (the census reads it against the catalog)."""
        filters = [
            {"Name": f"tag:{T.MANAGED}", "Values": ["true"]},
            {"Name": "tag-key", "Values": [T.COPY_POINT]},
        ]
        found = [
            _artifact(i["ImageId"], "image", i.get("Tags"), i.get("CreationDate"), 0)
            for i in self._pages("describe_images", "Images", Owners=["self"], Filters=filters)
        ]
        found += [
            _artifact(s["SnapshotId"], "snapshot", s.get("Tags"), s.get("StartTime"), s)
            for s in self._pages(
                "describe_snapshots", "Snapshots", OwnerIds=["self"], Filters=filters
            )
        ]
        for operation, key, name, kind in (
            ("describe_db_snapshots", "DBSnapshots", "DBSnapshotIdentifier", "db-snapshot"),
            (
                "describe_db_cluster_snapshots",
                "DBClusterSnapshots",
                "DBClusterSnapshotIdentifier",
                "cluster-snapshot",
            ),
        ):
            for page in self.rds.get_paginator(operation).paginate(SnapshotType="manual"):
                found += [
                    _artifact(d[name], kind, d.get("TagList"), d.get("SnapshotCreateTime"), d)
                    for d in page.get(key, [])
                ]
        return [a for a in found if a is not None]

    # --- delete (only Lifeboat's copies) ----------------------------------------------------
    @needs(
        "ec2:DeregisterImage", "ec2:DeleteSnapshot", "ec2:DescribeImages", "ec2:DescribeSnapshots"
    )
    def delete_image(self, image_id: str, copy_point_id: str) -> dict[str, str]:
        """Deregister a copied image and delete its snapshots, if it is this copy's."""
        image = self.images([image_id]).get(image_id)
        if image is None:
            return {image_id: "gone"}
        if not _ours(image.get("Tags"), copy_point_id):
            return {image_id: "not-owned"}
        snaps = [
            m["Ebs"]["SnapshotId"]
            for m in image.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        ]
        self.retrier.call(self.ec2.deregister_image, ImageId=image_id)
        results = {image_id: "deregistered"}
        for snap in snaps:  # each checked: a mapping may name a snapshot that is not this copy's
            results[snap] = self.delete_snapshot(snap, copy_point_id)
        return results

    @needs("ec2:DeleteSnapshot", "ec2:DescribeSnapshots")
    def delete_snapshot(self, snapshot_id: str, copy_point_id: str) -> str:
        snap = self.snapshots([snapshot_id]).get(snapshot_id)
        if snap is None:
            return "gone"
        if not _ours(snap.get("Tags"), copy_point_id):
            return "not-owned"
        return self._delete_snapshot(snapshot_id)

    def _delete_snapshot(self, snapshot_id: str) -> str:
        try:
            self.retrier.call(self.ec2.delete_snapshot, SnapshotId=snapshot_id)
        except ClientError as exc:
            code = error_code(exc)
            if code in _GONE:
                return "gone"
            if "Lock" in code or code == "InvalidSnapshot.InUse":
                return "locked" if "Lock" in code else "in-use"
            raise
        return "deleted"

    @needs(
        "rds:DeleteDBSnapshot",
        "rds:DeleteDBClusterSnapshot",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
    )
    def delete_db_snapshot(self, kind: str, snapshot_id: str, copy_point_id: str) -> str:
        snap = self.db_snapshot(kind, snapshot_id)
        if snap is None:
            return "gone"
        if not _ours(snap.get("TagList"), copy_point_id):
            return "not-owned"
        try:
            if kind == "cluster":
                self.retrier.call(
                    self.rds.delete_db_cluster_snapshot, DBClusterSnapshotIdentifier=snapshot_id
                )
            else:
                self.retrier.call(self.rds.delete_db_snapshot, DBSnapshotIdentifier=snapshot_id)
        except ClientError as exc:
            if error_code(exc) in _DB_GONE:
                return "gone"
            raise
        return "deleted"

    def _pages(self, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self.ec2.get_paginator(operation).paginate(**kwargs):
            out.extend(page.get(key, []))
        return out


def _ours(tags: Any, copy_point_id: str) -> bool:
    found = T.to_dict(tags)
    return T.is_managed(found) and found.get(T.COPY_POINT) == copy_point_id


def _artifact(
    artifact_id: str, kind: str, tags: Any, created: Any, described: Any
) -> CopyArtifact | None:
    found = T.to_dict(tags)
    if not T.is_managed(found) or not found.get(T.COPY_POINT):
        return None
    size = described.get("VolumeSize") or described.get("AllocatedStorage") if described else 0
    return CopyArtifact(
        artifact_id=artifact_id,
        artifact_type=kind,
        copy_point_id=found[T.COPY_POINT],
        plan=found.get(T.PLAN, ""),
        created_at=created if isinstance(created, datetime) else None,
        size_gb=int(size or 0),
    )


class _RegionLocks(Ec2Locks):
    def __init__(self, ec2: Any, retrier: Retrier) -> None:
        self.ec2, self.retrier = ec2, retrier
