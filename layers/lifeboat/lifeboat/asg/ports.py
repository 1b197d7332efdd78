"""The Auto Scaling port (``lifeboat/ports.py`` is full: feature ports live in their package)."""

from __future__ import annotations

from typing import Protocol

from lifeboat.asg.models import AutoScalingGroup


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
