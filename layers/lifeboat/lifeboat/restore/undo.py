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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from lifeboat import tags as T
from lifeboat.errors import InvalidInputError
from lifeboat.ports import Ports
from lifeboat.restore.finish import RESTORE_RECORD_DAYS
from lifeboat.restore.lineage import lineage
from lifeboat.restore.listing import ExecutionSummary, RestoreExecutionsPort
from lifeboat.restore.locks import execution_record, lock_all
from lifeboat.restore.models import DatabasePlan, InstancePlan, Launched, Plan
from lifeboat.restore.rollback import roll_back_cut_over
from lifeboat.timeutil import iso

EXECUTION_ARN = r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:\s]+:[^:\s]+$"
ROLLED_BACK = "rolled-back"
_PLAN: TypeAdapter[Plan] = TypeAdapter(Plan)


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
    status: str  # planned | rolled-back | already-rolled-back
    dry_run: bool
    steps: list[str]
    done: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class DatabaseRollbackPort(Protocol):
    """RDS for rolling a database restore back (:class:`lifeboat.aws.rollback_ops`)."""

    def endpoint(self, db_id: str) -> str | None: ...

    def delete_restored(self, db_id: str, execution_arn: str, final_snapshot: str) -> str:
        """Delete a database this restore execution made (checked by its tag), keeping a final
        snapshot; "gone" if it is gone, "not-owned" if its tag says another execution."""
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
    owner = f"{summary.arn}#rollback"
    locked = rollback.locks(ctx)
    attrs = {"reason": request.reason or "rollback", "requested_by": request.requested_by}
    lock_all(ports.catalog, locked, owner, now, attrs)
    try:
        result.done = rollback.apply(ctx)
        _record(ctx, [plan.source_id, *([replacement] if replacement else [])])
    finally:
        for resource_id in locked:
            ports.catalog.release_lock(resource_id, owner)
    result.status = ROLLED_BACK
    if ports.notifier is not None:
        ports.notifier.publish(
            f"Lifeboat restore of {plan.source_id} ROLLED BACK", result.model_dump(mode="json")
        )
    return result


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


def later_restores(ctx: RollbackContext) -> list[str]:
    """Restores of the same resource started after this one and not rolled back."""
    mine = f"{iso(ctx.summary.started_at)}#{ctx.summary.name}"
    return [
        str(r.get("execution_arn"))
        for r in ctx.ports.catalog.records(f"RESTORE#{ctx.plan.source_id}")
        if str(r.get("sk", "")) > mine and r.get("status") == "restored"
    ]


def _running(ctx: RollbackContext, ids: list[str]) -> str | None:
    held = ctx.ports.catalog.active_locks(ids, int(ctx.now.timestamp()))
    for resource_id, lock in sorted(held.items()):
        if lock.get("kind") == "restore":
            return f"a restore of {resource_id} is running ({lock.get('owner')})"
    return None


