"""The benchmark's scenarios (``make bench``; docs: development/scale.md), each in the
AWS-shaped emulator (a latency per API call, EC2's token buckets enforced):

* ``prune``: 10,000 expired, back-dated recovery points with their snapshots, pruned by the
  prune state machine: the delete phase against the floor EC2's DeleteSnapshot refill imposes.
  EC2's refill rates and Lifeboat's shared pace both run ``rate_scale`` times faster (so the
  phase takes minutes, not an hour), and each call's latency that many times shorter; seconds
  and Lambda GB-s are reported as AWS would take them (× the scale: an upper bound for GB-s,
  as the emulator's own CPU time is not compressed); transitions and calls are not scaled.
* ``overlap``: two plans' backup runs started at the same minute: throttled calls, failed
  points, and the pair's create phase against the floor of their combined create calls.
* ``evacuate`` (:mod:`lifeboat.local.bench_evacuate`): 100 servers of one AZ backed up, then
  a restore started for each at once:
  throttled calls and the RunInstances phase against the floor RunInstances' bucket imposes.
* ``drill`` (:mod:`lifeboat.local.bench_drill`): a plan's restore drill over 50 servers.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat.local.bench_costs import CREATE, aws_time, create_map_costs, lambda_by_function
from lifeboat.local.bench_costs import gb_seconds as lambda_gb_seconds
from lifeboat.models import PointStatus, RecoveryPoint, VolumeSnapshot
from lifeboat.plans import Kind

PRUNE_PLANS = """
plans:
  bench:
    description: benchmark fleet (prune)
    min_keep: 3
    rules:
      all:
        schedule: cron(0 3 * * ? *)
        timezone: UTC
        kinds: [ebs]
        retention: {daily: 7}
"""
OVERLAP_PLANS = """
plans:
  blue:
    description: benchmark fleet, first plan
    min_keep: 3
    rules:
      all:
        schedule: cron(0 3 * * ? *)
        timezone: UTC
        kinds: [ami, ebs]
        retention: {daily: 7}
  green:
    description: benchmark fleet, second plan (same minute)
    min_keep: 3
    rules:
      all:
        schedule: cron(0 3 * * ? *)
        timezone: UTC
        kinds: [ami, ebs]
        retention: {daily: 7}
