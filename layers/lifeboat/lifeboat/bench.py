"""Benchmarks (``make bench``), reported as JSON, never as timed unit tests.

``fleet``: the real backup state machine in the AWS-shaped emulator (50 ms per API call, EC2's
token buckets enforced) for N protected instances (2 EBS volumes each) and 5 databases, a rule
with ``ami``, ``ebs`` and ``rds``: API calls by action, state transitions, Lambda invocations,
wall time, peak memory, throttled calls, the create phase against the floor AWS's refill rates
impose, and the estimated AWS cost of one run.

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
from lifeboat.output import table
from lifeboat.plans import Kind, Retention
from lifeboat.prices import PER_GB_SECOND, PER_REQUEST, PER_TRANSITION
from lifeboat.prices import SOURCE as PRICE_SOURCE
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


PRICES: dict[str, Any] = {
    "step_functions_standard_per_transition_usd": PER_TRANSITION,
    "lambda_per_request_usd": PER_REQUEST,
    "lambda_arm64_per_gb_second_usd": PER_GB_SECOND,
    "source": PRICE_SOURCE,
}
BENCH_PLANS = """
plans:
  bench:
    description: benchmark fleet
    min_keep: 3
    rules:
      all:
        schedule: cron(0 3 * * ? *)
        timezone: UTC
        kinds: [ami, ebs, rds]
        retention: {daily: 7}
        copy_to:
          - {region: us-west-2, kms_key: alias/lifeboat-dr, retention: {daily: 7}}
