"""RDS adapter: discovery by tag, DB and Aurora cluster snapshots tagged at creation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code
from lifeboat.models import DatabaseConfig

RDS_FILTER_VALUES = 50  # ids per Describe call's filter


class RdsGateway:
    def __init__(self, retrier: Retrier | None = None, rds: Any = None) -> None:
        self.rds = rds or client("rds")
        self.retrier = retrier or Retrier()

    def _pages(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for page in self.rds.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One RDS call through the retrier (for the restore adapter; its callers declare the
        action)."""
        return dict(self.retrier.call(getattr(self.rds, operation), **params))

    @needs("rds:DescribeDBInstances", "rds:DescribeDBClusters")
    def discover(self, plan: str) -> list[tuple[str, str]]:
        """(type, id) of DB instances and Aurora clusters tagged with the plan. Members of a
        cluster are covered by the cluster snapshot."""
        found: list[tuple[str, str]] = []
        for db in self._pages("describe_db_instances", "DBInstances"):
            if db.get("DBClusterIdentifier"):
                continue
            if T.to_dict(db.get("TagList")).get(T.PLAN) == plan:
                found.append(("db", db["DBInstanceIdentifier"]))
        for cluster in self._pages("describe_db_clusters", "DBClusters"):
            if T.to_dict(cluster.get("TagList")).get(T.PLAN) == plan:
                found.append(("cluster", cluster["DBClusterIdentifier"]))
        return sorted(found)

    @needs("rds:DescribeDBInstances")
    def databases(self) -> list[dict[str, Any]]:
        """Every DB instance of the region, tagged or not (the readiness report looks for
        single-AZ databases without automated backups)."""
        return [dict(db) for db in self._pages("describe_db_instances", "DBInstances")]

    @needs("rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots")
    def managed_snapshots(self, plan: str) -> list[tuple[str, dict[str, Any]]]:
        """(kind, snapshot) of every manual DB and cluster snapshot Lifeboat made for a plan."""
        found: list[tuple[str, dict[str, Any]]] = []
        for snap in self._pages("describe_db_snapshots", "DBSnapshots", SnapshotType="manual"):
            tags = T.to_dict(snap.get("TagList"))
            if T.is_managed(tags) and tags.get(T.PLAN) == plan:
                found.append(("db", snap))
        for snap in self._pages(
            "describe_db_cluster_snapshots", "DBClusterSnapshots", SnapshotType="manual"
        ):
            tags = T.to_dict(snap.get("TagList"))
            if T.is_managed(tags) and tags.get(T.PLAN) == plan:
                found.append(("cluster", snap))
        return found

    @needs("rds:DescribeDBInstances")
    def describe_db(self, db_id: str) -> dict[str, Any] | None:
        try:
            return dict(
                self.rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]
            )
        except ClientError as exc:
            if error_code(exc) == "DBInstanceNotFound":
                return None
            raise

    @needs("rds:DescribeDBClusters")
    def describe_cluster(self, cluster_id: str) -> dict[str, Any] | None:
        try:
            return dict(
                self.rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
            )
        except ClientError as exc:
            if error_code(exc) == "DBClusterNotFoundFault":
                return None
            raise

    @staticmethod
    def db_config(db: dict[str, Any]) -> DatabaseConfig:
        return DatabaseConfig(
            engine=db.get("Engine"),
            instance_class=db.get("DBInstanceClass"),
            availability_zone=db.get("AvailabilityZone"),
            multi_az=bool(db.get("MultiAZ", False)),
            subnet_group=(db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            parameter_group=next(
                (p["DBParameterGroupName"] for p in db.get("DBParameterGroups", [])), None
            ),
            security_group_ids=[g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])],
            port=(db.get("Endpoint") or {}).get("Port"),
            tags=T.to_dict(db.get("TagList")),
        )

    @needs(
        "rds:CreateDBSnapshot",
        "rds:AddTagsToResource",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
    )
    def create_db_snapshot(
        self,
        db_id: str,
        snapshot_id: str,
        tags: dict[str, str],
        not_before: datetime | None = None,
    ) -> str:
        try:
            self.retrier.call(
                self.rds.create_db_snapshot,
                DBSnapshotIdentifier=snapshot_id,
                DBInstanceIdentifier=db_id,
                Tags=T.to_list(tags),
            )
        except ClientError as exc:
            if error_code(exc) != "DBSnapshotAlreadyExists":
                raise
            self._check_same_run("db", snapshot_id, tags, db_id, not_before)
        return snapshot_id

    @needs(
        "rds:CreateDBClusterSnapshot",
        "rds:AddTagsToResource",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
    )
    def create_cluster_snapshot(
        self,
        cluster_id: str,
        snapshot_id: str,
        tags: dict[str, str],
        not_before: datetime | None = None,
    ) -> str:
        try:
            self.retrier.call(
                self.rds.create_db_cluster_snapshot,
                DBClusterSnapshotIdentifier=snapshot_id,
                DBClusterIdentifier=cluster_id,
                Tags=T.to_list(tags),
            )
        except ClientError as exc:
            if error_code(exc) != "DBClusterSnapshotAlreadyExistsFault":
                raise
            self._check_same_run("cluster", snapshot_id, tags, cluster_id, not_before)
        return snapshot_id

    def _check_same_run(
        self,
        kind: str,
        snapshot_id: str,
        tags: dict[str, str],
        source_id: str,
        not_before: datetime | None,
    ) -> None:
        """A repeated create for the same run is fine; a name clash with anything else is not.
        Tags can be copied by anyone: RDS must also say the snapshot is of this database and
        was taken after the point's intent (``not_before``; a minute's slack) — undated only
        while RDS is still creating it."""
        snap = self.snapshot(kind, snapshot_id) or {}
        existing = T.to_dict(snap.get("TagList"))
        source = snap.get("DBClusterIdentifier" if kind == "cluster" else "DBInstanceIdentifier")
        taken = snap.get("SnapshotCreateTime")
        late = False
        if not_before is not None and isinstance(taken, datetime):
            late = taken < not_before - timedelta(minutes=1)
        elif not_before is not None:
            late = snap.get("Status") != "creating"
        if existing.get(T.RUN) != tags[T.RUN] or not T.is_managed(existing):
            raise RuntimeError(f"snapshot {snapshot_id} exists and is not this run's")
        if str(source or "").lower() != source_id.lower() or late:
            raise RuntimeError(
                f"snapshot {snapshot_id} exists and is not this run's: RDS reports it of "
                f"{source} taken {taken}, not of {source_id} after this run's intent"
            )

    @needs("rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots")
    def snapshot(self, kind: str, snapshot_id: str) -> dict[str, Any] | None:
        try:
            if kind == "cluster":
                found = self.rds.describe_db_cluster_snapshots(
                    DBClusterSnapshotIdentifier=snapshot_id
                )["DBClusterSnapshots"]
            else:
                found = self.rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)[
                    "DBSnapshots"
                ]
        except ClientError as exc:
            if error_code(exc) in ("DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault"):
                return None
            raise
        return dict(found[0]) if found else None

    @needs("rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots")
    def existing_snapshots(self, kind: str, ids: list[str]) -> set[str]:
        """Of ``ids``, the DB snapshots (cluster snapshots for ``kind`` ``cluster``) that exist
        and are ``available`` (a restore can use them): an id filter of at most 50 values per
        call, every page read."""
        operation, key, field, name = (
            ("describe_db_cluster_snapshots", "DBClusterSnapshots", "DBClusterSnapshotIdentifier",
             "db-cluster-snapshot-id")
            if kind == "cluster"
            else ("describe_db_snapshots", "DBSnapshots", "DBSnapshotIdentifier", "db-snapshot-id")
        )  # fmt: skip
        wanted = sorted(set(ids))
        found: set[str] = set()
        for start in range(0, len(wanted), RDS_FILTER_VALUES):
            part = wanted[start : start + RDS_FILTER_VALUES]
            filters = [{"Name": name, "Values": part}]
            found |= {
                str(s[field])
                for s in self._pages(operation, key, Filters=filters)
                if s.get("Status") == "available"  # not creating, failed or being deleted
            }
        return found & set(wanted)

    @needs(
        "rds:DeleteDBSnapshot",
        "rds:DeleteDBClusterSnapshot",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
    )
    def delete_snapshot(
        self, kind: str, snapshot_id: str, owner_tags: dict[str, str] | None = None
    ) -> str:
        """Delete a managed DB or cluster snapshot: 'deleted', 'gone' or 'not-owned'."""
        snap = self.snapshot(kind, snapshot_id)
        if snap is None:
            return "gone"
        tags = T.to_dict(snap.get("TagList"))
        if not T.is_managed(tags) or any(tags.get(k) != v for k, v in (owner_tags or {}).items()):
            return "not-owned"
        try:
            if kind == "cluster":
                self.retrier.call(
                    self.rds.delete_db_cluster_snapshot, DBClusterSnapshotIdentifier=snapshot_id
                )
            else:
                self.retrier.call(self.rds.delete_db_snapshot, DBSnapshotIdentifier=snapshot_id)
        except ClientError as exc:
            if error_code(exc) in ("DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault"):
                return "gone"
            raise
        return "deleted"
