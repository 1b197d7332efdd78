"""What the benchmark counts that the emulator does not run as AWS would: the prune state
machine a backup run starts (its transitions), and the copier's pump cycles at the ASL's real
60-second Wait (the emulator compresses it, so it runs many more, shorter cycles)."""

from __future__ import annotations

import math
from typing import Any

PUMP = "lifeboat-CopyPumpFunction"
PUMP_WAIT = 60  # copy.asl.json's WaitForCopies, which the emulator compresses
PUMP_STATES = 3  # Pump, AllCopied, WaitForCopies: states entered per cycle


def prune_transitions(machine_arn: str) -> int:
    from lifeboat import executions
    from lifeboat.aws.clients import client

    sfn = client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
    return sum(
        sum(
            1
            for e in executions.HistoryReader(r["executionArn"]).new_events()
            if e["type"].endswith("StateEntered")
        )
        for r in runs
    )


def copier_as_aws_runs_it(
    copies: dict[str, Any], invocations: dict[str, int], seconds: dict[str, float]
) -> dict[str, Any]:
    """The copier's cycles as AWS would run them: one pump a minute (the ASL's Wait, which the
    emulator compresses) over the copy phase, plus one per copier execution; each pump as long
    as the emulator's took on average."""
    runs = int(copies.get("copier_executions", 0))
    phase = float(copies.get("copy_phase_seconds", 0.0))
    cycles = runs + math.ceil(phase / PUMP_WAIT) if runs else 0
    emulated = invocations.get(PUMP, 0)
    per_pump = seconds.get(PUMP, 0.0) / emulated if emulated else 0.0
    return {
        "pump_cycles": cycles,
        "pump_cycles_emulated": emulated,
        "lambda_invocations": cycles,
        "lambda_gb_seconds": round(cycles * per_pump * 0.5, 2),
        "state_transitions": cycles * PUMP_STATES + runs,
    }
