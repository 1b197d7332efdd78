"""EC2 calls of a volume restore (:class:`lifeboat.volumes.ports.VolumeRestorePort`), returning
domain models. IAM (template.yaml, VolumeRestoreFunction) confines the writes to instances
carrying a plan tag and to volumes a restore tagged at creation."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.permissions import needs
from lifeboat.errors import NotOwnedError, error_code
from lifeboat.volumes.models import InstanceView, VolumePlan, VolumeView

IOPS_TYPES = ("io1", "io2", "gp3")
# A volume from a snapshot encrypted with a customer managed key: EBS uses the key through
# grants on the caller's behalf (template.yaml: only via EC2).
KMS_FOR_ENCRYPTED_VOLUMES = (
    "kms:DescribeKey",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:CreateGrant",
)


def _tag_spec(resource: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def _volume(found: dict[str, Any]) -> VolumeView:
    attachment: dict[str, Any] = next(iter(found.get("Attachments") or []), {})
    return VolumeView(
        volume_id=found["VolumeId"],
        state=found.get("State", "unknown"),
        attached_to=attachment.get("InstanceId"),
        attachment_state=attachment.get("State"),
        device=attachment.get("Device"),
        tags=T.to_dict(found.get("Tags")),
    )


class VolumeOps:
    def __init__(self, gateway: Ec2Gateway) -> None:
        self.gw = gateway

    @needs("ec2:DescribeInstances")
    def instance(self, instance_id: str) -> InstanceView | None:
        try:
            found = self.gw.call("describe_instances", InstanceIds=[instance_id])
        except ClientError as exc:
            if error_code(exc) == "InvalidInstanceID.NotFound":
                return None
            raise
        for reservation in found.get("Reservations", []):
            for item in reservation.get("Instances", []):
                return InstanceView(
                    instance_id=item["InstanceId"],
                    state=item["State"]["Name"],
                    availability_zone=item["Placement"]["AvailabilityZone"],
                    root_device=item.get("RootDeviceName"),
                    tags=T.to_dict(item.get("Tags")),
                    devices={
                        m["DeviceName"]: m["Ebs"]["VolumeId"]
                        for m in item.get("BlockDeviceMappings", [])
                        if m.get("Ebs")
                    },
                )
        return None

    @needs("ec2:DescribeVolumes")
    def volume(self, volume_id: str) -> VolumeView | None:
        try:
            found = self.gw.call("describe_volumes", VolumeIds=[volume_id])
        except ClientError as exc:
            if error_code(exc) == "InvalidVolume.NotFound":
                return None
            raise
        volumes = found.get("Volumes", [])
        return _volume(volumes[0]) if volumes else None

    @needs("ec2:CreateVolume", "ec2:CreateTags", *KMS_FOR_ENCRYPTED_VOLUMES)
    def create_volume(self, plan: VolumePlan, tags: dict[str, str], client_token: str) -> str:
        request: dict[str, Any] = {
            "SnapshotId": plan.snapshot_id,
            "AvailabilityZone": plan.availability_zone,
            "ClientToken": client_token,
            "TagSpecifications": _tag_spec("volume", tags),
        }
        if plan.volume_type:
            request["VolumeType"] = plan.volume_type
        if plan.volume_type in IOPS_TYPES and plan.iops:
            request["Iops"] = plan.iops
        if plan.volume_type == "gp3" and plan.throughput:
            request["Throughput"] = plan.throughput
        if plan.encrypted:
            # Encrypted like the source: the snapshot's own key, never the account default.
            request["Encrypted"] = True
            if plan.kms_key_id:
                request["KmsKeyId"] = plan.kms_key_id
        return str(self.gw.call("create_volume", **request)["VolumeId"])

    @needs("ec2:AttachVolume")
    def attach(self, volume_id: str, instance_id: str, device: str) -> None:
        self.gw.call("attach_volume", VolumeId=volume_id, InstanceId=instance_id, Device=device)

    @needs("ec2:DetachVolume")
    def detach(self, volume_id: str, instance_id: str) -> None:
        try:
            self.gw.call("detach_volume", VolumeId=volume_id, InstanceId=instance_id)
        except ClientError as exc:
            if error_code(exc) != "IncorrectState":  # already detached: done
                raise

    @needs("ec2:StopInstances")
    def stop(self, instance_id: str) -> None:
        self.gw.call("stop_instances", InstanceIds=[instance_id])

    @needs("ec2:StartInstances")
    def start(self, instance_id: str) -> None:
        self.gw.call("start_instances", InstanceIds=[instance_id])

    @needs("ec2:CreateReplaceRootVolumeTask", "ec2:CreateTags")
    def replace_root(
        self, instance_id: str, volume_id: str, tags: dict[str, str], client_token: str
    ) -> str:
        found = self.gw.call(
            "create_replace_root_volume_task",
            InstanceId=instance_id,
            VolumeId=volume_id,  # the restore's own volume (tagged at its creation)
            ClientToken=client_token,
            DeleteReplacedRootVolume=False,  # kept for the rollback
            TagSpecifications=_tag_spec("replace-root-volume-task", tags),
        )
        return str(found["ReplaceRootVolumeTask"]["ReplaceRootVolumeTaskId"])

    @needs("ec2:DescribeReplaceRootVolumeTasks", "ec2:DescribeInstances")
    def replace_root_state(self, task_id: str, instance_id: str) -> tuple[str, str | None]:
        found = self.gw.call(
            "describe_replace_root_volume_tasks", ReplaceRootVolumeTaskIds=[task_id]
        )
        tasks = found.get("ReplaceRootVolumeTasks", [])
        state = str(tasks[0].get("TaskState", "pending")) if tasks else "pending"
        if state != "succeeded":
            return state, None
        instance = self.instance(instance_id)
        root = instance.devices.get(instance.root_device or "") if instance else None
        return state, root

    @needs("ec2:CreateTags")
    def mark_replaced(self, volume_id: str, execution_arn: str) -> None:
        """The one tag Lifeboat adds to a volume it did not create (IAM: this key only)."""
        self.gw.call(
            "create_tags",
            Resources=[volume_id],
            Tags=[{"Key": T.REPLACED_BY, "Value": execution_arn[:256]}],
        )

    @needs("ec2:DescribeVolumes", "ec2:DeleteVolume")
    def delete_volume(self, volume_id: str, execution_arn: str) -> None:
        found = self.volume(volume_id)
        if found is None:
            return
        tags = found.tags
        if (
            T.RESTORED_FROM not in tags
            or tags.get(T.RESTORE_EXECUTION) != execution_arn
            or T.MANAGED in tags
        ):
            raise NotOwnedError(
                f"{volume_id} was not created by restore {execution_arn}: not deleted"
            )
        try:
            self.gw.call("delete_volume", VolumeId=volume_id)
        except ClientError as exc:
            if error_code(exc) != "InvalidVolume.NotFound":
                raise
