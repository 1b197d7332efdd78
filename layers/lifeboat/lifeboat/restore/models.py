"""The restore's models: its input, the typed result of each stage, and the one event every
restore task receives (the whole state of ``statemachines/restore.asl.json`` and the
execution's context object), parsed once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from lifeboat.errors import InvalidInputError
from lifeboat.models import TargetGroupMembership, UtcTime, validate_input

AZ_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$"


class RestoreInput(BaseModel):
    """Input of the restore state machine (docs/design/contracts.md#inputs)."""

    model_config = ConfigDict(extra="forbid")
    instance_id: str | None = Field(None, pattern=r"^i-[0-9a-f]{8,17}$")
    db_instance_id: str | None = Field(None, pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,62}$")
    target_az: str | None = Field(None, pattern=AZ_PATTERN)
    target_subnet: str | None = Field(None, pattern=r"^subnet-[0-9a-f]{8,17}$")
    recovery_point: str = Field("latest", min_length=1, max_length=300)
    restore_time: UtcTime | None = None
    point_time: UtcTime | None = Field(
        None,
        description="restore as of this time (--point TIME): an instance from the AMI at or "
        "before it with the newest EBS set at or before it; a database to that point in time "
        "when it is within its restorable window (to its latest restorable time when it is "
        "after it), else from its newest snapshot at or before it; never in the future",
    )
    dry_run: bool = False
    keep_on_failure: bool = False
    reason: str = Field("", max_length=500)
    requested_by: str = Field("unknown", max_length=300)
    trigger: Literal["manual", "alarm"] = "manual"
    force: bool = False
    allow_same_az: bool = Field(
        False,
        description="restore into the original's own AZ (a failed host, not a failed AZ)",
    )
    avoid_azs: list[Annotated[str, StringConstraints(pattern=AZ_PATTERN)]] = Field(
        default_factory=list, max_length=10, description="AZs with trouble (set by the router)"
    )
    region: str | None = Field(
        None,
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
        description="restore from the copies in this region (docs/runbooks/region-lost.md)",
    )
    security_groups: list[Annotated[str, StringConstraints(pattern=r"^sg-[0-9a-f]{8,17}$")]] = (
        Field(default_factory=list, max_length=5, description="groups in that region's VPC")
    )

    @model_validator(mode="after")
    def _one_target(self) -> RestoreInput:
        if bool(self.instance_id) == bool(self.db_instance_id):
            raise ValueError("give exactly one of instance_id or db_instance_id")
        if self.restore_time and not self.db_instance_id:
            raise ValueError("restore_time (point-in-time) applies to databases only")
        if self.restore_time and self.region:
            raise ValueError(
                "restore_time (point-in-time) needs the database's own automated backups, "
                "which are in its home region: remove it to restore the newest copy in region"
            )
        if self.security_groups and not self.region:
            raise ValueError("security_groups applies with region only (at home: the original's)")
        if self.point_time and (self.recovery_point != "latest" or self.restore_time):
            raise ValueError(
                "point_time (--point TIME) names the point by its time: remove recovery_point "
                "and restore_time"
            )
        if self.point_time and not self.point_time.tzinfo:
            raise ValueError("point_time needs a timezone, e.g. 2026-11-27T02:00:00Z")
        return self

    @property
    def resource_id(self) -> str:
        return self.instance_id or self.db_instance_id or ""


# --- the plan (begin's result) ------------------------------------------------------------------
class VolumePlan(BaseModel):
    device_name: str
    snapshot_id: str | None
    size_gb: int = 0
    volume_type: str | None = None
    iops: int | None = None
    throughput: int | None = None
    delete_on_termination: bool = True
    source: str
    taken_at: datetime
    not_in_image: bool = Field(
        False, description="a volume the AMI lacks: created from its EBS snapshot at launch"
    )


class Candidate(BaseModel):
    availability_zone: str
    subnet_id: str


class PlanBase(BaseModel):
    """What both plans carry: what begin decided around the planner's choice."""

    dry_run: bool = False
    locked: list[str] = Field(default_factory=list, description="locks this execution holds")
    lineage: list[str] = Field(default_factory=list, description="original → R1 → R2 …")
    source_id: str
    data_taken_at: datetime
    same_az: bool = False
    warnings: list[str] = Field(default_factory=list)
    region: str | None = Field(None, description="restored in this region (None: at home)")
    # A restore in another region (region.py): the copy's origin, where it lands, what it
    # will not do (the dry-run plan and the summary say so).
    home_region: str | None = None
    copy_of: str | None = Field(None, description="the home recovery point copied")
    vpc_id: str | None = Field(None, description="the VPC restored into (another region)")
    security_group_names: list[str] = Field(default_factory=list)
    not_done: list[str] = Field(default_factory=list, description="what is NOT done, and why")
    as_of: datetime | None = Field(None, description="restored as of this time (--point)")
    point_note: str | None = Field(None, description="how the point was chosen, in plain words")


class InstancePlan(PlanBase):
    kind: Literal["instance"] = "instance"
    name: str
    source_az: str
    source_state: str
    recovery_point_id: str
    image_id: str
    image_taken_at: datetime
    root_device_name: str | None
    volumes: list[VolumePlan]
    candidates: list[Candidate]
    instance_types: list[str]
    security_group_ids: list[str]
    iam_instance_profile_arn: str | None = None
    key_name: str | None = None
    ebs_optimized: bool = False
    tags: dict[str, str]
    elastic_ip: dict[str, str] | None = None
    target_groups: list[TargetGroupMembership] = Field(default_factory=list)


class DatabasePlan(PlanBase):
    kind: Literal["db"] = "db"
    source_az: str | None
    recovery_point_id: str | None
    snapshot_id: str | None
    restore_time: datetime | None
    new_identifier: str
    target_az: str | None
    instance_class: str | None
    multi_az: bool
    subnet_group: str | None
    parameter_group: str | None
    security_group_ids: list[str]
    tags: dict[str, str]


Plan = Annotated[InstancePlan | DatabasePlan, Field(discriminator="kind")]


# --- the other stages' results ------------------------------------------------------------------
class CapacityAttempt(BaseModel):
    """A launch refused for capacity (the next type, then the next AZ, is tried)."""

    availability_zone: str
    instance_type: str
    error: str


class Launched(BaseModel):
    """The replacement launch made: an instance or a database."""

    kind: Literal["instance", "db"]
    id: str
    availability_zone: str | None = None
    subnet_id: str | None = None
    instance_type: str | None = None
    capacity_fallbacks: list[CapacityAttempt] = Field(default_factory=list)
    deferred: Literal[False] = Field(False, description="see LaunchDeferred")
    waits: int = Field(0, ge=0, description="times the launch stopped for the shared pace")


class LaunchDeferred(BaseModel):
    """A launch task that stopped for the stack's shared pace (:mod:`lifeboat.restore.pace`):
    its state machine waits until ``wait_until`` and calls the task again with this, which
    spends ``reserved`` (reserved at ``reserved_at``) instead of reserving twice."""

    model_config = ConfigDict(extra="ignore")
    deferred: Literal[True] = True
    wait_until: str = Field(description="ISO time, whole seconds, rounded down")
    reserved: dict[str, int] = Field(default_factory=dict)
    reserved_at: float = 0.0
    waits: int = Field(ge=1, description="times the task stopped for the pace so far")
    attempts: list[CapacityAttempt] = Field(
        default_factory=list, description="capacity fallbacks tried before it stopped"
    )


class Health(BaseModel):
    """One health check of the replacement (``attempt`` counts the checks made)."""

    healthy: bool
    state: str
    attempt: int = Field(ge=0)
    wait_seconds: int = Field(ge=0)
    deadline_passed: bool = False
    system: str | None = None
    instance: str | None = None
    endpoint: str | None = None


class CutOverRecord(BaseModel):
    """What the cut-over did (and, for a database, what a person must do)."""

    fenced: str | None = None
    stopped: bool = False
    stop_outcome: str | None = None
    previous_fence: str | None = None
    eip_previous_holder: str | None = None
    eip_moved: bool = False
    public_ip: str | None = None
    target_groups: list[str] = Field(default_factory=list)
    note: str | None = None


class TaskError(BaseModel):
    """What a Catch (or NotHealthyInTime) put at ``$.error``."""

    model_config = ConfigDict(extra="ignore")
    Error: str = "Unknown"  # noqa: N815 (Step Functions' names)
    Cause: str | None = None  # noqa: N815


# --- the state machine's state, and the event every task receives -------------------------------
class Begun(BaseModel):
    plan: Plan


class LaunchResult(BaseModel):
    launched: Launched | LaunchDeferred

    def made(self) -> Launched | None:
        """The replacement, None while the launch waits for the pace."""
        return self.launched if isinstance(self.launched, Launched) else None


class CheckResult(BaseModel):
    health: Health


class CutOverResult(BaseModel):
    cutover: CutOverRecord


class RestoreState(BaseModel):
    """The state machine's state: the execution's input (read from the context object, not
    from here) and each stage's result at its ResultPath; a stage not reached is absent."""

    model_config = ConfigDict(extra="ignore")
    begin: Begun | None = None
    launch: LaunchResult | None = None
    check: CheckResult | None = None
    cut_over: CutOverResult | None = None
    error: TaskError | None = None


def _utc(moment: datetime) -> datetime:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("out of range: not a representable UTC time") from exc


class ExecutionContext(BaseModel):
    """``$$.Execution``: the execution's identity and its input, as Step Functions gives them."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: str = Field(alias="Id", pattern=r"^arn:aws[a-z-]*:states:", max_length=2048)
    # Any name Step Functions accepts (at most 80 characters), as the old event took it.
    name: str = Field(alias="Name", min_length=1, max_length=80)
    start_time: Annotated[datetime, AfterValidator(_utc)] = Field(alias="StartTime")
    input: dict[str, Any] = Field(default_factory=dict, alias="Input")


class MissingStageError(InvalidInputError):
    """A task ran without the result of a stage it depends on (a broken state machine)."""


class TaskEvent(BaseModel):
    """What every restore task receives: ``{"state.$": "$", "execution.$": "$$.Execution"}``."""

    model_config = ConfigDict(extra="forbid")
    state: RestoreState = Field(default_factory=RestoreState)
    execution: ExecutionContext

    def request(self) -> RestoreInput:
        """The execution's input, validated (errors name the input's field)."""
        return validate_input(RestoreInput, self.execution.input)

    def plan(self) -> InstancePlan | DatabasePlan:
        if self.state.begin is None:
            raise MissingStageError("state.begin", "no plan: ValidateAndPlan's result is missing")
        return self.state.begin.plan

    def launched(self) -> Launched:
        made = self.state.launch.made() if self.state.launch else None
        if made is None:
            raise MissingStageError("state.launch", "no replacement: Launch's result is missing")
        return made

    def instance_plan(self) -> InstancePlan:
        plan = self.plan()
        if not isinstance(plan, InstancePlan):
            raise MissingStageError("state.begin.plan.kind", "an instance plan is needed")
        return plan

    @property
    def attempt(self) -> int:
        """Health checks made so far (the previous check's count; 0 before the first)."""
        return self.state.check.health.attempt if self.state.check else 0
