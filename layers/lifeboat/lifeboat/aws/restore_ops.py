"""EC2, ELBv2 and RDS calls of a restore: launch, health, cut-over, roll-back."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.permissions import needs
from lifeboat.aws.rds import RdsGateway
from lifeboat.errors import error_code

LIVE_STATES = ["pending", "running", "stopping", "stopped"]


class Ec2Restorer:
    def __init__(self, gateway: Ec2Gateway) -> None:
        self.gw = gateway
        self.ec2 = gateway.ec2

    # --- reading ---------------------------------------------------------------------------
    @needs("ec2:DescribeAvailabilityZones")
    def availability_zones(self) -> list[str]:
        zones = self.ec2.describe_availability_zones(
            Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}]
        )["AvailabilityZones"]
        return sorted(z["ZoneName"] for z in zones if z.get("State", "available") == "available")

    @needs("ec2:DescribeSubnets")
    def vpc_subnets(self, vpc_id: str) -> list[dict[str, Any]]:
        return list(
            self.gw._pages(
                "describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
            )
        )

    @needs("ec2:DescribeInstances")
    def instance(self, instance_id: str) -> dict[str, Any] | None:
        return self.gw.describe_instances([instance_id]).get(instance_id)

    @needs("ec2:DescribeInstances")
    def replacement_of(self, execution_arn: str) -> dict[str, Any] | None:
        for reservation in self.gw._pages(
            "describe_instances",
            "Reservations",
            Filters=[
                {"Name": "tag:lifeboat:restore-execution", "Values": [execution_arn]},
                {"Name": "instance-state-name", "Values": LIVE_STATES},
            ],
        ):
            for instance in reservation["Instances"]:
                return dict(instance)
        return None

    @needs("ec2:DescribeInstanceStatus")
    def status(self, instance_id: str) -> dict[str, str]:
        found = self.ec2.describe_instance_status(
            InstanceIds=[instance_id], IncludeAllInstances=True
        )["InstanceStatuses"]
        if not found:
            return {"state": "unknown", "system": "unknown", "instance": "unknown"}
        status = found[0]
        return {
            "state": status["InstanceState"]["Name"],
            "system": status.get("SystemStatus", {}).get("Status", "unknown"),
            "instance": status.get("InstanceStatus", {}).get("Status", "unknown"),
        }

    # --- changing ----------------------------------------------------------------------------
    @needs("ec2:RunInstances", "ec2:CreateTags", "iam:PassRole")
    def run_instance(self, **params: Any) -> dict[str, Any]:
        response = self.gw.retrier.call(self.ec2.run_instances, MinCount=1, MaxCount=1, **params)
        return dict(response["Instances"][0])

    @needs("ec2:StopInstances")
    def stop(self, instance_id: str) -> str:
        try:
            self.gw.retrier.call(self.ec2.stop_instances, InstanceIds=[instance_id])
            return "stopping"
        except ClientError as exc:
            return f"not stopped: {error_code(exc)}"

    @needs("ec2:StartInstances")
    def start(self, instance_id: str) -> str:
        try:
            self.gw.retrier.call(self.ec2.start_instances, InstanceIds=[instance_id])
            return "starting"
        except ClientError as exc:
            return f"not started: {error_code(exc)}"

    @needs("ec2:CreateTags")
    def fence(self, instance_id: str, execution_name: str) -> None:
        """Mark the original as replaced by ``execution_name`` (backups and alarms skip it)."""
        self.ec2.create_tags(
            Resources=[instance_id], Tags=[{"Key": T.FENCED, "Value": execution_name}]
        )

    @needs("ec2:DeleteTags")
    def unfence(self, instance_id: str) -> None:
        self.ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": T.FENCED}])

    @needs("ec2:DescribeAddresses")
    def address(self, allocation_id: str) -> dict[str, Any] | None:
        try:
            found = self.ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"]
        except ClientError as exc:
            if error_code(exc) in ("InvalidAllocationID.NotFound", "InvalidAddress.NotFound"):
                return None
            raise
        return dict(found[0]) if found else None

    @needs("ec2:AssociateAddress")
    def associate(self, allocation_id: str, instance_id: str) -> None:
        self.gw.retrier.call(
            self.ec2.associate_address,
            AllocationId=allocation_id,
            InstanceId=instance_id,
            AllowReassociation=True,
        )

    @needs("elasticloadbalancing:RegisterTargets")
    def register(self, group_arn: str, instance_id: str, port: int | None) -> None:
        target: dict[str, Any] = {"Id": instance_id, **({"Port": port} if port else {})}
        self.gw.elbv2.register_targets(TargetGroupArn=group_arn, Targets=[target])

    @needs("elasticloadbalancing:DeregisterTargets")
    def deregister(self, group_arn: str, instance_id: str, port: int | None) -> None:
        target: dict[str, Any] = {"Id": instance_id, **({"Port": port} if port else {})}
        try:
            self.gw.elbv2.deregister_targets(TargetGroupArn=group_arn, Targets=[target])
        except ClientError as exc:
            if error_code(exc) not in ("InvalidTarget", "TargetGroupNotFound"):
                raise

    @needs("elasticloadbalancing:DescribeTargetHealth")
    def targets(self, group_arn: str) -> set[str]:
        health = self.gw.elbv2.describe_target_health(TargetGroupArn=group_arn)
        return {d["Target"]["Id"] for d in health.get("TargetHealthDescriptions", [])}

    @needs("ec2:TerminateInstances", "ec2:DescribeInstances")
    def terminate_replacement(self, instance_id: str, execution_arn: str) -> str:
        """Terminate a replacement this execution launched (checked by its tags)."""
        instance = self.instance(instance_id)
        if instance is None:
            return "gone"
        tags = T.to_dict(instance.get("Tags"))
        if tags.get(T.RESTORE_EXECUTION) != execution_arn or T.RESTORED_FROM not in tags:
            return "not-owned"
        self.gw.retrier.call(self.ec2.terminate_instances, InstanceIds=[instance_id])
        return "terminated"


class RdsRestorer:
    def __init__(self, gateway: RdsGateway) -> None:
        self.gw = gateway
        self.rds = gateway.rds

    @needs(
        "rds:RestoreDBInstanceFromDBSnapshot",
        "rds:AddTagsToResource",
        "rds:DescribeDBInstances",
    )
    def restore_from_snapshot(self, **params: Any) -> dict[str, Any]:
        try:
            response = self.gw.retrier.call(self.rds.restore_db_instance_from_db_snapshot, **params)
            return dict(response["DBInstance"])
        except ClientError as exc:
            if error_code(exc) != "DBInstanceAlreadyExists":
                raise
        return self._ours(params)

    @needs("rds:RestoreDBInstanceToPointInTime", "rds:AddTagsToResource", "rds:DescribeDBInstances")
    def restore_to_time(self, **params: Any) -> dict[str, Any]:
        try:
            response = self.gw.retrier.call(self.rds.restore_db_instance_to_point_in_time, **params)
            return dict(response["DBInstance"])
        except ClientError as exc:
            if error_code(exc) != "DBInstanceAlreadyExists":
                raise
        return self._ours(params)

    def _ours(self, params: dict[str, Any]) -> dict[str, Any]:
        """A repeated launch finds the instance it made (same identifier and execution tag)."""
        identifier = params.get("DBInstanceIdentifier") or params["TargetDBInstanceIdentifier"]
        existing = self.gw.describe_db(identifier)
        wanted = T.to_dict(params.get("Tags")).get(T.RESTORE_EXECUTION)
        if (
            existing is None
            or T.to_dict(existing.get("TagList")).get(T.RESTORE_EXECUTION) != wanted
        ):
            raise RuntimeError(f"{identifier} exists and was not made by this restore")
        return existing

    @needs("rds:DeleteDBInstance", "rds:DescribeDBInstances")
    def delete_replacement(self, identifier: str, execution_arn: str) -> str:
        existing = self.gw.describe_db(identifier)
        if existing is None:
            return "gone"
        tags = T.to_dict(existing.get("TagList"))
        if tags.get(T.RESTORE_EXECUTION) != execution_arn or T.RESTORED_FROM not in tags:
            return "not-owned"
        try:
            self.gw.retrier.call(
                self.rds.delete_db_instance,
                DBInstanceIdentifier=identifier,
                SkipFinalSnapshot=True,
                DeleteAutomatedBackups=True,
            )
        except ClientError as exc:
            if error_code(exc) == "DBInstanceNotFound":
                return "gone"
            raise
        return "deleted"
