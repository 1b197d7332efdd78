"""Begin a backup run: validate the input, name the run, claim it (a repeated scheduled trigger
finds it claimed), discover the plan's resources and cut them into batches."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lifeboat.asg.backup import backs_up_groups
from lifeboat.asg.members import standalone
from lifeboat.errors import InvalidInputError
from lifeboat.models import BackupInput, BeginTask, ResourceRef, validate_input
from lifeboat.observability import metrics
from lifeboat.plans import Kind, PlanSet, Rule
from lifeboat.ports import Ports
from lifeboat.timeutil import iso, parse_iso

DRY_RUN_LISTED = 200
# Scheduler never fires before the slot; what remains is clock skew between Scheduler and Step
# Functions (seconds): a slot further ahead than this is a run started by hand claiming it.
SLOT_EARLY = timedelta(seconds=30)
SLOT_LATE = timedelta(hours=25)  # Scheduler retries a delivery for up to 24 hours


def make_run_id(inp: BackupInput, execution_name: str, start_time: datetime) -> str:
    """Scheduled runs are named after their scheduled time, so the same trigger delivered again
    maps to the same run; manual runs are unique per execution."""
    if inp.scheduled_time is not None:
        return (
            f"{inp.scheduled_time.astimezone(start_time.tzinfo):%Y%m%dT%H%MZ}-{inp.plan}-{inp.rule}"
        )
    digest = hashlib.sha256(execution_name.encode()).hexdigest()[:8]
    return f"{start_time:%Y%m%dT%H%M%SZ}-{inp.plan}-{inp.rule}-m{digest}"


def check_slot(scheduled_time: datetime | None, start: datetime) -> None:
    """A ``scheduled_time`` is a schedule's own slot, delivered (or redelivered) by EventBridge
    Scheduler: never in the future (a run started by hand with a future slot would claim it,
    and the real trigger would then make nothing), never older than Scheduler's retries."""
    if scheduled_time is None:
        return
    fix = "remove it to start a run now (a manual run gets its own run id)"
    try:
        if scheduled_time.tzinfo is None:
            raise InvalidInputError(
                "scheduled_time", "needs a timezone, e.g. 2026-11-27T02:45:00Z (Scheduler's)"
            )
        when = scheduled_time.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidInputError("scheduled_time", f"not a representable time; {fix}") from exc
    if when > start + SLOT_EARLY:
        raise InvalidInputError(
            "scheduled_time",
            f"{iso(when)} is in the future (the run started {iso(start)}): only EventBridge "
            f"Scheduler sets it, for the slot it is delivering; {fix}",
        )
    if when < start - SLOT_LATE:
        raise InvalidInputError(
            "scheduled_time",
            f"{iso(when)} is older than Scheduler's 24-hour retry window; {fix}",
        )


def begin_run(
    event: BeginTask, plans: PlanSet, ports: Ports, batch_size: int, ttl_days: int
) -> dict[str, Any]:
    inp = validate_input(BackupInput, event.state)
    _plan, rule = plans.rule(inp.plan, inp.rule)
    start = parse_iso(event.execution.start_time)
    check_slot(inp.scheduled_time, start)
    run_id = make_run_id(inp, event.execution.name, start)
    base = {"run_id": run_id, "plan": inp.plan, "rule": inp.rule, "dry_run": inp.dry_run}
    if not inp.dry_run:
        expires = int((start + timedelta(days=ttl_days)).timestamp())
        first = ports.catalog.claim_run(
            run_id,
            event.execution.id,
            {"plan": inp.plan, "rule": inp.rule, "started_at": iso(start), "expires_at": expires},
        )
        if first is not None:
            return {
                **base,
                "duplicate": True,
                "original_execution": first.get("owner"),
                "batches": [],
            }
    resources = discover(inp.plan, rule, ports)
    metrics.add_metric(name="ResourcesDiscovered", unit=MetricUnit.Count, value=len(resources))
    result: dict[str, Any] = {**base, "duplicate": False, "resource_count": len(resources)}
    if inp.dry_run:
        listed = [f"{r.type}:{r.id}" for r in resources[:DRY_RUN_LISTED]]
        return {
            **result,
            "batches": [],
            "batch_count": 0,
            "would_back_up": listed,
            "kinds": list(rule.kinds),
        }
    batches = [
        [r.model_dump() for r in resources[i : i + batch_size]]
        for i in range(0, len(resources), batch_size)
    ]
    return {
        **result,
        "batches": batches,
        "batch_count": len(batches),
        "batch_size": batch_size,
        # The create Map runs the pre and post script steps only for a rule with scripts.
        "has_scripts": rule.scripts is not None,
    }


def discover(plan: str, rule: Rule, ports: Ports) -> list[ResourceRef]:
    found: list[ResourceRef] = []
    if Kind.AMI in rule.kinds or Kind.EBS in rule.kinds:
        # Members of Auto Scaling groups are never backed up one by one: their group is.
        instances = standalone(ports.ec2.discover_instances(plan), ports)
        found += [ResourceRef(type="instance", id=i) for i in instances]
    if backs_up_groups(rule.kinds) and ports.groups is not None:
        found += [ResourceRef(type="asg", id=g.name) for g in ports.groups.groups_for_plan(plan)]
    if Kind.RDS in rule.kinds:
        found += [ResourceRef(type=t, id=i) for t, i in ports.rds.discover(plan)]
    return found
