"""The Auto Scaling port (``lifeboat/ports.py`` is full: feature ports live in their package)."""

from __future__ import annotations

from typing import Any, Protocol

from lifeboat.asg.models import (
    AutoScalingGroup,
    InstanceRefresh,
    LaunchTemplateVersion,
    NewGroup,
)


class AutoScalingPort(Protocol):
    """EC2 Auto Scaling reads (:class:`lifeboat.aws.autoscaling.AutoScalingGateway`): groups as
    domain models. Group protection adds its writes here; AZ evacuation uses its own port."""

    def groups(self, names: list[str] | None = None) -> list[AutoScalingGroup]:
        """The named groups (those that exist), or every group of the region."""
        ...

    def groups_for_plan(self, plan: str) -> list[AutoScalingGroup]:
        """Groups whose own tags carry ``lifeboat:plan=<plan>`` (members' tags never count)."""
        ...

    def group_names_of(self, instance_ids: list[str]) -> dict[str, str]:
        """instance id → group name, for the instances that are members of a group."""
        ...


class GroupPort(AutoScalingPort, Protocol):
    """Group protection: the reads above, launch template versions, and the writes a group's
    restore makes (:class:`lifeboat.aws.autoscaling.AutoScalingGateway`)."""

    def template_version(self, template_id: str, version: str) -> LaunchTemplateVersion | None:
        """That version (a number, ``$Latest``, ``$Default``) of the template, or None."""
        ...

    def template_by_name(self, name: str) -> dict[str, str] | None: ...
    def create_template_version(
        self, template_id: str, data: dict[str, Any], description: str, client_token: str
    ) -> LaunchTemplateVersion: ...
    def create_template(
        self,
        name: str,
        data: dict[str, Any],
        description: str,
        tags: dict[str, str],
        client_token: str,
    ) -> LaunchTemplateVersion: ...
    def set_template_version(self, group: str, template_id: str, version: int) -> None: ...
    def create_group(self, group: NewGroup) -> AutoScalingGroup: ...
    def start_refresh(self, group: str, checkpoints: list[int], min_healthy: int) -> str: ...
    def refreshes(self, group: str, ids: list[str] | None = None) -> list[InstanceRefresh]: ...
    def cancel_refresh(self, group: str) -> bool: ...
