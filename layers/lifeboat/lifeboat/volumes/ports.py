"""The EC2 port of volume restores (:class:`lifeboat.aws.volume_ops.VolumeOps`)."""

from __future__ import annotations

from typing import Protocol

from lifeboat.volumes.models import InstanceView, VolumePlan, VolumeView


class VolumeRestorePort(Protocol):
    def instance(self, instance_id: str) -> InstanceView | None: ...
    def volume(self, volume_id: str) -> VolumeView | None: ...
    def create_volume(self, plan: VolumePlan, tags: dict[str, str], client_token: str) -> str:
        """A volume from the plan's snapshot in its AZ, encrypted like the source (same key),
        tagged at creation; a repeated token returns the same volume."""
        ...

    def attach(self, volume_id: str, instance_id: str, device: str) -> None: ...
    def detach(self, volume_id: str, instance_id: str) -> None: ...
    def stop(self, instance_id: str) -> None: ...
    def start(self, instance_id: str) -> None: ...
    def replace_root(
        self, instance_id: str, volume_id: str, tags: dict[str, str], client_token: str
    ) -> str:
        """CreateReplaceRootVolumeTask with ``volume_id`` (available, in the instance's AZ) as
        the new root, the old root volume kept detached: the task id."""
        ...

    def replace_root_state(self, task_id: str, instance_id: str) -> tuple[str, str | None]:
        """The task's state (pending, in-progress, succeeded, failed…) and the new root
        volume id once known."""
        ...

    def mark_replaced(self, volume_id: str, execution_arn: str) -> None:
        """Tag the original volume ``lifeboat:replaced-by`` (the restore that swapped it out)."""
        ...

    def delete_volume(self, volume_id: str, execution_arn: str) -> None:
        """Delete a volume this restore created (tagged with it), refused on any other."""
        ...
