"""Inputs, the plan and the state of a volume restore (typed, between the machine's states)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from lifeboat.models import ExecutionArn, ExecutionContext

_DEVICE = re.compile(r"^/dev/(sd[b-z]|xvd[b-z]|sda1|xvda|nvme\d+n1)$")


def _device(value: str) -> str:
    if not _DEVICE.match(value):
        raise ValueError(
            f"{value!r} is not an EBS device name: give it as the instance's block-device "
            "mapping shows it, e.g. /dev/sdf or /dev/xvda"
        )
    return value


Device = Annotated[str, AfterValidator(_device)]
InstanceId = Annotated[str, StringConstraints(pattern=r"^i-[0-9a-f]{8,17}$")]


class VolumeRestoreInput(BaseModel):
    """The volume restore machine's input (``lifeboat restore volume`` builds it)."""

    model_config = ConfigDict(extra="forbid")
    instance_id: InstanceId
    device: Device
    point: str = Field("latest", min_length=1, max_length=200, description="ID, TIME or latest")
    attach_as: Device | None = Field(None, description="device of the new volume (attach mode)")
    replace: bool = Field(False, description="swap the new volume in place of the original")
    dry_run: bool = False
    reason: str = Field("", max_length=500)
    requested_by: str = Field("", max_length=200)


class VolumeRollbackInput(BaseModel):
    """Input of a rollback of a volume restore (``restore rollback EXECUTION``)."""

    model_config = ConfigDict(extra="forbid")
    rollback_of: ExecutionArn
    dry_run: bool = False
    requested_by: str = Field("", max_length=200)


Mode = Literal[
    "attach", "replace-data", "replace-root", "rollback-attach", "rollback-replace", "rollback-root"
]


class VolumePlan(BaseModel):
    """What the restore will do, decided before anything changes (the dry run prints it)."""

    model_config = ConfigDict(extra="ignore")
    mode: Mode
    instance_id: str
    availability_zone: str
    device: str
    recovery_point_id: str
    snapshot_id: str
    point_created_at: str
    original_volume_id: str | None
    attach_as: str
    size_gb: int = 0
    volume_type: str | None = None
    iops: int | None = None
    throughput: int | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    was_running: bool = True
    # A rollback: the restore it undoes and the volume that restore made.
    restored_volume_id: str | None = None
    rollback_of: str | None = None


class VolumeState(BaseModel):
    """``$.restore`` between the machine's states: the plan and how far it got."""

    model_config = ConfigDict(extra="ignore")
    plan: VolumePlan
    stage: str = "start"
    new_volume_id: str | None = None
    root_task_id: str | None = None
    attempt: int = Field(0, ge=0, le=10_000)
    wait_seconds: int = Field(5, ge=1, le=300)
    done: bool = False
    failed: bool = Field(False, description="the restore failed: this is its undo")
    dry_run: bool = False
    refused: str | None = None
    # The create step stopped for the shared pace (lifeboat.volumes.pace): its reservation (a
    # lifeboat.restore.models.LaunchDeferred), spent when the step is called again;
    # ``pace_capped``: the wait was cut to 300 s.
    pace: dict[str, object] | None = None
    pace_capped: bool = False


class VolumeTask(BaseModel):
    """Every Lambda task of the volume restore machine: its state and ``$$.Execution``."""

    model_config = ConfigDict(extra="ignore")
    execution: ExecutionContext
    state: dict[str, object]


class InstanceView(BaseModel):
    """What a volume restore reads of an instance (from DescribeInstances)."""

    model_config = ConfigDict(frozen=True)
    instance_id: str
    state: str
    availability_zone: str
    root_device: str | None
    tags: dict[str, str]
    devices: dict[str, str] = Field(description="device name → volume id")


class VolumeView(BaseModel):
    """What a volume restore reads of a volume (from DescribeVolumes)."""

    model_config = ConfigDict(frozen=True)
    volume_id: str
    state: str = Field(description="creating, available, in-use, deleting…")
    attached_to: str | None = None
    attachment_state: str | None = None
    device: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
