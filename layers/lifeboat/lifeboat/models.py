"""Pydantic models at every boundary: execution input, Lambda events, catalog records."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from lifeboat.asg.models import GroupConfig
from lifeboat.errors import InvalidInputError
from lifeboat.plans import Kind, Name
from lifeboat.scripts.models import ScriptsState

ResourceType = Literal["instance", "db", "cluster", "asg"]
M = TypeVar("M", bound=BaseModel)
S = TypeVar("S")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def validate_input(model: type[M], data: Any) -> M:
    """Validate ``data`` or raise :class:`InvalidInputError` naming the first bad field."""
    if not isinstance(data, dict):
        raise InvalidInputError("input", f"must be a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "input"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(model.model_fields))
            raise InvalidInputError(
                field, f"unknown field; remove it (allowed fields: {allowed})"
            ) from exc
        raise InvalidInputError(field, str(err["msg"])) from exc


def _in_utc_range(moment: datetime) -> datetime:
    """A moment that exists in UTC (``0001-01-01T00:00:00+14:00`` does not: converting it
    overflows), with its time zone (a naive time would be read in the machine's)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("give a time zone (e.g. 2026-11-27T02:45:00Z)")
    try:
        moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("out of range: not a representable UTC time") from exc
    return moment


def _iso(text: str) -> str:
    try:
        _in_utc_range(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time with a time zone: {exc}") from exc
    return text


UtcTime = Annotated[datetime, AfterValidator(_in_utc_range)]
IsoText = Annotated[str, StringConstraints(max_length=64), AfterValidator(_iso)]
RunId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")]
ExecutionName = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,80}$")]
ExecutionArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws[a-z-]*:states:[^\s]{1,2000}$", max_length=2048)
]


# --- execution input -------------------------------------------------------------------------
class BackupInput(Strict):
    """Input of the backup state machine (docs/design/contracts.md#inputs)."""

    plan: Name
    rule: Name
    dry_run: bool = False
    scheduled_time: UtcTime | None = Field(
        None, description="Set by EventBridge Scheduler (<aws.scheduler.scheduled-time>)"
    )


