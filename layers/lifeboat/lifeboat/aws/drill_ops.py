"""EC2 and RDS calls of a drill. Every change is checked twice: here (the resource carries this
drill's tag, no plan tag, a drill identifier) and by IAM (tag conditions in template.yaml)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.clients import client
from lifeboat.aws.drill_clusters import cluster_resource, cluster_status
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.permissions import needs
from lifeboat.aws.rds import RdsGateway
from lifeboat.aws.restore_ops import IOPS_TYPES, restore_db_request, run_instances_request
from lifeboat.drill.models import DB_PREFIX
from lifeboat.errors import NotOwnedError, error_code
from lifeboat.restore.models import Candidate, DatabasePlan, InstancePlan

LIVE = ["pending", "running", "stopping", "stopped"]
GONE_DB = ("DBInstanceNotFound",)
RUN_SHELL = "AWS-RunShellScript"


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
    plan: InstancePlan,
    candidate: Candidate,
    client_token: str,
    tags: dict[str, str],
    image: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The restore's RunInstances request, made safe for a drill copy:

    * its primary interface spelled out, with **no public address** and deleted with the
      instance (a drill subnet may map public IPs on launch; the copy must not be reachable);
    * **no key pair** (the production key must not open a copy);
    * **every volume deleted with the instance**: the catalog's volumes, and every EBS device of
      the AMI (``image``, as DescribeImages gives it) the catalog does not list, whose own
      mapping may say ``DeleteOnTermination: false`` — such a volume would outlive the copy,
      and nothing tagged as the drill's would be left to find it by;
    * instance, volumes and interface tagged at creation.
    The profile is the plan's: none, unless the tier has an application check (SSM only)."""
    request = run_instances_request(plan, candidate, plan.instance_types[0], client_token, tags)
    request.pop("KeyName", None)
    request["NetworkInterfaces"] = [
        {
            "DeviceIndex": 0,
            "SubnetId": request.pop("SubnetId"),
            "Groups": request.pop("SecurityGroupIds"),
            "AssociatePublicIpAddress": False,
            "DeleteOnTermination": True,
        }
    ]
    mappings: list[dict[str, Any]] = request["BlockDeviceMappings"]
    for mapping in mappings:
        mapping["Ebs"]["DeleteOnTermination"] = True
    listed = {m["DeviceName"] for m in mappings}
    for mapping in (image or {}).get("BlockDeviceMappings", []):
        if "Ebs" in mapping and mapping["DeviceName"] not in listed:
            mappings.append({"DeviceName": mapping["DeviceName"], "Ebs": _kept(mapping["Ebs"])})
    request["TagSpecifications"] = [
        {"ResourceType": kind, "Tags": T.to_list(tags)}
        for kind in ("instance", "volume", "network-interface")
    ]
    return request


def _kept(ebs: dict[str, Any]) -> dict[str, Any]:
    """An AMI device's mapping, as the AMI has it (size, type, performance), except that its
    volume is deleted with the instance."""
    kept: dict[str, Any] = {k: ebs[k] for k in ("VolumeSize", "VolumeType") if k in ebs}
    if "Iops" in ebs and ebs.get("VolumeType") in IOPS_TYPES:
        kept["Iops"] = ebs["Iops"]
    if "Throughput" in ebs and ebs.get("VolumeType") == "gp3":
        kept["Throughput"] = ebs["Throughput"]
    return {**kept, "DeleteOnTermination": True}


