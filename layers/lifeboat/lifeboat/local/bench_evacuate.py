"""The benchmark's ``evacuate`` scenario (``make bench``; docs: development/scale.md): servers
of one AZ backed up, then a restore started for each at once, in the AWS-shaped emulator (a
latency per API call, EC2's token buckets enforced)."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from lifeboat.local.bench_costs import aws_time
from lifeboat.local.bench_costs import gb_seconds as lambda_gb_seconds
from lifeboat.local.bench_scenarios import _entered, run_figures, seed_instances

EVACUATE_PLANS = """
plans:
  evac:
    description: benchmark fleet (evacuate)
    min_keep: 3
    rules:
      all:
        schedule: cron(0 3 * * ? *)
        timezone: UTC
        kinds: [ami, ebs]
        retention: {daily: 7}
"""
RESTORE_STATES = "lifeboat-Restore"


# --- evacuate -----------------------------------------------------------------------------
def _second_az(instance_id: str, cidr: str) -> str:
    """A subnet in us-east-1b of the instance's VPC (the seeded subnets carry no tier: each
    restore is given it, as ``lifeboat restore start --target-subnet`` does)."""
    from lifeboat.aws.clients import client

    ec2 = client("ec2")
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    vpc = reservation["Instances"][0]["VpcId"]
    made = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-east-1b")
    return str(made["Subnet"]["SubnetId"])


def backup_unmetered(stack: Any, plan: str) -> str:
    """The plan's backup run (rule ``all``), before the meter starts: its status."""
    from lifeboat import executions, runtime
    from lifeboat.local.bridge import BRIDGE

    BRIDGE.local_environment["PACE_TIME_SCALE"] = "1.0"
    runtime.reset()
    arn = executions.start(
        stack.outputs["BackupStateMachineArn"], {"plan": plan, "rule": "all"}, f"{plan}-backup"
    )
    return str(executions.wait(arn, timeout=3600, poll=1.0)["status"])


@dataclass
class Metered:
    """Executions started at once with the meter on: what they made of EC2's buckets."""

    results: list[dict[str, Any]]
    wall: float
    transitions: int
    meter: Any
    seconds: dict[str, float]
    invocations: dict[str, int]

    def launches(self) -> tuple[float, float]:
        """(phase, floor): the first to the last RunInstances, and what its bucket (a 5-call
        burst refilling 2/s) imposes on the calls it admitted."""
        from lifeboat.pacing import AWS_BUCKETS

        moments = self.meter.times.get("RunInstances", [])
        phase = max(moments) - min(moments) if moments else 0.0
        calls, refused = self.meter.calls, self.meter.throttled
        admitted = calls.get("RunInstances", 0) - refused.get("RunInstances", 0)
        burst, rate = AWS_BUCKETS["RunInstances"]
        return phase, max(0.0, (admitted - burst) / rate)

    def figures(self, phase: float, floor: float) -> dict[str, Any]:
        gb_seconds = lambda_gb_seconds(self.seconds)
        return run_figures(
            self.meter,
            phase,
            floor,
            self.wall,
            self.transitions,
            gb_seconds,
            self.invocations,
            self.seconds,
        )


def run_metered(machine_arn: str, runs: dict[str, dict[str, Any]], latency: float) -> Metered:
    """Start an execution per ``runs`` item (name → input) at once, the meter on."""
    from lifeboat import executions
    from lifeboat.local.bridge import BRIDGE

    BRIDGE.invocations.clear()
    BRIDGE.seconds.clear()
    BRIDGE.meter.start(latency=latency, enforce=True)
    started = time.perf_counter()
    arns = [executions.start(machine_arn, given, name) for name, given in runs.items()]
    results = [executions.wait(arn, timeout=3600, poll=1.0) for arn in arns]
    wall = time.perf_counter() - started
    BRIDGE.meter.stop()
    return Metered(
        results=results,
        wall=wall,
        transitions=sum(_entered(arn) for arn in arns),
        meter=BRIDGE.meter,
        seconds=dict(BRIDGE.seconds),
        invocations=dict(BRIDGE.invocations),
    )


def bench_evacuate(servers: int = 100, latency: float = 0.05) -> dict[str, Any]:
    """``servers`` instances of one AZ backed up (unmetered), then the restore state machine
    started for each at once (as ``lifeboat restore start --force`` does): what RunInstances'
    buckets (a 5-call burst refilling 2/s; 1,000 instances) made of the restores."""
    from lifeboat.local.server import Emulator

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(EVACUATE_PLANS)
    os.environ["LIFEBOAT_PLANS_FILE"] = handle.name
    try:
        with Emulator() as emulator, aws_time():
            emulator.reset()
            stack = emulator.deploy()
            ids = seed_instances(servers, "evac", cidr="10.43")
            target = _second_az(ids[0], "10.43.16.0/20")  # where the restores of 1a land
            backed_up = backup_unmetered(stack, "evac")
            restores = {
                f"evac-{instance}": {
                    "instance_id": instance,
                    "force": True,
                    "target_az": "us-east-1b",
                    "target_subnet": target,
                    "reason": "benchmark: us-east-1a evacuated",
                    "requested_by": "bench",
                }
                for instance in ids
            }
            measured = run_metered(stack.outputs["RestoreStateMachineArn"], restores, latency)
    finally:
        os.environ.pop("LIFEBOAT_PLANS_FILE", None)
    phase, floor = measured.launches()
    # One instance per restore: the 1,000-instance resource bucket imposes nothing below it.
    floor = max(floor, (servers - 1000) / 2.0)
    statuses: dict[str, int] = {}
    for r in measured.results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {
        "measured": True,
        "servers": servers,
        "backup_status": backed_up,
        "restores": dict(sorted(statuses.items())),
        **measured.figures(phase, floor),
    }
