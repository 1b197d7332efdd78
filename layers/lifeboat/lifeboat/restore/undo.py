"""``lifeboat restore rollback EXECUTION``: undo a restore that *finished* (the original back in
service, the replacement removed), the steps the README once listed as AWS CLI commands. A
restore that failed, timed out or was stopped was already rolled back by its abort or clean-up.

Refused (nothing changed) when a later restore of the same server exists, when a restore of it
is running, when the original is gone (there is nothing to go back to), and for what Lifeboat
did not make: the replacement is the one the execution's own output names and its tags confirm,
the database the one its plan (recorded in the catalog when it began) names.

What a rollback does depends on what was restored: :data:`ROLLBACKS` maps the plan's ``kind``
(``instance``, ``db``) to its :class:`Rollback`; a new kind (an Auto Scaling group) registers
its own with :func:`register_rollback`."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydantic import TypeAdapter

from lifeboat import tags as T
from lifeboat.errors import InvalidInputError
from lifeboat.ports import Ports
from lifeboat.restore import rollback_kinds
from lifeboat.restore.finish import RESTORE_RECORD_DAYS
from lifeboat.restore.listing import ExecutionSummary, RestoreExecutionsPort, resource_of
from lifeboat.restore.locks import execution_record
from lifeboat.restore.models import DatabasePlan, InstancePlan, Plan
from lifeboat.restore.undo_models import (
    ROLLBACKS,
    ROLLED_BACK,
    DatabaseRollbackPort,
    Rollback,
    RollbackContext,
    RollbackRequest,
    RollbackResult,
    register_rollback,
)
from lifeboat.timeutil import iso

__all__ = [
    "ROLLBACKS",
    "DatabaseRollbackPort",
    "Rollback",
    "RollbackContext",
    "RollbackRequest",
    "RollbackResult",
    "register_rollback",
    "roll_back",
    "rollback_kinds",
]
ROLLBACK_LOCK_SECONDS = 900  # longer than a rollback takes; short if it is killed half-way
_PLAN: TypeAdapter[Plan] = TypeAdapter(Plan)


# --- the command ---------------------------------------------------------------------------
def roll_back(
    request: RollbackRequest,
    state_machine_arn: str,
    ports: Ports,
    history: RestoreExecutionsPort,
    databases: DatabaseRollbackPort,
    now: datetime,
) -> RollbackResult:
    summary = _finished_restore(request, state_machine_arn, history)
    plan = _recorded_plan(ports, summary)
    rollback = ROLLBACKS.get(plan.kind)
    if rollback is None:
        raise InvalidInputError("execution", f"a {plan.kind} restore cannot be rolled back")
    if plan.region is not None:
        raise InvalidInputError(
            "execution",
            f"{summary.name} restored into {plan.region} from its copies and changed nothing at "
            "home: remove what it made there by hand (its replacement is tagged "
            f"{T.RESTORE_EXECUTION}={summary.arn})",
        )
    output = summary.output or {}
    replacement = output.get("replacement_id")
    ctx = RollbackContext(request, summary, plan, replacement, ports, databases, now)
    result = RollbackResult(
        execution_arn=summary.arn,
        kind=plan.kind,
        resource_id=plan.source_id,
        replacement_id=replacement,
        status="planned",
        dry_run=request.dry_run,
        steps=[],
    )
    if summary.arn in _rolled_back(ports, plan.source_id):
        return result.model_copy(update={"status": "already-rolled-back"})
    refusal = rollback.refusal(ctx)
    if refusal is not None:
        raise InvalidInputError("execution", f"{refusal}: nothing was changed")
    result.steps = rollback.steps(ctx)
    if request.dry_run:
        return result
    # One owner per rollback: two at once of the same restore (two operators) exclude each
    # other, and each checks again under its locks what it checked before taking them.
    owner = ctx.owner = f"{summary.arn}#rollback#{uuid.uuid4().hex[:12]}"
    locked = rollback.locks(ctx)
    _lock(ports, locked, owner, now, request, summary.arn)
    try:
        if summary.arn in _rolled_back(ports, plan.source_id):
            return result.model_copy(update={"status": "already-rolled-back"})
        refusal = rollback.refusal(ctx)
        if refusal is not None:
            raise InvalidInputError("execution", f"{refusal}: nothing was changed")
        result.done = rollback.apply(ctx)
        incomplete = rollback_kinds.failed(result.done)
        if not incomplete:
            # Under every resource the restore's finish recorded it: the one asked for (the
            # original's id with --force), the one it replaced, and its replacement.
            asked = [r for r in (resource_of(summary),) if r != "?"]
            _record(ctx, [*asked, plan.source_id, *([replacement] if replacement else [])])
    finally:
        for resource_id in locked:
            ports.catalog.release_lock(resource_id, owner)
    result.status = "incomplete" if incomplete else ROLLED_BACK
    if incomplete:
        result.notes.append(
            f"not done: {', '.join(incomplete)}; the replacement was kept and still stands for "
            "the server. Fix the cause and run the rollback again (what was done is skipped)"
        )
    if ports.notifier is not None:
        verdict = "rollback INCOMPLETE" if incomplete else "ROLLED BACK"
        ports.notifier.publish(
            f"Lifeboat restore of {plan.source_id} {verdict}", result.model_dump(mode="json")
        )
    return result


def _lock(
    ports: Ports,
    ids: list[str],
    owner: str,
    now: datetime,
    request: RollbackRequest,
    execution_arn: str,
) -> None:
    """The server's restore locks while it is rolled back (no restore starts meanwhile), for a
    few minutes only: a rollback killed half-way must not keep the server from a restore."""
    attrs = {"reason": request.reason or "rollback", "requested_by": request.requested_by}
    taken: list[str] = []
    for resource_id in ids:
        holder = ports.catalog.acquire_lock(
            resource_id, owner, int(now.timestamp()), ROLLBACK_LOCK_SECONDS, attrs
        )
        if holder is not None:
            for done in taken:
                ports.catalog.release_lock(done, owner)
            held_by = str(holder.get("owner"))
            raise InvalidInputError(
                "execution",
                f"this restore is already being rolled back (by "
                f"{holder.get('requested_by') or 'someone'}): nothing was changed; wait for it"
                if held_by.startswith(f"{execution_arn}#rollback")
                else f"a restore of {resource_id} is running ({held_by}): nothing was "
                "changed; wait for it or stop it",
            )
        taken.append(resource_id)


def _finished_restore(
    request: RollbackRequest, state_machine_arn: str, history: RestoreExecutionsPort
) -> ExecutionSummary:
    machine = state_machine_arn.rsplit(":stateMachine:", maxsplit=1)[-1]
    if request.execution_arn.split(":")[-2] != machine:
        raise InvalidInputError(
            "execution", f"{request.execution_arn} is not an execution of {state_machine_arn}"
        )
    summary = history.execution(request.execution_arn)
    if summary is None:
        raise InvalidInputError("execution", f"no restore execution {request.execution_arn}")
    output = summary.output or {}
    why = {
        "RUNNING": "it is still running: stop it (aws stepfunctions stop-execution "
        "--execution-arn …) and its clean-up rolls it back",
        "FAILED": "it failed and was rolled back by its abort step",
        "TIMED_OUT": "it timed out and was rolled back by its clean-up",
        "ABORTED": "it was stopped and rolled back by its clean-up",
    }.get(summary.status)
    if summary.status in ("FAILED", "TIMED_OUT", "ABORTED"):
        why = (
            f"{why}; what it kept (a restored database, or a replacement kept with "
            "--keep-on-failure) is yours to remove by hand: its SNS message names it"
        )
    if why is None and output.get("status") == "refused":
        why = "it was refused and changed nothing"
    if why is None and output.get("dry_run") is True:
        why = "it was a dry run and changed nothing"
    if why is not None:
        raise InvalidInputError("execution", f"{summary.name}: {why}")
    return summary


def _recorded_plan(ports: Ports, summary: ExecutionSummary) -> InstancePlan | DatabasePlan:
    """The plan the restore recorded when it began (the catalog's provenance of what it made)."""
    found = ports.catalog.records(execution_record(summary.name))
    recorded = found[0].get("plan") if found else None
    if not isinstance(recorded, dict):
        raise InvalidInputError(
            "execution",
            f"{summary.name}: its plan is no longer in the catalog (kept 30 days); roll it "
            "back by hand (docs/runbooks/restore-went-wrong.md)",
        )
    return _PLAN.validate_python(recorded)


def _rolled_back(ports: Ports, resource_id: str) -> set[str]:
    return {
        str(r.get("execution_arn"))
        for r in ports.catalog.records(f"RESTORE#{resource_id}")
        if r.get("status") == ROLLED_BACK
    }


def _record(ctx: RollbackContext, resource_ids: list[str]) -> None:
    """The restore's record (its cooldown and ``restore list``) says it was rolled back."""
    summary = ctx.summary
    for resource_id in dict.fromkeys(resource_ids):
        ctx.ports.catalog.put_record(
            f"RESTORE#{resource_id}",
            f"{iso(summary.started_at)}#{summary.name}",
            {
                "status": ROLLED_BACK,
                "trigger": "manual",
                "execution_arn": summary.arn,
                "finished_at": iso(summary.stopped_at or ctx.now),
                "rolled_back_at": iso(ctx.now),
                "rolled_back_by": ctx.request.requested_by,
                "reason": ctx.request.reason,
                "expires_at": int((ctx.now + timedelta(days=RESTORE_RECORD_DAYS)).timestamp()),
            },
        )
