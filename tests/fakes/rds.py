"""RDS in memory (implements ``RdsPort``): databases, clusters and their snapshots, tagged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.errors import NotOwnedError
from lifeboat.models import (
    DatabaseConfig,
)
from lifeboat.ports import RdsPort
from tests.fakes.common import owned_by


def _plan_of(described: dict[str, Any]) -> str | None:
    return T.to_dict(described.get("TagList")).get(T.PLAN)


@dataclass
class FakeRds:
    """DB instances and clusters (none unless added) and their snapshots, tagged at creation.
    A new snapshot is ``creating``; ``finish`` makes it ``available``."""

    dbs: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    snaps: dict[str, dict[str, Any]] = field(default_factory=dict)  # by identifier
    made_by_lifeboat: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)

    def add_db(self, plan: str, db_id: str = "elearn-db", cluster: bool = False) -> str:
        described = {"Engine": "postgres", "AllocatedStorage": 20, "TagList": []}
        if plan:
            described["TagList"] = [{"Key": T.PLAN, "Value": plan}]
        (self.clusters if cluster else self.dbs)[db_id] = described
        return db_id

    def databases(self) -> list[dict[str, Any]]:
        return [{"DBInstanceIdentifier": i, **d} for i, d in self.dbs.items()]

    def discover(self, plan: str) -> list[tuple[str, str]]:
        found = [
            ("db", i)
            for i, d in self.dbs.items()
            if _plan_of(d) == plan and not d.get("DBClusterIdentifier")  # the cluster's snapshot
        ]
        return found + [("cluster", i) for i, d in self.clusters.items() if _plan_of(d) == plan]

    def managed_snapshots(self, plan: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (s["kind"], s)
            for s in self.snaps.values()
            if T.is_managed(T.to_dict(s["TagList"])) and _plan_of(s) == plan
        ]

    def describe_db(self, db_id: str) -> dict[str, Any] | None:
        return self.dbs.get(db_id)

    def describe_cluster(self, cluster_id: str) -> dict[str, Any] | None:
        return self.clusters.get(cluster_id)

    def db_config(self, db: dict[str, Any]) -> DatabaseConfig:
        return DatabaseConfig(
            engine=db.get("Engine"),
            instance_class=db.get("DBInstanceClass"),
            availability_zone=db.get("AvailabilityZone"),
            multi_az=bool(db.get("MultiAZ")),
            subnet_group=(db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            security_group_ids=[g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])],
            tags=T.to_dict(db.get("TagList")),
        )

    def _create(self, kind: str, snapshot_id: str, tags: dict[str, str]) -> str:
        self.snaps.setdefault(
            snapshot_id,
            {
                "kind": kind,
                "Status": "creating",
                "AllocatedStorage": 20,
                "TagList": T.to_list(tags),
                "DBClusterSnapshotArn" if kind == "cluster" else "DBSnapshotArn": (
                    f"arn:aws:rds:eu-west-1:123456789012:"
                    f"{'cluster-snapshot' if kind == 'cluster' else 'snapshot'}:{snapshot_id}"
                ),
            },
        )
        self.made_by_lifeboat.add(snapshot_id)
        return snapshot_id

    def create_db_snapshot(
        self, db_id: str, snapshot_id: str, tags: dict[str, str], not_before: datetime | None = None
    ) -> str:
        return self._create("db", snapshot_id, tags)

    def create_cluster_snapshot(
        self,
        cluster_id: str,
        snapshot_id: str,
        tags: dict[str, str],
        not_before: datetime | None = None,
    ) -> str:
        return self._create("cluster", snapshot_id, tags)

    def finish(self, snapshot_id: str, status: str = "available") -> None:
        self.snaps[snapshot_id]["Status"] = status

    def snapshot(self, kind: str, snapshot_id: str) -> dict[str, Any] | None:
        snap = self.snaps.get(snapshot_id)
        return snap if snap is not None and snap["kind"] == kind else None

    def delete_snapshot(
        self, kind: str, snapshot_id: str, owner_tags: dict[str, str] | None = None
    ) -> str:
        snap = self.snapshot(kind, snapshot_id)
        if snap is None:
            return "gone"
        if not owned_by(T.to_dict(snap["TagList"]), owner_tags):
            raise NotOwnedError(f"{snapshot_id} is not Lifeboat's")
        del self.snaps[snapshot_id]
        self.deleted.add(snapshot_id)
        return "deleted"


_rds: type[RdsPort] = FakeRds  # the fake implements the port (checked by mypy)
