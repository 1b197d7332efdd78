"""EC2 Auto Scaling adapter: groups as :mod:`lifeboat.asg.models` (never response dicts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lifeboat import tags as T
from lifeboat.asg.models import AutoScalingGroup, GroupMember, LaunchTemplateRef
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.permissions import needs


def _template(raw: dict[str, Any]) -> LaunchTemplateRef | None:
    spec = raw.get("LaunchTemplate")
    if not spec:
        mixed = raw.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {})
        spec = mixed.get("LaunchTemplateSpecification")
    if not spec or not spec.get("LaunchTemplateId"):
        return None
    return LaunchTemplateRef(
        template_id=spec["LaunchTemplateId"],
        template_name=spec.get("LaunchTemplateName", ""),
        version=str(spec.get("Version") or "$Default"),
    )


def to_group(raw: dict[str, Any]) -> AutoScalingGroup:
    """One ``DescribeAutoScalingGroups`` entry as the domain model."""
    members = tuple(
        GroupMember(
            instance_id=m["InstanceId"],
            availability_zone=m.get("AvailabilityZone", ""),
            lifecycle_state=m.get("LifecycleState", ""),
            health_status=m.get("HealthStatus", ""),
            launch_template_version=(
                str(m["LaunchTemplate"]["Version"])
                if m.get("LaunchTemplate", {}).get("Version")
                else None
            ),
        )
        for m in raw.get("Instances", [])
    )
    subnets = tuple(s for s in str(raw.get("VPCZoneIdentifier") or "").split(",") if s)
    policy = raw.get("AvailabilityZoneImpairmentPolicy") or {}
    return AutoScalingGroup(
        name=raw["AutoScalingGroupName"],
        arn=raw.get("AutoScalingGroupARN", ""),
        launch_template=_template(raw),
        min_size=raw.get("MinSize", 0),
        max_size=raw.get("MaxSize", 0),
        desired_capacity=raw.get("DesiredCapacity", 0),
        subnet_ids=subnets,
        availability_zones=tuple(raw.get("AvailabilityZones", [])),
        target_group_arns=tuple(raw.get("TargetGroupARNs", [])),
        health_check_type=raw.get("HealthCheckType", "EC2"),
        health_check_grace_period=raw.get("HealthCheckGracePeriod", 0),
        members=members,
        tags={t["Key"]: t.get("Value", "") for t in raw.get("Tags", [])},
        zonal_shift_enabled=bool(policy.get("ZonalShiftEnabled", False)),
    )


class AutoScalingGateway:
    def __init__(
        self, retrier: Retrier | None = None, autoscaling: Any = None, region: str | None = None
    ) -> None:
        self.autoscaling = autoscaling or client("autoscaling", region)
        self.retrier = retrier or Retrier()

    def _pages(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for page in self.autoscaling.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])

    @needs("autoscaling:DescribeAutoScalingGroups")
    def groups(self, names: list[str] | None = None) -> list[AutoScalingGroup]:
        found: list[AutoScalingGroup] = []
        if names is None:
            found = [
                to_group(g)
                for g in self._pages("describe_auto_scaling_groups", "AutoScalingGroups")
            ]
        else:
            for start in range(0, len(names), 100):  # the API's limit per request
                chunk = names[start : start + 100]
                found += [
                    to_group(g)
                    for g in self._pages(
                        "describe_auto_scaling_groups",
                        "AutoScalingGroups",
                        AutoScalingGroupNames=chunk,
                    )
                ]
        return sorted(found, key=lambda g: g.name)

    @needs("autoscaling:DescribeAutoScalingGroups")
    def groups_for_plan(self, plan: str) -> list[AutoScalingGroup]:
        # A tag filter narrows the pages; the group's own tags are checked again (the filter is a
        # hint, the domain's rule is exact).
        raw = self._pages(
            "describe_auto_scaling_groups",
            "AutoScalingGroups",
            Filters=[{"Name": f"tag:{T.PLAN}", "Values": [plan]}],
        )
        groups = [to_group(g) for g in raw]
        return sorted((g for g in groups if g.tags.get(T.PLAN) == plan), key=lambda g: g.name)

    @needs("autoscaling:DescribeAutoScalingInstances")
    def group_names_of(self, instance_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(instance_ids), 50):  # the API's limit per request
            chunk = instance_ids[start : start + 50]
            for item in self._pages(
                "describe_auto_scaling_instances", "AutoScalingInstances", InstanceIds=chunk
            ):
                found[item["InstanceId"]] = item["AutoScalingGroupName"]
        return found
