"""An AZ evacuation's models: its input (the execution input of
``statemachines/evacuate.asl.json``), its plan (the begin task's result: tiers of member
steps, one recovery time T, each resource's point), and the event every member task receives.

The contract (``lifeboat recover --app NAME --az AZ [--dry-run] [--at TIME] [--json]``) is
in docs/concepts/applications.md."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lifeboat.apps.models import MemberKind, Route53Endpoint
from lifeboat.models import UtcTime, validate_input
from lifeboat.plans import Name
from lifeboat.restore.models import (
    AZ_PATTERN,
    DatabasePlan,
    ExecutionContext,
    Health,
    InstancePlan,
    LaunchDeferred,
    MissingStageError,
)


class EvacuateInput(BaseModel):
    """Input of the evacuate state machine."""

    model_config = ConfigDict(extra="forbid")
    app: Name = Field(description="an application a plan declares (plans.yaml applications)")
    az: str = Field(pattern=AZ_PATTERN, description="the failed Availability Zone")
    at: UtcTime | None = Field(
        None, description="recovery time T (default: the newest every resource can reach)"
    )
    plan: Name | None = Field(None, description="the plan declaring the app (when several do)")
    dry_run: bool = False
    notify: bool = Field(
        False, description="with dry_run: send the plan and the command to the on-call"
    )
    reason: str = Field("", max_length=500)
    requested_by: str = Field("unknown", max_length=300)


class Action(StrEnum):
    RESTORE_INSTANCE = "restore_instance"  # today's restore: launch, health, cut over
    RESTORE_DATABASE = "restore_database"  # point-in-time restore, then the endpoint switched
    AWAIT_FAILOVER = "await_failover"  # Multi-AZ: RDS fails over by itself; verified
    FAIL_OVER_CLUSTER = "fail_over_cluster"  # Aurora: FailoverDBCluster to a healthy reader
    SHIFT_GROUP = "shift_group"  # ARC zonal shift of an Auto Scaling group
    SHRINK_GROUP = "shrink_group"  # the group's subnets in the failed AZ removed


class EndpointPlan(BaseModel):
    """Where the application finds its database, and what it holds now."""

    route53: Route53Endpoint | None = None
    ssm_parameter: str | None = None
    current: str | None = None
    record_type: str = "CNAME"
    ttl: int = 60

    @property
    def where(self) -> str:
        if self.route53 is not None:
            return f"route53:{self.route53.zone_id}/{self.route53.name}"
        return f"ssm:{self.ssm_parameter}"


class MemberStep(BaseModel):
    """What the evacuation does to one member, and the data it comes back with."""

    resource_id: str
    kind: MemberKind
    tier: str
    name: str = ""
    action: Action
    source_az: str | None = None
    # The data the member comes back with: None for what keeps its data (failovers, groups).
    point_at: datetime | None = None
    point: str = ""
    behind_seconds: int | None = Field(None, description="T minus the member's point")
    # The member's own identity inside the evacuation (fence tag, client tokens, the
    # replacement's lifeboat:restore-execution tag): one per member, under the execution.
    execution_name: str
    execution_arn: str
    restore: Annotated[InstancePlan | DatabasePlan, Field(discriminator="kind")] | None = None
    endpoint: EndpointPlan | None = None
    group_arn: str | None = None
    keep_subnets: list[str] = Field(default_factory=list)
    drop_subnets: list[str] = Field(default_factory=list)
    away_from_zone_id: str | None = None
    target_instance: str | None = None
    notes: list[str] = Field(default_factory=list)


class TierPlan(BaseModel):
    tier: str
    steps: list[MemberStep]
    point_at: datetime | None = Field(None, description="the oldest point among its members")


class EvacuationPlan(BaseModel):
    kind: Literal["evacuation"] = "evacuation"
    app: str
    plan: str
    az: str
    execution_name: str
    recovery_time: datetime
    recovery_time_chosen: Literal["newest", "at"] = "newest"
    skew_seconds: int = 0
    tiers: list[TierPlan]
    unaffected: list[str] = Field(default_factory=list)
    endpoint: EndpointPlan | None = None
    not_automated: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    locked: list[str] = Field(default_factory=list)
    dry_run: bool = False
    proposed: bool = Field(False, description="a dry run sent to the on-call (alarm storm)")
    command: str = Field("", description="the exact command that runs this evacuation")

    def steps(self) -> list[MemberStep]:
        return [step for tier in self.tiers for step in tier.steps]


# --- the per-member tasks -----------------------------------------------------------------------
class Acted(BaseModel):
    """What a member's first task did: a replacement launched, a database restored, a failover
    asked for, a group shifted or shrunk."""

    kind: str
    id: str
    launched: dict[str, Any] | None = None  # restore.Launched, as the restore tasks read it
    detail: dict[str, str] = Field(default_factory=dict)
    # When the member's own recovery began: its health deadline counts from here (a later
    # tier must not inherit the time the earlier tiers took).
    started_at: datetime | None = None
    deferred: Literal[False] = Field(False, description="see LaunchDeferred")
    waits: int = Field(0, ge=0, description="times the launch stopped for the shared pace")


class ActResult(BaseModel):
    # A replacement's launch that stopped for the shared pace (WaitForMemberPace) until done.
    result: Acted | LaunchDeferred


class MemberCheck(BaseModel):
    health: Health


class MemberState(BaseModel):
    model_config = ConfigDict(extra="ignore")
    step: MemberStep
    act: ActResult | None = None
    check: MemberCheck | None = None


class MemberEvent(BaseModel):
    """What every member task receives: ``{"stage": …, "state.$": "$", "execution.$":
    "$$.Execution"}`` inside the evacuation's Map."""

    model_config = ConfigDict(extra="forbid")
    stage: Literal["act", "check", "settle"]
    state: MemberState
    execution: ExecutionContext

    def acted(self) -> Acted:
        acted = self.state.act.result if self.state.act else None
        if not isinstance(acted, Acted):
            raise MissingStageError("state.act", "the member's first task result is missing")
        return acted


class EvacuationState(BaseModel):
    """The evacuation's state at its begin, finish and abort tasks."""

    model_config = ConfigDict(extra="ignore")
    begin: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def plan(self) -> EvacuationPlan | None:
        found = (self.begin or {}).get("plan")
        return EvacuationPlan.model_validate(found) if found else None


class EvacuationEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: EvacuationState = Field(default_factory=EvacuationState)
    execution: ExecutionContext

    def request(self) -> EvacuateInput:
        return validate_input(EvacuateInput, self.execution.input)
