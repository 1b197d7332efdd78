"""EC2's response and filter shapes: pure translations between EC2's API and Lifeboat's models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lifeboat import tags as T
from lifeboat.models import BlockDevice, InstanceConfig, TargetGroupMembership

FILTER_CHUNK = 200


def chunks(items: list[str], size: int = FILTER_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def instance_config(
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
        security_group_names=[g.get("GroupName", "") for g in instance.get("SecurityGroups", [])],
        iam_instance_profile_arn=instance.get("IamInstanceProfile", {}).get("Arn"),
        key_name=instance.get("KeyName"),
        ebs_optimized=bool(instance.get("EbsOptimized", False)),
        root_device_name=instance.get("RootDeviceName"),
        tags=T.to_dict(instance.get("Tags")),
        elastic_ip=addresses.get(iid),
        target_groups=groups.get(iid, []),
        block_devices=devices,
    )


def has_source(resource: dict[str, Any]) -> bool:
    return T.SOURCE in T.to_dict(resource.get("Tags"))


def run_filters(run_id: str, sources: list[str] | None) -> list[list[dict[str, Any]]]:
    run = {"Name": f"tag:{T.RUN}", "Values": [run_id]}
    if sources is None:
        return [[run]]
    return [[run, {"Name": f"tag:{T.SOURCE}", "Values": part}] for part in chunks(sources)]
