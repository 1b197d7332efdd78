"""Stage 2, launch: the replacement instance (capacity fallbacks across instance types, then
AZs; one client token per attempt, so a repeated task never launches twice) or the restored
database. The AWS requests are built by the adapters from the plan."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.errors import NoCapacityError, error_code
from lifeboat.ports import Ports
from lifeboat.restore.models import (
    CapacityAttempt,
    DatabasePlan,
    InstancePlan,
    Launched,
    TaskEvent,
)
from lifeboat.restore.region import in_region

TOKEN_PREFIX = "lifeboat-"  # every client token of a Lifeboat launch
CAPACITY_CODES = {"InsufficientInstanceCapacity", "Unsupported", "InsufficientCapacity"}


def launch(event: TaskEvent, ports: Ports, now: datetime) -> Launched:
    plan = event.plan()
    ports = in_region(ports, plan.region)
    if isinstance(plan, DatabasePlan):
        return _launch_database(plan, ports, event.execution.id)
    return _launch_instance(plan, ports, event.execution.name, event.execution.id)


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
    plan: InstancePlan, ports: Ports, execution_name: str, execution_arn: str
) -> Launched:
    ec2 = ports.ec2_restore
    existing = ec2.replacement_of(execution_arn)
    if existing is not None:
        return launched_instance(existing, attempts=[])
    tags = replacement_tags(plan, execution_arn)
    attempts: list[CapacityAttempt] = []
    index = 0
    for candidate in plan.candidates:
        for instance_type in plan.instance_types:
            token = client_token(execution_name, index)
            index += 1
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


def launched_instance(instance: dict[str, Any], attempts: list[CapacityAttempt]) -> Launched:
    return Launched(
        kind="instance",
        id=instance["InstanceId"],
        availability_zone=instance.get("Placement", {}).get("AvailabilityZone"),
        subnet_id=instance.get("SubnetId"),
        instance_type=instance.get("InstanceType"),
        capacity_fallbacks=attempts,
    )


def _launch_database(plan: DatabasePlan, ports: Ports, execution_arn: str) -> Launched:
    db = ports.rds_restore.restore(plan, replacement_tags(plan, execution_arn))
    return Launched(
        kind="db",
        id=db["DBInstanceIdentifier"],
        availability_zone=db.get("AvailabilityZone"),
    )
