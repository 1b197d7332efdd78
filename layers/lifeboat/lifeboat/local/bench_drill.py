"""The benchmark's ``drill`` scenario (``make bench``; docs: development/scale.md): a plan's
weekly restore drill over ``servers`` web servers, in the AWS-shaped emulator (a latency per
API call, EC2's token buckets enforced): every server's latest point launched into the drill
network, checked, measured and deleted. What a user pays for it (transitions, GB-s) and the
RunInstances phase against the floor RunInstances' bucket imposes."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from lifeboat.local.bench_costs import aws_time
from lifeboat.local.bench_costs import gb_seconds as lambda_gb_seconds
from lifeboat.local.bench_scenarios import _entered, run_figures, seed_instances

DRILL_PLANS = """
plans:
  drillb:
    description: benchmark fleet (drill)
    min_keep: 3
    rules:
      all:
        schedule: cron(0 3 * * ? *)
        timezone: UTC
        kinds: [ami]
        retention: {daily: 7}
    drill:
      schedule: cron(0 4 ? * SUN *)
      timezone: UTC
      db_subnet_group: lifeboat-drill
"""


def _tier(instance_ids: list[str], tier: str) -> None:
    from lifeboat import tags as T
    from lifeboat.aws.clients import client

    ec2 = client("ec2")
    for start in range(0, len(instance_ids), 100):
        ec2.create_tags(
            Resources=instance_ids[start : start + 100], Tags=[{"Key": T.TIER, "Value": tier}]
        )


def bench_drill(servers: int = 50, latency: float = 0.05) -> dict[str, Any]:
    """``servers`` web servers backed up (unmetered), then the plan's drill: every one
    restored into the drill network at once (the drill's Map), checked and deleted."""
    from lifeboat import executions, runtime
    from lifeboat.local.bridge import BRIDGE
    from lifeboat.local.seed import seed_drill_network
    from lifeboat.local.server import Emulator
    from lifeboat.pacing import AWS_BUCKETS

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(DRILL_PLANS)
    os.environ["LIFEBOAT_PLANS_FILE"] = handle.name
    try:
        with Emulator() as emulator, aws_time():
            emulator.reset()
            stack = emulator.deploy()
            ids = seed_instances(servers, "drillb", volumes=1, cidr="10.44")
            _tier(ids, "web")
            seed_drill_network(("web",))
            BRIDGE.local_environment["PACE_TIME_SCALE"] = "1.0"
            runtime.reset()
            backup = executions.start(
                stack.outputs["BackupStateMachineArn"],
                {"plan": "drillb", "rule": "all"},
                "drill-backup",
            )
            backed_up = executions.wait(backup, timeout=3600, poll=1.0)["status"]
            BRIDGE.invocations.clear()
            BRIDGE.seconds.clear()
            BRIDGE.meter.start(latency=latency, enforce=True)
            started = time.perf_counter()
            arn = executions.start(
                stack.outputs["DrillStateMachineArn"],
                {"plan": "drillb", "requested_by": "bench"},
                "bench-drill",
            )
            result = executions.wait(arn, timeout=3600, poll=1.0)
            wall = time.perf_counter() - started
            BRIDGE.meter.stop()
            transitions = _entered(arn)
            meter = BRIDGE.meter
            seconds, invocations = dict(BRIDGE.seconds), dict(BRIDGE.invocations)
    finally:
        os.environ.pop("LIFEBOAT_PLANS_FILE", None)
    moments = meter.times.get("RunInstances", [])
    phase = max(moments) - min(moments) if moments else 0.0
    admitted = meter.calls.get("RunInstances", 0) - meter.throttled.get("RunInstances", 0)
    burst, rate = AWS_BUCKETS["RunInstances"]
    floor = max(0.0, (admitted - burst) / rate)
    summary = result.get("output") or {}
    outcomes: dict[str, int] = {}
    for resource in summary.get("resources", []):
        outcomes[str(resource.get("result"))] = outcomes.get(str(resource.get("result")), 0) + 1
    return {
        "servers": servers,
        "backup_status": backed_up,
        "status": result["status"],
        "drilled": dict(sorted(outcomes.items())),
        **run_figures(
            meter, phase, floor, wall, transitions, lambda_gb_seconds(seconds), invocations
        ),
    }
