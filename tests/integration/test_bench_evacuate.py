"""The benchmark's evacuate scenario at a tiny size (docs/development/scale.md): servers of one
AZ backed up, then a restore each started at once, through the real ASL in the emulator. Run
in its own process: the scenario starts its own emulator, as ``make bench`` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

KEYS = {
    "throttled_calls",
    "phase_seconds",
    "floor_seconds",
    "phase_vs_floor",
    "api_calls",
    "state_transitions",
    "lambda_gb_seconds",
    "estimated_cost_usd",
}
SCRIPT = """
import json
from lifeboat.local.bench_evacuate import bench_evacuate
print("RESULT " + json.dumps(bench_evacuate(7, latency=0.0)))
"""


def test_seven_restores_at_once_each_launch_one_instance_against_runinstances_floor() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    found = json.loads(line.removeprefix("RESULT "))
    assert KEYS <= set(found) and found["measured"] is True
    assert found["backup_status"] == "SUCCEEDED"
    assert found["restores"] == {"SUCCEEDED": 7}
    # RunInstances' burst is 5, refilling 2 a second: 7 launches cannot all go in the burst.
    assert found["api_calls"]["RunInstances"] >= 7
    assert found["floor_seconds"] == 1.0  # (7 admitted - 5) / 2
    assert found["phase_seconds"] > 0 and found["state_transitions"] > 7
    assert found["estimated_cost_usd"] > 0
