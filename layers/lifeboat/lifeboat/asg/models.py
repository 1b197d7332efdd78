"""The Auto Scaling domain model: what the Auto Scaling adapter returns (never response dicts).

Shared by group protection (backup, restore, report, drills) and application recovery (an AZ
evacuation shifts or shrinks a group instead of restoring its members)."""

from __future__ import annotations

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
