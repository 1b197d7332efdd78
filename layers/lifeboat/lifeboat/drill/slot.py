"""A scheduled drill's slot: EventBridge Scheduler delivers at least once, so the same slot may
start two executions (a retried delivery, a redelivery). Like a backup run
(:func:`lifeboat.backup.run.begin_run`), the first execution to claim the slot in the catalog
drills; every other one ends at once as a duplicate, having changed nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat.backup.run import check_slot
from lifeboat.errors import InvalidInputError
from lifeboat.ports import CatalogPort
from lifeboat.timeutil import iso

# Scheduler never fires before the slot: a ``scheduled_time`` ahead of the execution's start by
# more than clock skew (seconds, not minutes) was typed by hand, and would claim the slot the
# real trigger is coming for.
SLOT_EARLY = timedelta(seconds=30)
# The claim outlives Scheduler's retry window (24 hours) with a margin.
CLAIM_DAYS = 3


def check_drill_slot(scheduled_time: datetime, start: datetime) -> None:
    """The backup's rules for a slot (timezone, representable, within Scheduler's 24-hour
    retries), and at most :data:`SLOT_EARLY` ahead of the start."""
    check_slot(scheduled_time, start)
    when = scheduled_time.astimezone(UTC)
    if when > start + SLOT_EARLY:
        raise InvalidInputError(
            "scheduled_time",
            f"{iso(when)} is in the future (the drill started {iso(start)}; Scheduler never "
            f"fires early, {SLOT_EARLY.total_seconds():g} s of clock skew allowed): only "
            "EventBridge Scheduler sets it; remove it to start a drill now",
        )


def slot_run_id(plan: str, scheduled_time: datetime) -> str:
    """The slot's claim: ``drill:<plan>:<slot>``. Backup run ids begin with a digit, so a drill's
    claim never collides with a backup run's."""
    return f"drill:{plan}:{scheduled_time.astimezone(UTC):%Y%m%dT%H%MZ}"


def claim_slot(
    catalog: CatalogPort,
    plan: str,
    scheduled_time: datetime,
    execution_arn: str,
    start: datetime,
) -> dict[str, Any] | None:
    """Claim the slot for ``execution_arn`` (one conditional write). None: this execution
    drills (first, or a retried task of the same execution); else the first claimant's record
    (``owner``: its execution ARN)."""
    check_drill_slot(scheduled_time, start)
    expires = int((start + timedelta(days=CLAIM_DAYS)).timestamp())
    return catalog.claim_run(
        slot_run_id(plan, scheduled_time),
        execution_arn,
        {"kind": "drill", "plan": plan, "started_at": iso(start), "expires_at": expires},
    )
