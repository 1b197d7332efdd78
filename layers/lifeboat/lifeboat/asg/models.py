"""The Auto Scaling domain model: what the Auto Scaling adapter returns (never response dicts).

Shared by group protection (backup, restore, report, drills) and application recovery (an AZ
evacuation shifts or shrinks a group instead of restoring its members)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LaunchTemplateRef(BaseModel):
    """The launch template a group launches from, as the group names it."""

    model_config = ConfigDict(frozen=True)
    template_id: str
    template_name: str = ""
    # As the group holds it: a number, "$Latest" or "$Default".
    version: str = "$Default"


class GroupMember(BaseModel):
    """One instance of a group, as Auto Scaling reports it."""

    model_config = ConfigDict(frozen=True)
    instance_id: str
    availability_zone: str
    lifecycle_state: str  # InService, Pending, Terminating, Standby, ...
    health_status: str  # Healthy | Unhealthy
    # The template version the member was launched from (None: launch configuration or unknown).
    launch_template_version: str | None = None

    @property
    def in_service(self) -> bool:
        return self.lifecycle_state == "InService" and self.health_status == "Healthy"


class AutoScalingGroup(BaseModel):
    """One Auto Scaling group and its configuration (what a group's point records)."""

    model_config = ConfigDict(frozen=True)
    name: str
    arn: str = ""
    launch_template: LaunchTemplateRef | None = None
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=0)
    desired_capacity: int = Field(ge=0)
    subnet_ids: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()
    target_group_arns: tuple[str, ...] = ()
    health_check_type: str = "EC2"
    health_check_grace_period: int = 0
    members: tuple[GroupMember, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    # AvailabilityZoneImpairmentPolicy.ZonalShiftEnabled: ARC zonal shift can move it off an AZ.
    zonal_shift_enabled: bool = False

    def in_service_by_az(self) -> dict[str, int]:
        """Members InService and healthy, by AZ (every AZ of the group listed, 0 included)."""
        counts = dict.fromkeys(self.availability_zones, 0)
        for member in self.members:
            if member.in_service:
                counts[member.availability_zone] = counts.get(member.availability_zone, 0) + 1
        return counts


class LaunchTemplateVersion(BaseModel):
    """One launch template version (``DescribeLaunchTemplateVersions``), its data as AWS holds
    it: the PascalCase ``LaunchTemplateData`` is kept whole, opaque to the domain, so that a
    restore writes back exactly what was recorded."""

    model_config = ConfigDict(frozen=True)
    template_id: str
    template_name: str = ""
    version: int = Field(ge=1)
    image_id: str | None = None
    description: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class GroupConfig(BaseModel):
    """What a group's point records: everything needed to put the group back (a new template
    version with the point's AMI) or to recreate it (template and group), here or elsewhere."""

    model_config = ConfigDict(extra="ignore")
    template_id: str
    template_name: str = ""
    template_version: int = Field(ge=1)
    launch_template_data: dict[str, Any] = Field(default_factory=dict)
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=0)
    desired_capacity: int = Field(ge=0)
    subnet_ids: list[str] = Field(default_factory=list)
    availability_zones: list[str] = Field(default_factory=list)
    # The tier of each subnet (``lifeboat:tier`` or its Name without the AZ suffix), and the VPC:
    # a group recreated in another region lands in the subnets of the same tiers there.
    subnet_tiers: dict[str, str] = Field(default_factory=dict)
    vpc_id: str | None = None
    target_group_arns: list[str] = Field(default_factory=list)
    health_check_type: str = "EC2"
    health_check_grace_period: int = 0
    # The group's own tags (user tags, ``lifeboat:plan`` included; never ``aws:*``) and the
    # names of the security groups the template names (mapped by name in another region).
    tags: dict[str, str] = Field(default_factory=dict)
    security_group_names: list[str] = Field(default_factory=list)
    member_id: str = Field(description="the InService member whose AMI the point holds")


class NewGroup(BaseModel):
    """A group to create (a restore whose group is gone, or in another region)."""

    model_config = ConfigDict(frozen=True)
    name: str
    template_id: str
    template_version: int = Field(ge=1)
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=0)
    desired_capacity: int = Field(ge=0)
    subnet_ids: tuple[str, ...]
    target_group_arns: tuple[str, ...] = ()
    health_check_type: str = "EC2"
    health_check_grace_period: int = 0
    tags: dict[str, str] = Field(default_factory=dict)


REFRESH_DONE = frozenset(
    {"Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"}
)


class InstanceRefresh(BaseModel):
    """One instance refresh of a group (``DescribeInstanceRefreshes``)."""

    model_config = ConfigDict(frozen=True)
    refresh_id: str
    # Pending | InProgress | Successful | Failed | Cancelling | Cancelled | RollbackInProgress |
    # RollbackFailed | RollbackSuccessful | Baking
    status: str
    percentage_complete: int = 0
    instances_to_update: int = 0
    reason: str = ""

    @property
    def done(self) -> bool:
        return self.status in REFRESH_DONE

    @property
    def succeeded(self) -> bool:
        return self.status == "Successful"
