"""The benchmark's ``drill`` scenario (``make bench``; docs: development/scale.md): a plan's
weekly restore drill over ``servers`` web servers, in the AWS-shaped emulator (a latency per
API call, EC2's token buckets enforced): every server's latest point launched into the drill
network, checked, measured and deleted. What a user pays for it (transitions, GB-s) and the
RunInstances phase against the floor RunInstances' bucket imposes."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from lifeboat.local.bench_costs import aws_time
from lifeboat.local.bench_evacuate import backup_unmetered, run_metered
from lifeboat.local.bench_scenarios import seed_instances

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
    """The servers' subnet tagged with their tier (a drill places each copy by it)."""
    from lifeboat import tags as T
    from lifeboat.aws.clients import client

    ec2 = client("ec2")
    subnets = {
        i["SubnetId"]
        for r in ec2.describe_instances(InstanceIds=instance_ids[:1])["Reservations"]
        for i in r["Instances"]
    }
    ec2.create_tags(Resources=sorted(subnets), Tags=[{"Key": T.TIER, "Value": tier}])


def bench_drill(servers: int = 50, latency: float = 0.05) -> dict[str, Any]:
    """``servers`` web servers backed up (unmetered), then the plan's drill: every one
    restored into the drill network at once (the drill's Map), checked and deleted."""
    from lifeboat.local.seed import seed_drill_network
    from lifeboat.local.server import Emulator

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(DRILL_PLANS)
    os.environ["LIFEBOAT_PLANS_FILE"] = handle.name
    try:
        with Emulator() as emulator, aws_time():
            emulator.reset()
            stack = emulator.deploy()
            ids = seed_instances(servers, "drillb", volumes=1, cidr="10.44")
            _tier(ids, "web")
            seed_drill_network()
            backed_up = backup_unmetered(stack, "drillb")
            drill = {"bench-drill": {"plan": "drillb", "requested_by": "bench"}}
            measured = run_metered(stack.outputs["DrillStateMachineArn"], drill, latency)
    finally:
        os.environ.pop("LIFEBOAT_PLANS_FILE", None)
    (result,) = measured.results
    outcomes: dict[str, int] = {}
    for resource in (result.get("output") or {}).get("resources", []):
        outcomes[str(resource.get("result"))] = outcomes.get(str(resource.get("result")), 0) + 1
    return {
        "servers": servers,
        "backup_status": backed_up,
        "status": result["status"],
        "drilled": dict(sorted(outcomes.items())),
        **measured.figures(*measured.launches()),
    }
