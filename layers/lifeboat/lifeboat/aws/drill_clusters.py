"""RDS calls of an Aurora cluster's drill copy. Every change is checked twice: here (a
``lifeboat-drill-`` identifier carrying this drill's tag and no plan tag) and by IAM (tag
conditions in template.yaml)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.permissions import needs
from lifeboat.aws.rds import RdsGateway
from lifeboat.drill.cluster_plan import ClusterPlan
from lifeboat.drill.models import DB_PREFIX
from lifeboat.drill.ports import DrillClusterBusyError
from lifeboat.errors import NotOwnedError, error_code

GONE_CLUSTER = ("DBClusterNotFoundFault",)
GONE_DB = ("DBInstanceNotFound",)
# RDS refuses to delete a cluster whose instances are not gone yet.
BUSY = ("InvalidDBClusterStateFault", "DBClusterToBeDeletedHasActiveMembers")


def owned(tags: dict[str, str], execution_arn: str) -> bool:
    return tags.get(T.DRILL) == execution_arn and T.PLAN not in tags and not T.is_managed(tags)


def cluster_resource(cluster: dict[str, Any]) -> dict[str, Any]:
    """A drill cluster as ``DrillPort.resources`` lists it."""
    return {
        "kind": "cluster",
        "id": cluster["DBClusterIdentifier"],
        "tags": T.to_dict(cluster.get("TagList")),
        "launched_at": cluster.get("ClusterCreateTime"),
        "state": cluster.get("Status", "unknown"),
    }


def cluster_status(rds: Any, cluster_id: str) -> dict[str, str]:
    """``available`` once the cluster and every instance of it are; else the first state that
    is not (a failed instance's state, so the check sees the failure)."""
    cluster = describe_cluster(rds, cluster_id)
    if cluster is None:
        return {"state": "missing"}
    if cluster.get("Status") != "available":
        return {"state": str(cluster.get("Status", "unknown"))}
    members = [str(m["DBInstanceIdentifier"]) for m in cluster.get("DBClusterMembers") or []]
    if not members:
        return {"state": "creating-instance"}
    for member in members:
        db = describe_db(rds, member)
        state = str(db.get("DBInstanceStatus", "missing")) if db else "missing"
        if state != "available":
            return {"state": state}
    return {"state": "available"}


def describe_cluster(rds: Any, cluster_id: str) -> dict[str, Any] | None:
    try:
        found = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
    except ClientError as exc:
        if error_code(exc) in GONE_CLUSTER:
            return None
        raise
    return dict(found[0]) if found else None


def describe_db(rds: Any, db_id: str) -> dict[str, Any] | None:
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"]
    except ClientError as exc:
        if error_code(exc) in GONE_DB:
            return None
        raise
    return dict(found[0]) if found else None


class ClusterDrillOps:
    def __init__(self, rds_gateway: RdsGateway) -> None:
        self.rds = rds_gateway.rds

    @needs(
        "rds:RestoreDBClusterFromSnapshot",
        "rds:AddTagsToResource",
        "rds:DescribeDBClusters",
    )
    def restore_cluster(self, plan: ClusterPlan, tags: dict[str, str]) -> dict[str, Any]:
        if not plan.new_identifier.startswith(DB_PREFIX) or T.DRILL not in tags:
            raise NotOwnedError(f"{plan.new_identifier} is not a drill cluster")
        request: dict[str, Any] = {
            "DBClusterIdentifier": plan.new_identifier,
            "SnapshotIdentifier": plan.snapshot_id,
            "Engine": plan.engine,
            "DBSubnetGroupName": plan.subnet_group,
            "VpcSecurityGroupIds": plan.security_group_ids,
            "DeletionProtection": False,
            "Tags": T.to_list(tags),
        }
        if plan.engine_version:
            request["EngineVersion"] = plan.engine_version
        try:
            made = self.rds.restore_db_cluster_from_snapshot(
                **{k: v for k, v in request.items() if v is not None}
            )
            return dict(made["DBCluster"])
        except ClientError as exc:
            if error_code(exc) != "DBClusterAlreadyExistsFault":
                raise
        found = describe_cluster(self.rds, plan.new_identifier)
        taken = cluster_resource(found) if found else {"kind": "cluster", "id": plan.new_identifier}
        return {**taken, "repeated": True}

    @needs("rds:CreateDBInstance", "rds:AddTagsToResource", "rds:DescribeDBInstances")
    def add_instance(self, plan: ClusterPlan, tags: dict[str, str]) -> str:
        """The drill cluster's one instance (a retried call finds it made)."""
        if not plan.instance_identifier.startswith(DB_PREFIX) or T.DRILL not in tags:
            raise NotOwnedError(f"{plan.instance_identifier} is not a drill database")
        request: dict[str, Any] = {
            "DBInstanceIdentifier": plan.instance_identifier,
            "DBClusterIdentifier": plan.new_identifier,
            "Engine": plan.engine,
            "DBInstanceClass": plan.instance_class,
            "PubliclyAccessible": False,
            "Tags": T.to_list(tags),
        }
        if plan.target_az:
            request["AvailabilityZone"] = plan.target_az
        try:
            self.rds.create_db_instance(**request)
        except ClientError as exc:
            if error_code(exc) != "DBInstanceAlreadyExists":
                raise
            found = describe_db(self.rds, plan.instance_identifier) or {}
            if found.get("DBClusterIdentifier") != plan.new_identifier or not owned(
                T.to_dict(found.get("TagList")), tags[T.DRILL]
            ):
                raise NotOwnedError(
                    f"{plan.instance_identifier} exists and is not this drill's"
                ) from exc
        return plan.instance_identifier

    @needs(
        "rds:DescribeDBClusters",
        "rds:DescribeDBInstances",
        "rds:DeleteDBInstance",
        "rds:DeleteDBCluster",
    )
    def delete_cluster(self, cluster_id: str, execution_arn: str) -> str:
        cluster = describe_cluster(self.rds, cluster_id)
        if cluster is None or cluster.get("Status") == "deleting":
            return "gone"
        if not cluster_id.startswith(DB_PREFIX) or not owned(
            T.to_dict(cluster.get("TagList")), execution_arn
        ):
            return "not-owned"
        members = [str(m["DBInstanceIdentifier"]) for m in cluster.get("DBClusterMembers") or []]
        for member in members:
            db = describe_db(self.rds, member)
            if db is None or db.get("DBInstanceStatus") == "deleting":
                continue
            if not member.startswith(DB_PREFIX) or not owned(
                T.to_dict(db.get("TagList")), execution_arn
            ):
                return "not-owned"  # someone else's instance in it: left alone, and the cluster
            try:
                self.rds.delete_db_instance(DBInstanceIdentifier=member, SkipFinalSnapshot=True)
            except ClientError as exc:
                if error_code(exc) not in GONE_DB:
                    raise
        try:
            self.rds.delete_db_cluster(DBClusterIdentifier=cluster_id, SkipFinalSnapshot=True)
        except ClientError as exc:
            if error_code(exc) in GONE_CLUSTER:
                return "gone"
            if error_code(exc) in BUSY:
                raise DrillClusterBusyError(
                    f"{cluster_id}: its instances are still being deleted; retried"
                ) from exc
            raise
        return "deleted"
