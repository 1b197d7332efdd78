"""The drill's stages: begin (plan, record "running"), then per resource launch → check health
→ tear down (always, on success and failure), then finish (tear down anything of this drill
still standing, write the result to the catalog, publish RTO and RPO). A drill never fences,
never moves an address, never touches a target group: it has no port for any of that."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.drill import planner
from lifeboat.drill.models import (
    DATABASE_DEADLINE,
    INSTANCE_DEADLINE,
    DrillHealth,
    DrillLaunched,
    DrillPlacementError,
    DrillPlan,
    DrillTaskEvent,
    ResourceResult,
)
from lifeboat.errors import InvalidInputError, ReplacementFailedError, error_code
from lifeboat.plans import PlanSet
from lifeboat.ports import DrillPort, Ports
from lifeboat.restore.health import FAILED_DB_STATES, FAILED_INSTANCE_STATES
from lifeboat.restore.models import Candidate
from lifeboat.timeutil import iso

NAMESPACE = "Lifeboat"
RECORD_DAYS = 400


LAUNCH_SKEW = timedelta(minutes=5)  # EC2/RDS launch times against Step Functions' clock


def drills_of(ports: Ports) -> DrillPort:
    if ports.drills is None:
        raise InvalidInputError("ports", "no drill adapter configured")
    return ports.drills


def describe_error(name: str, cause: str | None) -> str:
    """``Error: message`` from a Catch's error (Lambda's cause is JSON with a stack trace)."""
    message = cause or ""
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        message = str(parsed["errorMessage"])
    return f"{name}: {message}".strip(": ")[:1000]


def record_key(plan: str, started_at: datetime, execution_name: str) -> tuple[str, str]:
    """The catalog record of a drill (the readiness report reads it)."""
    return f"DRILL#{plan}", f"{iso(started_at)}#{execution_name}"


def provenance_key(execution_arn: str) -> str:
    """Written before each launch: what this drill launches (the sweeper's proof)."""
    return f"DRILLEXEC#{execution_arn}"


def begin(event: DrillTaskEvent, plans: PlanSet, ports: Ports, now: datetime) -> DrillPlan:
    request = event.request()
    if request.plan not in plans.plans:
        raise InvalidInputError("plan", f"unknown plan {request.plan!r}: {sorted(plans.plans)}")
    rule = plans.plans[request.plan].drill
    if rule is None:
        raise InvalidInputError("plan", f"plan {request.plan!r} has no drill rule")
    points = ports.catalog.points_for_plan(request.plan, sorted(plans.plans[request.plan].rules))
    drills = drills_of(ports)
    targets, skipped = planner.plan_drill(
        request,
        rule,
        points,
        drills.network(),
        drills.zones(),
        event.execution.name,
    )
    started = event.execution.start_time
    pk, sk = record_key(request.plan, started, event.execution.name)
    ports.catalog.put_record(
        pk,
        sk,
        {
            "status": "running",
            "started_at": iso(started),
            "finished_at": None,
            "execution_arn": event.execution.id,
            "resources": [],
            "expires_at": int(now.timestamp()) + RECORD_DAYS * 86400,
        },
    )
    return DrillPlan(plan=request.plan, started_at=started, resources=targets, skipped=skipped)


def launch(event: DrillTaskEvent, ports: Ports, now: datetime) -> DrillLaunched:
    target = event.target()
    if target.error:
        raise DrillPlacementError("drill", f"{target.id}: {target.error}")
    drills = drills_of(ports)
    arn = event.execution.id
    # Provenance before the create call: the sweeper deletes only what a recorded drill made.
    ports.catalog.put_record(
        provenance_key(arn),
        target.id,
        {"type": target.type, "expires_at": int(now.timestamp()) + RECORD_DAYS * 86400},
    )
    existing = [
        r
        for r in drills.resources(arn)
        if r["tags"].get(T.DRILL_SOURCE) == target.id
        and _launched_since(r, event.execution.start_time)  # not a forged older resource
        and made_by(r, arn)
    ]
    if existing:  # a retried task: the copy is already there
        return DrillLaunched(id=existing[0]["id"], type=target.type, requested_at=now)
    if target.database is not None:
        plan = target.database
        tags = planner.drill_tags(arn, target.id, plan.new_identifier)
        db = drills.restore_db(plan, tags)
        return DrillLaunched(id=db["DBInstanceIdentifier"], type="db", requested_at=now)
    if target.instance is None or target.subnet_id is None or target.availability_zone is None:
        raise DrillPlacementError("drill", f"{target.id}: no launch plan")
    candidate = Candidate(availability_zone=target.availability_zone, subnet_id=target.subnet_id)
    token = client_token(arn, target.id)
    tags = planner.drill_tags(arn, target.id, target.instance.name)
    instance = drills.launch(target.instance, candidate, token, tags)
    return DrillLaunched(id=instance["InstanceId"], type="instance", requested_at=now)


def check(event: DrillTaskEvent, ports: Ports, now: datetime) -> DrillHealth:
    launched = event.launched()
    attempt = event.attempt
    status = drills_of(ports).status(launched.type, launched.id)
    state = status["state"]
    if state in (FAILED_DB_STATES if launched.type == "db" else FAILED_INSTANCE_STATES):
        raise ReplacementFailedError(f"drill copy {launched.id} of {event.target().id} is {state}")
    if launched.type == "db":
        healthy = state == "available"
        deadline = DATABASE_DEADLINE
    else:
        healthy = state == "running" and status["system"] == status["instance"] == "ok"
        deadline = INSTANCE_DEADLINE
    late = now - launched.requested_at > deadline
    return DrillHealth(
        healthy=healthy,
        state=state
        if launched.type == "db"
        else f"{state} {status['system']}/{status['instance']}",
        attempt=attempt + 1,
        wait_seconds=min(60, 10 * 2 ** min(attempt, 3)),
        deadline_passed=late and not healthy,
        checked_at=now,
    )


def tear_down_resource(event: DrillTaskEvent, ports: Ports) -> ResourceResult:
    """Delete this resource's drill copy (whatever the stages before did or failed to do), and
    say how the drill went for it."""
    target = event.target()
    state = event.state
    torn = tear_down(ports, event.execution.id, target.id, since=event.execution.start_time)
    health = state.check.health if state.check else None
    launched = state.launch.launched if state.launch else None
    error = None
    if state.error is not None:
        outcome = "failed"
        error = describe_error(state.error.Error, state.error.Cause)
    elif health is not None and health.healthy:
        outcome = "healthy"
    else:
        outcome = "unhealthy"
        error = f"not healthy in time ({health.state if health else 'never checked'})"
    healthy_at = health.checked_at if health is not None and health.healthy else None
    requested = launched.requested_at if launched else None
    return ResourceResult(
        id=target.id,
        type=target.type,
        result=outcome,
        rto_seconds=planner.as_of(healthy_at, requested) if outcome == "healthy" else None,
        rpo_seconds=planner.as_of(requested, target.data_taken_at),
        error=error,
        drill_resource=launched.id if launched else None,
        torn_down=torn,
    )


def tear_down(
    ports: Ports,
    execution_arn: str,
    source_id: str | None = None,
    left: list[str] | None = None,
    since: datetime | None = None,
) -> list[str]:
    """Terminate the instances and delete the databases this drill launched (those of one
    source, or all): only resources carrying this execution's drill tag and, given ``since``
    (the execution's start), launched after it — a resource older than the drill cannot be its
    copy, whatever its tags say (a forged tag). With ``left``, an AWS error on one resource is
    noted there and the others are still torn down (the sweeper of the next backup run
    retries); without it, the error is raised (the task's Retry)."""
    drills = drills_of(ports)
    done: list[str] = []
    for resource in drills.resources(execution_arn):
        if source_id is not None and resource["tags"].get(T.DRILL_SOURCE) != source_id:
            continue
        if not made_by(resource, execution_arn) or (
            since is not None and not _launched_since(resource, since)
        ):
            if left is not None:
                left.append(
                    f"{resource['id']}: refused, not launched by this drill (a forged tag?)"
                )
            continue
        try:
            if resource["kind"] == "db":
                outcome = drills.delete_db(resource["id"], execution_arn)
            else:
                outcome = drills.terminate(resource["id"], execution_arn)
        except ClientError as exc:
            if left is None:
                raise
            left.append(f"{resource['id']}: {error_code(exc)}")
            continue
        if outcome in ("terminated", "deleted"):
            done.append(resource["id"])
    return done


def client_token(execution_arn: str, source_id: str) -> str:
    """The ``ClientToken`` of a drill's launch of ``source_id``: fixed at launch, it proves
    which drill made an instance (tags can be written by anyone allowed to tag)."""
    return "drill-" + hashlib.sha256(f"{execution_arn}/{source_id}".encode()).hexdigest()[:40]


def made_by(resource: dict[str, Any], execution_arn: str) -> bool:
    """The drill ``execution_arn`` launched this resource: an instance's client token, or a
    database's identifier, is the one that drill derives for the source its tag names."""
    source = str(resource["tags"].get(T.DRILL_SOURCE, ""))
    if resource["kind"] == "db":
        name = execution_arn.rsplit(":", 1)[-1]
        return bool(resource["id"] == planner.drill_identifier(source, name))
    return bool(resource.get("client_token") == client_token(execution_arn, source))


def _launched_since(resource: dict[str, Any], since: datetime) -> bool:
    launched = resource.get("launched_at")
    return launched is None or launched >= since - LAUNCH_SKEW


def finish(event: DrillTaskEvent, ports: Ports, now: datetime) -> dict[str, Any]:
    """Tear down anything of this drill still standing, record the result, publish metrics."""
    state = event.state
    request = event.request()
    not_torn_down: list[str] = []
    leftovers = tear_down(
        ports, event.execution.id, left=not_torn_down, since=event.execution.start_time
    )
    results = list(state.results or [])
    started = event.execution.start_time
    failed = (
        state.error is not None
        or bool(not_torn_down)
        or any(r.result != "healthy" for r in results)
    )
    status = "failed" if failed or not results else "succeeded"
    pk, sk = record_key(request.plan, started, event.execution.name)
    record = {
        "status": status,
        "started_at": iso(started),
        "finished_at": iso(now),
        "execution_arn": event.execution.id,
        "resources": [
            r.model_dump(
                mode="json", include={"id", "type", "result", "rto_seconds", "rpo_seconds", "error"}
            )
            for r in results
        ],
        "error": describe_error(state.error.Error, state.error.Cause) if state.error else None,
        "skipped": state.begin.plan.skipped if state.begin else [],
        "not_torn_down": not_torn_down,
        "expires_at": int(now.timestamp()) + RECORD_DAYS * 86400,
    }
    ports.catalog.put_record(pk, sk, record)
    for result in results:
        dimensions = {"Plan": request.plan, "Resource": result.id}
        if result.rto_seconds is not None:
            ports.metrics.put(
                NAMESPACE, "DrillRtoSeconds", result.rto_seconds, "Seconds", dimensions
            )
        if result.rpo_seconds is not None:
            ports.metrics.put(
                NAMESPACE, "DrillRpoSeconds", result.rpo_seconds, "Seconds", dimensions
            )
    return {**record, "plan": request.plan, "leftovers_torn_down": leftovers}
