"""EC2 Auto Scaling adapter: groups as :mod:`lifeboat.asg.models` (never response dicts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.asg.models import (
    AutoScalingGroup,
    GroupMember,
    InstanceRefresh,
    LaunchTemplateRef,
    LaunchTemplateVersion,
    NewGroup,
)
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code

# A template, or the version asked for, does not exist (deleted by hand, or never made).
TEMPLATE_GONE = frozenset(
    {
        "InvalidLaunchTemplateId.NotFound",
        "InvalidLaunchTemplateName.NotFoundException",
        "InvalidLaunchTemplateId.VersionNotFound",
        "InvalidLaunchTemplateId.Malformed",
    }
)


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


def to_version(raw: dict[str, Any]) -> LaunchTemplateVersion:
    """One ``DescribeLaunchTemplateVersions`` entry as the domain model."""
    data = dict(raw.get("LaunchTemplateData") or {})
    return LaunchTemplateVersion(
        template_id=raw["LaunchTemplateId"],
        template_name=raw.get("LaunchTemplateName", ""),
        version=int(raw["VersionNumber"]),
        image_id=data.get("ImageId"),
        description=raw.get("VersionDescription", ""),
        data=data,
    )


class AutoScalingGateway:
    def __init__(
        self,
        retrier: Retrier | None = None,
        autoscaling: Any = None,
        region: str | None = None,
        ec2: Any = None,
    ) -> None:
        self.autoscaling = autoscaling or client("autoscaling", region)
        # Launch templates are EC2's (CreateLaunchTemplate, CreateLaunchTemplateVersion).
        self.ec2 = ec2 or client("ec2", region)
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

    # --- launch templates (EC2) --------------------------------------------------------------
    @needs("ec2:DescribeLaunchTemplateVersions")
    def template_version(self, template_id: str, version: str) -> LaunchTemplateVersion | None:
        """One version of a template (a number, ``$Latest`` or ``$Default``), or None when the
        template or that version does not exist."""
        try:
            pages = self.ec2.get_paginator("describe_launch_template_versions").paginate(
                LaunchTemplateId=template_id, Versions=[version]
            )
            found = [v for page in pages for v in page.get("LaunchTemplateVersions", [])]
        except ClientError as exc:
            if error_code(exc) in TEMPLATE_GONE:
                return None
            raise
        return to_version(found[0]) if found else None

    @needs("ec2:DescribeLaunchTemplates")
    def template_by_name(self, name: str) -> dict[str, str] | None:
        """The template of that name: ``template_id`` and its tags (None: no such template)."""
        try:
            pages = self.ec2.get_paginator("describe_launch_templates").paginate(
                LaunchTemplateNames=[name]
            )
            found = [t for page in pages for t in page.get("LaunchTemplates", [])]
        except ClientError as exc:
            if error_code(exc) in TEMPLATE_GONE:
                return None
            raise
        if not found:
            return None
        return {"template_id": found[0]["LaunchTemplateId"], **T.to_dict(found[0].get("Tags"))}

    @needs("ec2:DescribeLaunchTemplateVersions", "ec2:CreateLaunchTemplateVersion")
    def create_template_version(
        self, template_id: str, data: dict[str, Any], description: str, client_token: str
    ) -> LaunchTemplateVersion:
        """A new version of ``template_id`` with ``data``, described with ``description``
        (which names the recovery point and the execution). Safe to repeat: the ClientToken
        makes EC2 answer a repeated call with the same version, and a version already described
        so is returned without a second call."""
        pages = self.ec2.get_paginator("describe_launch_template_versions").paginate(
            LaunchTemplateId=template_id
        )
        for page in pages:
            for raw in page.get("LaunchTemplateVersions", []):
                if raw.get("VersionDescription") == description:
                    return to_version(raw)
        made = self.retrier.call(
            self.ec2.create_launch_template_version,
            LaunchTemplateId=template_id,
            LaunchTemplateData=data,
            VersionDescription=description,
            ClientToken=client_token,
        )["LaunchTemplateVersion"]
        return to_version({**made, "LaunchTemplateData": made.get("LaunchTemplateData", data)})

    @needs("ec2:CreateLaunchTemplate", "ec2:CreateTags", "ec2:DescribeLaunchTemplates")
    def create_template(
        self,
        name: str,
        data: dict[str, Any],
        description: str,
        tags: dict[str, str],
        client_token: str,
    ) -> LaunchTemplateVersion:
        """A new launch template (tagged at creation). Safe to repeat: a template of that name
        that carries the same ``lifeboat:restore-execution`` tag is this call's, returned;
        one that does not is someone else's and the call fails."""
        try:
            made = self.retrier.call(
                self.ec2.create_launch_template,
                LaunchTemplateName=name,
                LaunchTemplateData=data,
                VersionDescription=description,
                ClientToken=client_token,
                TagSpecifications=[{"ResourceType": "launch-template", "Tags": T.to_list(tags)}],
            )["LaunchTemplate"]
        except ClientError as exc:
            existing = self.template_by_name(name) if "AlreadyExists" in error_code(exc) else None
            if existing is None or existing.get(T.RESTORE_EXECUTION) != tags.get(
                T.RESTORE_EXECUTION
            ):
                raise
            made = {"LaunchTemplateId": existing["template_id"], "LaunchTemplateName": name}
        return LaunchTemplateVersion(
            template_id=made["LaunchTemplateId"],
            template_name=made.get("LaunchTemplateName", name),
            version=1,
            image_id=data.get("ImageId"),
            description=description,
            data=data,
        )

    # --- groups ----------------------------------------------------------------------------
    @needs("autoscaling:UpdateAutoScalingGroup", "ec2:RunInstances", "iam:PassRole")
    def set_template_version(self, group: str, template_id: str, version: int) -> None:
        """Make ``version`` of ``template_id`` the group's launch template (new launches use
        it; running members stay until an instance refresh replaces them)."""
        self.retrier.call(
            self.autoscaling.update_auto_scaling_group,
            AutoScalingGroupName=group,
            LaunchTemplate={"LaunchTemplateId": template_id, "Version": str(version)},
        )

    @needs(
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:CreateOrUpdateTags",
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:RunInstances",
        "iam:PassRole",
    )
    def create_group(self, group: NewGroup) -> AutoScalingGroup:
        """A new group from a recorded configuration, tagged at creation. Safe to repeat: a
        group of that name carrying the same ``lifeboat:restore-execution`` tag is this call's;
        any other group of that name fails the call (never taken over)."""
        tags = [
            {
                "Key": k,
                "Value": v,
                "PropagateAtLaunch": not k.startswith("lifeboat:restore"),
                "ResourceId": group.name,
                "ResourceType": "auto-scaling-group",
            }
            for k, v in group.tags.items()
        ]
        try:
            self.retrier.call(
                self.autoscaling.create_auto_scaling_group,
                AutoScalingGroupName=group.name,
                LaunchTemplate={
                    "LaunchTemplateId": group.template_id,
                    "Version": str(group.template_version),
                },
                MinSize=group.min_size,
                MaxSize=group.max_size,
                DesiredCapacity=group.desired_capacity,
                VPCZoneIdentifier=",".join(group.subnet_ids),
                TargetGroupARNs=group.target_group_arns,
                HealthCheckType=group.health_check_type,
                HealthCheckGracePeriod=group.health_check_grace_period,
                Tags=tags,
            )
        except ClientError as exc:
            if error_code(exc) != "AlreadyExists":
                raise
            found = self.groups([group.name])
            if not found or found[0].tags.get(T.RESTORE_EXECUTION) != group.tags.get(
                T.RESTORE_EXECUTION
            ):
                raise
            return found[0]
        return self.groups([group.name])[0]

    @needs("autoscaling:StartInstanceRefresh", "autoscaling:DescribeInstanceRefreshes")
    def start_refresh(self, group: str, checkpoints: list[int], min_healthy: int) -> str:
        """Start an instance refresh (replace the members not on the group's template version,
        pausing at each checkpoint percentage): its id. A refresh already in progress on the
        group (a repeated call, or one started just before) is returned instead."""
        try:
            started = self.retrier.call(
                self.autoscaling.start_instance_refresh,
                AutoScalingGroupName=group,
                Strategy="Rolling",
                Preferences={
                    "MinHealthyPercentage": min_healthy,
                    "SkipMatching": True,
                    "CheckpointPercentages": checkpoints,
                    "CheckpointDelay": 60,
                },
            )
        except ClientError as exc:
            if error_code(exc) != "InstanceRefreshInProgress":
                raise
            running = self.refreshes(group)
            active = [r for r in running if not r.done]
            if not active:
                raise
            return active[0].refresh_id
        return str(started["InstanceRefreshId"])

    @needs("autoscaling:DescribeInstanceRefreshes")
    def refreshes(self, group: str, ids: list[str] | None = None) -> list[InstanceRefresh]:
        """The group's instance refreshes (newest first), or those of ``ids``."""
        kwargs: dict[str, Any] = {"AutoScalingGroupName": group}
        if ids:
            kwargs["InstanceRefreshIds"] = ids
        found: list[InstanceRefresh] = []
        while True:  # botocore has no paginator for it: NextToken by hand
            page = self.retrier.call(self.autoscaling.describe_instance_refreshes, **kwargs)
            found += [
                InstanceRefresh(
                    refresh_id=r["InstanceRefreshId"],
                    status=r.get("Status", ""),
                    percentage_complete=int(r.get("PercentageComplete") or 0),
                    instances_to_update=int(r.get("InstancesToUpdate") or 0),
                    reason=r.get("StatusReason", ""),
                )
                for r in page.get("InstanceRefreshes", [])
            ]
            if not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]

    @needs("autoscaling:CancelInstanceRefresh")
    def cancel_refresh(self, group: str) -> bool:
        """Cancel the group's refresh in progress (False: there was none)."""
        try:
            self.retrier.call(self.autoscaling.cancel_instance_refresh, AutoScalingGroupName=group)
        except ClientError as exc:
            if error_code(exc) == "ActiveInstanceRefreshNotFound":
                return False
            raise
        return True
