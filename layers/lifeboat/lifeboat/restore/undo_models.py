"""The shapes of ``lifeboat restore rollback`` (:mod:`lifeboat.restore.undo`): its request and
result, what each kind of rollback is given, and the registry of kinds (``instance``, ``db``; an
Auto Scaling group registers its own with :func:`register_rollback`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from lifeboat.ports import Ports
from lifeboat.restore.listing import ExecutionSummary
from lifeboat.restore.models import DatabasePlan, InstancePlan

EXECUTION_ARN = r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:\s]+:[^:\s]+$"
ROLLED_BACK = "rolled-back"


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    execution_arn: str = Field(pattern=EXECUTION_ARN, max_length=2048)
    dry_run: bool = False
    reason: str = Field("", max_length=500)
    requested_by: str = Field("unknown", max_length=300)


class RollbackResult(BaseModel):
    """What the rollback would do (``dry_run``) or did (``done``: step → outcome)."""

    execution_arn: str
    kind: str
    resource_id: str
    replacement_id: str | None
    status: str  # planned | rolled-back | already-rolled-back | incomplete
    dry_run: bool
    steps: list[str]
    done: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class DatabaseRollbackPort(Protocol):
    """RDS for rolling a database restore back (:class:`lifeboat.aws.rollback_ops`)."""

    def endpoint(self, db_id: str) -> str | None: ...

    def delete_restored(
        self,
        db_id: str,
        execution_arn: str,
        final_snapshot: str,
        since: datetime,
        until: datetime | None,
    ) -> str:
        """Delete a database this restore execution made (its tag, and created between
        ``since`` and ``until``: while the execution ran), keeping a final snapshot; "gone" if
        it is gone, "not-owned" if it was not made by that execution."""
        ...


@dataclass
class RollbackContext:
    request: RollbackRequest
    summary: ExecutionSummary
    plan: InstancePlan | DatabasePlan
    replacement_id: str | None
    ports: Ports
    databases: DatabaseRollbackPort
    now: datetime
    owner: str = ""  # this rollback's lock owner (its own locks are not "a restore running")


class Rollback(Protocol):
    """How one kind of restore is rolled back."""

    def refusal(self, ctx: RollbackContext) -> str | None:
        """Why it must not be rolled back now (None: it may)."""
        ...

    def locks(self, ctx: RollbackContext) -> list[str]:
        """The resources to lock while rolling back (no restore of them meanwhile)."""
        ...

    def steps(self, ctx: RollbackContext) -> list[str]: ...

    def apply(self, ctx: RollbackContext) -> dict[str, str]: ...


ROLLBACKS: dict[str, Rollback] = {}


def register_rollback(kind: str, rollback: Rollback) -> None:
    ROLLBACKS[kind] = rollback
