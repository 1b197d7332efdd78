"""The volume restore machine's steps (``statemachines/volume_restore.asl.json``): begin
(validate, refuse, lock, plan), advance (one action or one check per call: the machine's Wait
states wait), finish (record, release, notify) and undo (a failed restore is turned into its
own rollback, run by the same loop).

Every action is safe to repeat: each stage first reads where EC2 stands."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lifeboat import tags as T
from lifeboat.errors import InvalidInputError, LifeboatError, RestoreInProgressError
from lifeboat.models import ExecutionContext, validate_input
from lifeboat.pace import SharedPacing
from lifeboat.ports import Ports
from lifeboat.restore.lineage import lineage
from lifeboat.volumes.models import (
    InstanceView,
    VolumePlan,
    VolumeRestoreInput,
    VolumeRollbackInput,
    VolumeState,
)
from lifeboat.volumes.planner import choose, free_device, parse_point, same_device
from lifeboat.volumes.steps import advance, port_of

LOCK_SECONDS = 4 * 3600  # the machine's TimeoutSeconds is 3 h
# Catalog items: VOLRESTORE#<execution name> (sort key RESTORE): the plan, what the restore
# made and its status; VOLRESTORES#<instance> (sort key: execution name): an instance's volume
# restores, newest last (a rollback is refused while a later one stands).


class NotProtectedError(LifeboatError):
    """The instance is not one Lifeboat protects (no plan tag, or no point in the catalog)."""


def _record(execution: ExecutionContext) -> tuple[str, str]:
    return _restore_key(execution.name), "RESTORE"


def _restore_key(execution_name: str) -> str:
    return f"VOLRESTORE#{execution_name}"


def _instance_key(instance_id: str) -> str:
    return f"VOLRESTORES#{instance_id}"


def begin(
    state: dict[str, Any], execution: ExecutionContext, ports: Ports, now: datetime
) -> dict[str, Any]:
    """Validate, refuse what Lifeboat does not protect, take the instance's restore lock and
    plan; a dry run stops here with the plan (nothing locked, nothing changed)."""
    if "rollback_of" in state:
        return _begin_rollback(validate_input(VolumeRollbackInput, state), execution, ports, now)
    request = validate_input(VolumeRestoreInput, state)
    port = port_of(ports)
    instance = port.instance(request.instance_id)
    if instance is None or instance.state in ("terminated", "shutting-down"):
        raise InvalidInputError("instance", f"{request.instance_id} does not exist (any more)")
    if T.PLAN not in instance.tags:
        raise NotProtectedError(
            f"{request.instance_id} carries no {T.PLAN} tag: Lifeboat does not protect it"
        )
    # The instances that stood for this server before it (a restore's replacement has the
    # original's points until its own first backup): their points may be chosen too.
    chain = lineage(ports.catalog, request.instance_id)
    if T.FENCED in instance.tags and chain[-1] != request.instance_id:
        raise InvalidInputError(
            "instance",
            f"{request.instance_id} was replaced by a restore (lifeboat:fenced): restore the "
            f"volume on the instance that stands for it now, {chain[-1]}",
        )
    stood = chain[: chain.index(request.instance_id) + 1]
    points = [p for iid in stood for p in ports.catalog.points_for_resource(iid)]
    if not points:
        raise NotProtectedError(f"the catalog has no recovery point of {request.instance_id}")
    plan = _plan(request, instance, points)
    result = VolumeState(plan=plan, dry_run=request.dry_run)
    if request.dry_run:
        return result.model_copy(update={"done": True}).model_dump(mode="json")
    _lock(ports, request.instance_id, execution, now, request.requested_by, request.reason)
    ports.catalog.put_record(
        *_record(execution), {"plan": plan.model_dump(mode="json"), "status": "running"}
    )
    stage = "create"
    return result.model_copy(update={"stage": stage}).model_dump(mode="json")


def _plan(request: VolumeRestoreInput, instance: InstanceView, points: list[Any]) -> VolumePlan:
    point, snap = choose(points, request.device, parse_point(request.point))
    current = next((v for d, v in instance.devices.items() if same_device(d, request.device)), None)
    root = same_device(instance.root_device, request.device)
    if request.replace:
        if current is None:
            raise InvalidInputError(
                "device", f"{request.instance_id} has nothing at {request.device} to replace"
            )
        if request.attach_as is not None:
            raise InvalidInputError("attach_as", "give --attach-as or --replace, not both")
        if root and instance.state != "running":
            raise InvalidInputError(
                "replace",
                "a root volume is replaced in place on a running instance only "
                f"({request.instance_id} is {instance.state}): start it first",
            )
        mode = "replace-root" if root else "replace-data"
        device = request.device
    else:
        mode = "attach"
        device = request.attach_as or free_device(set(instance.devices))
        if device in instance.devices:
            raise InvalidInputError(
                "attach_as", f"{device} is in use on {request.instance_id}: choose a free device"
            )
    return VolumePlan(
        mode=mode,
        instance_id=request.instance_id,
        availability_zone=instance.availability_zone,
        device=request.device,
        recovery_point_id=point.recovery_point_id,
        snapshot_id=snap.snapshot_id,
        point_created_at=point.created_at.isoformat(),
        original_volume_id=current,
        attach_as=device,
        size_gb=snap.size_gb,
        volume_type=snap.volume_type,
        iops=snap.iops,
        throughput=snap.throughput,
        encrypted=snap.encrypted,
        kms_key_id=snap.kms_key_id,
        was_running=instance.state == "running",
    )


def _lock(
    ports: Ports,
    instance_id: str,
    execution: ExecutionContext,
    now: datetime,
    by: str,
    reason: str,
) -> None:
    """The instance's restore lock (the one ``restore start`` takes too): one restore at a
    time, whatever its kind."""
    holder = ports.catalog.acquire_lock(
        instance_id,
        execution.id,
        int(now.timestamp()),
        LOCK_SECONDS,
        {"requested_by": by or "unknown", "reason": reason, "kind": "volume"},
    )
    if holder is not None:
        raise RestoreInProgressError(
            f"a restore of {instance_id} is already running: {holder.get('owner')} "
            f"(requested by {holder.get('requested_by', 'unknown')}); wait for it or stop it"
        )


def _begin_rollback(
    request: VolumeRollbackInput, execution: ExecutionContext, ports: Ports, now: datetime
) -> dict[str, Any]:
    name = request.rollback_of.rsplit(":", 1)[-1]
    found = {r.get("sk"): r for r in ports.catalog.records(_restore_key(name))}.get("RESTORE")
    if found is None or found.get("status") != "completed":
        raise InvalidInputError(
            "rollback_of", f"{request.rollback_of} is not a completed volume restore"
        )
    restored = VolumePlan.model_validate(found["plan"])
    later = [
        r
        for r in ports.catalog.records(_instance_key(restored.instance_id))
        if r.get("status") == "completed"
        and r.get("started_at", "") > found.get("started_at", "")
        and r.get("sk") != name
    ]
    if later:
        raise InvalidInputError(
            "rollback_of",
            f"a later volume restore of {restored.instance_id} exists "
            f"({later[-1].get('sk')}): roll that back first",
        )
    plan = restored.model_copy(
        update={
            "mode": _ROLLBACK[restored.mode],
            "restored_volume_id": found.get("new_volume_id"),
            "rollback_of": request.rollback_of,
        }
    )
    result = VolumeState(plan=plan, dry_run=request.dry_run)
    if request.dry_run:
        return result.model_copy(update={"done": True}).model_dump(mode="json")
    _lock(ports, plan.instance_id, execution, now, request.requested_by, f"rollback of {name}")
    return result.model_copy(update={"stage": _FIRST[plan.mode]}).model_dump(mode="json")


# How each kind of restore is rolled back, and where its rollback starts.
_ROLLBACK = {
    "attach": "rollback-attach",
    "replace-data": "rollback-replace",
    "replace-root": "rollback-root",
}
_FIRST = {"rollback-attach": "detach", "rollback-replace": "stop", "rollback-root": "replace-root"}


def undo(state: dict[str, Any], ports: Ports) -> dict[str, Any]:
    """A restore failed after changing something: its own rollback, from where it stopped."""
    found = VolumeState.model_validate(state)
    plan = found.plan
    if plan.mode.startswith("rollback"):  # the undo itself failed: stop, the lock is released
        update = {"done": True, "stage": "undo-failed", "failed": True}
        return found.model_copy(update=update).model_dump(mode="json")
    if found.new_volume_id is None:  # nothing made yet
        update = {"done": True, "stage": "undone", "failed": True}
        return found.model_copy(update=update).model_dump(mode="json")
    port = port_of(ports)
    original = port.volume(plan.original_volume_id) if plan.original_volume_id else None
    swapped = original is not None and original.attached_to != plan.instance_id
    # Swapped out already: put the original back as the restore's rollback would; otherwise
    # only the new volume goes (detached first if it was attached beside the original).
    mode = _ROLLBACK[plan.mode] if swapped else "rollback-attach"
    stage = _FIRST[mode]
    undo_plan = plan.model_copy(update={"mode": mode, "restored_volume_id": found.new_volume_id})
    return found.model_copy(
        update={"plan": undo_plan, "stage": stage, "attempt": 0, "done": False, "failed": True}
    ).model_dump(mode="json")


def finish(
    state: dict[str, Any],
    execution: ExecutionContext,
    ports: Ports,
    now: datetime,
    failed: bool = False,
) -> dict[str, Any]:
    """Record the outcome (the rollback reads it), release the lock, notify; the result is the
    execution's output."""
    found = VolumeState.model_validate(state)
    plan = found.plan
    status = (
        "failed" if failed else ("rolled-back" if plan.mode.startswith("rollback") else "completed")
    )
    if not found.dry_run:
        if plan.rollback_of is not None:  # a requested rollback: the restore it undid
            if not failed:
                _mark_rolled_back(ports, plan.rollback_of.rsplit(":", 1)[-1], plan.instance_id)
        else:
            attrs = {
                "plan": plan.model_dump(mode="json"),
                "status": status,
                "new_volume_id": found.new_volume_id,
                "started_at": execution.start_time,
            }
            ports.catalog.put_record(*_record(execution), attrs)
            ports.catalog.put_record(
                _instance_key(plan.instance_id),
                execution.name,
                {"started_at": execution.start_time, "status": status},
            )
        ports.catalog.release_lock(plan.instance_id, execution.id)
    summary = {
        "status": "dry-run" if found.dry_run else status,
        "mode": plan.mode,
        "instance_id": plan.instance_id,
        "device": plan.device,
        "attached_as": plan.attach_as,
        "recovery_point_id": plan.recovery_point_id,
        "snapshot_id": plan.snapshot_id,
        "point_created_at": plan.point_created_at,
        "original_volume_id": plan.original_volume_id,
        "new_volume_id": found.new_volume_id,
        "execution_arn": execution.id,
        "plan": plan.model_dump(mode="json"),
    }
    if ports.notifier is not None and not found.dry_run:
        ports.notifier.publish(
            f"Lifeboat volume restore of {plan.instance_id} {plan.device}: {status}", summary
        )
    return summary