"""

OBSERVER_CALLS = {"DescribeExecution", "GetExecutionHistory"}
CREATE_ACTIONS = ("CreateImage", "CreateSnapshots", "CreateDBSnapshot")


def _seed_fleet(instances: int, databases: int) -> None:
    from lifeboat.aws.clients import client

    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{16 * i}.0/20", AvailabilityZone=az)[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate(("us-east-1a", "us-east-1b"))
    ]
    image = ec2.register_image(Name="bench-base", RootDeviceName="/dev/sda1")["ImageId"]
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "lifeboat:plan", "Value": "bench"}]}]
    mappings = [
        {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}},
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3"}},
    ]
    launched = 0
    while launched < instances:
        count = min(100, instances - launched)
        ec2.run_instances(
            ImageId=image,
            InstanceType="t3.medium",
            MinCount=count,
            MaxCount=count,
            SubnetId=subnets[(launched // 100) % 2],
            BlockDeviceMappings=mappings,
            TagSpecifications=tags,
        )
        launched += count
    rds = client("rds")
    for index in range(databases):
        rds.create_db_instance(
            DBInstanceIdentifier=f"bench-db-{index}",
            DBInstanceClass="db.t3.medium",
            Engine="mysql",
            AllocatedStorage=20,
            MasterUsername="bench",
            MasterUserPassword="not-a-real-password",
            Tags=[{"Key": "lifeboat:plan", "Value": "bench"}],
        )


def sustained_rate(times: list[float], burst: int, start: float) -> float:
    """The pace beyond the burst: the highest (calls so far - burst) / (seconds since the run's
    start) over the run's calls (0 when every call fit in the burst). At or under r means the
    calls never outran a bucket of ``burst`` that started full and refilled at r per second."""
    ordered = sorted(times)
    return round(
        max(
            ((n + 1 - burst) / max(moment - start, 1e-6) for n, moment in enumerate(ordered)),
            default=0.0,
        )
        if len(ordered) > burst
        else 0.0,
        2,
    )


def _default_batch_size() -> int:
    from lifeboat.local.cfn import load_template
    from lifeboat.local.stack import repo_root

    template = load_template(repo_root() / "template.yaml")
    return int(template["Parameters"]["BatchSize"]["Default"])


def bench_fleet(  # noqa: PLR0915 - one measured run, read top to bottom
    instances: int, databases: int = 5, latency: float = 0.05, batch_size: int | None = None
) -> dict[str, Any]:
    import resource
    import tempfile

    from lifeboat import executions, runtime
    from lifeboat.aws.catalog import Catalog
    from lifeboat.local.bench_copies import copy_phase, prepare_copies
    from lifeboat.local.bench_costs import (
        CREATE,
        PUMP,
        aws_time,
        copier_as_aws_runs_it,
        create_map_costs,
        gb_seconds,
        lambda_by_function,
    )
    from lifeboat.local.bench_costs import prune_transitions as count_prune
    from lifeboat.local.bridge import BRIDGE
    from lifeboat.local.server import Emulator

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(BENCH_PLANS)
    os.environ["LIFEBOAT_PLANS_FILE"] = handle.name
    try:
        with Emulator() as emulator:
            emulator.reset()  # moto's backends live in this process: start each size empty
            parameters = {"BatchSize": str(batch_size)} if batch_size else None
            stack = emulator.deploy(parameters=parameters)
            _seed_fleet(instances, databases)
            prepare_copies()
            # Pace for real (local mode compresses back-offs): the point is to meet AWS's rates.
            BRIDGE.local_environment["PACE_TIME_SCALE"] = "1.0"
            runtime.reset()
            BRIDGE.invocations.clear()
            BRIDGE.seconds.clear()
            BRIDGE.meter.start(latency=latency, enforce=True)
            started = time.perf_counter()
            with aws_time():  # the run's Waits as written (a batch waiting for the pace)
                arn = executions.start(
                    stack.outputs["BackupStateMachineArn"],
                    {"plan": "bench", "rule": "all"},
                    f"bench-{instances}",
                )
                result = executions.wait(arn, timeout=3600, poll=1.0)
            wall = time.perf_counter() - started
            # The copy phase in local mode's compressed time: copies complete in the emulator in
            # seconds, so a real 60 s cycle would make it hours; its cycles are counted as AWS
            # runs them (copier_as_aws_runs_it).
            copies = copy_phase(stack, result)
            BRIDGE.meter.stop()
            output = result.get("output") or {}
            run = Catalog(stack.outputs["CatalogTableName"]).get_run(str(output.get("run_id", "")))
            events = list(executions.HistoryReader(arn).new_events())
            pruned = count_prune(stack.outputs["PruneStateMachineArn"])
            meter = BRIDGE.meter
            invocations = dict(BRIDGE.invocations)
            seconds = dict(BRIDGE.seconds)
            children = create_map_costs([arn], invocations.get(CREATE, 0))
    finally:
        os.environ.pop("LIFEBOAT_PLANS_FILE", None)
    entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
    distributed = any(e["type"] == "MapRunStarted" for e in events)
    # A Distributed Map's child executions are billed too (their states, each wait for the
    # pace included); so is the prune state machine the run's Prune step starts.
    transitions = entered + (children.transitions if distributed else 0) + pruned
    copier = copier_as_aws_runs_it(copies, invocations, seconds)
    backup_gb_seconds = gb_seconds({k: v for k, v in seconds.items() if k != PUMP})
    lambda_requests = sum(v for k, v in invocations.items() if k != PUMP)
    all_gb_seconds = backup_gb_seconds + copier["lambda_gb_seconds"]
    all_transitions = transitions + copier["state_transitions"]
    all_requests = lambda_requests + copier["lambda_invocations"]
    cost = (
        all_transitions * PER_TRANSITION
        + all_requests * PER_REQUEST
        + all_gb_seconds * PER_GB_SECOND
        + children.express_usd
    )
    create = _create_metrics(meter, run)
    return {
        "instances": instances,
        "databases": databases,
        "batch_size": batch_size or _default_batch_size(),
        "status": result["status"],
        # The benchmark follows the execution with DescribeExecution/GetExecutionHistory;
        # those are the observer's calls, not the run's.
        "api_calls": {
            k: v for k, v in sorted(copies.pop("calls_before").items()) if k not in OBSERVER_CALLS
        },
        "copy_phase": copies,
        "throttled_calls": sum(meter.throttled.values()),
        "state_transitions": all_transitions,
        "distributed_map": distributed,
        "lambda_invocations": lambda_requests,
        "lambda_invocations_by_function": {
            k.removeprefix("lifeboat-"): v for k, v in sorted(invocations.items())
        },
        "wall_seconds": round(wall, 1),
        **create,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "backup_lambda_gb_seconds": round(backup_gb_seconds, 2),
        "backup_lambda_by_function": lambda_by_function(invocations, seconds, skip=PUMP),
        "backup_state_transitions": transitions,
        "create_children": children.figures(),
        "copier_as_aws_runs_it": copier,
        "lambda_gb_seconds": round(all_gb_seconds, 2),
        "estimated_cost_usd": round(cost, 5),
    }


def _create_metrics(meter: Any, run: dict[str, Any] | None) -> dict[str, Any]:
    """The create phase against the floor EC2's refill rates impose."""
    from lifeboat.pacing import AWS_BUCKETS

    present = [a for a in CREATE_ACTIONS if meter.times.get(a)]
    moments = [t for a in present for t in meter.times[a]]
    create_phase = max(moments) - min(moments) if moments else 0.0
    floors = {
        a: max(0.0, (meter.calls.get(a, 0) - AWS_BUCKETS[a][0]) / AWS_BUCKETS[a][1])
        for a in ("CreateImage", "CreateSnapshots")
        if a in meter.calls
    }
    floor = max(floors.values(), default=0.0)
    rates = {a: round(meter.calls[a] / max(create_phase, 1e-9), 2) for a in present}
    # After the burst EC2 lets through at once: the pace since the run's start (the moment its
    # first create call was ready, on the run record), target <= 4/s.
    run_start = float((run or {}).get("create_started_at", 0.0)) or min(moments, default=0.0)
    sustained = {
        a: sustained_rate(meter.times.get(a, []), int(AWS_BUCKETS[a][0]), run_start)
        for a in ("CreateImage", "CreateSnapshots")
        if a in meter.calls
    }
    return {
        "create_phase_seconds": round(create_phase, 1),
        "rate_floor_seconds": round(floor, 1),
        "create_phase_vs_floor": round(create_phase / floor, 2) if floor else None,
        "create_calls_per_second": rates,
        "sustained_calls_per_second_after_burst": sustained,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lifeboat.bench")
    parser.add_argument("--retention-points", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per emulated API call")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="the stack's BatchSize (default: template's)"
    )
    args = parser.parse_args(argv)
    sizes = [int(x) for x in os.environ.get("BENCH_SIZES", "50,200,1000").split(",") if x.strip()]
    retention = bench_retention(args.retention_points)  # first: a fresh, quiet process
    fleet = []
    for size in sizes:
        print(f"fleet of {size} instances ...", flush=True)
        fleet.append(bench_fleet(size, latency=args.latency, batch_size=args.batch_size))
    from lifeboat.local.bench_scenarios import run_scenarios

    scenarios = run_scenarios(args.latency)
    results: dict[str, Any] = {
        "prices": PRICES,
        "sizes": fleet,
        "retention": retention,
        "scenarios": scenarios,
    }
    out = Path(os.environ.get("BENCH_OUT", "bench-results.json"))
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    columns = ["instances", "status", "API calls", "throttled", "transitions", "lambdas"]
    columns += ["wall s", "create s", "floor s", "x floor", "cost $"]
    rows = [
        (
            r["instances"],
            r["status"],
            sum(r["api_calls"].values()),
            r["throttled_calls"],
            r["state_transitions"],
            r["lambda_invocations"],
            r["wall_seconds"],
            r["create_phase_seconds"],
            r["rate_floor_seconds"],
            r["create_phase_vs_floor"] or "-",
            r["estimated_cost_usd"],
        )
        for r in fleet
    ]
    print(table(columns, rows))
    ok = all(row["status"] == "SUCCEEDED" for row in fleet)
    for name, r in results["retention"].items():
        ok = ok and r["within_target"]
        print(
            f"retention ({name} rule): {r['points']:,} points, {r['resources']:,} resources -> "
            f"{r['expired']:,} expired, {r['cpu_seconds']} s CPU (target < 1 s)"
        )
    for name, r in scenarios.items():
        if r.get("measured") is False:
            print(f"scenario {name}: not measured ({r['why']})")
            ok = False
            continue
        print(
            f"scenario {name}: {r['throttled_calls']} throttled, phase {r['phase_seconds']} s "
            f"vs floor {r['floor_seconds']} s (x {r['phase_vs_floor']}), "
            f"{r['state_transitions']} transitions, {r['lambda_gb_seconds']} GB-s, "
            f"${r['estimated_cost_usd']}"
        )
    print(f"JSON written to {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
