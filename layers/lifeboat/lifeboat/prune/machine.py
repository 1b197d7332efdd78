"""The prune state machine's steps (statemachines/prune.asl.json; docs: development/scale.md).

* **plan** (the prune function, ``step: plan``): retention decides as in a whole prune; the
  deletions are written to the catalog in batches of :data:`BATCH_POINTS` per region (the home
  region, and each copy region), under ``PRUNE#<owner>``; the owner (the execution's id) is
  recorded as running under ``PRUNERUN#<owner>``. Nothing is marked yet.
* **pass** (the prune-batch function, once per region, over and over): the region's next batch
  is marked ``deleting`` by its owner (write-ahead, one batch at a time), the restore locks are
  read, and its points are deleted a chunk at a time: each chunk's calls are reserved from the
  shared pace (:mod:`lifeboat.pace`) of the region the artifacts are in; when the pace hands them
  out later, or the invocation's remaining time runs short, the pass returns and the machine
  waits (``Wait``, ``TimestampPath``) and calls it again. A pass killed part-way (a time-out,
  retried on ``Sandbox.Timedout``) is finished by the next one at once: its marks carry its
  owner, the batch its progress (``next``, and ``started``, written before a chunk's deletes).
* **finish** (the prune function, ``step: finish``): the counts, the owner recorded as ended
  (another prune then finishes its marks at once, whatever is left), broken points failed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lifeboat.errors import InvalidInputError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.pace import PaceDeferred, SharedPacing, bucket_size
from lifeboat.plans import PlanSet
from lifeboat.ports import CatalogPort, Ports
from lifeboat.prune.deletes import claim, delete_artifacts, settle
from lifeboat.prune.expired import BATCH_POINTS, plan_prune, run_prune
from lifeboat.prune.models import Deletion, PruneReport, PruneRequest, Takeover, epoch, point_size
from lifeboat.timeutil import iso

RUNS = "PRUNERUN#"
BATCHES = "PRUNE#"
MACHINE_TIMEOUT = 86400  # prune.asl.json's TimeoutSeconds (a unit test reads the ASL)
MARGIN_MS = 60_000  # a pass stops when less than this (and two chunks' time) is left
WORKERS = 8  # points of a chunk deleted at once (their calls were reserved together)
Key = tuple[str, str, str]  # source id, run id, kind


class PassEvent(BaseModel):
    """One pass of the prune machine over one region's batches."""

    model_config = ConfigDict(extra="forbid")
    owner: str
    plan: str
    region: str
    passes: int = Field(0, ge=0)
    reserved: dict[str, int] = Field(default_factory=dict, description="calls reserved ahead")
    reserved_at: float = Field(0.0, description="epoch second the reserved calls may go")


class PassResult(BaseModel):
    region: str
    done: bool
    passes: int
    wait_until: str = Field(description="ISO-8601 UTC: the machine waits until then")
    reserved: dict[str, int] = Field(default_factory=dict)
    reserved_at: float = 0.0
    deleted: int = 0


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
            request.plan, sorted(plans.plans[request.plan].rules)
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
    rules = sorted(plans.plans[request.plan].rules)
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


# --- a pass ---------------------------------------------------------------------------------
def delete_pass(
    event: PassEvent,
    ports: Ports,
    pacing: SharedPacing,
    remaining_ms: Callable[[], int],
    clock: Callable[[], datetime],
) -> PassResult:
    """Delete the region's batches until done, the pace says wait, or time runs short."""
    catalog = ports.catalog
    prefix = f"B#{event.region}#"
    batches = [
        b
        for b in catalog.records(BATCHES + event.owner)
        if str(b["sk"]).startswith(prefix) and not b.get("done")
    ]
    if event.reserved:
        pacing.grant.calls, pacing.grant.ready_at = dict(event.reserved), event.reserved_at
    result = PassResult(region=event.region, done=False, passes=event.passes + 1, wait_until="")
    longest = 0.0
    for batch in sorted(batches, key=lambda b: str(b["sk"])):
        while not batch.get("done"):
            if remaining_ms() < MARGIN_MS + 2 * longest * 1000:
                return _again(result, clock(), pacing)
            started = clock()
            try:
                _chunk(batch, event, ports, pacing, clock, result)
            except PaceDeferred as wait:
                return _again(result, datetime.fromtimestamp(wait.ready_at, clock().tzinfo), pacing)
            longest = max(longest, (clock() - started).total_seconds())
    result.done, result.wait_until = True, iso(clock())
    return result


def _again(result: PassResult, at: datetime, pacing: SharedPacing) -> PassResult:
    result.wait_until = iso(at)
    result.reserved = {a: c for a, c in pacing.grant.calls.items() if c > 0}
    result.reserved_at = pacing.grant.ready_at if result.reserved else 0.0
    return result


