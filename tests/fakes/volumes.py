"""In-memory EC2 volume operations (:class:`lifeboat.volumes.ports.VolumeRestorePort`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifeboat import tags as T
from lifeboat.errors import NotOwnedError
from lifeboat.volumes.models import InstanceView, VolumePlan, VolumeView
from lifeboat.volumes.ports import VolumeRestorePort


@dataclass
class FakeVolumes:
    """Instances and volumes; every change completes at the next read (one check later)."""

    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_attach: set[str] = field(default_factory=set)
    _next: int = 0

    def _id(self, prefix: str) -> str:
        self._next += 1
        return f"{prefix}-{self._next:08x}"

    def add_instance(self, tags: dict[str, str], devices: dict[str, str], root: str) -> str:
        iid = self._id("i")
        self.instances[iid] = {"state": "running", "root": root, "tags": tags, "devices": {}}
        for device in devices:
            vid = self._id("vol")
            self.volumes[vid] = {"state": "in-use", "on": iid, "device": device, "tags": {}}
            self.instances[iid]["devices"][device] = vid
        return iid

    def instance(self, instance_id: str) -> InstanceView | None:
        found = self.instances.get(instance_id)
        if found is None:
            return None
        if found["state"] in ("stopping", "pending"):  # settles at the next read
            found["state"] = "stopped" if found["state"] == "stopping" else "running"
            return InstanceView(
                instance_id=instance_id,
                state="stopping" if found["state"] == "stopped" else "pending",
                availability_zone="us-east-1a",
                root_device=found["root"],
                tags=found["tags"],
                devices=dict(found["devices"]),
            )
        return InstanceView(
            instance_id=instance_id,
            state=found["state"],
            availability_zone="us-east-1a",
            root_device=found["root"],
            tags=found["tags"],
            devices=dict(found["devices"]),
        )

    def volume(self, volume_id: str) -> VolumeView | None:
        found = self.volumes.get(volume_id)
        if found is None:
            return None
        shown = found["state"]
        if shown in ("creating", "detaching", "attaching"):
            found["state"] = {"creating": "available", "detaching": "available"}.get(
                shown, "in-use"
            )
        return VolumeView(
            volume_id=volume_id,
            state="in-use" if shown == "attaching" else shown,
            attached_to=found.get("on"),
            attachment_state="attaching"
            if shown == "attaching"
            else ("attached" if found.get("on") else None),
            device=found.get("device"),
            tags=dict(found["tags"]),
        )

    def create_volume(self, plan: VolumePlan, tags: dict[str, str], client_token: str) -> str:
        for vid, found in self.volumes.items():
            if found.get("token") == client_token:
                return vid
        self.calls.append(("create", plan.snapshot_id))
        vid = self._id("vol")
        self.volumes[vid] = {
            "state": "creating",
            "tags": dict(tags),
            "token": client_token,
            "snapshot": plan.snapshot_id,
            "kms": plan.kms_key_id,
            "az": plan.availability_zone,
        }
        return vid

    def attach(self, volume_id: str, instance_id: str, device: str) -> None:
        if volume_id in self.fail_attach:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InvalidParameterValue"}}, "AttachVolume")
        self.calls.append(("attach", f"{volume_id}@{device}"))
        self.volumes[volume_id].update(state="attaching", on=instance_id, device=device)
        self.instances[instance_id]["devices"][device] = volume_id

    def detach(self, volume_id: str, instance_id: str) -> None:
        self.calls.append(("detach", volume_id))
        found = self.volumes[volume_id]
        self.instances[instance_id]["devices"].pop(found["device"], None)
        found.update(state="detaching", on=None, device=None)

    def stop(self, instance_id: str) -> None:
        self.calls.append(("stop", instance_id))
        if self.instances[instance_id]["state"] == "running":
            self.instances[instance_id]["state"] = "stopping"

    def start(self, instance_id: str) -> None:
        self.calls.append(("start", instance_id))
        self.instances[instance_id]["state"] = "pending"

    def replace_root(
        self, instance_id: str, volume_id: str, tags: dict[str, str], client_token: str
    ) -> str:
        self.calls.append(("replace-root", volume_id))
        instance = self.instances[instance_id]
        old = instance["devices"][instance["root"]]
        self.volumes[old].update(state="available", on=None, device=None)
        self.volumes[volume_id].update(state="in-use", on=instance_id, device=instance["root"])
        instance["devices"][instance["root"]] = volume_id
        return f"replacevol-{volume_id}"

    def replace_root_state(self, task_id: str, instance_id: str) -> tuple[str, str | None]:
        instance = self.instances[instance_id]
        return "succeeded", instance["devices"][instance["root"]]

    def mark_replaced(self, volume_id: str, execution_arn: str) -> None:
        self.volumes[volume_id]["tags"]["lifeboat:replaced-by"] = execution_arn

    def delete_volume(self, volume_id: str, execution_arn: str) -> None:
        tags = self.volumes[volume_id]["tags"]
        if T.RESTORED_FROM not in tags or tags.get(T.RESTORE_EXECUTION) != execution_arn:
            raise NotOwnedError(volume_id)
        self.calls.append(("delete", volume_id))
        del self.volumes[volume_id]


_volumes: VolumeRestorePort = FakeVolumes()  # the fake implements the port (checked by mypy)
