"""In-memory EC2 Auto Scaling and launch templates (the group port), for unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifeboat import tags as T
from lifeboat.asg.membership import GROUP_TAG
from lifeboat.asg.models import (
    AutoScalingGroup,
    GroupMember,
    InstanceRefresh,
    LaunchTemplateRef,
    LaunchTemplateVersion,
    NewGroup,
)
from lifeboat.asg.ports import GroupPort
from tests.fakes.common import new_id
from tests.fakes.ec2 import FakeEc2


@dataclass
class FakeGroups:
    """Groups, their members (instances in ``ec2``), templates and their versions."""

    ec2: FakeEc2
    groups_by_name: dict[str, AutoScalingGroup] = field(default_factory=dict)
    templates: dict[str, list[LaunchTemplateVersion]] = field(default_factory=dict)
    template_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    refresh_list: dict[str, list[InstanceRefresh]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    # --- set-up -------------------------------------------------------------------------------
    def add_template(self, name: str, image_id: str, **data: Any) -> str:
        template_id = new_id("lt")
        self.templates[template_id] = [
            LaunchTemplateVersion(
                template_id=template_id,
                template_name=name,
                version=1,
                image_id=image_id,
                data={"ImageId": image_id, "InstanceType": "t3.small", **data},
            )
        ]
        return template_id

    def add_group(
        self,
        name: str,
        template_id: str,
        plan: str | None = "standard",
        size: int = 2,
        member_version: int | None = None,
    ) -> AutoScalingGroup:
        version = self.templates[template_id][-1]
        members = []
        for n in range(size):
            iid = self.ec2.add_instance(plan or "other")
            instance = self.ec2.instances[iid]
            instance["ImageId"] = version.image_id
            instance["Placement"] = {"AvailabilityZone": f"us-east-1{'ab'[n % 2]}"}
            instance["Tags"].append({"Key": GROUP_TAG, "Value": name})
            members.append(
                GroupMember(
                    instance_id=iid,
                    availability_zone=f"us-east-1{'ab'[n % 2]}",
                    lifecycle_state="InService",
                    health_status="Healthy",
                    launch_template_version=str(member_version or version.version),
                )
            )
        group = AutoScalingGroup(
            name=name,
            launch_template=LaunchTemplateRef(
                template_id=template_id, template_name=version.template_name, version="$Latest"
            ),
            min_size=size,
            max_size=size * 2,
            desired_capacity=size,
            subnet_ids=("subnet-a", "subnet-b"),
            availability_zones=("us-east-1a", "us-east-1b"),
            members=tuple(members),
            tags={T.PLAN: plan} if plan else {},
        )
        self.groups_by_name[name] = group
        return group

    # --- reads ------------------------------------------------------------------------------
    def groups(self, names: list[str] | None = None) -> list[AutoScalingGroup]:
        wanted = self.groups_by_name if names is None else names
        return [self.groups_by_name[n] for n in sorted(wanted) if n in self.groups_by_name]

    def groups_for_plan(self, plan: str) -> list[AutoScalingGroup]:
        return [g for g in self.groups() if g.tags.get(T.PLAN) == plan]

    def group_names_of(self, instance_ids: list[str]) -> dict[str, str]:
        return {
            m.instance_id: g.name
            for g in self.groups_by_name.values()
            for m in g.members
            if m.instance_id in instance_ids
        }

    def template_version(self, template_id: str, version: str) -> LaunchTemplateVersion | None:
        versions = self.templates.get(template_id)
        if not versions:
            return None
        if version in ("$Latest", "$Default"):
            return versions[-1]
        found = [v for v in versions if str(v.version) == version]
        return found[0] if found else None

    def template_by_name(self, name: str) -> dict[str, str] | None:
        for template_id, versions in self.templates.items():
            if versions[0].template_name == name:
                return {"template_id": template_id, **self.template_tags.get(template_id, {})}
        return None

    # --- writes -----------------------------------------------------------------------------
    def create_template_version(
        self, template_id: str, data: dict[str, Any], description: str, client_token: str
    ) -> LaunchTemplateVersion:
        versions = self.templates[template_id]
        for existing in versions:
            if existing.description == description:
                return existing
        made = LaunchTemplateVersion(
            template_id=template_id,
            template_name=versions[0].template_name,
            version=len(versions) + 1,
            image_id=data.get("ImageId"),
            description=description,
            data=data,
        )
        versions.append(made)
        self.calls.append(("create_template_version", made))
        return made

    def create_template(
        self,
        name: str,
        data: dict[str, Any],
        description: str,
        tags: dict[str, str],
        client_token: str,
    ) -> LaunchTemplateVersion:
        template_id = self.add_template(name, str(data.get("ImageId")))
        self.templates[template_id][0] = self.templates[template_id][0].model_copy(
            update={"data": data, "description": description}
        )
        self.template_tags[template_id] = tags
        self.calls.append(("create_template", template_id))
        return self.templates[template_id][0]

    def set_template_version(self, group: str, template_id: str, version: int) -> None:
        found = self.groups_by_name[group]
        ref = LaunchTemplateRef(template_id=template_id, version=str(version))
        self.groups_by_name[group] = found.model_copy(update={"launch_template": ref})
        self.calls.append(("set_template_version", (group, template_id, version)))

    def create_group(self, group: NewGroup) -> AutoScalingGroup:
        made = AutoScalingGroup(
            name=group.name,
            launch_template=LaunchTemplateRef(
                template_id=group.template_id, version=str(group.template_version)
            ),
            min_size=group.min_size,
            max_size=group.max_size,
            desired_capacity=group.desired_capacity,
            subnet_ids=group.subnet_ids,
            tags=group.tags,
        )
        self.groups_by_name[group.name] = made
        self.calls.append(("create_group", group))
        return made

    def start_refresh(self, group: str, checkpoints: list[int], min_healthy: int) -> str:
        refresh = InstanceRefresh(refresh_id=new_id("refresh"), status="Successful")
        self.refresh_list.setdefault(group, []).insert(0, refresh)
        self.calls.append(("start_refresh", (group, checkpoints)))
        return refresh.refresh_id

    def refreshes(self, group: str, ids: list[str] | None = None) -> list[InstanceRefresh]:
        return [r for r in self.refresh_list.get(group, []) if not ids or r.refresh_id in ids]

    def cancel_refresh(self, group: str) -> bool:
        self.calls.append(("cancel_refresh", group))
        return False


_port: type[GroupPort] = FakeGroups  # the fake implements the port (checked by mypy)
