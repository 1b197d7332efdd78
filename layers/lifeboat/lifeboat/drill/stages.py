"""The drill's stages: begin (plan, record "running"), then per resource launch → check health
→ tear down (always, on success and failure), then finish (tear down anything of this drill
still standing, write the result to the catalog, publish RTO and RPO). A drill never fences,
never moves an address, never touches a target group: it has no port for any of that."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, overload

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.drill import holds, planner
from lifeboat.drill.cluster import cluster_drills_of, delete_copy, launch_cluster
from lifeboat.drill.models import (
    DRILL_TIMEOUT,
    DrillLaunched,
    DrillOutOfTimeError,
    DrillPlacementError,
    DrillPlan,
    DrillTarget,
    DrillTaskEvent,
    ForeignResourceError,
    ResourceResult,
    drills_of,
    execution_deadline,
)
from lifeboat.drill.paced import Made, launch_instance
from lifeboat.drill.planner import Protected
from lifeboat.drill.ports import DrillClusterBusyError
from lifeboat.drill.provenance import first_requests, record_request
from lifeboat.drill.slot import claim_slot
from lifeboat.drill.sources import protected_now
from lifeboat.errors import InvalidInputError, error_code
from lifeboat.models import RecoveryPoint
from lifeboat.pace import SharedPacing
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.restore.models import Candidate, LaunchDeferred
from lifeboat.timeutil import iso

NAMESPACE = "Lifeboat"
RECORD_DAYS = 400
# One item per plan that ever drilled (sk = the plan): the sweeper settles the unfinished drills
# of each, whether plans.yaml still declares the plan or not.
DRILL_PLANS = "DRILLPLANS"
LAUNCH_SKEW = timedelta(minutes=5)  # EC2/RDS launch times against Step Functions' clock


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


def begin(
    event: DrillTaskEvent, plans: PlanSet, ports: Ports, now: datetime, instance_profile: str = ""
) -> DrillPlan:
    """Claim the schedule's slot (a redelivered trigger finds it claimed and drills nothing),
    plan the drill from what is protected now, record it ``running``, hold the points of every
    resource it drills (prune keeps them until FinishDrill releases them, or the holds lapse
    after the time-out), then plan again from the points read consistently: a prune that
    marked a point ``deleting`` before the hold was taken is seen, and that point is not
    chosen."""
    request = event.request()
    if request.plan not in plans.plans:
        raise InvalidInputError("plan", f"unknown plan {request.plan!r}: {sorted(plans.plans)}")
    rule = plans.plan(request.plan).drill
    if rule is None:
        raise InvalidInputError("plan", f"plan {request.plan!r} has no drill rule")
    name, arn, started = event.execution.name, event.execution.id, event.execution.start_time
    if request.scheduled_time is not None:
        first = claim_slot(ports.catalog, request.plan, request.scheduled_time, arn, started)
        if first is not None:
            return DrillPlan(
                plan=request.plan,
                started_at=started,
                resources=[],
                duplicate=True,
                original_execution=str(first.get("owner") or "") or None,
            )
    rules = sorted(plans.plan(request.plan).rules)
    drills = drills_of(ports)
    every = [
        point
        for name_, plan in plans.plans.items()
        for point in ports.catalog.points_for_plan(name_, sorted(plan.rules))
    ]
    production = planner.production_network(every, drills.production())
    network, zones = drills.network(), drills.zones()
    live = protected_now(ports, request.plan)

    def plan_from(
        points: list[RecoveryPoint], sources: list[Protected]
    ) -> tuple[list[DrillTarget], list[str]]:
        return planner.plan_drill(
            request, rule, points, network, zones, name, production, instance_profile, sources
        )

    mine = [p for p in every if p.plan == request.plan]
    targets, skipped = plan_from(mine, live)
    chains = {s.id: s.chain for s in live}
    drilled = {t.id for t in targets}
    held = sorted({member for t in targets for member in chains.get(t.id, (t.id,))})
    pk, sk = record_key(request.plan, started, name)
    ports.catalog.put_record(DRILL_PLANS, request.plan, {"plan": request.plan})
    ports.catalog.put_record(
        pk,
        sk,
        {
            "status": "running",
            "started_at": iso(started),
            "finished_at": None,
            "execution_arn": arn,
            "resources": [],
            "held": held,  # written before the holds are taken: finish releases these
            "expires_at": int(now.timestamp()) + RECORD_DAYS * 86400,
        },
    )
    holds.take(ports.catalog, held, arn, started)
    fresh = [
        p
        for resource_id in held
        for p in ports.catalog.points_for_resource(resource_id)
        if p.plan == request.plan and p.rule in rules
    ]
    targets, _ = plan_from(fresh, [s for s in live if s.id in drilled]) if held else ([], [])
    left_out = planner.not_drilled(live, mine, rule) if request.resource is None else []
    return DrillPlan(
        plan=request.plan,
        started_at=started,
        resources=targets,
        skipped=skipped,
        held=held,
        not_drilled=left_out,
    )


@overload
def launch(event: DrillTaskEvent, ports: Ports, now: datetime) -> DrillLaunched: ...
@overload
def launch(
    event: DrillTaskEvent, ports: Ports, now: datetime, pacing: SharedPacing | None
) -> DrillLaunched | LaunchDeferred: ...
def launch(
    event: DrillTaskEvent, ports: Ports, now: datetime, pacing: SharedPacing | None = None
) -> DrillLaunched | LaunchDeferred:
    """Launch this resource's drill copy. With ``pacing`` (the stack's shared pace of the home
    region), an instance's RunInstances is reserved first and the task may stop for its
    state machine's ``WaitForDrillCopyPace`` (:mod:`lifeboat.restore.pace`); a database's or
    cluster's restore calls no paced API."""
    target = event.target()
    if target.error:
        raise DrillPlacementError("drill", f"{target.id}: {target.error}")
    if now >= execution_deadline(event.execution):
        raise DrillOutOfTimeError(
            "drill",
            f"{target.id}: not launched, too little of the drill's {DRILL_TIMEOUT} time-out is "
            "left to check it and tear it down",
        )
    drills = drills_of(ports)
    arn = event.execution.id
    # A copy is made after this drill first asked for it (a retried task keeps that time):
    # one made before, whatever its name and tags, is not this drill's.
    expires = int(now.timestamp()) + RECORD_DAYS * 86400
    requested = record_request(ports.catalog, arn, target.id, target.type, now, expires)
    since = max(event.execution.start_time, requested)
    existing = [
        r
        for r in drills.resources(arn)
        if r["tags"].get(T.DRILL_SOURCE) == target.id
        and _launched_since(r, since)  # not a forged older resource
        and made_by(r, arn)
    ]
    if existing:  # a retried task: the copy is already there (and its clock already runs)
        if target.cluster is not None:  # the task may have died before its instance was asked
            tags = planner.drill_tags(arn, target.id, target.cluster.new_identifier)
            cluster_drills_of(ports).add_instance(target.cluster, tags)
        return DrillLaunched(id=existing[0]["id"], type=target.type, requested_at=requested)
    if target.cluster is not None:
        tags = planner.drill_tags(arn, target.id, target.cluster.new_identifier)
        made = launch_cluster(
            ports, target.id, target.cluster, tags, lambda found: _ours(found, arn, since)
        )
        return DrillLaunched(id=made, type="cluster", requested_at=requested)
    if target.database is not None:
        plan = target.database
        tags = planner.drill_tags(arn, target.id, plan.new_identifier)
        db = drills.restore_db(plan, tags)
        if db.get("repeated") and not _ours(db, arn, since):
            raise ForeignResourceError(
                "drill",
                f"{target.id}: {plan.new_identifier} already exists and this drill did not "
                "launch it (its tags or creation time say otherwise): left untouched",
            )
        return DrillLaunched(id=plan.new_identifier, type="db", requested_at=requested)
    if target.instance is None or target.subnet_id is None or target.availability_zone is None:
        raise DrillPlacementError("drill", f"{target.id}: no launch plan")
    candidate = Candidate(availability_zone=target.availability_zone, subnet_id=target.subnet_id)
    tags = planner.drill_tags(arn, target.id, target.instance.name)
    copy = Made(drills, target.instance, candidate, client_token(arn, target.id), tags, requested)
    return launch_instance(event, copy, pacing, ports.home_region)