"""
PASS_FUNCTION = "lifeboat-PruneBatchFunction"  # the prune machine's pass


def _cost(transitions: int, requests: int, gb_seconds: float) -> float:
    from lifeboat.prices import PER_GB_SECOND, PER_REQUEST, PER_TRANSITION

    return round(
        transitions * PER_TRANSITION + requests * PER_REQUEST + gb_seconds * PER_GB_SECOND, 5
    )


def _entered(arn: str) -> int:
    from lifeboat import executions

    events = executions.HistoryReader(arn).new_events()
    return sum(1 for e in events if e["type"].endswith("StateEntered"))


def seed_instances(count: int, plan: str, volumes: int = 2, cidr: str = "10.40") -> list[str]:
    """``count`` instances tagged ``lifeboat:plan=plan`` with ``volumes`` EBS volumes each."""
    from lifeboat.aws.clients import client

    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.0.0/20", AvailabilityZone="us-east-1a")
    image = ec2.register_image(Name=f"bench-{plan}", RootDeviceName="/dev/sda1")["ImageId"]
    mappings = [
        {"DeviceName": f"/dev/sd{letter}", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}
        for letter in "afghij"[:volumes]
    ]
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "lifeboat:plan", "Value": plan}]}]
    ids: list[str] = []
    while len(ids) < count:
        batch = min(100, count - len(ids))
        made = ec2.run_instances(
            ImageId=image,
            InstanceType="t3.medium",
            MinCount=batch,
            MaxCount=batch,
            SubnetId=subnet["Subnet"]["SubnetId"],
            BlockDeviceMappings=mappings,
            TagSpecifications=tags,
        )["Instances"]
        ids += [i["InstanceId"] for i in made]
    return ids


# --- prune --------------------------------------------------------------------------------
def _seed_expired(instances: int, per_instance: int, table: str) -> int:
    """``per_instance`` back-dated daily points (one snapshot each) of each instance, one a
    day up to today's (so the rule is not stale): all but the last 7 days' are expired."""
    from lifeboat import tags as T
    from lifeboat.aws.catalog import Catalog
    from lifeboat.aws.clients import client

    ids = seed_instances(instances, "bench", volumes=1)
    catalog = Catalog(table)
    now = datetime.now(UTC)
    newest = now.replace(hour=3, minute=0, second=0, microsecond=0)
    newest -= timedelta(days=1 if newest > now else 0)

    def one_instance(instance_id: str) -> list[RecoveryPoint]:
        ec2 = client("ec2")
        points = []
        for day in range(per_instance):
            created = newest - timedelta(days=day)
            run_id = f"{created:%Y%m%dT%H%MZ}-bench-all"
            tags = T.backup_tags(
                source_id=instance_id,
                plan="bench",
                rule="all",
                run_id=run_id,
                kind="ebs",
                source_tags={},
            )
            made = ec2.create_snapshots(
                InstanceSpecification={"InstanceId": instance_id},
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": T.to_list(tags)}],
            )["Snapshots"]
            snaps = [
                VolumeSnapshot(volume_id=s["VolumeId"], snapshot_id=s["SnapshotId"], size_gb=8)
                for s in made
            ]
            points.append(
                RecoveryPoint(
                    recovery_point_id=f"{run_id}/{instance_id}/ebs",
                    run_id=run_id,
                    plan="bench",
                    rule="all",
                    kind=Kind.EBS,
                    source_id=instance_id,
                    source_type="instance",
                    status=PointStatus.COMPLETED,
                    created_at=created,
                    completed_at=created + timedelta(minutes=5),
                    snapshots=snaps,
                    size_gb=8 * len(snaps),
                )
            )
        catalog.put_points(points)
        return points

    with ThreadPoolExecutor(max_workers=4) as pool:
        made = [p for points in pool.map(one_instance, ids) for p in points]
    return len(made)


def bench_prune(
    points: int = 10_000, latency: float = 0.05, rate_scale: float = 20.0
) -> dict[str, Any]:
    """The prune state machine over ``points`` expired points (100 resources)."""
    from lifeboat import executions, runtime
    from lifeboat.aws.catalog import Catalog
    from lifeboat.local.bridge import BRIDGE
    from lifeboat.local.server import Emulator
    from lifeboat.pacing import AWS_BUCKETS

    instances = 100
    per_instance = -(-points // instances) + 7  # the last 7 days' are kept (daily: 7)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(PRUNE_PLANS)
    os.environ["LIFEBOAT_PLANS_FILE"] = handle.name
    try:
        with Emulator() as emulator, aws_time():
            emulator.reset()
            stack = emulator.deploy()
            table = stack.outputs["CatalogTableName"]
            seeded = _seed_expired(instances, per_instance, table)
            BRIDGE.local_environment["PACE_TIME_SCALE"] = "1.0"
            BRIDGE.local_environment["PACE_RATE_SCALE"] = str(rate_scale)
            runtime.reset()
            BRIDGE.invocations.clear()
            BRIDGE.seconds.clear()
            BRIDGE.longest.clear()
            # Everything runs rate_scale times faster: EC2's refill, and each call's latency.
            BRIDGE.meter.start(latency=latency / rate_scale, enforce=True, rate_scale=rate_scale)
            started = time.perf_counter()
            arn = executions.start(
                stack.outputs["PruneStateMachineArn"],
                {"plan": "bench", "rule": "all", "dry_run": False},
                f"bench-prune-{points}",
            )
            result = executions.wait(arn, timeout=6 * 3600, poll=2.0)
            wall = time.perf_counter() - started
            BRIDGE.meter.stop()
            BRIDGE.local_environment.pop("PACE_RATE_SCALE", None)
            transitions = _entered(arn)
            all_points = Catalog(table).points_for_rule("bench", "all")
            meter = BRIDGE.meter
            calls = {k: v for k, v in sorted(meter.calls.items()) if k not in _OBSERVER}
            seconds = dict(BRIDGE.seconds)
            invocations = dict(BRIDGE.invocations)
            longest = BRIDGE.longest.get(PASS_FUNCTION, 0.0)
            timeout = BRIDGE.functions[PASS_FUNCTION].timeout
    finally:
        os.environ.pop("LIFEBOAT_PLANS_FILE", None)
    deletes = meter.times.get("DeleteSnapshot", [])
    phase = (max(deletes) - min(deletes)) * rate_scale if deletes else 0.0
    burst, rate = AWS_BUCKETS["DeleteSnapshot"]
    floor = max(0.0, (len(deletes) - burst) / rate)
    gb_seconds = lambda_gb_seconds(seconds, rate_scale)  # in AWS time (an upper bound)
    requests = sum(invocations.values())
    output = result.get("output") or {}
    return {
        "status": result["status"],
        "points": points,
        "seeded_points": seeded,
        "expired": output.get("expired"),
        "deleted": sum(1 for p in all_points if p.status is PointStatus.DELETED),
        "left_deleting": sum(1 for p in all_points if p.status is PointStatus.DELETING),
        "throttled_calls": sum(meter.throttled.values()),
        "phase_seconds": round(phase, 1),
        "floor_seconds": round(floor, 1),
        "phase_vs_floor": round(phase / floor, 2) if floor else None,
        "rate_scale": rate_scale,
        "wall_seconds_emulated": round(wall, 1),
        "api_calls": calls,
        "state_transitions": transitions,
        "lambda_invocations": {k.removeprefix("lifeboat-"): v for k, v in invocations.items()},
        # A pass's longest invocation in AWS time (an upper bound, as the GB-s) and its time-out
        "longest_pass_seconds": round(longest * rate_scale, 1),
        "pass_timeout_seconds": timeout,
        "lambda_gb_seconds": round(gb_seconds, 2),
        "estimated_cost_usd": _cost(transitions, requests, gb_seconds),
    }


_OBSERVER = {"DescribeExecution", "GetExecutionHistory", "StartExecution"}


def run_figures(
    meter: Any,
    phase: float,
    floor: float,
    wall: float,
    transitions: int,
    gb_seconds: float,
    invocations: dict[str, int],
    seconds: dict[str, float] | None = None,
    express_usd: float = 0.0,
) -> dict[str, Any]:
    """The figures every run scenario reports (the benchmark's JSON contract); with the
    functions' ``seconds``, where the Lambda time went (``express_usd``: what Express child
    executions cost besides)."""
    by_function = lambda_by_function(invocations, seconds or {})
    return {
        "throttled_calls": sum(meter.throttled.values()),
        "throttled_by_api": dict(sorted(meter.throttled.items())),
        "phase_seconds": round(phase, 1),
        "floor_seconds": round(floor, 1),
        "phase_vs_floor": round(phase / floor, 2) if floor else None,
        "wall_seconds": round(wall, 1),
        "api_calls": {k: v for k, v in sorted(meter.calls.items()) if k not in _OBSERVER},
        "state_transitions": transitions,
        "lambda_gb_seconds": round(gb_seconds, 2),
        "estimated_cost_usd": round(
            _cost(transitions, sum(invocations.values()), gb_seconds) + express_usd, 5
        ),
        **({"lambda_by_function": by_function} if seconds is not None else {}),
    }


# --- overlap ------------------------------------------------------------------------------
def bench_overlap(per_plan: int = 200, latency: float = 0.05) -> dict[str, Any]:
    """Two plans' backup runs (``per_plan`` instances each, ``ami`` and ``ebs``) started at the
    same minute: what EC2's buckets made of their combined create calls."""
    from lifeboat import executions, runtime
    from lifeboat.local.bridge import BRIDGE
    from lifeboat.local.server import Emulator
    from lifeboat.pacing import AWS_BUCKETS

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(OVERLAP_PLANS)
    os.environ["LIFEBOAT_PLANS_FILE"] = handle.name
    try:
        with Emulator() as emulator, aws_time():
            emulator.reset()
            stack = emulator.deploy()
            seed_instances(per_plan, "blue", cidr="10.41")
            seed_instances(per_plan, "green", cidr="10.42")
            BRIDGE.local_environment["PACE_TIME_SCALE"] = "1.0"
            runtime.reset()
            BRIDGE.invocations.clear()
            BRIDGE.seconds.clear()
            BRIDGE.meter.start(latency=latency, enforce=True)
            started = time.perf_counter()
            arns = [
                executions.start(
                    stack.outputs["BackupStateMachineArn"],
                    {"plan": plan, "rule": "all"},
                    f"overlap-{plan}",
                )
                for plan in ("blue", "green")
            ]
            results = [executions.wait(arn, timeout=3600, poll=1.0) for arn in arns]
            wall = time.perf_counter() - started
            BRIDGE.meter.stop()
            transitions = sum(_entered(arn) for arn in arns)
            meter = BRIDGE.meter
            seconds, invocations = dict(BRIDGE.seconds), dict(BRIDGE.invocations)
            # The Distributed Maps' child executions are billed too
            children = create_map_costs(arns, invocations.get(CREATE, 0))
            transitions += children.transitions
    finally:
        os.environ.pop("LIFEBOAT_PLANS_FILE", None)
    creates = ("CreateImage", "CreateSnapshots")
    moments = [t for a in creates for t in meter.times.get(a, [])]
    phase = max(moments) - min(moments) if moments else 0.0
    admitted = {a: meter.calls.get(a, 0) - meter.throttled.get(a, 0) for a in creates}
    floor = max([0.0, *((admitted[a] - AWS_BUCKETS[a][0]) / AWS_BUCKETS[a][1] for a in creates)])
    gb_seconds = lambda_gb_seconds(seconds)
    failed = sum(int((r.get("output") or {}).get("failed", 0) or 0) for r in results)
    return {
        "status": sorted({r["status"] for r in results}),
        "instances_per_plan": per_plan,
        "failed_points": failed,
        "create_children": children.figures(),
        **run_figures(
            meter,
            phase,
            floor,
            wall,
            transitions,
            gb_seconds,
            invocations,
            seconds,
            children.express_usd,
        ),
    }


