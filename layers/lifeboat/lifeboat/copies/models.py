"""The copier's input, its loop state and its report; the limits it keeps to."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lifeboat.models import RecoveryPoint
from lifeboat.plans import REGION_PATTERN
from lifeboat.restore.models import ExecutionContext

# AWS's concurrent-copy limits per destination region (AWS's EBS and RDS quotas): 20 EBS snapshot
# copies (an AMI copy counts each of its snapshots); RDS snapshot copies: 5 [older AWS pages say
# 5, newer 20; the smaller is kept].
EBS_COPY_LIMIT = 20
RDS_COPY_LIMIT = 5
# One copier per destination region: its lease lasts a few pump intervals and is renewed by
# every pump, so a dead copier blocks the next one for minutes, not hours.
LEASE = timedelta(minutes=10)
# A copier ends after this long (its state machine's time-out is 12 h); what is left stays
# queued for the next one (started by the next backup run or the hourly schedule).
COPIER_MAX_RUN = timedelta(hours=11)
# A start whose call may have been made but not recorded: looked for by tag, and started again
# only when nothing carries the copy's tag this long after the intent was written.
ADOPT_AFTER = timedelta(minutes=2)
# A copy not complete after this long has failed: the first copy of a large volume is a full
# copy and can take a day or more across regions.
COPY_DEADLINE = timedelta(days=4)
# A copy AWS refuses to start is tried again after 15 min, 30 min, 1 h … (at most 6 h between
# attempts), and given up after this many attempts (about a day and a half).
MAX_COPY_ATTEMPTS = 8
RETRY_BASE = timedelta(minutes=15)
RETRY_CAP = timedelta(hours=6)


class CopierInput(BaseModel):
    """Input of the copier state machine."""

    model_config = ConfigDict(extra="forbid")
    regions: list[str] | None = Field(
        None, description="destinations to work on (default: every region a rule copies to)"
    )
    requested_by: str = Field("unknown", max_length=300)
    run_id: str | None = Field(None, max_length=200, description="the backup run that queued")

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str] | None) -> list[str] | None:
        for region in value or []:
            if not re.match(REGION_PATTERN, region):
                raise ValueError(f"{region!r} is not a region name (e.g. us-west-2)")
        return value


class PumpState(BaseModel):
    model_config = ConfigDict(extra="ignore")
    attempt: int = Field(0, ge=0)


class CopierState(BaseModel):
    """``$``: the execution input, and ``pump`` (the last pump's report) once one ran."""

    model_config = ConfigDict(extra="ignore")
    pump: dict[str, Any] | None = None


class PumpEvent(BaseModel):
    """What the pump task receives: ``{"state.$": "$", "execution.$": "$$.Execution"}``."""

    model_config = ConfigDict(extra="forbid")
    state: CopierState = Field(default_factory=CopierState)
    execution: ExecutionContext


class RegionReport(BaseModel):
    region: str
    busy_with: str | None = Field(None, description="another copier holds the lease")
    queued: int = 0
    queued_beyond: int = Field(0, description="queued behind the window this pump read")
    in_flight: int = Field(0, description="copies started and not complete")
    snapshots_in_flight: int = Field(0, description="EBS snapshot copies, at most 20")
    db_copies_in_flight: int = 0
    started: list[str] = Field(default_factory=list)
    completed: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)
    retrying: dict[str, str] = Field(default_factory=dict, description="refused; tried again")
    error: str | None = Field(None, description="this region could not be worked on now")
    requeued: list[str] = Field(
        default_factory=list, description="completed points never queued, queued now"
    )
    paced_until: str | None = Field(
        None, description="the shared pace held this region's next calls until then"
    )
    reserved: dict[str, int] = Field(
        default_factory=dict, description="calls reserved from the pace, spent by the next pump"
    )
    reserved_at: float = Field(0.0, description="the epoch second the reserved calls may go")

    @property
    def done(self) -> bool:
        idle = self.queued == 0 and self.in_flight == 0 and self.paced_until is None
        return self.busy_with is not None or idle


class PumpReport(BaseModel):
    attempt: int
    done: bool
    regions: list[RegionReport]
    ended_because: str | None = None


def copy_point_id(source: RecoveryPoint, region: str) -> str:
    return f"{source.recovery_point_id}@{region}"


def queue_sort_key(point: RecoveryPoint) -> str:
    """Oldest first; unique per point (a repeated finalize finds it queued)."""
    return f"{point.created_at.isoformat()}#{point.source_id}#{point.run_id}#{point.kind.value}"
