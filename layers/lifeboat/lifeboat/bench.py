"""Benchmarks (``make bench``), reported as JSON, never as timed unit tests.

``retention``: CPU time of the retention function over N catalogued recovery points (default
100,000), for two catalog shapes: an hourly rule (1,000 resources x 100 points, the last 100
hours, as scheduled with a few minutes of jitter) and a daily rule (1,000 resources x 100
days)."""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lifeboat.models import PointStatus
from lifeboat.plans import Kind, Retention
from lifeboat.retention import decide


@dataclass(frozen=True)
class _Point:
    recovery_point_id: str
    source_id: str
    created_at: datetime
    status: PointStatus
    kind: Kind


def _fleet(points: int, step: timedelta, rnd: random.Random, now: datetime) -> list[_Point]:
    resources = max(1, points // 100)
    first = now.replace(minute=15, second=0, microsecond=0) - timedelta(hours=1)
    return [
        _Point(
            f"rp-{n}",
            f"i-{n % resources:05d}",
            first - step * (n // resources) + timedelta(seconds=rnd.randint(0, 300)),
            PointStatus.COMPLETED if rnd.random() > 0.02 else PointStatus.FAILED,
            Kind.EBS,
        )
        for n in range(points)
    ]


def bench_retention(points: int = 100_000, seed: int = 7) -> dict[str, Any]:
    rnd = random.Random(seed)
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    shapes = {
        "hourly": (timedelta(hours=1), Retention(hourly=24), 3600),
        "daily": (timedelta(days=1), Retention(daily=7, weekly=4, monthly=12), 86400),
    }
    return {
        name: _measure(_fleet(points, step, rnd, now), retention, interval, now)
        for name, (step, retention, interval) in shapes.items()
    }


def _measure(
    fleet: list[_Point], retention: Retention, interval: int, now: datetime
) -> dict[str, Any]:
    resources = len({p.source_id for p in fleet})
    points = len(fleet)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    result = decide(
        fleet,
        retention=retention,
        min_keep=3,
        timezone="Europe/London",
        interval_seconds=interval,
        now=now,
    )
    cpu = time.process_time() - start_cpu
    wall = time.perf_counter() - start_wall
    return {
        "points": points,
        "resources": resources,
        "kept": len(result.kept),
        "expired": len(result.expired),
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(wall, 3),
        "target_cpu_seconds": 1.0,
        "within_target": cpu < 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lifeboat.bench")
    parser.add_argument("--retention-points", type=int, default=100_000)
    args = parser.parse_args(argv)
    results = {"retention": bench_retention(args.retention_points)}
    out = Path(os.environ.get("BENCH_OUT", "bench-results.json"))
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    ok = True
    for name, r in results["retention"].items():
        ok = ok and r["within_target"]
        print(
            f"retention ({name} rule): {r['points']:,} points, {r['resources']:,} resources -> "
            f"{r['expired']:,} expired, {r['cpu_seconds']} s CPU (target < 1 s)"
        )
    print(f"JSON written to {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
