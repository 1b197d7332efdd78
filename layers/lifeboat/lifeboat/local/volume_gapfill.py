"""Volume restores in local mode: what real EC2 does and moto 5.2.x does not.

* ``CreateReplaceRootVolumeTask`` / ``DescribeReplaceRootVolumeTasks`` (moto has neither): on a
  running instance, the given volume (``VolumeId``: available, in the instance's AZ) or a new
  one from the snapshot in the instance's AZ takes the root
  device's place and the old one is kept detached (``DeleteReplacedRootVolume`` false) or
  deleted; the task reads ``in-progress`` at its first describe, then ``succeeded`` (EC2 reboots
  the instance meanwhile; its state stays ``running``). A stopped instance is refused with
  ``IncorrectState``, as EC2 does. ``ClientToken`` makes a repeat return the same task.
* ``CreateVolume`` honours ``ClientToken`` (moto makes another volume for every repeat).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import moto.ec2.responses as ec2_responses
from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.utils import random_id

ORIGINAL_CREATE_VOLUME = ec2_responses.EC2Response.create_volume
_lock = threading.Lock()
# (account, region) -> token -> volume id; task id -> task
_volume_tokens: dict[tuple[str, str, str], str] = {}
_tasks: dict[str, dict[str, Any]] = {}
_task_tokens: dict[tuple[str, str, str], str] = {}


def _create_volume(response: Any) -> Any:
    token = response._get_param("ClientToken")
    key = (response.current_account, response.region, token or "")
    with _lock:
        if token and key in _volume_tokens:
            volume = response.ec2_backend.volumes.get(_volume_tokens[key])
            if volume is not None:
                return ActionResult(volume)
        before = set(response.ec2_backend.volumes)
        result = ORIGINAL_CREATE_VOLUME(response)
        if token:
            (volume_id,) = set(response.ec2_backend.volumes) - before
            _volume_tokens[key] = volume_id
    return result


def _create_replace_root_volume_task(response: Any) -> Any:
    backend = response.ec2_backend
    instance_id = response._get_param("InstanceId")
    snapshot_id = response._get_param("SnapshotId")
    token = response._get_param("ClientToken") or ""
    delete_old = response._get_bool_param("DeleteReplacedRootVolume", False)
    tags = response._parse_tag_specification().get("replace-root-volume-task", {})
    key = (response.current_account, response.region, token)
    with _lock:
        if token and key in _task_tokens:
            return ActionResult({"ReplaceRootVolumeTask": _public(_tasks[_task_tokens[key]])})
        instance = backend.get_instance(instance_id)
        if instance.state != "running":
            raise EC2ClientError(
                "IncorrectState",
                f"The instance '{instance_id}' is not in the 'running' state.",
            )
        root = instance.root_device_name
        old = instance.block_device_mapping[root]
        volume_id = response._get_param("VolumeId")
        if volume_id:
            new = backend.get_volume(volume_id)
            if new.attachment is not None or new.availability_zone != instance.placement.zone:
                raise EC2ClientError(
                    "InvalidParameterValue",
                    f"{volume_id} must be available and in {instance.placement.zone}",
                )
        else:
            snapshot = backend.get_snapshot(snapshot_id)
            new = backend.create_volume(
                size=snapshot.volume.size if snapshot.volume else old.size,
                zone_name=instance.placement.zone,
                snapshot_id=snapshot_id,
                encrypted=snapshot.encrypted,
                kms_key_id=snapshot.kms_key_id if snapshot.encrypted else None,
                volume_type=getattr(old, "volume_type", None) or "gp3",
            )
        backend.detach_volume(old.volume_id, instance_id, root)
        backend.attach_volume(new.id, instance_id, root, delete_on_termination=True)
        if delete_old:
            backend.delete_volume(old.volume_id)
        task_id = f"replacevol-{random_id(size=17)}"
        _tasks[task_id] = {
            "ReplaceRootVolumeTaskId": task_id,
            "InstanceId": instance_id,
            "TaskState": "pending",
            "StartTime": datetime.now(UTC).isoformat(),
            "SnapshotId": snapshot_id,
            "DeleteReplacedRootVolume": delete_old,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            "describes": 0,
        }
        if token:
            _task_tokens[key] = task_id
    return ActionResult({"ReplaceRootVolumeTask": _public(_tasks[task_id])})


def _public(task: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in task.items() if k != "describes"}


def _describe_replace_root_volume_tasks(response: Any) -> Any:
    wanted = response._get_param("ReplaceRootVolumeTaskIds", []) or list(_tasks)
    found = []
    with _lock:
        for task_id in wanted:
            task = _tasks.get(task_id)
            if task is None:
                continue
            task["describes"] += 1
            task["TaskState"] = "in-progress" if task["describes"] == 1 else "succeeded"
            if task["TaskState"] == "succeeded":
                task.setdefault("CompleteTime", datetime.now(UTC).isoformat())
            found.append(_public(task))
    return ActionResult({"ReplaceRootVolumeTasks": found})


@contextmanager
def volume_gap_fills() -> Iterator[None]:
    """Every volume gap-fill above, in place until exit."""
    patches: list[Any] = [
        mock.patch.object(ec2_responses.EC2Response, "create_volume", _create_volume),
        mock.patch.object(
            ec2_responses.EC2Response,
            "create_replace_root_volume_task",
            _create_replace_root_volume_task,
            create=True,
        ),
        mock.patch.object(
            ec2_responses.EC2Response,
            "describe_replace_root_volume_tasks",
            _describe_replace_root_volume_tasks,
            create=True,
        ),
    ]
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield
