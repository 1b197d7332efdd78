"""EC2 (and ELBv2) adapter for backups: discovery, creation with tags, completion checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.permissions import needs
from lifeboat.errors import NotOwnedError, error_code
from lifeboat.models import BlockDevice, InstanceConfig, TargetGroupMembership

PROTECTABLE_STATES = ["pending", "running", "stopping", "stopped"]
FILTER_CHUNK = 200


def chunks(items: list[str], size: int = FILTER_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ec2Gateway:
    def __init__(self, retrier: Retrier | None = None, ec2: Any = None, elbv2: Any = None) -> None:
        self.ec2 = ec2 or client("ec2")
        self._elbv2 = elbv2
        self.retrier = retrier or Retrier()

    @property
    def elbv2(self) -> Any:
        if self._elbv2 is None:
            self._elbv2 = client("elbv2")
        return self._elbv2

    def _pages(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for page in self.ec2.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])

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

    def _by_filter(self, operation: str, key: str, name: str, ids: list[str]) -> list[Any]:
        out: list[Any] = []
        for part in chunks(sorted(set(ids))):
            out.extend(self._pages(operation, key, Filters=[{"Name": name, "Values": part}]))
        return out

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
        iid = instance["InstanceId"]
        subnet = subnets.get(instance.get("SubnetId", ""), {})
        az = instance.get("Placement", {}).get("AvailabilityZone", "")
        devices: list[BlockDevice] = []
        for mapping in instance.get("BlockDeviceMappings", []):
            ebs = mapping.get("Ebs")
            if not ebs:
                continue
            vol = volumes.get(ebs["VolumeId"], {})
            devices.append(
                BlockDevice(
                    device_name=mapping["DeviceName"],
                    volume_id=ebs["VolumeId"],
                    size_gb=int(vol.get("Size", 0)),
                    volume_type=vol.get("VolumeType"),
                    iops=vol.get("Iops"),
                    throughput=vol.get("Throughput"),
                    encrypted=bool(vol.get("Encrypted", False)),
                    kms_key_id=vol.get("KmsKeyId"),
                    delete_on_termination=bool(ebs.get("DeleteOnTermination", True)),
                )
            )
        return InstanceConfig(
            instance_type=instance["InstanceType"],
            availability_zone=az,
            subnet_id=instance.get("SubnetId"),
            subnet_tier=T.subnet_tier(T.to_dict(subnet.get("Tags")), az),
            vpc_id=instance.get("VpcId"),
            security_group_ids=[g["GroupId"] for g in instance.get("SecurityGroups", [])],
            iam_instance_profile_arn=instance.get("IamInstanceProfile", {}).get("Arn"),
            key_name=instance.get("KeyName"),
            ebs_optimized=bool(instance.get("EbsOptimized", False)),
            root_device_name=instance.get("RootDeviceName"),
            tags=T.to_dict(instance.get("Tags")),
            elastic_ip=addresses.get(iid),
            target_groups=groups.get(iid, []),
            block_devices=devices,
        )

    # --- existing artifacts of a run (idempotency) -----------------------------------------
    @needs("ec2:DescribeImages")
    def run_images(
        self, run_id: str, sources: list[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The run's AMIs by source instance (only those of ``sources`` when given: a create
        task looks for its own batch, so its calls do not grow with the run)."""
        found: dict[str, dict[str, Any]] = {}
        for filters in _run_filters(run_id, sources):
            for image in self._pages(
                "describe_images",
                "Images",
                Owners=["self"],
                Filters=filters,
                PaginationConfig={"PageSize": 1000},
            ):
                if _has_source(image):
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
        for filters in _run_filters(run_id, sources):
            for snap in self._pages(
                "describe_snapshots",
                "Snapshots",
                OwnerIds=["self"],
                Filters=[*filters, {"Name": f"tag:{T.KIND}", "Values": [kind]}],
                PaginationConfig={"PageSize": 1000},
            ):
                if _has_source(snap):
                    found.setdefault(T.to_dict(snap["Tags"])[T.SOURCE], []).append(snap)
        return found

    @needs("ec2:DescribeImages")
    def images(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            i["ImageId"]: i for i in self._by_filter("describe_images", "Images", "image-id", ids)
        }

    @needs("ec2:DescribeSnapshots")
    def snapshots(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {
            s["SnapshotId"]: s
            for s in self._by_filter("describe_snapshots", "Snapshots", "snapshot-id", ids)
        }

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

    # --- clean-up of failed artifacts (only Lifeboat's own) ---------------------------------
    @needs("ec2:DeregisterImage", "ec2:DescribeImages")
    def deregister_image(
        self, image_id: str, owner_tags: dict[str, str] | None = None
    ) -> list[str]:
        """Deregister a managed image; returns the ids of its snapshots (to delete next)."""
        images = self.images([image_id])
        image = images.get(image_id)
        if image is None:
            return []
        tags = T.to_dict(image.get("Tags"))
        if not T.is_managed(tags) or any(tags.get(k) != v for k, v in (owner_tags or {}).items()):
            raise NotOwnedError(
                f"{image_id} is not a Lifeboat recovery point of this plan and rule "
                f"({T.MANAGED}=true and matching tags); refusing to touch it"
            )
        snapshot_ids = [
            m["Ebs"]["SnapshotId"]
            for m in image.get("BlockDeviceMappings", [])
            if m.get("Ebs", {}).get("SnapshotId")
        ]
        try:
            self.retrier.call(self.ec2.deregister_image, ImageId=image_id)
        except ClientError as exc:
            if error_code(exc) not in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"):
                raise
        return snapshot_ids

    @needs(
        "ec2:DeleteSnapshot",
        "ec2:DescribeSnapshots",
        "ec2:DescribeImages",
        "ec2:DescribeLockedSnapshots",
    )
    def delete_snapshot(
        self,
        snapshot_id: str,
        owner_tags: dict[str, str] | None = None,
        ignore_image: str | None = None,
    ) -> str:
        """Delete one managed snapshot (see :meth:`delete_snapshots`)."""
        return self.delete_snapshots([snapshot_id], owner_tags, ignore_image)[snapshot_id]

    @needs(
        "ec2:DeleteSnapshot",
        "ec2:DescribeSnapshots",
        "ec2:DescribeImages",
        "ec2:DescribeLockedSnapshots",
    )
    def delete_snapshots(
        self,
        snapshot_ids: list[str],
        owner_tags: dict[str, str] | None = None,
        ignore_image: str | None = None,
    ) -> dict[str, str]:
        """Delete managed snapshots; each gets 'deleted', 'gone', 'in-use', 'locked' or
        'not-owned'. ``owner_tags`` must all match a snapshot's tags (plan and rule); a snapshot
        still used by an AMI (other than ``ignore_image``, being deregistered) or locked is
        skipped. Three Describe calls for the whole set, then one delete per snapshot."""
        found = self.snapshots(snapshot_ids)
        outcome: dict[str, str] = {}
        candidates: list[str] = []
        for sid in snapshot_ids:
            snap = found.get(sid)
            tags = T.to_dict((snap or {}).get("Tags"))
            if snap is None:
                outcome[sid] = "gone"
            elif not T.is_managed(tags) or any(
                tags.get(k) != v for k, v in (owner_tags or {}).items()
            ):
                outcome[sid] = "not-owned"
            else:
                candidates.append(sid)
        locked = self.locked_snapshots(candidates) if candidates else set()
        in_use = self.snapshots_in_use(candidates, ignore_image) if candidates else set()
        for sid in candidates:
            if sid in locked:
                outcome[sid] = "locked"
            elif sid in in_use:
                outcome[sid] = "in-use"
            else:
                outcome[sid] = self._delete(sid)
        return outcome

    def _delete(self, snapshot_id: str) -> str:
        try:
            self.retrier.call(self.ec2.delete_snapshot, SnapshotId=snapshot_id)
        except ClientError as exc:
            code = error_code(exc)
            if code == "InvalidSnapshot.NotFound":
                return "gone"
            if code == "InvalidSnapshot.InUse":
                return "in-use"
            if "Lock" in code:
                return "locked"
            raise
        return "deleted"

    @needs("ec2:DescribeImages")
    def snapshots_in_use(
        self, snapshot_ids: list[str], ignore_image: str | None = None
    ) -> set[str]:
        """Which of the snapshots back a registered AMI (other than ``ignore_image``)."""
        used: set[str] = set()
        wanted = set(snapshot_ids)
        for part in chunks(sorted(wanted)):
            for image in self._pages(
                "describe_images",
                "Images",
                Owners=["self"],
                Filters=[{"Name": "block-device-mapping.snapshot-id", "Values": part}],
            ):
                if image["ImageId"] == ignore_image:
                    continue
                for mapping in image.get("BlockDeviceMappings", []):
                    sid = mapping.get("Ebs", {}).get("SnapshotId")
                    if sid in wanted:
                        used.add(sid)
        return used

    @needs("ec2:DescribeLockedSnapshots")
    def locked_snapshots(self, ids: list[str]) -> set[str]:
        """Snapshots under an EBS snapshot lock (governance, compliance or its cooling-off)."""
        locked: set[str] = set()
        for part in chunks(ids):
            response = self.ec2.describe_locked_snapshots(SnapshotIds=part)
            for info in response.get("Snapshots", []):
                if info.get("LockState") in ("governance", "compliance", "compliance-cooloff"):
                    locked.add(info["SnapshotId"])
        return locked

    @needs("ec2:DescribeImages")
    def managed_images(self, plan: str) -> list[dict[str, Any]]:
        return list(
            self._pages(
                "describe_images",
                "Images",
                Owners=["self"],
                Filters=[
                    {"Name": f"tag:{T.MANAGED}", "Values": ["true"]},
                    {"Name": f"tag:{T.PLAN}", "Values": [plan]},
                ],
            )
        )

    @needs("ec2:DescribeSnapshots")
    def managed_snapshots(self, plan: str) -> list[dict[str, Any]]:
        return list(
            self._pages(
                "describe_snapshots",
                "Snapshots",
                OwnerIds=["self"],
                Filters=[
                    {"Name": f"tag:{T.MANAGED}", "Values": ["true"]},
                    {"Name": f"tag:{T.PLAN}", "Values": [plan]},
                ],
                PaginationConfig={"PageSize": 1000},
            )
        )


def _has_source(resource: dict[str, Any]) -> bool:
    return T.SOURCE in T.to_dict(resource.get("Tags"))


def _run_filters(run_id: str, sources: list[str] | None) -> list[list[dict[str, Any]]]:
    run = {"Name": f"tag:{T.RUN}", "Values": [run_id]}
    if sources is None:
        return [[run]]
    return [[run, {"Name": f"tag:{T.SOURCE}", "Values": part}] for part in chunks(sources)]
