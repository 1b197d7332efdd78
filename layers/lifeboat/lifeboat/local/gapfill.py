"""What real EC2 does and moto 5.2.x does not, filled in for local mode.

* CreateImage with ``TagSpecifications`` of ``ResourceType: snapshot`` (which Lifeboat relies on)
  tags the image's snapshots; moto cannot.
* CreateImage snapshots every attached EBS volume, as EC2 does (moto: the root volume only),
  lists them in the image's block-device mappings, and DescribeImages answers the
  ``block-device-mapping.snapshot-id`` filter.
* ``DescribeLockedSnapshots`` answers, truthfully for the emulator, that no snapshot is locked
  (moto has no snapshot locks; the locked path is tested with botocore's Stubber).
* A resource's tags are read from moto's own per-resource tag dict (moto scans every tag it
  holds: tens of seconds per filtered Describe over thousands of snapshots).
* Terminating an instance deletes the primary interface it was launched with, as EC2 does.
* Copies to other regions: :mod:`lifeboat.local.copy_gapfill`.
* Status checks: moto's are always ``ok``; :class:`Impairments` makes an instance's system or
  instance check ``impaired``, as EC2 reports when a status-check alarm fires.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import moto.ec2.models.amis as ami_models
import moto.ec2.models.core as ec2_core
import moto.ec2.models.instances as instance_models
import moto.ec2.models.tags as ec2_tags
import moto.ec2.responses as ec2_responses
from moto.core.responses import ActionResult

ORIGINAL_CREATE_IMAGE = ami_models.AmiBackend.create_image
ORIGINAL_MAPPINGS: property = ami_models.Ami.block_device_mappings
ORIGINAL_FILTER = ami_models.Ami.get_filter_value


@dataclass
class Impairments:
    """Instance id → the status checks (``system``, ``instance``) EC2 reports ``impaired``."""

    checks: dict[str, set[str]] = field(default_factory=dict)

    def set(self, instance_id: str, check: str = "system", impaired: bool = True) -> None:
        found = self.checks.setdefault(instance_id, set())
        if impaired:
            found.add(check)
        else:
            found.discard(check)


def _create_image(
    backend: Any, instance_id: str, name: str, description: str, tag_specifications: Any
) -> Any:
    image_specs = [s for s in tag_specifications if s["ResourceType"] != "snapshot"]
    snapshot_tags = [
        t for s in tag_specifications if s["ResourceType"] == "snapshot" for t in s["Tags"]
    ]
    ami = ORIGINAL_CREATE_IMAGE(backend, instance_id, name, description, image_specs)
    instance = backend.get_instance(instance_id)
    extra = []
    for device, mapping in instance.get_block_device_mapping:
        if device == instance.root_device_name:
            continue
        volume = backend.get_volume(mapping.volume_id)
        snapshot = backend.create_snapshot(
            volume.id, f"Created by CreateImage({instance_id}) for {ami.id}", from_ami=ami.id
        )
        extra.append(
            {
                "DeviceName": device,
                "Ebs": {
                    "SnapshotId": snapshot.id,
                    "VolumeSize": volume.size,
                    "DeleteOnTermination": False,
                    "VolumeType": volume.volume_type,
                },
            }
        )
        for tag in snapshot_tags:
            snapshot.add_tag(tag["Key"], tag["Value"])
    ami.lifeboat_mappings = extra
    for tag in snapshot_tags:
        ami.ebs_snapshot.add_tag(tag["Key"], tag["Value"])
    return ami


def _block_device_mappings(ami: Any) -> list[dict[str, Any]]:
    assert ORIGINAL_MAPPINGS.fget is not None
    mappings: list[dict[str, Any]] = ORIGINAL_MAPPINGS.fget(ami)
    return mappings + list(getattr(ami, "lifeboat_mappings", []))


def _get_filter_value(ami: Any, filter_name: str, method_name: str | None = None) -> Any:
    if filter_name == "block-device-mapping.snapshot-id":
        return [m["Ebs"]["SnapshotId"] for m in _block_device_mappings(ami)]
    return ORIGINAL_FILTER(ami, filter_name, method_name)


def _describe_locked_snapshots(response: Any) -> Any:
    return ActionResult({"Snapshots": []})


def _get_tags(resource: Any) -> list[dict[str, str]]:
    resource_id = getattr(resource, "id", None)
    if not resource_id:
        return []
    kind = ec2_tags.EC2_PREFIX_TO_RESOURCE.get(ec2_tags.get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": k, "value": v, "resource_type": kind}
        for k, v in resource.ec2_backend.tags.get(resource_id, {}).items()
    ]


def _status_check(check: str, impairments: Impairments) -> property:
    original: property = getattr(instance_models.Instance, f"{check}_status")
    assert original.fget is not None
    read = original.fget

    def status(instance: Any) -> Any:
        found: dict[str, Any] = read(instance)
        if found.get("Status") == "ok" and check in impairments.checks.get(instance.id, ()):
            return {"Details": [{"Name": "reachability", "Status": "failed"}], "Status": "impaired"}
        return found

    return property(status)


ORIGINAL_TERMINATE = instance_models.Instance.terminate


def _terminate(instance: Any) -> Any:
    """EC2 deletes the primary interface RunInstances created with the instance
    (``DeleteOnTermination`` is true by default for it); moto keeps it unless the flag arrived
    as a boolean, which it never does in server mode (the query protocol sends "true")."""
    primary = instance.nics.get(0)
    if primary is not None and primary.description in (None, "", "Primary network interface"):
        primary.delete_on_termination = True
    return ORIGINAL_TERMINATE(instance)


@contextmanager
def ec2_gap_fills(impairments: Impairments) -> Iterator[None]:
    """Every EC2 gap-fill above, in place until exit."""
    patches: list[Any] = [
        mock.patch.object(ami_models.AmiBackend, "create_image", _create_image),
        mock.patch.object(
            ami_models.Ami, "block_device_mappings", property(_block_device_mappings)
        ),
        mock.patch.object(ami_models.Ami, "get_filter_value", _get_filter_value),
        mock.patch.object(
            ec2_responses.EC2Response,
            "describe_locked_snapshots",
            _describe_locked_snapshots,
            create=True,
        ),
        mock.patch.object(ec2_core.TaggedEC2Resource, "get_tags", _get_tags),
        mock.patch.object(
            instance_models.Instance, "system_status", _status_check("system", impairments)
        ),
        mock.patch.object(
            instance_models.Instance, "instance_status", _status_check("instance", impairments)
        ),
        mock.patch.object(instance_models.Instance, "terminate", _terminate),
    ]
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield
