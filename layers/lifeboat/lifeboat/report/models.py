"""The report's input (what :mod:`lifeboat.report.gather` read) and its output: pydantic
models whose JSON (``lifeboat report --json``) is a contract: keys stay stable."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from lifeboat.asg.models import AutoScalingGroup
from lifeboat.models import RecoveryPoint
from lifeboat.plans import PlanSet
from lifeboat.report.app_models import ApplicationEvacuation

Rag = Literal["red", "amber", "green"]
FindingKind = Literal[
    "untagged_instance",
    "instance_store",
    "unencrypted_volume",
    "unencrypted_snapshot",
    "db_without_backups",
    "stale_rule",
    "single_az_group",
    "vanished_artifact",
]
DEFAULT_MARGIN_SECONDS = 3600  # the template's RpoAlarmMarginMinutes default


@dataclass
class FleetInputs:
    """Everything the report is built from, read through the ports at ``now``."""

    now: datetime
    plans: PlanSet
    plan_names: list[str]
    instances: dict[str, dict[str, Any]]  # protected instances, as DescribeInstances gives them
    volumes: dict[str, dict[str, Any]]  # their EBS volumes
    subnets: dict[str, list[dict[str, Any]]]  # by VPC: every subnet of the protected VPCs
    neighbours: list[dict[str, Any]]  # every live instance of those VPCs
    instance_storage: dict[str, int]  # instance-store GB by instance type
    databases: list[dict[str, Any]]  # every DB instance of the region
    protected_dbs: dict[str, tuple[str, str]]  # protected DB id -> (plan, "db" | "cluster")
    points: list[RecoveryPoint]
    alarms: set[str]  # names of Lifeboat's alarms in place
    drills: dict[str, list[dict[str, Any]]]  # DRILL#<plan> records by plan
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # Lifeboat's EBS snapshots
    margin_seconds: int = DEFAULT_MARGIN_SECONDS
    lineages: dict[str, list[str]] = field(default_factory=dict)  # server -> instances before it
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)  # protected Aurora clusters
    groups: list[AutoScalingGroup] = field(default_factory=list)  # protected Auto Scaling groups
    gone: dict[str, datetime] = field(default_factory=dict)  # sources first seen gone (prune)


class RuleStatus(BaseModel):
    """A resource's newest completed point of one rule, and its RPO against the target."""

    rule: str
    target_seconds: int
    newest_point_id: str | None = None
    newest_at: datetime | None = None
    rpo_seconds: int | None = None
    stale: bool
    # An instance's newest point: crash or application (docs/concepts/consistency.md).
    newest_consistency: str | None = None


class Drill(BaseModel):
    """A resource's last drill (from the drills' catalog records)."""

    execution: str
    started_at: datetime | None = None
    status: str
    result: str | None = None
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    error: str | None = None


class Mark(BaseModel):
    """One mark on a resource's timeline: a recovery point or a drill."""

    at: datetime
    what: Literal["point", "drill"]
    label: str
    ok: bool


class AzLoss(BaseModel):
    """A group if one of its AZs failed: the capacity left in its other AZs (InService
    members now), and the other AZs its subnets span (where it launches replacements)."""

    capacity_left: int
    other_azs: list[str]


class GroupSpread(BaseModel):
    """A protected Auto Scaling group's spread (the report shows the group as one resource)."""

    desired: int
    min_size: int
    max_size: int
    in_service_by_az: dict[str, int]
    if_az_failed: dict[str, AzLoss]
    single_az: bool
    decommissioned: bool = False


class ResourceStatus(BaseModel):
    id: str
    type: Literal["instance", "db", "cluster", "asg"]
    name: str
    plan: str
    availability_zone: str | None = None
    tier: str | None = None
    status: Rag
    rules: list[RuleStatus]
    last_drill: Drill | None = None
    alarms: list[str] = Field(default_factory=list)
    missing_alarms: list[str] = Field(default_factory=list)
    timeline: list[Mark] = Field(default_factory=list)
    group: GroupSpread | None = None  # an Auto Scaling group's spread


class AzRow(BaseModel):
    """One affected resource if its AZ failed now."""

    id: str
    type: Literal["instance", "db", "cluster"]
    name: str
    restorable: bool
    how: str  # "restore into us-east-1b (subnet-…)", "Multi-AZ failover", …
    target_azs: list[str] = Field(default_factory=list)
    image: bool = False
    data: bool = False
    fallback_instance_types: list[str] = Field(default_factory=list)
    rpo_seconds: int | None = None
    rto_seconds: float | None = None
    problems: list[str] = Field(default_factory=list)
    last_drill: str | None = Field(None, description="the newest drill's result (it counts)")
    artifacts: list[str] = Field(default_factory=list, description="what a restore would use")


class AzFailure(BaseModel):
    availability_zone: str
    status: Rag
    servers: list[AzRow]
    databases: list[AzRow]


class Finding(BaseModel):
    """Something that is not protected (or not as well as it looks)."""

    kind: FindingKind
    id: str
    name: str = ""
    detail: str


class Summary(BaseModel):
    status: Rag
    reasons: list[str]
    protected_instances: int
    protected_databases: int
    stale_rules: int
    not_protected: int
    unrestorable: int
    protected_groups: int = 0


class Decommissioned(BaseModel):
    """A resource that no longer exists, whose points are kept for the plan's
    decommissioned_days after it disappeared (listed, never failing)."""

    id: str
    plan: str
    gone_since: datetime
    kept_until: datetime
    points: int


class Verification(BaseModel):
    """Whether the artifacts the report names were read and found (report/verify.py)."""

    verified: bool
    checked: int = 0
    missing: list[str] = Field(default_factory=list)
    error: str | None = None


class Report(BaseModel):
    generated_at: datetime
    plans: list[str]
    margin_seconds: int
    summary: Summary
    resources: list[ResourceStatus]
    az_failures: list[AzFailure]
    not_protected: list[Finding]
    decommissioned: list[Decommissioned] = Field(default_factory=list)
    verification: Verification | None = Field(
        None, description="None: built without checking the artifacts exist"
    )
    # Declared applications: an evacuation of each from each of its AZs (report/applications.py).
    applications: list[ApplicationEvacuation] = Field(default_factory=list)
