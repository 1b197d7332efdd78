"""EC2, ELBv2 and RDS calls of a restore: launch, health, cut-over, roll-back. The AWS requests
(RunInstances, RestoreDBInstanceFromDBSnapshot, RestoreDBInstanceToPointInTime) are built here
from the domain's typed plans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.permissions import needs
from lifeboat.aws.rds import RdsGateway
from lifeboat.aws.replacement_ops import LIVE_STATES, Ec2ReplacementTermination, launched_by
from lifeboat.errors import error_code
from lifeboat.restore.models import Candidate, DatabasePlan, InstancePlan, VolumePlan

# Launching from snapshots (or restoring a DB snapshot) encrypted with a customer managed key
# — every copy in another region is, with that region's copy key — has EBS and RDS use the key
# on the caller's behalf, through grants: template.yaml allows these on the CopyKmsKeyArns keys
# only, and only through EC2 and RDS (kms:ViaService).
KMS_FOR_ENCRYPTED_SOURCES = (
    "kms:DescribeKey",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:CreateGrant",
)
IOPS_TYPES = ("io1", "io2", "gp3")


# --- requests --------------------------------------------------------------------------------
def block_device_mapping(volume: VolumePlan, root_device: str | None) -> dict[str, Any]:
    """One volume of the replacement: a data volume from its (newest) snapshot, the root
    volume from the AMI, each with the original's type, size, IOPS and throughput."""
    ebs: dict[str, Any] = {"DeleteOnTermination": volume.delete_on_termination}
    if volume.device_name != root_device and volume.snapshot_id:
        ebs["SnapshotId"] = volume.snapshot_id
    if volume.volume_type:
        ebs["VolumeType"] = volume.volume_type
    if volume.size_gb:
        ebs["VolumeSize"] = volume.size_gb
    if volume.iops and volume.volume_type in IOPS_TYPES:
        ebs["Iops"] = volume.iops
    if volume.throughput and volume.volume_type == "gp3":
        ebs["Throughput"] = volume.throughput
    return {"DeviceName": volume.device_name, "Ebs": ebs}


def run_instances_request(
    plan: InstancePlan,
    candidate: Candidate,
    instance_type: str,
    client_token: str,
    tags: dict[str, str],
) -> dict[str, Any]:
    """RunInstances' parameters for one attempt (IMDSv2 required; instance and volumes tagged
    at creation; the client token makes a repeated attempt launch nothing more)."""
    params: dict[str, Any] = {
        "ImageId": plan.image_id,
        "InstanceType": instance_type,
        "SubnetId": candidate.subnet_id,
        "SecurityGroupIds": plan.security_group_ids,
        "BlockDeviceMappings": [
            block_device_mapping(v, plan.root_device_name) for v in plan.volumes
        ],
        "EbsOptimized": plan.ebs_optimized,
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": T.to_list(tags)},
            {"ResourceType": "volume", "Tags": T.to_list(tags)},
        ],
        "ClientToken": client_token,
        "MinCount": 1,
        "MaxCount": 1,
    }
    if plan.key_name:
        params["KeyName"] = plan.key_name
    if plan.iam_instance_profile_arn:
        params["IamInstanceProfile"] = {"Arn": plan.iam_instance_profile_arn}
    return params


def restore_db_request(plan: DatabasePlan, tags: dict[str, str]) -> dict[str, Any]:
    """RestoreDBInstanceToPointInTime's parameters when the plan has a restore time, else
    RestoreDBInstanceFromDBSnapshot's."""
    params: dict[str, Any] = {
        "MultiAZ": plan.multi_az,
        "Tags": T.to_list(tags),
        "CopyTagsToSnapshot": True,
    }
    optional = {
        "DBInstanceClass": plan.instance_class,
        "AvailabilityZone": plan.target_az,
        "DBSubnetGroupName": plan.subnet_group,
        "DBParameterGroupName": plan.parameter_group,
        "VpcSecurityGroupIds": plan.security_group_ids,
    }
    params.update({k: v for k, v in optional.items() if v})
    if plan.restore_time is not None:
        return {
            "SourceDBInstanceIdentifier": plan.source_id,
            "TargetDBInstanceIdentifier": plan.new_identifier,
            "RestoreTime": plan.restore_time,
            **params,
        }
    return {
        "DBInstanceIdentifier": plan.new_identifier,
        "DBSnapshotIdentifier": plan.snapshot_id,
        **params,
    }