def _ours(resource: dict[str, Any], execution_arn: str, since: datetime) -> bool:
    """A database found in the copy's place is this drill's own (a retried restore) only with
    this drill's tags, no plan, and made after the drill started."""
    tags: dict[str, str] = resource.get("tags") or {}
    return (
        tags.get(T.DRILL) == execution_arn
        and T.PLAN not in tags
        and not T.is_managed(tags)
        and made_by(resource, execution_arn)
        and _launched_since(resource, since)
    )


def tear_down_resource(event: DrillTaskEvent, ports: Ports) -> ResourceResult:
    """Delete this resource's drill copy (whatever the stages before did or failed to do), and
    say how the drill went for it."""
    target = event.target()
    state = event.state
    torn = tear_down(ports, event.execution.id, target.id, since=event.execution.start_time)
    health = state.check.health if state.check else None
    launched = state.launch.made() if state.launch else None
    error = None
    if state.error is not None:
        outcome = "failed"
        error = describe_error(state.error.Error, state.error.Cause)
    elif health is not None and health.healthy:
        outcome = "healthy"
    else:
        outcome = "unhealthy"
        error = f"not healthy in time ({health.state if health else 'never checked'})"
        if health is not None and health.app_output:
            error += f"; application check: {health.app_output}"
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
    source, or all): only resources carrying this execution's drill tag, of a source the
    catalog recorded this drill launching (``DRILLEXEC#<execution>``, written before each
    create call: a name and tags are not provenance) and, given ``since`` (the execution's
    start), launched after it — a resource older than the drill cannot be its copy, whatever
    its tags say (a forged tag). With ``left``, an AWS error on one resource is
    noted there and the others are still torn down (the sweeper of the next backup run
    retries); without it, the error is raised (the task's Retry)."""
    drills = drills_of(ports)
    done: list[str] = []
    launched: dict[str, datetime] | None = None  # source -> when this drill first asked
    for resource in drills.resources(execution_arn):
        source = resource["tags"].get(T.DRILL_SOURCE)
        if source_id is not None and source != source_id:
            continue
        if launched is None:
            launched = first_requests(ports.catalog, execution_arn)
        asked = launched.get(str(source))
        if (
            not made_by(resource, execution_arn)
            or asked is None
            or not _launched_since(resource, max(asked, since) if since else asked)
        ):
            if left is not None:
                left.append(
                    f"{resource['id']}: refused, not launched by this drill (a forged tag?)"
                )
            continue
        try:
            outcome = delete_copy(ports, resource, execution_arn)
        except (ClientError, DrillClusterBusyError) as exc:
            if left is None:
                raise
            code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            left.append(f"{resource['id']}: {code}")
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
    if resource["kind"] in ("db", "cluster"):
        name = execution_arn.rsplit(":", 1)[-1]
        return bool(resource["id"] == planner.drill_identifier(source, name))
    return bool(resource.get("client_token") == client_token(execution_arn, source))


def _launched_since(resource: dict[str, Any], since: datetime) -> bool:
    launched = resource.get("launched_at")
    return launched is None or launched >= since - LAUNCH_SKEW


def finish(event: DrillTaskEvent, ports: Ports, now: datetime) -> dict[str, Any]:
    """Tear down anything of this drill still standing, release its holds, record the result,
    publish metrics."""
    state = event.state
    request = event.request()
    if state.begin is not None and state.begin.plan.duplicate:  # the slot's drill is another
        return {"status": "duplicate", "plan": request.plan, "resources": []}
    not_torn_down: list[str] = []
    leftovers = tear_down(
        ports, event.execution.id, left=not_torn_down, since=event.execution.start_time
    )
    results = list(state.results or [])
    started = event.execution.start_time
    pk, sk = record_key(request.plan, started, event.execution.name)
    held = state.begin.plan.held if state.begin else holds.recorded(ports.catalog, pk, sk)
    holds.release(ports.catalog, held, event.execution.id)
    failed = (
        state.error is not None
        or bool(not_torn_down)
        or any(r.result != "healthy" for r in results)
    )
    status = "failed" if failed or not results else "succeeded"
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
        "not_drilled": state.begin.plan.not_drilled if state.begin else [],
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
