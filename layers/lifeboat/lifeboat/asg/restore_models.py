"""The group restore's boundary: its execution input, the plan its first step makes, what each
step hands the next (ids, never Describe outputs) and the event every task receives."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lifeboat.models import ExecutionArn, ExecutionContext, Strict
from lifeboat.plans import REGION_PATTERN

# An Auto Scaling group name: 1-255 characters, no colon (AWS's own rule).
GROUP_NAME = r"^[^:\s][^:]{0,254}$"
Action = Literal["update", "recreate_template", "recreate_group", "create_in_region", "rollback"]
Step = Literal["begin", "apply", "check", "finish", "abort"]


class GroupRestoreInput(Strict):
    """Input of the group restore state machine (``lifeboat restore start --asg``)."""

    asg: str = Field(pattern=GROUP_NAME, description="the Auto Scaling group's name")
    recovery_point: str = Field("latest", min_length=1, max_length=300)
    dry_run: bool = False
    region: str | None = Field(
        None, pattern=REGION_PATTERN, description="restore from the group's copy in this region"
    )
    desired: int | None = Field(None, ge=0, le=10_000, description="desired capacity there")
    reason: str = Field("", max_length=500)
    requested_by: str = Field("unknown", max_length=300)
    rollback_of: ExecutionArn | None = Field(
        None, description="an earlier group restore whose previous template version to put back"
    )


class TemplateVersionRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    template_id: str
    version: int = Field(ge=1)


class GroupPlan(BaseModel):
    """What the restore will do (the dry run's output), decided before anything changes."""

    model_config = ConfigDict(extra="ignore")
    kind: Literal["asg"] = "asg"
    group: str
    action: Action
    dry_run: bool = False
    region: str | None = None
    home_region: str | None = None
    # The point (catalog key), its AMI and when its data was taken (a rollback: none).
    recovery_point_id: str | None = None
    point_key: tuple[str, str, str] | None = None
    image_id: str | None = None
    data_taken_at: str | None = None
    # The template a new version goes on (None: a template is created, named template_name).
    template_id: str | None = None
    template_name: str = ""
    # A rollback: the version put back.
    target: TemplateVersionRef | None = None
    # The group's template version before this restore (None: the group did not exist).
    previous: TemplateVersionRef | None = None
    group_exists: bool = True
    subnet_ids: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)
    min_size: int = 0
    max_size: int = 0
    desired_capacity: int = 0
    drop_key_name: bool = False
    locked: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    not_done: list[str] = Field(default_factory=list)


class Applied(BaseModel):
    """What the apply step did: the version the group now launches, and the refresh."""

    model_config = ConfigDict(extra="ignore")
    template_id: str
    version: int = Field(ge=1)
    refresh_id: str | None = None
    created_template: bool = False
    created_group: bool = False


class RefreshState(BaseModel):
    model_config = ConfigDict(extra="ignore")
    done: bool = False
    attempt: int = Field(0, ge=0, le=10_000)
    wait_seconds: int = 30
    status: str = ""
    percentage: int = 0


class TaskError(BaseModel):
    model_config = ConfigDict(extra="ignore")
    Error: str = "Unknown"  # noqa: N815 (Step Functions' names)
    Cause: str | None = None  # noqa: N815


RESULT_KEYS = frozenset({"plan", "applied", "refresh", "error", "abort", "result", "abort_error"})
WRAPPED = ("plan", "applied", "refresh")  # each task's result is at <path>.value


class GroupState(BaseModel):
    """The execution's state: its input, and each step's result at its own path."""

    model_config = ConfigDict(extra="allow")
    plan: GroupPlan | None = None
    applied: Applied | None = None
    refresh: RefreshState | None = None
    error: TaskError | None = None

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key in WRAPPED:
            if isinstance(out.get(key), dict) and "value" in out[key]:
                out[key] = out[key]["value"]
        return out

    def input(self) -> dict[str, Any]:
        return {k: v for k, v in (self.model_extra or {}).items() if k not in RESULT_KEYS}


class GroupTask(Strict):
    """What every task of ``statemachines/group_restore.asl.json`` receives."""

    step: Step
    execution: ExecutionContext
    state: GroupState