# --- instances -----------------------------------------------------------------------------
class InstanceRollback:
    """The original started, its address and traffic given back, unfenced; the replacement
    terminated with every volume it was launched with; the original stands for the server
    again."""

    def _original(self, ctx: RollbackContext) -> dict[str, Any] | None:
        return ctx.ports.ec2_restore.instance(ctx.plan.source_id)

    def locks(self, ctx: RollbackContext) -> list[str]:
        return lineage(ctx.ports.catalog, ctx.plan.source_id)

    def refusal(self, ctx: RollbackContext) -> str | None:
        original = self._original(ctx)
        if original is None or original["State"]["Name"] in ("terminated", "shutting-down"):
            return (
                f"the original {ctx.plan.source_id} is gone: there is nothing to go back to "
                f"({ctx.replacement_id} stands for the server)"
            )
        chain = lineage(ctx.ports.catalog, ctx.plan.source_id)
        replacement = ctx.replacement_id
        if replacement in chain and chain.index(replacement) < len(chain) - 1:
            return (
                f"a later restore replaced {replacement} by {chain[-1]}: roll that restore "
                "back first"
            )
        later = later_restores(ctx)
        if later:
            return f"a later restore of {ctx.plan.source_id} exists ({', '.join(later)})"
        return _running(ctx, chain)

    def steps(self, ctx: RollbackContext) -> list[str]:
        plan, new = ctx.plan, ctx.replacement_id
        assert isinstance(plan, InstancePlan)
        original = self._original(ctx) or {}
        ours = T.to_dict(original.get("Tags")).get(T.FENCED) == ctx.summary.name
        state = original.get("State", {}).get("Name", "unknown")
        steps = []
        if ours and state in ("stopping", "stopped"):
            steps.append(f"start the original {plan.source_id} ({state})")
        if plan.elastic_ip and new:
            address = ctx.ports.ec2_restore.address(plan.elastic_ip["allocation_id"]) or {}
            if address.get("InstanceId") == new:
                steps.append(
                    f"move Elastic IP {address.get('PublicIp') or plan.elastic_ip['allocation_id']}"
                    f" back from {new} to {plan.source_id}"
                )
        for group in plan.target_groups:
            steps.append(
                f"register {plan.source_id} in target group {group.target_group_arn} and "
                f"deregister {new}"
            )
        if ours:
            steps.append(f"remove the tag {T.FENCED} from {plan.source_id}")
        if new:
            steps.append(f"terminate the replacement {new} with every volume it was launched with")
        steps.append(
            f"record that {plan.source_id} stands for the server again and the restore was "
            "rolled back"
        )
        return steps

    def apply(self, ctx: RollbackContext) -> dict[str, str]:
        plan, new = ctx.plan, ctx.replacement_id
        assert isinstance(plan, InstancePlan)
        ec2 = ctx.ports.ec2_restore
        launched = Launched(kind="instance", id=new) if new else None
        done = {
            k: str(v) for k, v in roll_back_cut_over(plan, launched, ec2, ctx.summary.name).items()
        }
        if new:
            done["replacement"] = ec2.terminate_replacement(new, ctx.summary.arn)
        catalog = ctx.ports.catalog
        for pk, field, value in ((f"REPLACED#{plan.source_id}", "by", new),
                                 (f"REPLACEMENT#{new}", "of", plan.source_id)):  # fmt: skip
            found = catalog.records(pk)
            if found and found[0].get(field) == value:
                catalog.delete_record(pk, "LINEAGE")
        done["lineage"] = f"{plan.source_id} stands for the server again"
        return done


# --- databases -----------------------------------------------------------------------------
class DatabaseRollback:
    """The original database was never touched: the application goes back to its endpoint, and
    the restored database is deleted (a final snapshot kept)."""

    def locks(self, ctx: RollbackContext) -> list[str]:
        return [ctx.plan.source_id]

    def refusal(self, ctx: RollbackContext) -> str | None:
        if ctx.ports.rds.describe_db(ctx.plan.source_id) is None:
            return (
                f"the original database {ctx.plan.source_id} is gone: the restored one "
                f"({ctx.replacement_id}) is all there is"
            )
        later = later_restores(ctx)
        if later:
            return f"a later restore of {ctx.plan.source_id} exists ({', '.join(later)})"
        return _running(ctx, [ctx.plan.source_id])

    def _restored(self, ctx: RollbackContext) -> str:
        plan = ctx.plan
        assert isinstance(plan, DatabasePlan)
        return plan.new_identifier

    def final_snapshot(self, ctx: RollbackContext) -> str:
        return f"{self._restored(ctx)}-rollback"[:255]

    def steps(self, ctx: RollbackContext) -> list[str]:
        endpoint = ctx.databases.endpoint(ctx.plan.source_id) or "its endpoint"
        restored = self._restored(ctx)
        return [
            f"point the application back at {ctx.plan.source_id} ({endpoint}) — "
            "Lifeboat does not change the application's configuration",
            f"delete the restored database {restored}, keeping a final snapshot "
            f"{self.final_snapshot(ctx)}",
            "record that the restore was rolled back",
        ]

    def apply(self, ctx: RollbackContext) -> dict[str, str]:
        restored = self._restored(ctx)
        outcome = ctx.databases.delete_restored(restored, ctx.summary.arn, self.final_snapshot(ctx))
        if outcome == "not-owned":
            raise InvalidInputError(
                "execution", f"{restored} was not made by {ctx.summary.name}: nothing was deleted"
            )
        endpoint = ctx.databases.endpoint(ctx.plan.source_id) or "its endpoint"
        return {
            "restored_database": outcome,
            "application": f"point it back at {ctx.plan.source_id} ({endpoint})",
        }


register_rollback("instance", InstanceRollback())
register_rollback("db", DatabaseRollback())
