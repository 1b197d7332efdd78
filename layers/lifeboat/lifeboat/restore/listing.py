"""``lifeboat restore list``: the restores running now and those started in the last 24 hours,
each with what started it, what it restores, where it is, how old it is, and its ARN (no
fishing an alarm-started restore's ARN out of an e-mail)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from lifeboat.ports import CatalogPort, GuardStorePort

RECENT = timedelta(hours=24)
CLI_PREFIX = "restore-"  # the CLI names its executions restore-<resource>-<time>-<random>
Trigger = Literal["alarm", "cli", "api"]


class ExecutionSummary(BaseModel):
    """One execution of the restore state machine, as Step Functions describes it."""

    arn: str
    name: str
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    started_at: datetime
    stopped_at: datetime | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] | None = None


class RestoreExecutionsPort(Protocol):
    """The restore state machine's executions (:class:`lifeboat.aws.restore_history`)."""

    def executions(self, state_machine_arn: str, since: datetime) -> list[ExecutionSummary]:
        """Every execution running now or started at or after ``since``, described."""
        ...

    def execution(self, execution_arn: str) -> ExecutionSummary | None: ...

    def current_state(self, execution_arn: str) -> str | None:
        """The state a running execution entered last (None: none yet)."""
        ...


class RestoreRow(BaseModel):
    """One restore in the list (``--json``: these keys, stable)."""

    execution_arn: str
    name: str
    trigger: Trigger
    requested_by: str
    resource_id: str
    kind: Literal["instance", "db", "volume"]  # volume: lifeboat restore volume
    region: str | None = None
    status: (
        str  # running | restored | rolled-back | failed | timed-out | aborted | refused | dry-run
    )
    stage: str
    started_at: datetime
    age_seconds: int
    stopped_at: datetime | None = None
    replacement_id: str | None = None
    reason: str = ""


def trigger_of(summary: ExecutionSummary, guards: GuardStorePort) -> Trigger:
    """``alarm`` only if the alarm router recorded this execution for its resource (never from
    the input); ``cli`` when the CLI named it; ``api`` for an execution started any other way."""
    found = guards.auto(summary.name)
    if found is not None and found.get("resource_id") == resource_of(summary):
        return "alarm"
    return "cli" if summary.name.startswith(CLI_PREFIX) else "api"


def outcome(summary: ExecutionSummary, rolled_back: bool) -> str:
    """The execution's result in one word."""
    output = summary.output or {}
    if summary.status == "RUNNING":
        return "running"
    if summary.status == "SUCCEEDED":
        if output.get("status") == "refused":
            return "refused"
        if output.get("dry_run") is True:
            return "dry-run"
        return "rolled-back" if rolled_back else "restored"
    return summary.status.lower().replace("_", "-")


def restore_rows(
    summaries: list[ExecutionSummary],
    guards: GuardStorePort,
    rolled_back: set[str],
    stage_of: Callable[[str], str | None],
    now: datetime,
) -> list[RestoreRow]:
    """The rows, newest first: ``rolled_back`` holds the ARNs a rollback undid, ``stage_of``
    the current state of a running execution."""
    rows = []
    for summary in sorted(summaries, key=lambda s: (s.started_at, s.arn), reverse=True):
        status = outcome(summary, summary.arn in rolled_back)
        stage = (stage_of(summary.arn) or "starting") if status == "running" else status
        output = summary.output or {}
        rows.append(
            RestoreRow(
                execution_arn=summary.arn,
                name=summary.name,
                trigger=trigger_of(summary, guards),
                requested_by=str(summary.input.get("requested_by") or "unknown"),
                resource_id=resource_of(summary),
                kind="db" if summary.input.get("db_instance_id") else "instance",
                region=summary.input.get("region"),
                status=status,
                stage=stage,
                started_at=summary.started_at,
                age_seconds=max(0, int((now - summary.started_at).total_seconds())),
                stopped_at=summary.stopped_at,
                replacement_id=output.get("replacement_id"),
                reason=str(summary.input.get("reason") or ""),
            )
        )
    return rows


def resource_of(summary: ExecutionSummary) -> str:
    return str(summary.input.get("instance_id") or summary.input.get("db_instance_id") or "?")


def rolled_back_executions(catalog: CatalogPort, resources: set[str]) -> set[str]:
    """The restores a rollback undid (``lifeboat restore rollback`` records them)."""
    return {
        str(record.get("execution_arn"))
        for resource in sorted(resources)
        for record in catalog.records(f"RESTORE#{resource}")
        if record.get("status") == "rolled-back"
    }


def list_restores(
    history: RestoreExecutionsPort,
    guards: GuardStorePort,
    catalog: CatalogPort,
    state_machine_arn: str,
    now: datetime,
) -> list[RestoreRow]:
    """Restores running now or started in the last 24 hours, newest first."""
    summaries = history.executions(state_machine_arn, now - RECENT)
    restored = {resource_of(s) for s in summaries if s.status == "SUCCEEDED"}
    rolled_back = rolled_back_executions(catalog, restored)
    return restore_rows(summaries, guards, rolled_back, history.current_state, now)
