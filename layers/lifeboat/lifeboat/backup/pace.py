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
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from lifeboat.models import CreateBatchEvent
from lifeboat.pace import PaceDeferred, SharedPacing
from lifeboat.plans import Kind, Rule
from lifeboat.timeutil import iso

COUNTS = ("created", "reused", "failed", "skipped")
CREATE_APIS = {Kind.AMI: "CreateImage", Kind.EBS: "CreateSnapshots"}


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
    ready = pacing.reserve_chunk(calls)
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
    """The task stops until ``ready_at`` (to the second a ``Wait`` state takes, rounded down:
    called again, the task sleeps the fraction left, so its calls go at their moment, never
    later than the pace handed them out),
    keeping what it reserved and what it counted so far."""
    so_far = merge(earlier, counts)
    return CreateProgress(
        run_id=run_id,
        **so_far,
        deferred=True,
        wait_until=iso(datetime.fromtimestamp(math.floor(ready_at), UTC)),
        reserved={a: c for a, c in pacing.grant.calls.items() if c > 0},
        reserved_at=pacing.grant.ready_at,
        waits=(earlier.waits if earlier else 0) + 1,
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


__all__ = ["CreateProgress", "PaceDeferred", "create_calls", "deferred", "merge", "reserve_creates"]