def _chunk(
    batch: dict[str, Any],
    event: PassEvent,
    ports: Ports,
    pacing: SharedPacing,
    clock: Callable[[], datetime],
    result: PassResult,
) -> None:
    """Mark the batch (once), then delete its next chunk of points and record the progress
    (``batch`` is updated in place as it is saved)."""
    catalog = ports.catalog
    keys: list[Key] = [(str(s), str(r), str(k)) for s, r, k in batch["points"]]
    points = _load(keys, event.region, ports)
    now = clock()
    report = PruneReport(plan=event.plan, rules=[], dry_run=False)
    if not batch["marked"]:
        live = (PointStatus.COMPLETED, PointStatus.DELETING)
        work = [(p, _deletion(p, batch, i)) for i, p in enumerate(points) if p and p.status in live]
        claim(work, report, catalog, now, event.owner)
        _save(
            batch, catalog, event.owner, marked=True, skipped=batch["skipped"] + len(report.skipped)
        )
        report.skipped.clear()
        points = _load(keys, event.region, ports)
    chunk, calls, counted, end = _next_chunk(points, batch, event.owner, pacing.share)
    if not chunk:
        _save(batch, catalog, event.owner, next=end, deleted=batch["deleted"] + counted, done=True)
        result.deleted += counted
        return
    if not pacing.grant.calls:
        pacing.reserve_chunk(calls)
    if (pacing.grant.ready_at - clock().timestamp()) * pacing.time_scale > pacing.inline_wait:
        raise PaceDeferred(pacing.grant.ready_at, "a chunk's deletes")
    claimed = [(p, _deletion(p, batch, i)) for i, p in chunk]
    fresh = {p.recovery_point_id for i, p in chunk if i >= batch["started"]}
    _save(batch, catalog, event.owner, started=max(end, batch["started"]))  # write-ahead
    held = catalog.active_locks([p.source_id for p, _ in claimed], epoch(now))
    try:
        settle(claimed, fresh, held, report, ports, now, deleter=lambda ps: _parallel(ps, ports))
    finally:
        pacing.grant.calls = {}
    result.deleted += report.deleted + counted
    _save(
        batch,
        catalog,
        event.owner,
        next=end,
        deleted=batch["deleted"] + report.deleted + counted,
        skipped=batch["skipped"] + len(report.skipped),
        locked=batch["locked"] + len(report.locked),
        done=end >= len(points),
    )


def _next_chunk(
    points: list[RecoveryPoint | None], batch: dict[str, Any], owner: str, share: float
) -> tuple[list[tuple[int, RecoveryPoint]], dict[str, int], int, int]:
    """From the batch's ``next``: the points to delete now (this prune's marks, as many as one
    reservation of each API's bucket holds), their calls, the points a killed pass already
    finished (counted now), and where the chunk ends."""
    chunk: list[tuple[int, RecoveryPoint]] = []
    calls: dict[str, int] = {}
    counted = 0
    for index in range(batch["next"], len(points)):
        point = points[index]
        if point is None or point.deleting_by != owner:
            continue  # gone, or never marked by this prune (its status changed): left alone
        if point.status is PointStatus.DELETED:
            counted += 1  # finished by a pass killed before it recorded its progress
            continue
        if point.status is not PointStatus.DELETING:
            continue  # put back (pinned)
        merged = {a: calls.get(a, 0) + n for a, n in _calls(point).items()}
        if chunk and any(n > bucket_size(a, share)[0] for a, n in merged.items()):
            return chunk, calls, counted, index
        chunk.append((index, point))
        calls = merged
    return chunk, calls, counted, len(points)


def _calls(point: RecoveryPoint) -> dict[str, int]:
    """The delete calls a point's artifacts take, by API."""
    calls = {"DeleteSnapshot": len(point.snapshots)}
    if point.image_id:
        calls["DeregisterImage"] = 1
    if point.db_snapshot_id:
        calls["DeleteDBSnapshot"] = 1
    if point.db_cluster_snapshot_id:
        calls["DeleteDBClusterSnapshot"] = 1
    return {a: n for a, n in calls.items() if n}


def _save(batch: dict[str, Any], catalog: CatalogPort, owner: str, **changes: Any) -> None:
    batch.update(changes)
    catalog.put_record(
        BATCHES + owner, str(batch["sk"]), {k: v for k, v in batch.items() if k not in ("pk", "sk")}
    )


def _deletion(point: RecoveryPoint, batch: dict[str, Any], index: int) -> Deletion:
    return Deletion(
        recovery_point_id=point.recovery_point_id,
        source_id=point.source_id,
        kind=point.kind,
        rule=str(batch["rules"][index]),
        region=point.region,
        created_at=point.created_at,
        reason=str(batch["reasons"][index]),
        artifacts=point.artifact_ids(),
        size_gb=point_size(point),
    )


def _load(keys: list[Key], region: str, ports: Ports) -> list[RecoveryPoint | None]:
    """The batch's points as the catalog has them now, in the batch's order."""
    if region != ports.home_region:
        copies = ports.catalog.get_copies(region, keys)
        return [copies.get(key) for key in keys]
    found: dict[Key, RecoveryPoint] = {}
    # get_points answers by (source, kind): one call per layer of repeated resources.
    layers: list[list[Key]] = []
    for key in keys:
        layer = next((lay for lay in layers if all(k[::2] != key[::2] for k in lay)), None)
        if layer is None:
            layers.append([key])
        else:
            layer.append(key)
    for layer in layers:
        got = ports.catalog.get_points(layer)
        for source, run, kind in layer:
            point = got.get((source, kind))
            if point is not None and point.run_id == run:
                found[(source, run, kind)] = point
    return [found.get(key) for key in keys]


def _parallel(points: list[RecoveryPoint], ports: Ports) -> list[dict[str, str] | BaseException]:
    """The chunk's points deleted at once (their calls are reserved); an error is returned in
    its point's place (that point stays ``deleting``; settle raises it)."""
    regions = {p.region for p in points if p.region}
    if regions and ports.copies is not None:  # one adapter, made here, for every thread
        adapters = {r: ports.copies(r) for r in regions}
        ports = replace(ports, copies=adapters.__getitem__)

    def one(point: RecoveryPoint) -> dict[str, str] | BaseException:
        try:
            return delete_artifacts(point, ports)
        except Exception as exc:  # noqa: BLE001 - raised by settle() once the rest are recorded
            return exc

    with ThreadPoolExecutor(max_workers=min(WORKERS, len(points))) as pool:
        return list(pool.map(one, points))