def run_scenarios(latency: float) -> dict[str, Any]:
    """BENCH_SCENARIOS (default prune,overlap,evacuate,drill); BENCH_PRUNE_POINTS (10,000),
    BENCH_RATE_SCALE (5: the prune scenario's compressed time), BENCH_OVERLAP_SIZE (200 per
    plan), BENCH_EVACUATE_SIZE (100), BENCH_DRILL_SIZE (50)."""
    from lifeboat.local.bench_drill import bench_drill
    from lifeboat.local.bench_evacuate import bench_evacuate
    from lifeboat.local.bench_scenarios import bench_overlap, bench_prune

    size = os.environ.get
    runners: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
        "prune": (
            f"{size('BENCH_PRUNE_POINTS', '10000')} expired points",
            lambda: bench_prune(
                int(size("BENCH_PRUNE_POINTS", "10000")),
                latency=latency,
                rate_scale=float(size("BENCH_RATE_SCALE", "5")),
            ),
        ),
        "overlap": (
            f"two plans of {size('BENCH_OVERLAP_SIZE', '200')} instances",
            lambda: bench_overlap(int(size("BENCH_OVERLAP_SIZE", "200")), latency=latency),
        ),
        "evacuate": (
            f"{size('BENCH_EVACUATE_SIZE', '100')} restores at once",
            lambda: bench_evacuate(int(size("BENCH_EVACUATE_SIZE", "100")), latency=latency),
        ),
        "drill": (
            f"{size('BENCH_DRILL_SIZE', '50')} servers drilled",
            lambda: bench_drill(int(size("BENCH_DRILL_SIZE", "50")), latency=latency),
        ),
    }
    wanted = size("BENCH_SCENARIOS", ",".join(runners)).split(",")
    found: dict[str, Any] = {}
    for name, (what, run) in runners.items():
        if name not in wanted:
            continue
        print(f"scenario {name}: {what} ...", flush=True)
        try:
            found[name] = run()
        except Exception as exc:  # noqa: BLE001 - one scenario's failure is reported, the rest run
            found[name] = {"measured": False, "why": f"{type(exc).__name__}: {exc}"}
        print(f"scenario {name}: {json.dumps(found[name])}", flush=True)  # kept if a later fails
    return found