class DrillOps:
    def __init__(self, gateway: Ec2Gateway, rds_gateway: RdsGateway, ssm: Any = None) -> None:
        self.gw = gateway
        self.ec2 = gateway.ec2
        self.rds = rds_gateway.rds
        self._ssm = ssm

    @property
    def ssm(self) -> Any:
        if self._ssm is None:
            self._ssm = client("ssm")
        return self._ssm

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

    @needs("ec2:DescribeInstances", "rds:DescribeDBInstances")
    def production(self) -> dict[str, set[str]]:
        """The subnets, security groups and VPCs of every live instance and database carrying a
        plan tag (whatever the plan), each network interface of an instance included."""
        found: dict[str, set[str]] = {"subnets": set(), "groups": set(), "vpcs": set()}
        filters = [
            {"Name": "tag-key", "Values": [T.PLAN]},
            {"Name": "instance-state-name", "Values": LIVE},
        ]
        for page in self.ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    for part in [instance, *instance.get("NetworkInterfaces", [])]:
                        found["subnets"].add(part.get("SubnetId") or "")
                        found["vpcs"].add(part.get("VpcId") or "")
                        found["groups"].update(
                            g["GroupId"] for g in part.get("SecurityGroups", part.get("Groups", []))
                        )
        for page in self.rds.get_paginator("describe_db_instances").paginate():
            for db in page["DBInstances"]:
                if T.PLAN not in T.to_dict(db.get("TagList")):
                    continue
                group = db.get("DBSubnetGroup") or {}
                found["vpcs"].add(group.get("VpcId") or "")
                found["subnets"].update(s["SubnetIdentifier"] for s in group.get("Subnets", []))
                found["groups"].update(
                    g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])
                )
        return {k: v - {""} for k, v in found.items()}

    @needs("ssm:SendCommand")
    def send_check(self, instance_id: str, commands: list[str], timeout_seconds: int) -> str:
        """The application check, on the copy itself: IAM lets SendCommand reach only
        instances tagged with a drill and only the document AWS-RunShellScript."""
        sent = self.ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=RUN_SHELL,
            Comment="Lifeboat drill: application check"[:100],
            TimeoutSeconds=max(30, timeout_seconds),
            Parameters={"commands": commands, "executionTimeout": [str(timeout_seconds)]},
        )
        return str(sent["Command"]["CommandId"])

    @needs("ssm:GetCommandInvocation")
    def check_result(self, command_id: str, instance_id: str) -> dict[str, str]:
        try:
            found = self.ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:
            if error_code(exc) == "InvocationDoesNotExist":  # just sent: not listed yet
                return {"status": "Pending", "output": ""}
            raise
        output = "\n".join(
            part
            for part in (found.get("StandardOutputContent"), found.get("StandardErrorContent"))
            if part
        )
        return {"status": str(found.get("Status", "Pending")), "output": output[-2000:]}

    @needs("ec2:DescribeImages", "ec2:RunInstances", "ec2:CreateTags", "iam:PassRole")
    def launch(
        self, plan: InstancePlan, candidate: Candidate, client_token: str, tags: dict[str, str]
    ) -> dict[str, Any]:
        """One RunInstances call (:func:`drill_run_instances_request`); ``iam:PassRole`` only
        when the plan has the drill's instance profile (an application check)."""
        if T.DRILL not in tags or T.PLAN in tags or T.MANAGED in tags:
            raise NotOwnedError("a drill launch must carry the drill tag and no plan tag")
        image = self.gw.images([plan.image_id]).get(plan.image_id)
        request = drill_run_instances_request(plan, candidate, client_token, tags, image)
        return dict(self.gw.call("run_instances", **request)["Instances"][0])

    @needs(
        "rds:RestoreDBInstanceFromDBSnapshot", "rds:AddTagsToResource", "rds:DescribeDBInstances"
    )
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
        # Whose is it? Described, never touched: the domain adopts it only as its own.
        found = self._db(plan.new_identifier)
        taken = _db_resource(found) if found else {"kind": "db", "id": plan.new_identifier}
        return {**taken, "repeated": True}

    @needs("ec2:DescribeInstanceStatus", "rds:DescribeDBInstances", "rds:DescribeDBClusters")
    def status(self, kind: str, resource_id: str) -> dict[str, str]:
        if kind == "cluster":
            return cluster_status(self.rds, resource_id)
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

    @needs("ec2:DescribeInstances", "rds:DescribeDBInstances", "rds:DescribeDBClusters")
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
                if db.get("DBClusterIdentifier"):
                    continue  # a drill cluster's instance goes with its cluster
                if T.DRILL in tags and (execution_arn is None or tags[T.DRILL] == execution_arn):
                    found.append(_db_resource(db))
        for page in self.rds.get_paginator("describe_db_clusters").paginate():
            for cluster in page["DBClusters"]:
                tags = T.to_dict(cluster.get("TagList"))
                if T.DRILL in tags and (execution_arn is None or tags[T.DRILL] == execution_arn):
                    found.append(cluster_resource(cluster))
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


def _db_resource(db: dict[str, Any]) -> dict[str, Any]:
    """A database as :meth:`DrillOps.resources` lists it; ``launched_at`` None until RDS has
    created it (the sweeper then goes by the drill's provenance record)."""
    return {
        "kind": "db",
        "id": db["DBInstanceIdentifier"],
        "tags": T.to_dict(db.get("TagList")),
        "launched_at": db.get("InstanceCreateTime"),
        "state": db.get("DBInstanceStatus", "unknown"),
    }
