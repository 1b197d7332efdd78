"""Auto Scaling in memory for the apps ports (implements ``AutoScalingPort``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lifeboat.asg.models import AutoScalingGroup
from lifeboat.asg.ports import AutoScalingPort


@dataclass
class FakeAutoScaling:
    groups_by_name: dict[str, AutoScalingGroup] = field(default_factory=dict)

    def groups(self, names: list[str] | None = None) -> list[AutoScalingGroup]:
        return [g for n, g in sorted(self.groups_by_name.items()) if names is None or n in names]

    def groups_for_plan(self, plan: str) -> list[AutoScalingGroup]:
        return [g for g in self.groups() if g.tags.get("lifeboat:plan") == plan]

    def group_names_of(self, instance_ids: list[str]) -> dict[str, str]:
        return {
            m.instance_id: g.name
            for g in self.groups()
            for m in g.members
            if m.instance_id in instance_ids
        }


_autoscaling: AutoScalingPort = FakeAutoScaling()  # the fake implements the port (checked by mypy)
