"""The copier's one task: per destination region, under a lease (one copier per region at
once), settle the copies in flight, then start queued ones oldest first while the region's
concurrent-copy limits allow. Safe to repeat and to die at any step:

* an *intent* (the copy point, ``pending``, no artifacts) is written before a copy call; a copy
  point with an intent and nothing recorded is looked for by its tag (``lifeboat:copy-point``,
  written at creation) before anything is started again — ``CopyImage`` also takes a
  ``ClientToken``, ``CopyDBSnapshot`` a deterministic target name;
* a queue item leaves the queue only after its copy is recorded ``completed`` or ``failed``;
* a failed copy's artifacts (only those tagged with its id) are deleted; the backup it copies
  is never touched: a copy failure fails the copy, not the backup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lifeboat.copies.launch import start_chosen
from lifeboat.copies.models import (
    COPIER_MAX_RUN,
    EBS_COPY_LIMIT,
    LEASE,
    RDS_COPY_LIMIT,
    CopierInput,
    PumpEvent,
    PumpReport,
    RegionReport,
)
from lifeboat.copies.pace import PumpPacing, carried, hold, keep, paced, previous_region
from lifeboat.copies.reconcile import requeue
from lifeboat.copies.state import settle
from lifeboat.errors import LifeboatError
from lifeboat.models import PointStatus, RecoveryPoint, validate_input
from lifeboat.pace import PaceDeferred, SharedPacing
from lifeboat.plans import CopyTarget, Kind, PlanSet
from lifeboat.ports import Ports
from lifeboat.timeutil import parse_iso

QUEUE = "COPYQ#"
RECONCILE_EVERY = 60  # pumps (one a minute): a long copier reconciles hourly
WINDOW = 4 * EBS_COPY_LIMIT + 2 * RDS_COPY_LIMIT


def lease_name(region: str) -> str:
    return f"copier#{region}"


def pump(
    event: PumpEvent,
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    pacing: PumpPacing | None = None,
) -> PumpReport:
    """One pump over every destination. With ``pacing`` (each destination's shared pace), the
    copy calls come out of the destination's buckets and a region whose next copy call is not
    ready stops starting copies until the next pump (:mod:`lifeboat.copies.pace`)."""
    request = validate_input(CopierInput, event.execution.input)
    attempt = int((event.state.pump or {}).get("attempt", 0)) + 1
    owner = event.execution.id
    stopping = now - event.execution.start_time > COPIER_MAX_RUN
    regions = request.regions or plans.copy_regions()
    # The copier's first pump, and one an hour of a long one (which holds the lease the hourly
    # copiers would need), also queues what was never queued.
    first = attempt % RECONCILE_EVERY == 1
    reports = [
        _region_safely(
            region,
            owner,
            plans,
            ports,
            now,
            stopping,
            first,
            _pace(pacing, region, event.state.pump),
        )
        for region in regions
    ]
    done = stopping or all(r.done for r in reports)
    if done:
        finished = _release(reports, owner, ports, now, retake=not stopping)
        done = stopping or finished
    return PumpReport(
        attempt=attempt,
        done=done,
        regions=reports,
        ended_because="time limit: the rest stays queued" if stopping else None,
    )


def _pace(
    pacing: PumpPacing | None, region: str, state: dict[str, Any] | None
) -> SharedPacing | None:
    """``region``'s shared pace, with what the previous pump reserved there and did not spend."""
    if pacing is None:
        return None
    pace = pacing(region)
    carried(pace, previous_region(state, region))
    return pace


def _region_safely(  # noqa: PLR0913 - one destination's pump and where it stands
    region: str,
    owner: str,
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    stopping: bool,
    first: bool = False,
    pace: SharedPacing | None = None,
) -> RegionReport:
    """One destination's pump; an error there (its API impaired, the region not enabled, an
    SCP) is reported and never stops the copies to the other regions. What it settled is
    notified at once (a later error cannot lose the notice). A call the pace holds back where
    the pump does not stop for it itself stops the region where it is, as a task dying there
    would: every step is safe to repeat, and the next pump goes on (the lease is kept)."""
    try:
        report = _region(region, owner, plans, ports, now, stopping, first, pace)
    except PaceDeferred as wait:
        assert pace is not None  # only the shared pace defers
        report = RegionReport(region=region)
        keep(pace, report, wait.ready_at)
    except (ClientError, BotoCoreError, LifeboatError) as exc:
        ports.catalog.release_lock(lease_name(region), owner)
        report = RegionReport(region=region, error=f"{type(exc).__name__}: {exc}"[:1000])
    if (report.failed or report.error) and ports.notifier is not None:
        ports.notifier.publish(
            f"Lifeboat: copies to {region}: {len(report.failed)} failed"
            + (" — the copier could not work there" if report.error else ""),
            {
                "failed": report.failed,
                "error": report.error,
                "note": "the backups themselves are intact; a copy is given up only after its "
                "attempts (see each reason); the next points are copied as usual: "
                "lifeboat copies status",
            },
        )
    return report


def _release(
    reports: list[RegionReport], owner: str, ports: Ports, now: datetime, retake: bool
) -> bool:
    """Release this copier's leases; False when work was queued meanwhile (and the lease is
    taken again), so the copier goes on instead of leaving it to the next trigger."""
    finished = True
    for report in reports:
        if report.busy_with is not None:
            continue
        ports.catalog.release_lock(lease_name(report.region), owner)
        if not retake:
            continue
        if ports.catalog.records(QUEUE + report.region) and not ports.catalog.acquire_lock(
            lease_name(report.region),
            owner,
            int(now.timestamp()),
            int(LEASE.total_seconds()),
            {"kind": "copier"},
        ):
            finished = False
    return finished


@dataclass
class _Work:
    region: str
    queued: list[tuple[dict[str, Any], RecoveryPoint, RecoveryPoint | None]] = field(
        default_factory=list
    )
    in_flight: list[tuple[dict[str, Any], RecoveryPoint]] = field(default_factory=list)


def _region(  # noqa: PLR0913 - one destination's pump, read top to bottom
    region: str,
    owner: str,
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    stopping: bool,
    first: bool = False,
    pace: SharedPacing | None = None,
) -> RegionReport:
    held = ports.catalog.acquire_lock(
        lease_name(region),
        owner,
        int(now.timestamp()),
        int(LEASE.total_seconds()),
        {"kind": "copier"},
    )
    if held is not None:
        return RegionReport(region=region, busy_with=str(held.get("owner", "unknown")))
    if ports.copies is None:
        raise RuntimeError("no copy adapter configured")
    copier = ports.copies(region)
    report = RegionReport(region=region)
    if first and not stopping:
        report.requeued = requeue(region, plans, ports, now)
    work = _read_queue(region, plans, ports, report)
    settle(work.in_flight, copier, ports, now, report)
    still = [
        c
        for _i, c in work.in_flight
        if c.recovery_point_id not in report.completed and c.recovery_point_id not in report.failed
    ]
    # A start that died after its calls (an intent, nothing recorded, not a refusal waiting
    # for its retry) may have copies in flight already: counted as such, and taken first.
    interrupted = [
        q for q in work.queued if q[2] is not None and q[2].intent and not q[0].get("attempts")
    ]
    work.queued = interrupted + [q for q in work.queued if q not in interrupted]
    counted = [*still, *(s for _i, s, _e in interrupted)]
    # What EC2 reports copying there counts too (an image deregistered by hand mid-copy leaves
    # its snapshots copying, forgotten by the catalog); interrupted starts may add theirs.
    pending = copier.snapshots_in_flight() + sum(
        _weight(s) for _i, s, _e in interrupted if s.kind is not Kind.RDS
    )
    budget = _Budget(
        snapshots=max(pending, sum(_weight(c) for c in counted if c.kind is not Kind.RDS)),
        databases=sum(1 for c in counted if c.kind is Kind.RDS),
        counted={s.recovery_point_id for _i, s, _e in interrupted},
    )
    chosen, waiting = _choose(work, plans, budget, stopping, ports, report, now)
    kept = None
    if pace is not None:
        kept = paced(chosen, pace)
        chosen, waiting = kept.going, waiting + kept.waiting
    left, stopped_at = start_chosen(chosen, region, copier, ports, report, now)
    report.queued = waiting + left + report.queued_beyond
    report.in_flight = len(still) + len(report.started)
    report.snapshots_in_flight, report.db_copies_in_flight = budget.snapshots, budget.databases
    if pace is not None:
        hold(pace, report, kept, stopped_at)
    return report


def _choose(
    work: _Work,
    plans: PlanSet,
    budget: _Budget,
    stopping: bool,
    ports: Ports,
    report: RegionReport,
    now: datetime,
) -> tuple[list[tuple[dict[str, Any], RecoveryPoint, RecoveryPoint | None, CopyTarget]], int]:
    """The queued copies to start now (oldest first, within the limits), and how many wait."""
    chosen = []
    waiting = 0
    for item, source, existing in work.queued:
        later = item.get("not_before")
        if later and parse_iso(str(later)) > now:  # refused earlier: tried again after a pause
            waiting += 1
            continue
        if stopping or not budget.fits(source):
            waiting += 1
            continue
        target = plans.copy_target(source.plan, source.rule, work.region)
        if target is None:
            _drop(item, ports, report, source, "its rule no longer copies to this region")
            continue
        budget.take(source)
        chosen.append((item, source, existing, target))
    return chosen, waiting


@dataclass
class _Budget:
    """Copies in flight against the destination's limits; oldest first: once an EBS copy does
    not fit, no later one overtakes it."""

    snapshots: int
    databases: int
    counted: set[str] = field(default_factory=set)  # already in the numbers (interrupted)
    blocked: bool = False

    def fits(self, source: RecoveryPoint) -> bool:
        if source.recovery_point_id in self.counted:
            return True
        if source.kind is Kind.RDS:
            return self.databases + 1 <= RDS_COPY_LIMIT
        if self.blocked or self.snapshots + _weight(source) > EBS_COPY_LIMIT:
            self.blocked = True
            return False
        return True

    def take(self, source: RecoveryPoint) -> None:
        if source.recovery_point_id in self.counted:
            return
        if source.kind is Kind.RDS:
            self.databases += 1
        else:
            self.snapshots += _weight(source)


def _read_queue(region: str, plans: PlanSet, ports: Ports, report: RegionReport) -> _Work:
    queue = sorted(ports.catalog.records(QUEUE + region), key=lambda i: str(i["sk"]))
    # Every copy in flight (its item marked when it started) and a window of the oldest
    # queued ones: a pump's point reads, describes and copies are the same with 20 or 20,000
    # copies queued, and it never loses count of what is in flight. The queue itself is read
    # whole (about 200 bytes an item: 4 MB at 20,000), since an item in flight can sit
    # anywhere in it.
    started = [i for i in queue if i.get("started_at")]
    items = started + [i for i in queue if not i.get("started_at")][:WINDOW]
    report.queued_beyond = len(queue) - len(items)
    keys = [(str(i["source_id"]), str(i["run_id"]), str(i["kind"])) for i in items]
    copies = ports.catalog.get_copies(region, keys)
    sources: dict[tuple[str, str, str], RecoveryPoint] = {}
    for run_id in sorted({k[1] for k in keys}):
        found = ports.catalog.get_points([k for k in keys if k[1] == run_id])
        sources.update({(s, run_id, kind): p for (s, kind), p in found.items()})
    work = _Work(region)
    unknown = [p.image_id for p in sources.values() if p.image_id and not p.snapshots]
    described = ports.ec2.images(sorted(set(unknown))) if unknown else {}
    for key, unsized in list(sources.items()):
        image = described.get(unsized.image_id or "")
        if image is not None:
            mappings = [m for m in image.get("BlockDeviceMappings", []) if m.get("Ebs")]
            sources[key] = unsized.model_copy(update={"copy_snapshots": len(mappings)})
    for item, key in zip(items, keys, strict=True):
        source, copy = sources.get(key), copies.get(key)
        if copy is not None and copy.status is not PointStatus.PENDING:
            ports.catalog.delete_record(QUEUE + region, str(item["sk"]))  # settled earlier
        elif copy is not None and copy.artifact_ids():
            work.in_flight.append((item, copy))
        elif source is None or source.status is not PointStatus.COMPLETED:
            _drop(item, ports, report, copy, "the point it copies is no longer completed")
        else:
            work.queued.append((item, source, copy))
    return work


def _drop(
    item: dict[str, Any],
    ports: Ports,
    report: RegionReport,
    point: RecoveryPoint | None,
    reason: str,
) -> None:
    key = point.recovery_point_id if point else f"{item['source_id']}/{item['kind']}"
    report.failed[key] = reason
    if point is not None and point.is_copy and point.status is PointStatus.PENDING:
        ports.catalog.put_point(
            point.model_copy(update={"status": PointStatus.FAILED, "error": reason})
        )
    ports.catalog.delete_record(QUEUE + report.region, str(item["sk"]))


def _weight(point: RecoveryPoint) -> int:
    """Concurrent EBS snapshot copies a copy of ``point`` takes (an AMI: each snapshot; an
    image whose snapshots were not recorded was described by :func:`_read_queue`)."""
    if point.kind is Kind.RDS:
        return 1
    return min(EBS_COPY_LIMIT, max(1, point.copy_snapshots, len(point.snapshots)))