# --- adapters --------------------------------------------------------------------------------
class Ec2Restorer(Ec2ReplacementTermination):
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
        return self.gw.vpc_subnets(vpc_id)

    @needs("ec2:DescribeSubnets")
    def region_subnets(self) -> list[dict[str, Any]]:
        """Every subnet of the region (a restore in another region picks its VPC by tier)."""
        return list(self.gw._pages("describe_subnets", "Subnets"))

    @needs("ec2:DescribeSecurityGroups")
    def security_groups(self, vpc_id: str) -> list[dict[str, Any]]:
        return list(
            self.gw._pages(
                "describe_security_groups",
                "SecurityGroups",
                Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
            )
        )

    @needs("ec2:DescribeKeyPairs")
    def key_pair_exists(self, name: str) -> bool:
        """Whether this region has a key pair of that name (key pairs are regional)."""
        found = self.ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}])
        return any(k.get("KeyName") == name for k in found.get("KeyPairs", []))

    @needs("ec2:DescribeInstances")
    def replacement_of(self, execution_arn: str) -> dict[str, Any] | None:
        """The instance this execution launched (its tag, and its client token)."""
        found = self.gw.instances_tagged(T.RESTORE_EXECUTION, execution_arn, LIVE_STATES)
        return next((i for i in found if launched_by(i, execution_arn)), None)

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
    @needs("ec2:RunInstances", "ec2:CreateTags", "iam:PassRole", *KMS_FOR_ENCRYPTED_SOURCES)
    def launch(
        self,
        plan: InstancePlan,
        candidate: Candidate,
        instance_type: str,
        client_token: str,
        tags: dict[str, str],
    ) -> dict[str, Any]:
        request = run_instances_request(plan, candidate, instance_type, client_token, tags)
        return dict(self.gw.call("run_instances", **request)["Instances"][0])

    @needs("ec2:StopInstances")
    def stop(self, instance_id: str) -> str:
        try:
            self.gw.call("stop_instances", InstanceIds=[instance_id])
            return "stopping"
        except ClientError as exc:
            return f"not stopped: {error_code(exc)}"

    @needs("ec2:StartInstances")
    def start(self, instance_id: str) -> str:
        try:
            self.gw.call("start_instances", InstanceIds=[instance_id])
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
        self.gw.call(
            "associate_address",
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


class RdsRestorer:
    def __init__(self, gateway: RdsGateway) -> None:
        self.gw = gateway

    @needs("rds:DescribeDBSubnetGroups")
    def subnet_group(self, name: str) -> dict[str, Any] | None:
        """The DB subnet group of that name in this region (its ``VpcId``, its ``Subnets``
        with their AZs), or None."""
        try:
            found = self.gw.rds.describe_db_subnet_groups(DBSubnetGroupName=name)
        except ClientError as exc:
            if error_code(exc) == "DBSubnetGroupNotFoundFault":
                return None
            raise
        groups = found.get("DBSubnetGroups", [])
        return dict(groups[0]) if groups else None

    @needs("rds:DescribeDBParameterGroups")
    def parameter_group_exists(self, name: str) -> bool:
        try:
            self.gw.rds.describe_db_parameter_groups(DBParameterGroupName=name)
        except ClientError as exc:
            if error_code(exc) == "DBParameterGroupNotFound":
                return False
            raise
        return True

    @needs("rds:DescribeDBInstanceAutomatedBackups")
    def restore_window(self, db_id: str) -> tuple[datetime, datetime] | None:
        """The database's restorable window, as its automated backups' ``RestoreWindow`` says
        (DescribeDBInstances gives only the latest time); None without automated backups."""
        for backup in self.gw._pages(
            "describe_db_instance_automated_backups",
            "DBInstanceAutomatedBackups",
            DBInstanceIdentifier=db_id,
        ):
            window = backup.get("RestoreWindow") or {}
            if backup.get("Status") == "active" and window.get("EarliestTime"):
                return window["EarliestTime"], window.get("LatestTime") or window["EarliestTime"]
        return None

    @needs(
        "rds:RestoreDBInstanceFromDBSnapshot",
        "rds:RestoreDBInstanceToPointInTime",
        "rds:AddTagsToResource",
        "rds:DescribeDBInstances",
        *KMS_FOR_ENCRYPTED_SOURCES,
    )
    def restore(self, plan: DatabasePlan, tags: dict[str, str]) -> dict[str, Any]:
        """Restore the plan's database (to its point in time, else from its snapshot); a
        repeated call finds the database it made."""
        operation = (
            "restore_db_instance_to_point_in_time"
            if plan.restore_time is not None
            else "restore_db_instance_from_db_snapshot"
        )
        try:
            return dict(self.gw.call(operation, **restore_db_request(plan, tags))["DBInstance"])
        except ClientError as exc:
            if error_code(exc) != "DBInstanceAlreadyExists":
                raise
        return self._ours(plan.new_identifier, tags.get(T.RESTORE_EXECUTION))

    def _ours(self, identifier: str, execution_arn: str | None) -> dict[str, Any]:
        """A repeated launch finds the instance it made (same identifier and execution tag)."""
        existing = self.gw.describe_db(identifier)
        if (
            existing is None
            or T.to_dict(existing.get("TagList")).get(T.RESTORE_EXECUTION) != execution_arn
        ):
            raise RuntimeError(f"{identifier} exists and was not made by this restore")
        return existing
