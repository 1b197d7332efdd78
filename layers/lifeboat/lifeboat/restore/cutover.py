"""Stage 4, cut over: fence the original (tag it, stop it), move its Elastic IP and its
target-group membership to the replacement, verify. A database gets a new endpoint instead."""

from __future__ import annotations

from typing import Any

from lifeboat import tags as T
from lifeboat.errors import CutOverError
from lifeboat.ports import Ec2RestorePort, Ports
from lifeboat.restore.models import CutOverRecord, DatabasePlan, InstancePlan, TaskEvent
from lifeboat.restore.region import NOT_CUT_OVER, in_region

GONE_STATES = ("terminated", "shutting-down")
DATABASE_NOTE = "databases get a new endpoint; point the application at it"


def cut_over(event: TaskEvent, ports: Ports) -> CutOverRecord:
    plan = event.plan()
    ports = in_region(ports, plan.region)
    new_id = event.launched().id
    if isinstance(plan, DatabasePlan):
        return CutOverRecord(note=DATABASE_NOTE)
    if plan.region is not None:
        # The home region is presumed lost: nothing there is fenced, described or moved.
        return CutOverRecord(note=NOT_CUT_OVER.format(region=plan.region))
    ec2 = ports.ec2_restore
    done = CutOverRecord()
    original = ec2.instance(plan.source_id)
    _fence(plan, original, ec2, event.execution.name, done)
    if plan.elastic_ip:
        _move_address(plan, plan.elastic_ip["allocation_id"], new_id, ec2, done)
    for group in plan.target_groups:
        ec2.register(group.target_group_arn, new_id, group.port)
        done.target_groups.append(group.target_group_arn)
        if original is not None:
            ec2.deregister(group.target_group_arn, plan.source_id, group.port)
    verify_cut_over(plan, new_id, ec2)
    return done


def _fence(
    plan: InstancePlan,
    original: dict[str, Any] | None,
    ec2: Ec2RestorePort,
    execution_name: str,
    done: CutOverRecord,
) -> None:
    """Fence first: the old instance must not keep serving once the address moves."""
    previous_fence = T.to_dict((original or {}).get("Tags")).get(T.FENCED)
    if previous_fence and previous_fence != execution_name:
        # Fenced by another restore: never fenced again (its fence is not ours to undo).
        done.previous_fence = previous_fence
        return
    if original is None or original["State"]["Name"] in GONE_STATES:
        return
    ec2.fence(plan.source_id, execution_name)
    done.fenced = original["State"]["Name"]
    if original["State"]["Name"] in ("pending", "running"):
        outcome = ec2.stop(plan.source_id)
        done.stopped = outcome == "stopping"
        done.stop_outcome = outcome


def _move_address(
    plan: InstancePlan, allocation: str, new_id: str, ec2: Ec2RestorePort, done: CutOverRecord
) -> None:
    address = ec2.address(allocation)
    if address is None:
        raise CutOverError(f"Elastic IP {allocation} no longer exists")
    holder = address.get("InstanceId")
    done.eip_previous_holder = holder
    if holder not in (None, plan.source_id, new_id):
        raise CutOverError(
            f"Elastic IP {allocation} is now attached to {holder}, not to "
            f"{plan.source_id}; refusing to move it"
        )
    ec2.associate(allocation, new_id)
    done.eip_moved = True
    done.public_ip = address.get("PublicIp")


def verify_cut_over(plan: InstancePlan, new_id: str, ec2: Ec2RestorePort) -> None:
    if plan.elastic_ip:
        address = ec2.address(plan.elastic_ip["allocation_id"]) or {}
        if address.get("InstanceId") != new_id:
            raise CutOverError(f"Elastic IP still points at {address.get('InstanceId')}")
    for group in plan.target_groups:
        if new_id not in ec2.targets(group.target_group_arn):
            raise CutOverError(f"{new_id} is not registered in {group.target_group_arn}")


def cut_over_complete(plan: InstancePlan, new_id: str, ec2: Ec2RestorePort, execution: str) -> bool:
    """Whether the replacement serves: it holds the address and traffic (verified), or, for a
    server without either, the original is fenced by this execution (the cut-over's first
    step) or gone. A restore in another region moves nothing: it is complete only when its
    Finish ran (an execution stopped or timed out before is rolled back)."""
    if plan.region is not None:
        return False
    if plan.elastic_ip or plan.target_groups:
        try:
            verify_cut_over(plan, new_id, ec2)
        except CutOverError:
            return False
        return True
    original = ec2.instance(plan.source_id)
    if original is None or original["State"]["Name"] in GONE_STATES:
        return True
    return T.to_dict(original.get("Tags")).get(T.FENCED) == execution
