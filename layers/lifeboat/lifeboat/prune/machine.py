"""The prune state machine's steps (statemachines/prune.asl.json; docs: development/scale.md).

* **plan** (the prune function, ``step: plan``): retention decides as in a whole prune; the
  deletions are written to the catalog in batches of :data:`BATCH_POINTS` per region (the home
  region, and each copy region), under ``PRUNE#<owner>``; the owner (the execution's id) is
  recorded as running under ``PRUNERUN#<owner>``. Nothing is marked yet.
* **pass** (the prune-batch function, once per region, over and over): from the batch the
  previous pass stopped at (its ``cursor``), the region's next batch not done is marked
  ``deleting`` by its owner (write-ahead, one batch at a time), the restore locks are read,
  and its points are deleted a chunk at a time: each chunk's calls are reserved from the shared
  pace (:mod:`lifeboat.pace`) of the region the artifacts are in; when the pace hands them
  out later, or the invocation's remaining time runs short, the pass returns and the machine
  waits (``Wait``, ``TimestampPath``) and calls it again. A pass killed part-way (a time-out,
  retried on ``Sandbox.Timedout``) is finished by the next one at once: its marks carry its
  owner, the batch its progress (``next``, and ``started``, written before a chunk's deletes).
* **finish** (the prune function, ``step: finish``): the counts, the owner recorded as ended
  (another prune then finishes its marks at once, whatever is left), broken points failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifeboat.errors import InvalidInputError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.prune.expired import BATCH_POINTS, plan_prune, run_prune
from lifeboat.prune.models import Deletion, PruneRequest, Takeover, epoch

RUNS = "PRUNERUN#"
BATCHES = "PRUNE#"
MACHINE_TIMEOUT = 86400  # prune.asl.json's TimeoutSeconds (a unit test reads the ASL)


def run_step(
    request: PruneRequest, plans: PlanSet, ports: Ports, now: datetime, recycle_bin_days: int
) -> dict[str, Any]:
    """The prune function: the whole prune (``step: all``, ``lifeboat prune``), or the prune
    state machine's first or last step."""
    if request.step == "plan":
        return plan_run(request, plans, ports, now, recycle_bin_days)
    if request.step == "finish":
        return finish_run(request, plans, ports)
    return run_prune(request, plans, ports, now, recycle_bin_days)


# --- plan and finish --------------------------------------------------------------------------
def plan_run(
    request: PruneRequest, plans: PlanSet, ports: Ports, now: datetime, recycle_bin_days: int = 0
) -> dict[str, Any]:
    """The machine's first step: decide, and write the batches to delete per region."""
    owner = _owner(request)
    if request.delete_orphans:
        raise InvalidInputError(
            "delete_orphans", "orphans are removed by 'lifeboat prune --delete-orphans' only"
        )
    catalog = ports.catalog
    takeover = Takeover(owner=owner, ended=_ended_owners(request, plans, ports, now))
    planned = plan_prune(request, plans, ports, now, takeover)
    report = planned.report
    report.recycle_bin_days = recycle_bin_days
    summary = report.summary()
    regions: dict[str, list[tuple[RecoveryPoint, Deletion]]] = {}
    if not request.dry_run:
        for point, deletion in planned.work:
            regions.setdefault(point.region or ports.home_region, []).append((point, deletion))
    catalog.put_record(
        RUNS + owner,
        "RUN",
        {
            "status": "running",
            "deadline": epoch(now) + MACHINE_TIMEOUT,
            "expires_at": epoch(now) + 30 * 86400,
            "summary": summary,
            "broken": report.broken[:1000],
        },
    )
    listed = []
    for region, work in sorted(regions.items()):
        batches = [work[i : i + BATCH_POINTS] for i in range(0, len(work), BATCH_POINTS)]
        for index, batch in enumerate(batches):
            catalog.put_record(BATCHES + owner, f"B#{region}#{index:06d}", _batch_item(batch))
        listed.append({"region": region, "batches": len(batches), "points": len(work)})
    return {"owner": owner, "plan": request.plan, "regions": listed, "summary": summary}


def finish_run(request: PruneRequest, plans: PlanSet, ports: Ports) -> dict[str, Any]:
    """The machine's last step (also after a failure): counts, and the owner recorded ended."""
    owner = _owner(request)
    catalog = ports.catalog
    run = next(iter(catalog.records(RUNS + owner)), None)
    summary: dict[str, Any] = dict((run or {}).get("summary") or {})
    batches = catalog.records(BATCHES + owner)
    for field in ("deleted", "skipped", "locked"):
        summary[field] = int(summary.get(field, 0)) + sum(int(b.get(field, 0)) for b in batches)
    summary["unfinished_batches"] = sum(1 for b in batches if not b.get("done"))
    summary["status"] = "failed" if request.failed else "succeeded"
    if run is not None:
        catalog.put_record(RUNS + owner, "RUN", {**run, "status": "ended", "summary": summary})
    broken = [str(b) for b in (run or {}).get("broken") or []]
    if broken and not request.dry_run:
        plan_points = ports.catalog.points_for_plan(
            request.plan, sorted(plans.plan(request.plan).rules)
        )
        _fail_broken(plan_points, set(broken), ports)
    return summary


def _fail_broken(plan_points: list[RecoveryPoint], broken: set[str], ports: Ports) -> None:
    for point in plan_points:
        if point.recovery_point_id in broken and point.status is PointStatus.COMPLETED:
            ports.catalog.transition(
                point,
                PointStatus.COMPLETED,
                PointStatus.FAILED,
                {"error": "its AMI was deregistered outside Lifeboat"},
            )


def _owner(request: PruneRequest) -> str:
    if not request.owner:
        raise InvalidInputError("owner", "the prune machine's steps need its execution id")
    return request.owner


def _ended_owners(
    request: PruneRequest, plans: PlanSet, ports: Ports, now: datetime
) -> frozenset[str]:
    """Other prunes whose marks are on the plan's points and that have ended (or outlived
    their machine's time-out): their marks are finished at once."""
    rules = sorted(plans.plan(request.plan).rules)
    marks = {
        p.deleting_by
        for p in ports.catalog.points_for_plan(request.plan, rules)
        if p.status is PointStatus.DELETING and p.deleting_by and p.deleting_by != request.owner
    }
    ended = set()
    for owner in sorted(marks):
        run = next(iter(ports.catalog.records(RUNS + str(owner))), None)
        if run is not None and (run.get("status") == "ended" or int(run["deadline"]) < epoch(now)):
            ended.add(str(owner))
    return frozenset(ended)


def _batch_item(batch: list[tuple[RecoveryPoint, Deletion]]) -> dict[str, Any]:
    return {
        "points": [[p.source_id, p.run_id, p.kind.value] for p, _ in batch],
        "reasons": [d.reason for _, d in batch],
        "rules": [d.rule for _, d in batch],
        "next": 0,
        "started": 0,
        "marked": False,
        "done": False,
        "deleted": 0,
        "skipped": 0,
        "locked": 0,
    }
