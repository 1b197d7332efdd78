"""The benchmark's copy phase (``make bench``): after the backup run, the copier it started
copies every point to us-west-2, each copy taking :data:`COPY_SECONDS` in the emulator."""

from __future__ import annotations

import time
from typing import Any

from lifeboat.models import PointStatus
from lifeboat.plans import Kind

COPY_ACTIONS = ("CopyImage", "CopySnapshot", "CopyDBSnapshot")
COPY_SECONDS = 2.0  # each emulated copy takes this long (moto completes one at once)
OBSERVER_CALLS = {"DescribeExecution", "GetExecutionHistory", "StartExecution"}


def prepare_copies() -> None:
    """The DR region's key, and copies that take time."""
    from lifeboat.local.copy_gapfill import COPY_TIMING
    from lifeboat.local.seed import seed_dr_region

    seed_dr_region()
    COPY_TIMING.reset(COPY_SECONDS)


def copy_phase(stack: Any, backup: dict[str, Any]) -> dict[str, Any]:
    """After the run: the copier it started, until every copy is done. Calls per copy, the most
    snapshot copies in flight at once, and the copy phase against the floor AWS's copy limits
    impose (20 snapshot copies in flight, 5 DB copies, CopyImage's 100 burst and 1 per second)
    when each copy takes ``COPY_SECONDS``."""
    from lifeboat import executions
    from lifeboat.aws.catalog import Catalog
    from lifeboat.copies.models import EBS_COPY_LIMIT, RDS_COPY_LIMIT
    from lifeboat.local.bridge import BRIDGE
    from lifeboat.local.copy_gapfill import COPY_TIMING
    from lifeboat.pacing import AWS_BUCKETS

    meter = BRIDGE.meter
    before = dict(meter.calls)
    copier = ((backup.get("output") or {}).get("copies") or {}).get("copier")
    started = time.perf_counter()
    runs = []
    while copier:  # the run's copier; then any the hourly schedule would start for leftovers
        runs.append(executions.wait(str(copier), timeout=7200, poll=1.0))
        catalog = Catalog(stack.outputs["CatalogTableName"])
        left = catalog.records("COPYQ#us-west-2")
        copier = (
            executions.start(
                stack.outputs["CopierStateMachineArn"],
                {"requested_by": "bench"},
                f"more-{len(runs)}",
            )
            if left
            else None
        )
    wall, ended = time.perf_counter() - started, time.time()
    after = dict(meter.calls)
    # The run's finalize starts the copier: its first copy calls may come before the run ends
    # (counted here, not in the run's calls).
    phase = {
        k: after.get(k, 0) - (0 if k in COPY_ACTIONS else before.get(k, 0))
        for k in after
        if k not in OBSERVER_CALLS
    }
    phase = {k: v for k, v in sorted(phase.items()) if v}
    done = Catalog(stack.outputs["CatalogTableName"]).copies_for_rule("us-west-2", "bench", "all")
    completed = [c for c in done if c.status is PointStatus.COMPLETED]
    snapshot_copies = sum(len(c.snapshots) for c in completed if c.kind is not Kind.RDS)
    db_copies = sum(1 for c in completed if c.kind is Kind.RDS)
    image_calls = phase.get("CopyImage", 0)
    floor = max(
        -(-snapshot_copies // EBS_COPY_LIMIT) * COPY_SECONDS,
        -(-db_copies // RDS_COPY_LIMIT) * COPY_SECONDS,
        max(0, image_calls - AWS_BUCKETS["CopyImage"][0]) / AWS_BUCKETS["CopyImage"][1],
    )
    moments = [t for a in COPY_ACTIONS for t in meter.times.get(a, [])]
    span = ended - min(moments) if moments else 0.0  # the first copy call to the last copy done
    return {
        "calls_before": {k: v for k, v in before.items() if k not in COPY_ACTIONS},
        "copier_executions": len(runs),
        "copier_status": sorted({r["status"] for r in runs}),
        "copies_completed": len(completed),
        "copies_failed": sum(1 for c in done if c.status is PointStatus.FAILED),
        "snapshot_copies": snapshot_copies,
        "db_copies": db_copies,
        "seconds_per_copy_emulated": COPY_SECONDS,
        "api_calls": phase,
        "api_calls_per_copy": round(sum(phase.values()) / max(1, len(completed)), 2),
        "peak_snapshot_copies_in_flight": COPY_TIMING.peak.get("us-west-2", 0),
        "limit_snapshot_copies_in_flight": EBS_COPY_LIMIT,
        "copy_phase_seconds": round(span, 1),
        "copy_floor_seconds": round(floor, 1),
        "copy_phase_vs_floor": round(span / floor, 2) if floor else None,
        "wall_seconds": round(wall, 1),
    }
