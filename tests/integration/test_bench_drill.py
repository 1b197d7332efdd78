"""The benchmark's drill scenario at a tiny size (docs/development/scale.md): a plan's servers
backed up, then its restore drill, through the real ASL in the emulator. Run in its own
process: the scenario starts its own emulator, as ``make bench`` does."""

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
from lifeboat.local.bench_drill import bench_drill
print("RESULT " + json.dumps(bench_drill(7, latency=0.0)))
"""


def test_a_drill_of_seven_servers_is_measured_against_runinstances_floor() -> None:
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
    assert KEYS <= set(found)
    assert found["backup_status"] == "SUCCEEDED" and found["status"] == "SUCCEEDED"
    assert found["drilled"] == {"healthy": 7}
    # RunInstances' burst is 5, refilling 2 a second: 7 drill copies cannot all go in the burst
    assert found["api_calls"]["RunInstances"] >= 7 and found["throttled_calls"] == 0
    assert found["floor_seconds"] == 1.0  # (7 admitted - 5) / 2
    assert found["state_transitions"] > 7 and found["estimated_cost_usd"] > 0
