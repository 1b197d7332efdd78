"""How each kind of finished restore is rolled back (registered in
:data:`lifeboat.restore.undo_models.ROLLBACKS`): an instance (the original back in service,
the replacement terminated) and a database (the restored one deleted, a final snapshot kept)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.errors import InvalidInputError, error_code
from lifeboat.restore.lineage import lineage
from lifeboat.restore.models import DatabasePlan, InstancePlan, Launched
from lifeboat.restore.rollback import roll_back_cut_over
from lifeboat.restore.undo_models import RollbackContext, register_rollback
from lifeboat.timeutil import iso


def later_restores(ctx: RollbackContext) -> list[str]:
    """Restores of the same resource started after this one and not rolled back."""
    mine = f"{iso(ctx.summary.started_at)}#{ctx.summary.name}"
    return [
        str(r.get("execution_arn"))
        for r in ctx.ports.catalog.records(f"RESTORE#{ctx.plan.source_id}")
        if str(r.get("sk", "")) > mine and r.get("status") == "restored"
    ]


def failed(done: dict[str, str]) -> list[str]:
    """The steps that did not succeed (an AWS error, an instance that would not start)."""
    return [k for k, v in done.items() if v.startswith(("FAILED", "not started"))]


def _running(ctx: RollbackContext, ids: list[str]) -> str | None:
    held = ctx.ports.catalog.active_locks(ids, int(ctx.now.timestamp()))
    for resource_id, lock in sorted(held.items()):
        owner = str(lock.get("owner"))
        if lock.get("kind") != "restore" or owner == ctx.owner:
            continue
        if owner.startswith(f"{ctx.summary.arn}#rollback"):
            return (
                f"this restore is already being rolled back (by "
                f"{lock.get('requested_by') or 'someone'}): wait for it to finish"
            )
        if "#rollback" in owner:
            return f"a rollback of {resource_id} is running ({owner})"
        return f"a restore of {resource_id} is running ({owner})"
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
            summary = ctx.summary
            later = ctx.ports.ec2_restore.later_volumes(
                new, summary.arn, summary.started_at, summary.stopped_at
            )
            if later:
                steps.append(
                    f"keep {', '.join(later)} (attached after the restore): detached when "
                    f"{new} ends, not deleted"
                )
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
        original = self._original(ctx) or {}
        ours = T.to_dict(original.get("Tags")).get(T.FENCED) == ctx.summary.name
        done: dict[str, str] = {}
        if ours and original.get("State", {}).get("Name") == "stopped":
            # First: an original that will not start (its AZ still failing) keeps nothing back.
            try:
                done["original"] = ec2.start(plan.source_id)
            except ClientError as exc:
                done["original"] = f"not started: {error_code(exc)}"
            if done["original"] != "starting":
                done["replacement"] = f"kept {new}: nothing was moved back"
                return done
        undone = roll_back_cut_over(plan, launched, ec2, ctx.summary.name)
        done.update({k: str(v) for k, v in undone.items()})
        if failed(done):
            # The original could not be given everything back (it may not start in a failing
            # AZ): the replacement keeps serving and standing for the server.
            if new:
                done["replacement"] = f"kept {new}: the original did not get everything back"
            return done
        if new:
            summary = ctx.summary
            done["replacement"] = ec2.terminate_replacement(
                new, summary.arn, summary.started_at, summary.stopped_at
            )
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
        original = ctx.ports.rds.describe_db(ctx.plan.source_id)
        if original is None:
            return (
                f"the original database {ctx.plan.source_id} is gone: the restored one "
                f"({ctx.replacement_id}) is all there is"
            )
        if T.to_dict(original.get("TagList")).get(T.RESTORE_EXECUTION) == ctx.summary.arn:
            # The restored database was renamed into the original's name (to keep its
            # endpoint): the application already uses it, and the original has another name.
            return (
                f"{ctx.plan.source_id} is now the database this restore made, renamed into the "
                "original's name: rename the databases back by hand"
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
        summary = ctx.summary
        outcome = ctx.databases.delete_restored(
            restored, summary.arn, self.final_snapshot(ctx), summary.started_at, summary.stopped_at
        )
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
