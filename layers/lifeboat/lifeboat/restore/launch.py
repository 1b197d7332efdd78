"""Stage 2, launch: the replacement instance (capacity fallbacks across instance types, then
AZs; one client token per attempt, so a repeated task never launches twice) or the restored
database. The AWS requests are built by the adapters from the plan.

With ``pacing`` (the stack's shared pace, :mod:`.pace`), each RunInstances is reserved from
the bucket of the region launched in; when it comes later than sleeping is worth, the task
returns :class:`~.models.LaunchDeferred` and the state machine waits (``WaitForLaunchPace``)
before calling it again. Nothing else changes: the plan, the lock and the checks are
begin's, and a launch called again first looks for what its execution launched."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, overload

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.errors import NoCapacityError, error_code
from lifeboat.pace import PaceDeferred, SharedPacing
from lifeboat.ports import Ports
from lifeboat.restore.models import (
    CapacityAttempt,
    DatabasePlan,
    InstancePlan,
    LaunchDeferred,
    Launched,
    TaskEvent,
)
from lifeboat.restore.pace import RUN_INSTANCES, deferred, reserve_launch, waits_of
from lifeboat.restore.region import in_region

TOKEN_PREFIX = "lifeboat-"  # every client token of a Lifeboat launch
CAPACITY_CODES = {"InsufficientInstanceCapacity", "Unsupported", "InsufficientCapacity"}


@overload
def launch(event: TaskEvent, ports: Ports, now: datetime) -> Launched: ...
@overload
def launch(
    event: TaskEvent, ports: Ports, now: datetime, pacing: SharedPacing | None
) -> Launched | LaunchDeferred: ...
def launch(
    event: TaskEvent, ports: Ports, now: datetime, pacing: SharedPacing | None = None
) -> Launched | LaunchDeferred:
    """Launch the replacement; with ``pacing``, possibly stop first for the shared pace (an
    instance's RunInstances; a database's restore calls no paced API)."""
    plan = event.plan()
    ports = in_region(ports, plan.region)
    if isinstance(plan, DatabasePlan):
        return _launch_database(plan, ports, event.execution.id)
    earlier = event.state.launch.launched if event.state.launch else None
    waiting = earlier if isinstance(earlier, LaunchDeferred) else None
    region = plan.region or ports.home_region
    return _launch_instance(
        plan, ports, event.execution.name, event.execution.id, _Pace(pacing, region, waiting)
    )


class _Pace:
    """A launch's pace: the shared pacing (None: unpaced), its region, and where the previous
    call of the task stopped."""

    def __init__(
        self, pacing: SharedPacing | None, region: str, earlier: LaunchDeferred | None
    ) -> None:
        self.pacing, self.region, self.earlier = pacing, region, earlier

    def stop_first(self, attempts: list[CapacityAttempt]) -> LaunchDeferred | None:
        """Reserve the first RunInstances (or spend the reservation waited for)."""
        if self.pacing is None:
            return None
        ready = reserve_launch(self.pacing, self.region, {RUN_INSTANCES: 1}, self.earlier)
        return None if ready is None else self.stop(ready, attempts)

    def stop(self, ready_at: float, attempts: list[CapacityAttempt]) -> LaunchDeferred:
        assert self.pacing is not None  # only the shared pace defers
        return deferred(ready_at, self.pacing, self.earlier, attempts)


def replacement_tags(plan: InstancePlan | DatabasePlan, execution_arn: str) -> dict[str, str]:
    """The original's copyable tags and its plan (so the replacement is protected in turn),
    where it came from and which execution made it; never ``lifeboat:managed``."""
    return {
        **T.copyable(plan.tags),
        **({T.PLAN: plan.tags[T.PLAN]} if T.PLAN in plan.tags else {}),
        T.RESTORED_FROM: plan.source_id,
        T.RESTORE_EXECUTION: execution_arn,
    }


def client_token(execution_name: str, attempt: int) -> str:
    return f"{token_prefix(execution_name)}{attempt}"[:64]


def token_prefix(execution_name: str) -> str:
    """What every client token of this execution's launches starts with (an instance's
    ``ClientToken`` is set by RunInstances and never changes)."""
    digest = hashlib.sha256(execution_name.encode()).hexdigest()[:40]
    return f"{TOKEN_PREFIX}{digest}-"


def _launch_instance(
    plan: InstancePlan, ports: Ports, execution_name: str, execution_arn: str, pace: _Pace
) -> Launched | LaunchDeferred:
    ec2 = ports.ec2_restore
    attempts = list(pace.earlier.attempts) if pace.earlier else []
    existing = ec2.replacement_of(execution_arn)
    if existing is not None:  # a repeated task: found by its execution's tag and client token
        return launched_instance(existing, attempts, waits_of(pace.earlier))
    stopped = pace.stop_first(attempts)
    if stopped is not None:
        return stopped
    try:
        made = _try_each(plan, ports, execution_name, execution_arn, attempts)
    except PaceDeferred as wait:  # a capacity fallback's next call: later than worth sleeping
        return pace.stop(wait.ready_at, attempts)
    return made.model_copy(update={"waits": waits_of(pace.earlier)})


def _try_each(
    plan: InstancePlan,
    ports: Ports,
    execution_name: str,
    execution_arn: str,
    attempts: list[CapacityAttempt],
) -> Launched:
    """Each AZ and instance type in turn, from the first not yet tried (``attempts``, which
    grows with each refusal: a task that stopped for the pace goes on where it stopped)."""
    ec2 = ports.ec2_restore
    tags = replacement_tags(plan, execution_arn)
    index = 0
    for candidate in plan.candidates:
        for instance_type in plan.instance_types:
            token = client_token(execution_name, index)
            index += 1
            if index <= len(attempts):
                continue  # refused for capacity before this task stopped for the pace
            try:
                instance = ec2.launch(plan, candidate, instance_type, token, tags)
            except ClientError as exc:
                code = error_code(exc)
                if code not in CAPACITY_CODES:
                    raise
                attempts.append(
                    CapacityAttempt(
                        availability_zone=candidate.availability_zone,
                        instance_type=instance_type,
                        error=code,
                    )
                )
                continue
            return launched_instance(instance, attempts)
    raise NoCapacityError(
        f"no capacity for {plan.instance_types} in "
        f"{[c.availability_zone for c in plan.candidates]}: "
        f"{[a.model_dump() for a in attempts]}"
    )


def launched_instance(
    instance: dict[str, Any], attempts: list[CapacityAttempt], waits: int = 0
) -> Launched:
    return Launched(
        kind="instance",
        id=instance["InstanceId"],
        availability_zone=instance.get("Placement", {}).get("AvailabilityZone"),
        subnet_id=instance.get("SubnetId"),
        instance_type=instance.get("InstanceType"),
        capacity_fallbacks=attempts,
        waits=waits,
    )


def _launch_database(plan: DatabasePlan, ports: Ports, execution_arn: str) -> Launched:
    db = ports.rds_restore.restore(plan, replacement_tags(plan, execution_arn))
    return Launched(
        kind="db",
        id=db["DBInstanceIdentifier"],
        availability_zone=db.get("AvailabilityZone"),
    )