# --- Lambda events ---------------------------------------------------------------------------
class ExecutionContext(BaseModel):
    """``$$.Execution``, Step Functions' context object of the execution a Task runs in. Only
    what Lifeboat reads is declared; the rest (``Input``, ``RoleArn``, ``RedriveCount``...)
    is ignored, so AWS may add fields."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: ExecutionArn = Field(alias="Id")
    name: ExecutionName = Field(alias="Name")
    start_time: IsoText = Field(alias="StartTime")


class TaskEvent(Strict, Generic[S]):
    """What every Lambda Task of ``statemachines/backup.asl.json`` receives:
    ``{"state.$": "$", "execution.$": "$$.Execution"}``. Inside the Distributed Map, whose
    state is the item, the item selector builds the same two fields (the run's execution, not
    the Map's child execution)."""

    execution: ExecutionContext
    state: S


class BeginTask(TaskEvent[dict[str, Any]]):
    """BeginRun: the state is the execution's input (validated as :class:`BackupInput`)."""


class ResourceRef(Strict):
    type: ResourceType
    id: str = Field(min_length=1, max_length=255)


class CreateBatchEvent(Strict):
    """One batch of the create Map (the state of its CreateBatch task)."""

    run_id: RunId
    plan: Name
    rule: Name
    resources: list[ResourceRef] = Field(max_length=500)
    batch_index: int = Field(0, ge=0, description="$$.Map.Item.Index: the batch's place in the run")
    batch_size: int | None = Field(
        None, ge=1, le=500, description="size of the run's batches (begin's BATCH_SIZE)"
    )


class CreateTask(TaskEvent[CreateBatchEvent]):
    """CreateBatch, inside the create Map: the batch and the run's execution; with a rule's
    scripts, also the pre scripts' results (``scripts``) or the error the pre step failed with
    (``scripts_error``); after the task stopped for the pace, what it returned (``result``,
    a :class:`lifeboat.backup.pace.CreateProgress`)."""

    has_scripts: bool = False
    scripts: ScriptsState | None = None
    scripts_error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    # In the create Map's Express children (which live five minutes): see lifeboat.backup.pace.
    express: bool = False


class CheckEvent(Strict):
    run_id: RunId
    attempt: int = Field(0, ge=0, le=10_000)


class FinalizeEvent(Strict):
    run_id: RunId
    batches: list[dict[str, Any]] = Field(default_factory=list)


class RunSummary(BaseModel):
    """``$.run``: what BeginRun returned (only the run id is read after it)."""

    model_config = ConfigDict(extra="ignore")
    run_id: RunId


class PollState(BaseModel):
    """``$.poll``: the completion checks so far."""

    model_config = ConfigDict(extra="ignore")
    attempt: int = Field(0, ge=0, le=10_000)


class RunState(BaseModel):
    """The backup execution's state after the create Map: ``run`` (BeginRun's result),
    ``batches`` (the Map's results: counts, or a failed batch with its ``error``), ``poll``;
    anything else in it (alarms, errors caught on the way) is ignored."""

    model_config = ConfigDict(extra="ignore")
    run: RunSummary
    batches: list[dict[str, Any]] = Field(default_factory=list)
    poll: PollState = Field(default_factory=PollState)


class CheckTask(TaskEvent[RunState]):
    """CheckCompletion."""

    def request(self) -> CheckEvent:
        return CheckEvent(run_id=self.state.run.run_id, attempt=self.state.poll.attempt)


class FinalizeTask(TaskEvent[RunState]):
    """Finalize."""

    def request(self) -> FinalizeEvent:
        return FinalizeEvent(run_id=self.state.run.run_id, batches=self.state.batches)


# --- catalog records -------------------------------------------------------------------------
class PointStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    DELETING = "deleting"  # write-ahead: no longer offered for restore, artifacts going
    DELETED = "deleted"


LIVE_STATUSES = frozenset({PointStatus.PENDING, PointStatus.COMPLETED, PointStatus.DELETING})


class Intent(BaseModel):
    """What Lifeboat is about to create for a point, written to the catalog *before* the create
    call: the provenance of every artifact, even when the task dies right after the call."""

    model_config = ConfigDict(extra="ignore")
    at: datetime
    image_name: str | None = None
    db_snapshot_id: str | None = None
    volume_ids: list[str] = Field(default_factory=list)


class VolumeSnapshot(BaseModel):
    model_config = ConfigDict(extra="ignore")
    volume_id: str
    snapshot_id: str
    device_name: str | None = None
    size_gb: int = 0
    volume_type: str | None = None
    iops: int | None = None
    throughput: int | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    boot: bool = False


class BlockDevice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    device_name: str
    volume_id: str
    size_gb: int = 0
    volume_type: str | None = None
    iops: int | None = None
    throughput: int | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    delete_on_termination: bool = True


class TargetGroupMembership(BaseModel):
    model_config = ConfigDict(extra="ignore")
    target_group_arn: str
    port: int | None = None


class InstanceConfig(BaseModel):
    """Everything a restore needs when the original instance is gone
    (docs/design/contracts.md#recovery-points)."""

    model_config = ConfigDict(extra="ignore")
    instance_type: str
    availability_zone: str
    subnet_id: str | None = None
    subnet_tier: str | None = None
    vpc_id: str | None = None
    security_group_ids: list[str] = Field(default_factory=list)
    security_group_names: list[str] = Field(default_factory=list)
    iam_instance_profile_arn: str | None = None
    key_name: str | None = None
    ebs_optimized: bool = False
    root_device_name: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    elastic_ip: dict[str, str] | None = None
    target_groups: list[TargetGroupMembership] = Field(default_factory=list)
    block_devices: list[BlockDevice] = Field(default_factory=list)


class DatabaseConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")
    engine: str | None = None
    instance_class: str | None = None
    availability_zone: str | None = None
    multi_az: bool = False
    subnet_group: str | None = None
    parameter_group: str | None = None
    security_group_ids: list[str] = Field(default_factory=list)
    # Their names, as at backup (a restore in another region maps them by name there).
    security_group_names: list[str] = Field(default_factory=list)
    port: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class RecoveryPoint(BaseModel):
    """One catalog entry: one kind of backup of one resource in one run."""

    model_config = ConfigDict(extra="ignore")
    recovery_point_id: str
    run_id: str
    plan: str
    rule: str
    kind: Kind
    source_id: str
    source_type: ResourceType
    status: PointStatus
    created_at: datetime
    completed_at: datetime | None = None
    error: str | None = None
    image_id: str | None = None
    snapshots: list[VolumeSnapshot] = Field(default_factory=list)
    db_snapshot_id: str | None = None
    db_cluster_snapshot_id: str | None = None
    size_gb: int = 0
    instance: InstanceConfig | None = None
    database: DatabaseConfig | None = None
    deleted_at: datetime | None = None
    deleted_reason: str | None = None
    deleting_since: datetime | None = None
    # The prune that marked it 'deleting' (its execution): that prune finishes it at once.
    deleting_by: str | None = None
    intent: Intent | None = None
    # A copy in another region (docs/concepts/copies.md): ``region`` is where it
    # lives (None: the home region), ``copy_of`` the recovery point it copies.
    region: str | None = None
    copy_of: str | None = None
    copy_started_at: datetime | None = None
    copy_snapshots: int = Field(0, ge=0, description="EBS snapshot copies it counts in flight")
    # EBS Snapshot Lock on its snapshots (a rule's ``lock``): never deleted before this.
    locked_until: datetime | None = None
    lock_mode: str | None = None
    # How consistent the point is: "application" (a rule's pre script ran and succeeded around
    # the create call) or "crash" (the default), and why (docs: Concepts, consistency).
    consistency: Literal["application", "crash"] = "crash"
    consistency_reason: str | None = None
    # An Auto Scaling group's point (kind ``asg``): its launch template data and settings.
    group: GroupConfig | None = None

    @property
    def is_copy(self) -> bool:
        return self.region is not None

    def artifact_ids(self) -> list[str]:
        ids = [self.image_id, self.db_snapshot_id, self.db_cluster_snapshot_id]
        ids += [s.snapshot_id for s in self.snapshots]
        return [i for i in ids if i]


LIVE_LOCK_STATES = frozenset({"governance", "compliance", "compliance-cooloff"})


class SnapshotLock(BaseModel):
    """One snapshot's EBS Snapshot Lock as EC2 reports it (``LockSnapshot``,
    ``DescribeLockedSnapshots``), or ``error``: the code EC2 refused a lock with."""

    model_config = ConfigDict(frozen=True)
    snapshot_id: str
    state: str | None = Field(None, description="governance, compliance(-cooloff) or expired")
    expires_on: datetime | None = None
    error: str | None = None

    @property
    def holds(self) -> bool:
        """Whether the lock keeps the snapshot from being deleted (as of EC2's answer)."""
        return self.error is None and self.state in LIVE_LOCK_STATES


class Outcome(BaseModel):
    """What happened to one resource and kind in a run (execution output)."""

    resource_id: str
    resource_type: ResourceType
    kind: Kind
    status: PointStatus
    recovery_point_id: str | None = None
    artifact_ids: list[str] = Field(default_factory=list)
    error: str | None = None
    consistency: Literal["application", "crash"] | None = None  # instances' points


def marked(
    point: RecoveryPoint,
    status: PointStatus,
    *,
    when: datetime,
    error: str | None = None,
    reason: str | None = None,
) -> RecoveryPoint:
    """``point`` in ``status``: completed when, failed why, deleted when and why."""
    changes: dict[str, Any] = {"status": status}
    if status is PointStatus.COMPLETED:
        changes["completed_at"] = when
    if status is PointStatus.FAILED:
        changes["error"] = error
    if status is PointStatus.DELETED:
        changes["deleted_at"] = when
        changes["deleted_reason"] = reason
    return point.model_copy(update=changes)
