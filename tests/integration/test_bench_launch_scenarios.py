"""The benchmark's launch scenarios at a tiny size (docs/development/scale.md), through the real
ASL in the emulator: ``evacuate`` (servers of one AZ backed up, then a restore each started at
once) and ``drill`` (a plan's servers backed up, then its drill). Each runs in its own process:
a scenario starts its own emulator, as ``make bench`` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

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


def _scenario(module: str, function: str) -> dict[str, Any]:
    script = (
        f"import json\nfrom lifeboat.local.{module} import {function}\n"
        f'print("RESULT " + json.dumps({function}(7, latency=0.0)))\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    found: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    assert KEYS <= set(found)
    assert found["backup_status"] == "SUCCEEDED"
    # RunInstances' burst is 5, refilling 2 a second: 7 launches cannot all go in the burst
    assert found["api_calls"]["RunInstances"] >= 7 and found["throttled_calls"] == 0
    assert found["floor_seconds"] == 1.0  # (7 admitted - 5) / 2
    assert found["state_transitions"] > 7 and found["estimated_cost_usd"] > 0
    return found


def test_seven_restores_at_once_each_launch_one_instance_against_runinstances_floor() -> None:
    found = _scenario("bench_evacuate", "bench_evacuate")
    assert found["measured"] is True and found["restores"] == {"SUCCEEDED": 7}
    assert found["phase_seconds"] > 0


def test_a_drill_of_seven_servers_is_measured_against_runinstances_floor() -> None:
    found = _scenario("bench_drill", "bench_drill")
    assert found["status"] == "SUCCEEDED" and found["drilled"] == {"healthy": 7}
