"""The drill's models: its input, the plan of each resource, each stage's result, and the one
event every drill task receives (``{"state.$": "$", "execution.$": "$$.Execution"}``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lifeboat.drill.cluster_plan import ClusterPlan
from lifeboat.errors import InvalidInputError
from lifeboat.models import UtcTime, validate_input
from lifeboat.plans import AppCheck, Name
from lifeboat.ports import DrillPort, Ports
from lifeboat.restore.models import (
    DatabasePlan,
    ExecutionContext,
    InstancePlan,
    LaunchDeferred,
    MissingStageError,
    TaskError,
)

# The drill state machine's time-out (statemachines/drill.asl.json TimeoutSeconds, tested);
# the sweeper deletes drill resources older than DRILL_TIMEOUT + SWEEP_MARGIN.
DRILL_TIMEOUT = timedelta(hours=4)
SWEEP_MARGIN = timedelta(hours=1)
INSTANCE_DEADLINE = timedelta(minutes=30)
DATABASE_DEADLINE = timedelta(hours=3)
# Every health deadline ends this long before the execution's own time-out, so that the last
# checks, the tear-downs and FinishDrill (each with its retries) still run inside it.
FINISH_MARGIN = timedelta(minutes=20)
# A drill's holds on the points it restores outlive its time-out by this much, then lapse by
# themselves (a drill stopped before FinishDrill never releases them).
HOLD_MARGIN = timedelta(minutes=15)
DB_PREFIX = "lifeboat-drill-"

ResourceKind = Literal["instance", "db", "cluster"]
Outcome = Literal["healthy", "unhealthy", "failed"]


class DrillInput(BaseModel):
    """Input of the drill state machine."""

    model_config = ConfigDict(extra="forbid")
    plan: Name
    resource: str | None = Field(
        None, pattern=r"^(i-[0-9a-f]{8,17}|[a-zA-Z][a-zA-Z0-9-]{0,62})$", description="one only"
    )
    requested_by: str = Field("unknown", max_length=300)
    scheduled_time: UtcTime | None = Field(
        None, description="Set by EventBridge Scheduler: the slot (one drill per slot)"
    )


class DrillTarget(BaseModel):
    """One resource of the drill and where its copy goes (``error``: it cannot be drilled)."""

    id: str
    type: ResourceKind
    tier: str | None = None
    data_taken_at: datetime | None = None
    subnet_id: str | None = None
    availability_zone: str | None = None
    security_group_ids: list[str] = Field(default_factory=list)
    instance: InstancePlan | None = None
    database: DatabasePlan | None = None
    cluster: ClusterPlan | None = Field(None, description="an Aurora cluster's drill")
    check: AppCheck | None = Field(None, description="the tier's application check (SSM)")
    error: str | None = None


class DrillPlan(BaseModel):
    """Begin's result: the plan drilled and each resource's target."""

    plan: str
    started_at: datetime
    resources: list[DrillTarget]
    skipped: list[str] = Field(default_factory=list, description="left out by the sample")
    held: list[str] = Field(default_factory=list, description="resources whose points it holds")
    duplicate: bool = Field(False, description="the slot was already claimed: nothing drilled")
    original_execution: str | None = Field(None, description="the slot's drill (a duplicate's)")
    not_drilled: list[dict[str, str]] = Field(
        default_factory=list, description="protected resources not drilled, each with its reason"
    )


class DrillLaunched(BaseModel):
    id: str
    type: ResourceKind
    requested_at: datetime
    deferred: Literal[False] = Field(False, description="see LaunchDeferred")
    waits: int = Field(0, ge=0, description="times the launch stopped for the shared pace")


class DrillHealth(BaseModel):
    healthy: bool
    state: str
    attempt: int = Field(ge=0)
    wait_seconds: int = Field(ge=0)
    deadline_passed: bool = False
    checked_at: datetime
    command_id: str | None = Field(None, description="the application check still running")
    app_output: str | None = Field(None, description="the last failed check's output (tail)")


class ResourceResult(BaseModel):
    """One resource's outcome: the catalog contract of the readiness report."""

    id: str
    type: ResourceKind
    result: Outcome
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    error: str | None = None
    drill_resource: str | None = None
    torn_down: list[str] = Field(default_factory=list)


class Begun(BaseModel):
    plan: DrillPlan


class LaunchResult(BaseModel):
    launched: DrillLaunched | LaunchDeferred

    def made(self) -> DrillLaunched | None:
        """The copy launched, None while the launch waits for the shared pace."""
        return self.launched if isinstance(self.launched, DrillLaunched) else None


class CheckResult(BaseModel):
    health: DrillHealth


class DrillState(BaseModel):
    """The state: at the top, begin's plan and the Map's results; inside the Map, one target
    and its stages' results."""

    model_config = ConfigDict(extra="ignore")
    begin: Begun | None = None
    results: list[ResourceResult] | None = None
    target: DrillTarget | None = None
    launch: LaunchResult | None = None
    check: CheckResult | None = None
    error: TaskError | None = None


class DrillTaskEvent(BaseModel):
    """What every drill task receives: ``{"state.$": "$", "execution.$": "$$.Execution"}``."""

    model_config = ConfigDict(extra="forbid")
    state: DrillState = Field(default_factory=DrillState)
    execution: ExecutionContext

    def request(self) -> DrillInput:
        return validate_input(DrillInput, self.execution.input)

    def target(self) -> DrillTarget:
        if self.state.target is None:
            raise MissingStageError("state.target", "no drill target (run inside the Map)")
        return self.state.target

    def launched(self) -> DrillLaunched:
        made = self.state.launch.made() if self.state.launch else None
        if made is None:
            raise MissingStageError("state.launch", "no drill copy: Launch's result is missing")
        return made

    @property
    def attempt(self) -> int:
        return self.state.check.health.attempt if self.state.check else 0


class DrillPlacementError(InvalidInputError):
    """A resource cannot be drilled (no drill subnet or security group for it)."""


class DrillRefusedError(InvalidInputError):
    """The drill network is not safe (a production subnet or security group): nothing runs."""


class DrillOutOfTimeError(InvalidInputError):
    """Too little of the drill's time-out is left to launch and check one more copy."""


class ForeignResourceError(InvalidInputError):
    """A resource in the drill copy's place was not launched by this drill: left untouched."""


def drills_of(ports: Ports) -> DrillPort:
    if ports.drills is None:
        raise InvalidInputError("ports", "no drill adapter configured")
    return ports.drills


def execution_deadline(execution: ExecutionContext) -> datetime:
    """Every health deadline of a drill ends by then: its own time-out, less the time the last
    checks, tear-downs and FinishDrill need."""
    return execution.start_time + DRILL_TIMEOUT - FINISH_MARGIN
