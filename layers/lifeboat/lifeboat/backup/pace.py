"""A create task's calls on the stack's shared pace (:mod:`lifeboat.pace`; docs:
development/scale.md).

Before it describes anything, a create task reserves its batch's ``CreateImage`` and
``CreateSnapshots`` calls from the home region's shared buckets, which every run, prune, copier,
drill and restore of the stack draws on. When the bucket hands them out later than sleeping is
worth (:func:`lifeboat.prices.wait_state_break_even`), the task returns at once with
``deferred: true``, the moment (``wait_until``) and its reservation; the create Map's
``WaitForCreatePace`` state waits until then and calls the task again with that result, which
spends the reservation instead of reserving twice. A batch larger than a bucket reserves the
rest call by call and may stop part-way: the next call finds what it made (the create is safe to
repeat) and goes on.

For a rule without scripts, the batch runs in an *Express* child of the create Map, whose
``Wait`` costs next to nothing but which lives at most five minutes: the task waits in the
state machine for anything longer than :data:`EXPRESS_INLINE_WAIT`, never reserves calls handed
out later than :data:`EXPRESS_WAIT_BUDGET` after the child started, and makes no paced call
later than :data:`EXPRESS_CALL_DEADLINE`; past either it returns ``handover: true`` and the run
gives every batch to the Standard create Map (which waits as long as the pace needs).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from lifeboat.models import CreateBatchEvent
from lifeboat.pace import WAKE_LEAD, PaceBeyondBudget, PaceDeferred, SharedPacing
from lifeboat.plans import Kind, Rule
from lifeboat.timeutil import iso

COUNTS = ("created", "reused", "failed", "skipped")
CREATE_APIS = {Kind.AMI: "CreateImage", Kind.EBS: "CreateSnapshots"}
# An Express child of the create Map: AWS ends it five minutes after it started. Its task
# reserves no call handed out later than EXPRESS_WAIT_BUDGET seconds after that start (the
# minute left is for the task's own work) and makes no paced call after EXPRESS_CALL_DEADLINE
# (the run waits out EXPRESS_LIMIT before it hands a batch to the Standard Map, so that no
# batch is ever created by two tasks at once).
EXPRESS_LIMIT = 300
EXPRESS_WAIT_BUDGET = 240
EXPRESS_CALL_DEADLINE = 280
# In an Express child, stopping for the pace costs one more Lambda request and start (about
# 0.13 s of a 512 MB function); its Wait takes whole seconds: a wait of a second or more is
# left to the state machine.
EXPRESS_INLINE_WAIT = 1.0


def express_since(express: bool, earlier: CreateProgress | None, now: float) -> float | None:
    """When a task of an Express child started (epoch seconds; None outside one): its first
    call's moment, carried through its Waits (``express_since``). The child started a moment
    before (a Lambda start, at most two quick retries): the budget's minute covers it."""
    if not express:
        return None
    return earlier.express_since if earlier is not None and earlier.express_since else now


def express_budget(since: float) -> tuple[float, float]:
    """(not_after, deadline) epoch seconds of a task in an Express child since ``since``."""
    return since + EXPRESS_WAIT_BUDGET, since + EXPRESS_CALL_DEADLINE


class CreateProgress(BaseModel):
    """What a create task returns: its counts, and whether it stopped for the pace (then the
    state machine waits until ``wait_until`` and passes this back as the task's ``result``)."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    created: int = Field(0, ge=0)
    reused: int = Field(0, ge=0)
    failed: int = Field(0, ge=0)
    skipped: int = Field(0, ge=0)
    deferred: bool = False
    wait_until: str | None = None
    reserved: dict[str, int] = Field(default_factory=dict)
    reserved_at: float = 0.0
    waits: int = Field(0, ge=0, description="how many times the task stopped for the pace")
    handover: bool = Field(
        False, description="an Express child's task that cannot wait that long: see module doc"
    )
    express_since: float = Field(0.0, ge=0, description="an Express child's task: express_since")


def create_calls(event: CreateBatchEvent, rule: Rule) -> dict[str, int]:
    """The batch's create calls by API: one per instance and instance kind of the rule."""
    instances = sum(1 for r in event.resources if r.type == "instance")
    return {api: instances for kind, api in CREATE_APIS.items() if kind in rule.kinds and instances}


def reserve_creates(
    event: CreateBatchEvent,
    rule: Rule,
    pacing: SharedPacing,
    earlier: CreateProgress | None,
) -> CreateProgress | None:
    """Spend the reservation an earlier call of this task made, or reserve the batch's calls;
    a progress to return (deferred) when the state machine should wait for them first."""
    if earlier is not None and earlier.deferred:
        pacing.resume(earlier.reserved, earlier.reserved_at)
        return None
    calls = create_calls(event, rule)
    if not calls:
        return None
    try:
        ready = pacing.reserve_chunk(calls)
    except PaceBeyondBudget as late:
        return handover(event.run_id, late, earlier, {})
    if not pacing.defers(ready):
        return None
    return deferred(event.run_id, ready, pacing, earlier, {})


def deferred(
    run_id: str,
    ready_at: float,
    pacing: SharedPacing,
    earlier: CreateProgress | None,
    counts: dict[str, int],
) -> CreateProgress:
    """The task stops until ``ready_at`` less :data:`~lifeboat.pace.WAKE_LEAD` (to the second
    a ``Wait`` state takes, rounded down: called again, the task describes its batch, then
    sleeps what is left, so its calls go at their moment, not later than the pace handed them
    out),
    keeping what it reserved and what it counted so far."""
    so_far = merge(earlier, counts)
    return CreateProgress(
        run_id=run_id,
        **so_far,
        deferred=True,
        wait_until=iso(datetime.fromtimestamp(math.floor(ready_at - WAKE_LEAD), UTC)),
        reserved={a: c for a, c in pacing.grant.calls.items() if c > 0},
        reserved_at=pacing.grant.ready_at,
        waits=(earlier.waits if earlier else 0) + 1,
    )


def handover(
    run_id: str, late: PaceBeyondBudget, earlier: CreateProgress | None, counts: dict[str, int]
) -> CreateProgress:
    """The task stops for good in its Express child (the pace hands its calls out too late for
    it): the run gives the batch to the Standard Map, which finds what was made."""
    return CreateProgress(
        run_id=run_id,
        **merge(earlier, counts),
        deferred=True,
        wait_until=iso(datetime.fromtimestamp(math.floor(late.ready_at), UTC)),
        waits=earlier.waits if earlier else 0,
        handover=True,
    )


def merge(earlier: CreateProgress | None, counts: dict[str, int]) -> dict[str, int]:
    """This call's counts added to the earlier calls' of the same task. Each call sees the whole
    batch again: what earlier calls created or refused it finds recorded and counts as reused
    (counted once, as made), what they reused it reuses too, and its skips are the batch's."""
    if earlier is None:
        return {k: counts.get(k, 0) for k in COUNTS}
    before = earlier.created + earlier.failed
    return {
        "created": earlier.created + counts.get("created", 0),
        "failed": earlier.failed + counts.get("failed", 0),
        "reused": max(0, counts.get("reused", 0) - before),
        "skipped": counts.get("skipped", earlier.skipped),
    }


__all__ = [
    "CreateProgress",
    "PaceDeferred",
    "create_calls",
    "deferred",
    "express_budget",
    "express_since",
    "handover",
    "merge",
    "reserve_creates",
]
