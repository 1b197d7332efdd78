"""The sweeper, run at the end of every backup: delete drill resources older than the drill
time-out (a drill that timed out, was stopped, or whose tear-down failed).

A ``lifeboat:drill`` tag is a hint anyone allowed to tag can write, so a resource is deleted only
when all of these hold: its drill tag names a drill execution, the catalog recorded that drill
launching a copy of the resource named by its ``lifeboat:drill-source`` tag (written before the
launch), it carries no plan tag and no ``lifeboat:managed``, a database's identifier starts with
``lifeboat-drill-``, and it was launched longer ago than the time-out. Anything else with a drill
tag is reported as ``refused`` and left alone.

It also settles the record of a drill that never finished (timed out or stopped: its finish step
never ran): a ``running`` record older than the time-out becomes ``failed``, so the readiness
report does not show a drill in progress forever — for every plan that ever drilled (the
catalog's ``DRILLPLANS`` item), declared in plans.yaml or not any more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat import tags as T
from lifeboat.drill.cluster import delete_copy
from lifeboat.drill.models import DB_PREFIX, DRILL_TIMEOUT, SWEEP_MARGIN, drills_of
from lifeboat.drill.provenance import provenance_key
from lifeboat.drill.stages import DRILL_PLANS, RECORD_DAYS, made_by
from lifeboat.plans import default_plans
from lifeboat.ports import Ports
from lifeboat.timeutil import iso, parse_iso


def _why_not(resource: dict[str, Any], recorded: set[str]) -> str | None:
    tags: dict[str, str] = resource["tags"]
    arn = tags.get(T.DRILL, "")
    if not arn.startswith("arn:") or ":states:" not in arn:
        return "drill tag is not a drill execution"
    if T.PLAN in tags or T.is_managed(tags):
        return "protected or managed resource: never a drill copy"
    if resource["kind"] in ("db", "cluster") and not resource["id"].startswith(DB_PREFIX):
        return f"database identifier does not start with {DB_PREFIX}"
    if tags.get(T.DRILL_SOURCE) not in recorded:
        return "no catalog record of this drill launching it (forged tag?)"
    if not made_by(resource, arn):
        return "not launched by the drill its tag names (client token or identifier differs)"
    return None


def sweep(ports: Ports, now: datetime, max_age: timedelta | None = None) -> dict[str, Any]:
    limit = max_age if max_age is not None else DRILL_TIMEOUT + SWEEP_MARGIN
    drills = drills_of(ports)
    deleted: list[str] = []
    refused: dict[str, str] = {}
    young: list[str] = []
    provenance: dict[str, dict[str, dict[str, Any]]] = {}
    for resource in drills.resources(None):
        arn = resource["tags"].get(T.DRILL, "")
        if arn not in provenance:
            records = ports.catalog.records(provenance_key(arn)) if arn.startswith("arn:") else []
            provenance[arn] = {str(r["sk"]): r for r in records}
        reason = _why_not(resource, set(provenance[arn]))
        if reason is not None:
            refused[resource["id"]] = reason
            continue
        record = provenance[arn][resource["tags"][T.DRILL_SOURCE]]
        launched_at = resource.get("launched_at") or recorded_launch(record)
        if launched_at is None or now - launched_at < limit:
            young.append(resource["id"])
            continue
        try:  # one resource's error must not stop the sweep of the others
            outcome = delete_copy(ports, resource, arn)
        except Exception as exc:  # noqa: BLE001 (reported, retried by the next run)
            outcome = f"error: {type(exc).__name__}: {exc}"[:300]
        if outcome in ("terminated", "deleted"):
            deleted.append(resource["id"])
        else:
            refused[resource["id"]] = outcome
    plans = {str(r["sk"]) for r in ports.catalog.records(DRILL_PLANS)} | set(default_plans().plans)
    settled = settle_unfinished(ports, now, limit, sorted(plans))
    return {"deleted": deleted, "refused": refused, "running": young, "settled": settled}


def recorded_launch(record: dict[str, Any]) -> datetime | None:
    """When the drill asked for the copy, from its provenance record: ``launched_at``, or
    (records written before it was kept) the record's own write time, ``expires_at`` less its
    lifetime. A database has no ``InstanceCreateTime`` until RDS has created it — one that
    never gets there would otherwise never be old enough to sweep."""
    if record.get("launched_at"):
        return parse_iso(str(record["launched_at"]))
    if record.get("expires_at"):
        return datetime.fromtimestamp(int(record["expires_at"]) - RECORD_DAYS * 86400, UTC)
    return None


def settle_unfinished(ports: Ports, now: datetime, limit: timedelta, plans: list[str]) -> list[str]:
    """Mark ``failed`` the drills still ``running`` past the time-out (Step Functions stopped
    them at their ``TimeoutSeconds``, or a person did): the sweeper removes their copies."""
    settled: list[str] = []
    for plan in plans:
        for record in ports.catalog.records(f"DRILL#{plan}"):
            started = parse_iso(str(record.get("started_at", iso(now))))
            if record.get("status") != "running" or now - started < limit:
                continue
            attrs = {k: v for k, v in record.items() if k not in ("pk", "sk")}
            attrs.update(
                status="failed",
                finished_at=iso(now),
                error="timed out or stopped before it finished; its copies are swept",
            )
            ports.catalog.put_record(f"DRILL#{plan}", str(record["sk"]), attrs)
            settled.append(str(record["sk"]))
    return settled
