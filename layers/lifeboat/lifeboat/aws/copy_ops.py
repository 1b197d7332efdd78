"""EC2 and RDS in a copy's destination region: start copies (tagged at creation), find what an
interrupted start made, read their state, delete Lifeboat's own copies (prune, failed copies).

Every call here is made in the destination region: ``CopyImage``, ``CopySnapshot``,
``CopyDBSnapshot`` and ``CopyDBClusterSnapshot`` are called where the copy will live, naming the
source region (boto3 builds the pre-signed URL RDS and CopySnapshot need from ``SourceRegion``).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.ec2_retire import Ec2Retirement
from lifeboat.aws.permissions import needs
from lifeboat.aws.rds import RdsGateway
from lifeboat.errors import error_code

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
        repeat finds it already there, returned when it is this copy's)."""
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
            found = self.db_snapshot(kind, target_id)
            mine = T.to_dict((found or {}).get("TagList")).get(T.COPY_POINT)
            if mine != tags[T.COPY_POINT]:
                raise
        return target_id

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
