"""One step of a volume restore or rollback per call (an action, or a check that the last one
is done): the machine's Wait states wait between them. Each step first reads where EC2 stands,
so a repeated call changes nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lifeboat import tags as T
from lifeboat.errors import LifeboatError
from lifeboat.models import ExecutionContext
from lifeboat.pace import PaceDeferred, SharedPacing
from lifeboat.ports import Ports
from lifeboat.volumes.models import VolumePlan, VolumeState
from lifeboat.volumes.pace import reserve_step, stepped, stop_for
from lifeboat.volumes.ports import VolumeRestorePort

Step = Callable[[VolumeState, VolumeRestorePort, ExecutionContext], VolumeState]


class VolumeRestoreError(LifeboatError):
    """EC2 answered something a volume restore cannot go on from (a failed root task...)."""


def port_of(ports: Ports) -> VolumeRestorePort:
    if ports.volumes is None:
        raise LifeboatError("volume restores need the volumes adapter")
    return ports.volumes


def advance(
    state: dict[str, Any],
    execution: ExecutionContext,
    ports: Ports,
    pacing: SharedPacing | None = None,
) -> dict[str, Any]:
    """One step: an action, or a check that the last one is done. With ``pacing`` (the shared
    pace), a step may stop for its paced call first (the create step's CreateVolume:
    :mod:`.pace`)."""
    found = VolumeState.model_validate(state)
    steps: dict[str, Step] = {
        "create": _create,
        "wait-available": _wait_available,
        "stop": _stop,
        "wait-stopped": _wait_stopped,
        "wait-detached": _wait_detached,
        "wait-attached": _wait_attached,
        "wait-running": _wait_running,
        "detach": _detach,
        "wait-restored-detached": _wait_restored_detached,
        "delete": _delete,
        "replace-root": _replace_root,
        "wait-root-task": _wait_root_task,
    }
    if pacing is not None:
        done = _paced_step(found, execution, ports, pacing, steps[found.stage])
        return done.model_copy(update={"attempt": found.attempt + 1}).model_dump(mode="json")
    changed = steps[found.stage](found, port_of(ports), execution)
    return changed.model_copy(update={"attempt": found.attempt + 1}).model_dump(mode="json")


def _paced_step(
    state: VolumeState, execution: ExecutionContext, ports: Ports, pacing: SharedPacing, step: Step
) -> VolumeState:
    """One step on the shared pace (:mod:`.pace`): the create step's CreateVolume reserved
    first; any step whose paced call comes later than worth sleeping stays where it was."""
    stopped = reserve_step(state, pacing, ports.home_region)
    if stopped is not None:
        return stopped
    try:
        return stepped(state, step(state, port_of(ports), execution))
    except PaceDeferred as wait:
        return stop_for(state, wait.ready_at, pacing)


def _to(state: VolumeState, stage: str, **more: Any) -> VolumeState:
    return state.model_copy(update={"stage": stage, **more})


def _tags(plan: VolumePlan, execution: ExecutionContext, instance: str) -> dict[str, str]:
    return {
        T.RESTORED_FROM: plan.recovery_point_id[:256],
        T.RESTORE_EXECUTION: execution.id,
        "Name": f"restored {plan.device} of {instance} ({plan.point_created_at[:16]})",
    }


def _create(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    plan = state.plan
    token = f"{execution.name}-{plan.device}"[-64:]
    volume_id = port.create_volume(plan, _tags(plan, execution, plan.instance_id), token)
    return _to(state, "wait-available", new_volume_id=volume_id)


def _wait_available(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    assert state.new_volume_id is not None
    volume = port.volume(state.new_volume_id)
    if volume is None or volume.state == "error":
        raise VolumeRestoreError(f"volume {state.new_volume_id} failed to create")
    attached = volume.attached_to == state.plan.instance_id  # a retried step attached it
    if volume.state != "available" and not attached:
        return state
    if state.plan.mode == "attach":
        _attach(port, state.new_volume_id, state.plan.instance_id, state.plan.attach_as)
        return _to(state, "wait-attached")
    return _to(state, "replace-root" if state.plan.mode == "replace-root" else "stop")


def _attach(port: VolumeRestorePort, volume_id: str, instance_id: str, device: str) -> None:
    """Attach, unless a previous attempt of this step already did (a retried task)."""
    found = port.volume(volume_id)
    if found is not None and found.attached_to == instance_id:
        return
    port.attach(volume_id, instance_id, device)


def _stop(state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext) -> VolumeState:
    port.stop(state.plan.instance_id)
    return _to(state, "wait-stopped")


def _wait_stopped(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    instance = port.instance(state.plan.instance_id)
    if instance is None or instance.state != "stopped":
        return state
    plan = state.plan
    # Swap out: the restore detaches the original; a rollback detaches what the restore made.
    outgoing = (
        plan.restored_volume_id if plan.mode.startswith("rollback") else plan.original_volume_id
    )
    if outgoing is not None:
        if not plan.mode.startswith("rollback"):
            port.mark_replaced(outgoing, execution.id)
        current = port.volume(outgoing)
        if current is not None and current.attached_to == plan.instance_id:
            port.detach(outgoing, plan.instance_id)
    return _to(state, "wait-detached")


def _wait_detached(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    plan = state.plan
    outgoing = (
        plan.restored_volume_id if plan.mode.startswith("rollback") else plan.original_volume_id
    )
    if outgoing is not None:
        current = port.volume(outgoing)
        if current is not None and current.state != "available":
            return state
    incoming = plan.original_volume_id if plan.mode.startswith("rollback") else state.new_volume_id
    assert incoming is not None
    _attach(port, incoming, plan.instance_id, plan.device)
    return _to(state, "wait-attached")


def _wait_attached(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    plan = state.plan
    incoming = plan.original_volume_id if plan.mode.startswith("rollback") else state.new_volume_id
    assert incoming is not None
    volume = port.volume(incoming)
    if volume is None or volume.attachment_state != "attached":
        return state
    if plan.mode in ("replace-data", "rollback-replace") and plan.was_running:
        port.start(plan.instance_id)
        return _to(state, "wait-running")
    return _after_swap(state)


def _wait_running(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    instance = port.instance(state.plan.instance_id)
    if instance is None or instance.state != "running":
        return state
    return _after_swap(state)


def _after_swap(state: VolumeState) -> VolumeState:
    if state.plan.mode.startswith("rollback"):
        return _to(state, "delete")
    return _to(state, "finished", done=True)


def _detach(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    """Rollback of an attach: take the restored volume off (the original was never touched)."""
    plan = state.plan
    restored = port.volume(plan.restored_volume_id) if plan.restored_volume_id else None
    if restored is not None and restored.attached_to == plan.instance_id:
        port.detach(restored.volume_id, plan.instance_id)
    return _to(state, "wait-restored-detached")


def _wait_restored_detached(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    restored = port.volume(state.plan.restored_volume_id) if state.plan.restored_volume_id else None
    if restored is not None and restored.state != "available":
        return state
    return _to(state, "delete")


def _delete(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    """Only what the restore created: the volume carrying its execution's tag."""
    plan = state.plan
    if plan.restored_volume_id is not None and port.volume(plan.restored_volume_id) is not None:
        owner = plan.rollback_of or execution.id
        port.delete_volume(plan.restored_volume_id, owner)
    return _to(state, "finished", done=True)


def _replace_root(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    """The restore's volume in the root's place (or, rolling back, the original again), the
    outgoing root kept detached; EC2 reboots the instance, it is never stopped."""
    plan = state.plan
    rollback = plan.mode == "rollback-root"
    incoming = plan.original_volume_id if rollback else state.new_volume_id
    assert incoming is not None
    if not rollback and plan.original_volume_id is not None:
        port.mark_replaced(plan.original_volume_id, execution.id)
    tags = _tags(plan, execution, plan.instance_id)
    task_id = port.replace_root(plan.instance_id, incoming, tags, execution.name[-64:])
    return _to(state, "wait-root-task", root_task_id=task_id)


def _wait_root_task(
    state: VolumeState, port: VolumeRestorePort, execution: ExecutionContext
) -> VolumeState:
    assert state.root_task_id is not None
    status, volume_id = port.replace_root_state(state.root_task_id, state.plan.instance_id)
    if status in ("failed", "failed-detached"):
        raise VolumeRestoreError(f"replace-root task {state.root_task_id} {status}")
    if status != "succeeded":
        return state
    if state.plan.mode == "rollback-root":
        return _to(state, "wait-restored-detached")
    return _to(state, "finished", done=True, new_volume_id=volume_id or state.new_volume_id)
