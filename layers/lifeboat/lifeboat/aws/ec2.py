"""EC2 (and ELBv2) adapter for backups: discovery, creation with tags, completion checks."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.ec2_retire import Ec2Retirement
from lifeboat.aws.ec2_shapes import chunks, has_source, instance_config, run_filters
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code
from lifeboat.models import InstanceConfig, TargetGroupMembership

PROTECTABLE_STATES = ["pending", "running", "stopping", "stopped"]


class Ec2Gateway(Ec2Retirement):
    """Discovery, description and creation; what retiring recovery points needs (deregister,
    delete, in-use and lock checks, the managed artifacts) is in :class:`Ec2Retirement`."""

    def __init__(self, retrier: Retrier | None = None, ec2: Any = None, elbv2: Any = None) -> None:
        super().__init__(ec2 or client("ec2"), retrier or Retrier())
        self._elbv2 = elbv2

    @property
    def elbv2(self) -> Any:
        if self._elbv2 is None:
            self._elbv2 = client("elbv2")
        return self._elbv2

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One EC2 call (``run_instances``, ``stop_instances`` …) through the retrier, for the
        restore adapter (whose methods declare the actions they call)."""
        return dict(self.retrier.call(getattr(self.ec2, operation), **params))

    @needs("ec2:DescribeSubnets")
    def vpc_subnets(self, vpc_id: str) -> list[dict[str, Any]]:
        """Every subnet of a VPC, as DescribeSubnets gives it."""
        return list(
            self._pages(
                "describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
            )
        )

    @needs("ec2:DescribeInstances")
    def instances_tagged(self, key: str, value: str, states: list[str]) -> list[dict[str, Any]]:
        """Instances in one of ``states`` carrying the tag ``key=value``."""
        return [
            dict(instance)
            for reservation in self._pages(
                "describe_instances",
                "Reservations",
                Filters=[
                    {"Name": f"tag:{key}", "Values": [value]},
                    {"Name": "instance-state-name", "Values": states},
                ],
            )
            for instance in reservation["Instances"]
        ]

    @needs("ec2:DescribeInstances")
    def vpc_instances(self, vpc_ids: list[str]) -> list[dict[str, Any]]:
        """Live instances (pending to stopped) of the VPCs, whatever their tags (the readiness
        report looks for unprotected neighbours of protected instances)."""
        if not vpc_ids:
            return []
        return [
            dict(instance)
            for reservation in self._pages(
                "describe_instances",
                "Reservations",
                Filters=[
                    {"Name": "vpc-id", "Values": sorted(set(vpc_ids))},
                    {"Name": "instance-state-name", "Values": PROTECTABLE_STATES},
                ],
            )
            for instance in reservation["Instances"]
        ]

    @needs("ec2:DescribeInstanceTypes")
    def instance_storage(self, types: list[str]) -> dict[str, int]:
        """Instance-store size in GB of each instance type (0: none). Data on instance-store
        volumes is in no snapshot."""
        found: dict[str, int] = {}
        for part in chunks(sorted(set(types)), 100):
            for item in self._pages("describe_instance_types", "InstanceTypes", InstanceTypes=part):
                info = item.get("InstanceStorageInfo") or {}
                supported = item.get("InstanceStorageSupported", False)
                found[item["InstanceType"]] = int(info.get("TotalSizeInGB", 0)) if supported else 0
        return found

    # --- discovery ------------------------------------------------------------------------
    @needs("ec2:DescribeInstances")
    def discover_instances(self, plan: str) -> list[str]:
        ids: list[str] = []
        for reservation in self._pages(
            "describe_instances",
            "Reservations",
            Filters=[
                {"Name": f"tag:{T.PLAN}", "Values": [plan]},
                {"Name": "instance-state-name", "Values": PROTECTABLE_STATES},
            ],
            PaginationConfig={"PageSize": 1000},
        ):
            ids.extend(
                i["InstanceId"]
                for i in reservation["Instances"]
                # A fenced original was replaced by a restore (its replacement is protected);
                # a fenced instance that runs has a stale fence: it serves, so it is backed up.
                if T.FENCED not in T.to_dict(i.get("Tags"))
                or i["State"]["Name"] in ("pending", "running")
            )
        return sorted(ids)

    @needs("ec2:DescribeInstances")
    def describe_instances(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Instances by id; ids that no longer exist are simply absent."""
        found: dict[str, dict[str, Any]] = {}
        for part in chunks(ids):
            for reservation in self._pages(
                "describe_instances",
                "Reservations",
                Filters=[{"Name": "instance-id", "Values": part}],
            ):
                for instance in reservation["Instances"]:
                    found[instance["InstanceId"]] = instance
        return found

    @needs("ec2:DescribeVolumes")
    def volumes(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            v["VolumeId"]: v
            for v in self._by_filter("describe_volumes", "Volumes", "volume-id", ids)
        }

    @needs("ec2:DescribeSubnets")
    def subnets(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            s["SubnetId"]: s
            for s in self._by_filter("describe_subnets", "Subnets", "subnet-id", ids)
        }

    @needs("ec2:DescribeSecurityGroups")
    def security_group_names(self, ids: list[str]) -> dict[str, str]:
        """Group id -> name (recorded with a database's point: a restore in another region
        finds the groups of the same names there); a group gone is left out."""
        return {
            g["GroupId"]: str(g.get("GroupName", ""))
            for g in self._by_filter("describe_security_groups", "SecurityGroups", "group-id", ids)
        }

    @needs("ec2:DescribeAddresses")
    def addresses(self, instance_ids: list[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for part in chunks(sorted(set(instance_ids))):
            response = self.ec2.describe_addresses(
                Filters=[{"Name": "instance-id", "Values": part}]
            )
            for address in response.get("Addresses", []):
                found[address["InstanceId"]] = {
                    "allocation_id": address.get("AllocationId", ""),
                    "public_ip": address.get("PublicIp", ""),
                }
        return found

    @needs("elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth")
    def target_groups(self, instance_ids: set[str]) -> dict[str, list[TargetGroupMembership]]:
        """Target-group membership of the instances (one DescribeTargetHealth per group)."""
        found: dict[str, list[TargetGroupMembership]] = {}
        paginator = self.elbv2.get_paginator("describe_target_groups")
        for page in paginator.paginate(PaginationConfig={"PageSize": 400}):
            for group in page.get("TargetGroups", []):
                if group.get("TargetType", "instance") != "instance":
                    continue
                arn = group["TargetGroupArn"]
                health = self.elbv2.describe_target_health(TargetGroupArn=arn)
                for desc in health.get("TargetHealthDescriptions", []):
                    target = desc["Target"]
                    if target["Id"] in instance_ids:
                        found.setdefault(target["Id"], []).append(
                            TargetGroupMembership(target_group_arn=arn, port=target.get("Port"))
                        )
        return found

    def instance_config(
        self,
        instance: dict[str, Any],
        volumes: dict[str, dict[str, Any]],
        subnets: dict[str, dict[str, Any]],
        addresses: dict[str, dict[str, str]],
        groups: dict[str, list[TargetGroupMembership]],
    ) -> InstanceConfig:
        return instance_config(instance, volumes, subnets, addresses, groups)

    # --- existing artifacts of a run (idempotency) -----------------------------------------
    @needs("ec2:DescribeImages")
    def run_images(
        self, run_id: str, sources: list[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The run's AMIs by source instance (only those of ``sources`` when given: a create
        task looks for its own batch, so its calls do not grow with the run)."""
        found: dict[str, dict[str, Any]] = {}
        for filters in run_filters(run_id, sources):
            for image in self._pages(
                "describe_images",
                "Images",
                Owners=["self"],
                Filters=filters,
                PaginationConfig={"PageSize": 1000},
            ):
                if has_source(image):
                    source = T.to_dict(image.get("Tags"))[T.SOURCE]
                    # Tags can be copied onto any AMI: Lifeboat's own carries its name.
                    if source not in found or image.get("Name") == T.image_name(source, run_id):
                        found[source] = image
        return found

    @needs("ec2:DescribeSnapshots")
    def run_snapshots(
        self, run_id: str, kind: str, sources: list[str] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """The run's snapshots of ``kind`` by source instance (of ``sources`` when given)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for filters in run_filters(run_id, sources):
            for snap in self._pages(
                "describe_snapshots",
                "Snapshots",
                OwnerIds=["self"],
                Filters=[*filters, {"Name": f"tag:{T.KIND}", "Values": [kind]}],
                PaginationConfig={"PageSize": 1000},
            ):
                if has_source(snap):
                    found.setdefault(T.to_dict(snap["Tags"])[T.SOURCE], []).append(snap)
        return found

    # --- creation -------------------------------------------------------------------------
    @needs("ec2:CreateImage", "ec2:CreateTags", "ec2:DescribeImages")
    def create_image(self, instance_id: str, name: str, reboot: bool, tags: dict[str, str]) -> str:
        """One CreateImage, tagged at creation (image and its snapshots); a repeated call for the
        same run finds the image by its unique name instead of making a second one."""
        try:
            response = self.retrier.call(
                self.ec2.create_image,
                InstanceId=instance_id,
                Name=name,
                Description=f"Lifeboat recovery point of {instance_id}",
                NoReboot=not reboot,
                TagSpecifications=[
                    {"ResourceType": "image", "Tags": T.to_list(tags)},
                    {"ResourceType": "snapshot", "Tags": T.to_list(tags)},
                ],
            )
            return str(response["ImageId"])
        except ClientError as exc:
            if error_code(exc) != "InvalidAMIName.Duplicate":
                raise
            existing = self.ec2.describe_images(
                Owners=["self"], Filters=[{"Name": "name", "Values": [name]}]
            )["Images"]
            if not existing:
                raise
            return str(existing[0]["ImageId"])

    @needs("ec2:CreateSnapshots", "ec2:CreateTags")
    def create_snapshots(
        self, instance_id: str, exclude_boot: bool, tags: dict[str, str], description: str
    ) -> list[dict[str, Any]]:
        response = self.retrier.call(
            self.ec2.create_snapshots,
            InstanceSpecification={"InstanceId": instance_id, "ExcludeBootVolume": exclude_boot},
            Description=description,
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": T.to_list(tags)}],
        )
        return list(response.get("Snapshots", []))
