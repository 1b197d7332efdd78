"""What the benchmark counts that the emulator does not run as AWS would: the prune state
machine a backup run starts (its transitions), the create Map's child executions (moto keeps
no history of them), the copier's pump cycles at the ASL's real 60-second Wait (the emulator
compresses it, so it runs many more, shorter cycles), and each function's GB-s at its own
``MemorySize`` in template.yaml."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

PUMP = "lifeboat-CopyPumpFunction"
PUMP_WAIT = 60  # copy.asl.json's WaitForCopies, which the emulator compresses
PUMP_STATES = 3  # Pump, AllCopied, WaitForCopies: states entered per cycle


@contextmanager
def aws_time() -> Iterator[None]:
    """Step Functions' Wait states and Retry intervals as written, however long (local mode
    compresses them and caps each at a few seconds): a task that stops for the pace then
    waits in its state machine as on AWS, not in the Lambda it is called again in."""
    from lifeboat.local import waits
    from lifeboat.local.bridge import BRIDGE

    scale, longest = BRIDGE.time_scale, waits.LONGEST
    BRIDGE.time_scale, waits.LONGEST = 1.0, math.inf
    try:
        yield
    finally:
        BRIDGE.time_scale, waits.LONGEST = scale, longest


@lru_cache(maxsize=1)
def function_memory_gb() -> dict[str, float]:
    """Each function's memory in GB (its ``MemorySize``, else the template's Globals), by the
    name the emulator gives it (``lifeboat-<logical id>``)."""
    from lifeboat.local.cfn import load_template
    from lifeboat.local.stack import repo_root

    template = load_template(repo_root() / "template.yaml")
    default = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    return {
        f"lifeboat-{name}": int(resource.get("Properties", {}).get("MemorySize", default)) / 1024
        for name, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def gb_seconds(seconds: dict[str, float], scale: float = 1.0) -> float:
    """Lambda GB-s of the functions' measured seconds (× ``scale``: compressed time)."""
    memory = function_memory_gb()
    return sum(spent * memory.get(name, 0.5) for name, spent in seconds.items()) * scale


CREATE = "lifeboat-BackupCreateFunction"


def create_map_transitions(execution_arns: list[str], creates: int) -> int:
    """Transitions of the create Map's child executions (billed like any other; moto keeps no
    history of them): each batch enters RuleHasScripts, CreateBatch, CreatePaced and
    BatchCreated; each time a batch waited for the pace, WaitForCreatePace, CreateBatch and
    CreatePaced again (one more create invocation each)."""
    from lifeboat.aws.clients import client

    sfn = client("stepfunctions")
    batches = 0
    for arn in execution_arns:
        for run in sfn.list_map_runs(executionArn=arn)["mapRuns"]:
            counts = sfn.describe_map_run(mapRunArn=run["mapRunArn"])["itemCounts"]
            batches += int(counts["total"])
    return 4 * batches + 3 * max(0, creates - batches)


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
        "lambda_gb_seconds": round(cycles * per_pump * function_memory_gb().get(PUMP, 0.5), 2),
        "state_transitions": cycles * PUMP_STATES + runs,
    }