def _mark_rolled_back(ports: Ports, restored: str, instance_id: str) -> None:
    """The restore's records say it was rolled back (a second rollback is refused)."""
    for pk, sk in (
        (_restore_key(restored), "RESTORE"),
        (_instance_key(instance_id), restored),
    ):
        for record in ports.catalog.records(pk):
            if record.get("sk") == sk:
                kept = {k: v for k, v in record.items() if k not in ("pk", "sk")}
                ports.catalog.put_record(pk, sk, {**kept, "status": "rolled-back"})


class VolumeStepEvent(BaseModel):
    """What the VolumeRestore function receives from each task of its machine."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["begin", "advance", "undo", "finish", "finish-failed"]
    state: dict[str, Any]
    execution: ExecutionContext


def run_step(
    event: VolumeStepEvent, ports: Ports, now: datetime, pacing: SharedPacing | None = None
) -> dict[str, Any]:
    """The VolumeRestore function: one step of the machine (``pacing``: the shared pace an
    advance's CreateVolume may stop for)."""
    if event.action == "begin":
        return begin(event.state, event.execution, ports, now)
    if event.action == "advance":
        return advance(event.state, event.execution, ports, pacing)
    if event.action == "undo":
        return undo(event.state, ports)
    return finish(event.state, event.execution, ports, now, event.action == "finish-failed")
