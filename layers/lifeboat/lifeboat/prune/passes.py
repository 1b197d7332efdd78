"""One pass of the prune machine over one region's batches (statemachines/prune.asl.json,
DeletePass): see :mod:`lifeboat.prune.machine`."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lifeboat import tags as T
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.pace import WAKE_LEAD, PaceDeferred, SharedPacing
from lifeboat.plans import Kind
from lifeboat.ports import CatalogPort, Ports
from lifeboat.prune.deletes import claim, delete_artifacts, settle
from lifeboat.prune.machine import BATCHES
from lifeboat.prune.models import Deletion, PruneReport, epoch, point_size
from lifeboat.timeutil import iso

MARGIN_MS = 60_000  # a pass stops when less than this (and two chunks' time) is left
WORKERS = 8  # points of a chunk deleted at once (their calls were reserved together)
PARTS = 8  # snapshot sets of a chunk: deleted in this many parts at once
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
    cursor: str = Field("", description="the batch the previous pass stopped at ('': the first)")


class PassResult(BaseModel):
    region: str
    done: bool
    passes: int
    wait_until: str = Field(description="ISO-8601 UTC: the machine waits until then")
    reserved: dict[str, int] = Field(default_factory=dict)
    reserved_at: float = 0.0
    deleted: int = 0
    cursor: str = Field("", description="the batch this pass stopped at (the next starts there)")


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
    if event.reserved:
        pacing.resume(event.reserved, event.reserved_at)
    result = PassResult(
        region=event.region, done=False, passes=event.passes + 1, wait_until="", cursor=event.cursor
    )
    longest = 0.0
    # From the batch the previous pass stopped at (every one before it is done), read as the
    # pass goes: a pass's reads do not grow with the prune's size.
    for batch in catalog.records_from(BATCHES + event.owner, event.cursor or prefix, prefix):
        result.cursor = str(batch["sk"])
        while not batch.get("done"):
            if remaining_ms() < MARGIN_MS + 2 * longest * 1000:
                return _again(result, clock(), pacing)
            started = clock()
            try:
                _chunk(batch, event, ports, pacing, clock, result)
            except PaceDeferred as wait:
                # woken WAKE_LEAD early: the pass loads its batch, then sleeps what is left
                woken = wait.ready_at - WAKE_LEAD
                return _again(result, datetime.fromtimestamp(woken, clock().tzinfo), pacing)
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
        # One conditional write per point, WORKERS at once (the batch's marks, write-ahead).
        parts = [work[i::WORKERS] for i in range(WORKERS)]
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            claims = list(
                pool.map(lambda part: claim(part, report, catalog, now, event.owner), parts)
            )
        # Marks taken over from another prune: some of their artifacts may be gone already,
        # so they are never put back (offered for restore) if a lock pins them.
        fresh_ids = {i for _, fresh in claims for i in fresh}
        claimed_ids = {p.recovery_point_id for taken, _ in claims for p, _ in taken}
        taken_over = [
            i for i, p in enumerate(points) if p and p.recovery_point_id in claimed_ids - fresh_ids
        ]
        _save(
            batch,
            catalog,
            event.owner,
            marked=True,
            taken_over=taken_over,
            skipped=batch["skipped"] + len(report.skipped),
        )
        report.skipped.clear()
        points = _load(keys, event.region, ports)
    chunk, calls, counted, end = _next_chunk(points, batch, event.owner, pacing)
    if not chunk:
        _save(batch, catalog, event.owner, next=end, deleted=batch["deleted"] + counted, done=True)
        result.deleted += counted
        return
    claimed = [(p, _deletion(p, batch, i)) for i, p in chunk]
    # Read before the deletes are reserved: what comes between a reservation and its calls
    # makes them late (the pace moves later for calls beyond its headroom).
    held = catalog.active_locks([p.source_id for p, _ in claimed], epoch(now))
    if not pacing.grant.calls:
        pacing.reserve_chunk(calls)
    if pacing.grant_defers():
        raise PaceDeferred(pacing.grant.ready_at, "a chunk's deletes")
    taken: set[int] = set(batch.get("taken_over") or [])
    fresh = {p.recovery_point_id for i, p in chunk if i >= batch["started"] and i not in taken}
    _save(batch, catalog, event.owner, started=max(end, batch["started"]))  # write-ahead
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
    points: list[RecoveryPoint | None], batch: dict[str, Any], owner: str, pacing: SharedPacing
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
        if chunk and any(n > pacing.size(a)[0] for a, n in merged.items()):
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
    its point's place (that point stays ``deleting``; settle raises it). Home snapshot sets
    (``ebs`` points) of one plan and rule are deleted through one ``delete_snapshots`` per
    part (three Describe calls for the part, not per point; the same checks per snapshot);
    AMIs and copies one point at a time."""
    regions = {p.region for p in points if p.region}
    if regions and ports.copies is not None:  # one adapter, made here, for every thread
        adapters = {r: ports.copies(r) for r in regions}
        ports = replace(ports, copies=adapters.__getitem__)
    sets = [p for p in points if _snapshot_set(p)]
    parts = [sets[i::PARTS] for i in range(min(PARTS, len(sets)))]
    singles = [p for p in points if not _snapshot_set(p)]

    def part(group: list[RecoveryPoint]) -> dict[str, dict[str, str] | BaseException]:
        found: dict[str, dict[str, str] | BaseException] = {}
        for (plan, rule), members in _by_owner(group).items():
            ids = [s.snapshot_id for p in members for s in p.snapshots]
            try:
                outcome = ports.ec2.delete_snapshots(ids, {T.PLAN: plan, T.RULE: rule})
            except Exception as exc:  # noqa: BLE001 - raised by settle() once the rest are recorded
                found.update(dict.fromkeys((p.recovery_point_id for p in members), exc))
                continue
            for p in members:
                found[p.recovery_point_id] = {
                    s.snapshot_id: outcome[s.snapshot_id] for s in p.snapshots
                }
        return found

    def one(point: RecoveryPoint) -> dict[str, dict[str, str] | BaseException]:
        try:
            return {point.recovery_point_id: delete_artifacts(point, ports)}
        except Exception as exc:  # noqa: BLE001 - raised by settle() once the rest are recorded
            return {point.recovery_point_id: exc}

    results: dict[str, dict[str, str] | BaseException] = {}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for found in [*pool.map(part, parts), *pool.map(one, singles)]:
            results.update(found)
    return [results[p.recovery_point_id] for p in points]


def _snapshot_set(point: RecoveryPoint) -> bool:
    """A home point that is a snapshot set only (no AMI, no database snapshot)."""
    return (
        not point.is_copy
        and point.kind is Kind.EBS
        and not point.image_id
        and not point.db_snapshot_id
        and not point.db_cluster_snapshot_id
        and bool(point.snapshots)
    )


def _by_owner(points: list[RecoveryPoint]) -> dict[tuple[str, str], list[RecoveryPoint]]:
    found: dict[tuple[str, str], list[RecoveryPoint]] = {}
    for point in points:
        found.setdefault((point.plan, point.rule), []).append(point)
    return found
