"""EC2 and RDS calls of a drill. Every change is checked twice: here (the resource carries this
drill's tag, no plan tag, a drill identifier) and by IAM (tag conditions in template.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.permissions import needs
from lifeboat.aws.rds import RdsGateway
from lifeboat.aws.restore_ops import restore_db_request, run_instances_request
from lifeboat.drill.models import DB_PREFIX
from lifeboat.errors import NotOwnedError, error_code
from lifeboat.restore.models import Candidate, DatabasePlan, InstancePlan

LIVE = ["pending", "running", "stopping", "stopped"]
GONE_DB = ("DBInstanceNotFound",)


def owned(tags: dict[str, str], execution_arn: str | None) -> bool:
    """A drill resource: this drill's tag (any drill's when ``execution_arn`` is None), and never
    a protected one (a plan tag means production, whatever else it carries)."""
    value = tags.get(T.DRILL, "")
    return (
        value.startswith("arn:")
        and ":states:" in value
        and (execution_arn is None or value == execution_arn)
        and T.PLAN not in tags
        and not T.is_managed(tags)
    )


def drill_run_instances_request(
    plan: InstancePlan, candidate: Candidate, client_token: str, tags: dict[str, str]
) -> dict[str, Any]:
    """The restore's RunInstances request, with its primary interface spelled out so that it is
    deleted with the instance (``DeleteOnTermination``), as every volume is: a drill leaves
    nothing behind."""
    request = run_instances_request(plan, candidate, plan.instance_types[0], client_token, tags)
    request["NetworkInterfaces"] = [
        {
            "DeviceIndex": 0,
            "SubnetId": request.pop("SubnetId"),
            "Groups": request.pop("SecurityGroupIds"),
            "DeleteOnTermination": True,
        }
    ]
    return request


class DrillOps:
    def __init__(self, gateway: Ec2Gateway, rds_gateway: RdsGateway) -> None:
        self.gw = gateway
        self.ec2 = gateway.ec2
        self.rds = rds_gateway.rds

    @needs("ec2:DescribeSubnets", "ec2:DescribeSecurityGroups")
    def network(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        tagged = [{"Name": "tag-key", "Values": [T.DRILL_TIER]}]
        subnets = [
            dict(s)
            for page in self.ec2.get_paginator("describe_subnets").paginate(Filters=tagged)
            for s in page["Subnets"]
        ]
        groups = [
            dict(g)
            for page in self.ec2.get_paginator("describe_security_groups").paginate(Filters=tagged)
            for g in page["SecurityGroups"]
        ]
        return subnets, groups

    @needs("ec2:DescribeAvailabilityZones")
    def zones(self) -> list[str]:
        found = self.ec2.describe_availability_zones(
            Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}]
        )["AvailabilityZones"]
        return sorted(z["ZoneName"] for z in found if z.get("State", "available") == "available")

    @needs("ec2:RunInstances", "ec2:CreateTags")
    def launch(
        self, plan: InstancePlan, candidate: Candidate, client_token: str, tags: dict[str, str]
    ) -> dict[str, Any]:
        if T.DRILL not in tags or T.PLAN in tags:
            raise NotOwnedError("a drill launch must carry the drill tag and no plan tag")
        request = run_instances_request(plan, candidate, plan.instance_types[0], client_token, tags)
        return dict(self.gw.call("run_instances", **request)["Instances"][0])

    @needs("rds:RestoreDBInstanceFromDBSnapshot", "rds:AddTagsToResource")
    def restore_db(self, plan: DatabasePlan, tags: dict[str, str]) -> dict[str, Any]:
        if not plan.new_identifier.startswith(DB_PREFIX) or T.DRILL not in tags:
            raise NotOwnedError(f"{plan.new_identifier} is not a drill database")
        try:
            return dict(
                self.rds.restore_db_instance_from_db_snapshot(
                    **restore_db_request(plan, tags), PubliclyAccessible=False
                )["DBInstance"]
            )
        except ClientError as exc:
            if error_code(exc) != "DBInstanceAlreadyExists":
                raise
        return {"DBInstanceIdentifier": plan.new_identifier, "repeated": True}

    @needs("ec2:DescribeInstanceStatus", "rds:DescribeDBInstances")
    def status(self, kind: str, resource_id: str) -> dict[str, str]:
        if kind == "db":
            db = self._db(resource_id)
            return {"state": str(db.get("DBInstanceStatus", "missing")) if db else "missing"}
        found = self.ec2.describe_instance_status(
            InstanceIds=[resource_id], IncludeAllInstances=True
        )["InstanceStatuses"]
        if not found:
            return {"state": "unknown", "system": "unknown", "instance": "unknown"}
        return {
            "state": found[0]["InstanceState"]["Name"],
            "system": found[0].get("SystemStatus", {}).get("Status", "unknown"),
            "instance": found[0].get("InstanceStatus", {}).get("Status", "unknown"),
        }

    @needs("ec2:DescribeInstances", "rds:DescribeDBInstances")
    def resources(self, execution_arn: str | None = None) -> list[dict[str, Any]]:
        filters = [
            {
                "Name": "tag-key" if execution_arn is None else f"tag:{T.DRILL}",
                "Values": [T.DRILL] if execution_arn is None else [execution_arn],
            },
            {"Name": "instance-state-name", "Values": LIVE},
        ]
        found: list[dict[str, Any]] = []
        for page in self.ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    found.append(
                        {
                            "kind": "instance",
                            "id": instance["InstanceId"],
                            "tags": T.to_dict(instance.get("Tags")),
                            "launched_at": instance.get("LaunchTime"),
                            "client_token": instance.get("ClientToken"),
                            "state": instance["State"]["Name"],
                        }
                    )
        for page in self.rds.get_paginator("describe_db_instances").paginate():
            for db in page["DBInstances"]:
                tags = T.to_dict(db.get("TagList"))
                if T.DRILL in tags and (execution_arn is None or tags[T.DRILL] == execution_arn):
                    found.append(
                        {
                            "kind": "db",
                            "id": db["DBInstanceIdentifier"],
                            "tags": tags,
                            "launched_at": db.get("InstanceCreateTime") or datetime.now(UTC),
                            "state": db.get("DBInstanceStatus", "unknown"),
                        }
                    )
        return found

    @needs("ec2:DescribeInstances", "ec2:TerminateInstances")
    def terminate(self, instance_id: str, execution_arn: str) -> str:
        described = self.gw.describe_instances([instance_id]).get(instance_id)
        if described is None or described["State"]["Name"] in ("terminated", "shutting-down"):
            return "gone"
        if not owned(T.to_dict(described.get("Tags")), execution_arn):
            return "not-owned"
        self.gw.call("terminate_instances", InstanceIds=[instance_id])
        return "terminated"

    @needs("rds:DescribeDBInstances", "rds:DeleteDBInstance")
    def delete_db(self, db_id: str, execution_arn: str) -> str:
        db = self._db(db_id)
        if db is None or db.get("DBInstanceStatus") == "deleting":
            return "gone"
        if not db_id.startswith(DB_PREFIX) or not owned(
            T.to_dict(db.get("TagList")), execution_arn
        ):
            return "not-owned"
        try:
            self.rds.delete_db_instance(
                DBInstanceIdentifier=db_id, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
            )
        except ClientError as exc:
            if error_code(exc) in GONE_DB:
                return "gone"
            raise
        return "deleted"

    def _db(self, db_id: str) -> dict[str, Any] | None:
        try:
            return dict(
                self.rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]
            )
        except ClientError as exc:
            if error_code(exc) in GONE_DB:
                return None
            raise
