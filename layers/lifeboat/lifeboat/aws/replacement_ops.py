"""Terminating a restore's replacement (:class:`lifeboat.aws.restore_ops.Ec2Restorer`) with
every volume it was launched with, and nothing else: a volume someone attached to it later is
kept, whatever its ``DeleteOnTermination`` says and whatever tags were copied onto it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.permissions import needs
from lifeboat.restore.launch import TOKEN_PREFIX

LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def launched_by(instance: dict[str, Any], execution_arn: str) -> bool:
    """Whether the restore execution launched this instance: its tags say so *and* it was
    launched with one of Lifeboat's RunInstances client tokens (tags can be copied — "launch
    more like this" copies them — a client token is set at launch and never changes)."""
    tags = T.to_dict(instance.get("Tags"))
    token = str(instance.get("ClientToken") or "")
    return (
        tags.get(T.RESTORE_EXECUTION) == execution_arn
        and T.RESTORED_FROM in tags
        and token.startswith(TOKEN_PREFIX)
    )


class Ec2ReplacementTermination:
    gw: Ec2Gateway

    @needs("ec2:DescribeInstances")
    def instance(self, instance_id: str) -> dict[str, Any] | None:
        return self.gw.describe_instances([instance_id]).get(instance_id)

    @needs("ec2:DescribeVolumes")
    def later_volumes(
        self, instance_id: str, execution_arn: str, since: datetime, until: datetime | None
    ) -> list[str]:
        """The volumes attached to the replacement that it was not launched with ("device
        volume-id"): those a rollback or abort keeps."""
        volumes = self._volumes(instance_id, execution_arn, since, until)
        return [f"{v['device']} {v['id']}" for v in volumes if not v["ours"]]

    def _volumes(
        self, instance_id: str, execution_arn: str, since: datetime, until: datetime | None
    ) -> list[dict[str, Any]]:
        """The replacement's attached volumes, each ``ours`` when RunInstances made it: it carries
        the execution's tag (set at creation) *and* EC2 created it while the execution ran
        (``since`` to ``until``, None: now). A tag can be copied by anyone; a creation time
        cannot, so a volume attached later, even tagged as ours, is never taken for ours."""
        start, end = since.replace(microsecond=0), until or datetime.now(UTC)
        found: list[dict[str, Any]] = []
        for volume in self.gw._pages(
            "describe_volumes",
            "Volumes",
            Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}],
        ):
            attached = [
                a for a in volume.get("Attachments", []) if a.get("InstanceId") == instance_id
            ]
            created = volume.get("CreateTime")
            tagged = T.to_dict(volume.get("Tags")).get(T.RESTORE_EXECUTION) == execution_arn
            ours = tagged and isinstance(created, datetime) and start <= created <= end
            found.extend(
                {"id": volume["VolumeId"], "device": a.get("Device"), "ours": ours}
                for a in attached[:1]
            )
        return found

    @needs(
        "ec2:TerminateInstances",
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:ModifyInstanceAttribute",
    )
    def terminate_replacement(
        self, instance_id: str, execution_arn: str, since: datetime, until: datetime | None
    ) -> str:
        """Terminate a replacement this execution launched (:func:`launched_by`), with every
        volume it was launched with (:meth:`_volumes`: made by RunInstances while the execution
        ran), and nothing else: a volume it was launched with and kept on termination (as the
        original's was) is set to be deleted with it; a volume someone attached later is set to
        be kept (detached, never deleted), whatever it says."""
        instance = self.instance(instance_id)
        if instance is None:
            return "gone"
        if not launched_by(instance, execution_arn):
            return "not-owned"
        live = instance.get("State", {}).get("Name") in LIVE_STATES
        volumes = self._volumes(instance_id, execution_arn, since, until) if live else []
        ours = {v["device"] for v in volumes if v["ours"]}
        flags = {
            m["DeviceName"]: (m.get("Ebs") or {}).get("DeleteOnTermination")
            for m in (instance.get("BlockDeviceMappings", []) if live else [])
            if m.get("DeviceName") and m.get("Ebs")
        }
        changed = [
            {"DeviceName": device, "Ebs": {"DeleteOnTermination": device in ours}}
            for device, flag in sorted(flags.items())
            if flag is not (device in ours)
        ]
        if changed:
            self.gw.call(
                "modify_instance_attribute", InstanceId=instance_id, BlockDeviceMappings=changed
            )
        self.gw.call("terminate_instances", InstanceIds=[instance_id])
        kept = [f"{v['device']} {v['id']}" for v in volumes if not v["ours"]]
        return "terminated" + (
            f" (kept {', '.join(kept)}: attached after the restore, detached, not deleted)"
            if kept
            else ""
        )
