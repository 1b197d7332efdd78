"""What the benchmark counts that the emulator does not run as AWS would: the prune state
machine a backup run starts (its transitions), the create Map's child executions (moto keeps
no history of them), the copier's pump cycles at the ASL's real 60-second Wait (the emulator
compresses it, so it runs many more, shorter cycles), and each function's GB-s at its own
``MemorySize`` in template.yaml."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from lifeboat.prices import EXPRESS_MIN_GB, EXPRESS_PER_GB_SECOND, EXPRESS_PER_REQUEST

PUMP = "lifeboat-CopyPumpFunction"
PUMP_WAIT = 60  # copy.asl.json's WaitForCopies, which the emulator compresses
PUMP_STATES = 3  # Pump, AllCopied, WaitForCopies: states entered per cycle


@lru_cache(maxsize=1)
def _express_concurrency() -> int:
    from lifeboat.local.stack import repo_root

    asl = json.loads((repo_root() / "statemachines/backup.asl.json").read_text(encoding="utf-8"))
    return int(asl["States"]["CreateRecoveryPoints"]["MaxConcurrency"])


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


def lambda_by_function(
    invocations: dict[str, int], seconds: dict[str, float], skip: str = ""
) -> dict[str, dict[str, float]]:
    """Where the Lambda time went: each function's invocations, seconds and GB-s."""
    return {
        name.removeprefix("lifeboat-"): {
            "invocations": invocations.get(name, 0),
            "seconds": round(spent, 1),
            "gb_seconds": round(gb_seconds({name: spent}), 2),
        }
        for name, spent in sorted(seconds.items())
        if name != skip
    }


CREATE = "lifeboat-BackupCreateFunction"
STANDARD_MAP = "CreateRecoveryPointsStandard"


@dataclass
class CreateMapCost:
    """What the create Maps' child executions cost: a Standard child's transitions (moto keeps
    no history of them: counted from the ASL), an Express child's execution and duration."""

    transitions: int = 0
    express_executions: int = 0
    express_seconds: float = 0.0  # upper bound: MaxConcurrency children for the Map's duration

    @property
    def express_usd(self) -> float:
        return (
            self.express_executions * EXPRESS_PER_REQUEST
            + self.express_seconds * EXPRESS_MIN_GB * EXPRESS_PER_GB_SECOND
        )

    def figures(self) -> dict[str, Any]:
        return {
            "standard_child_transitions": self.transitions,
            "express_executions": self.express_executions,
            "express_seconds_upper_bound": round(self.express_seconds, 1),
            "express_cost_usd": round(self.express_usd, 6),
        }


def create_map_costs(execution_arns: list[str], creates: int) -> CreateMapCost:
    """The create Maps' children of these runs. Each Standard batch enters RuleHasScripts,
    CreateBatch, CreatePaced and BatchCreated, and each time it waited for the pace
    WaitForCreatePace, CreateBatch and CreatePaced again (every create invocation beyond one
    per batch is counted as such a wait: an upper bound when Express children ran too). An
    Express child is billed per execution and for its duration at 64 MB; at most
    MaxConcurrency of them run at once, for no longer than their Map state lasted."""
    from lifeboat.aws.clients import client
    from lifeboat.executions import HistoryReader

    sfn = client("stepfunctions")
    cost, standard, express = CreateMapCost(), 0, 0
    for arn in execution_arns:
        entered: dict[str, datetime] = {}
        runs: dict[str, str] = {}  # map run ARN -> its Map state
        state = ""
        for event in HistoryReader(arn).new_events():
            details = event.get("stateEnteredEventDetails") or {}
            if event["type"] == "MapStateEntered":
                state = details["name"]
                entered[state] = event["timestamp"]
            elif event["type"] == "MapRunStarted":
                runs[event["mapRunStartedEventDetails"]["mapRunArn"]] = state
            elif event["type"] == "MapStateExited":
                name = event["stateExitedEventDetails"]["name"]
                if name != STANDARD_MAP:
                    lasted = (event["timestamp"] - entered[name]).total_seconds()
                    cost.express_seconds += _express_concurrency() * lasted
        for run_arn, name in runs.items():
            counts = sfn.describe_map_run(mapRunArn=run_arn)["itemCounts"]
            if name == STANDARD_MAP:
                standard += int(counts["total"])
            else:
                express += int(counts["total"])
    cost.express_executions = express
    if standard:
        cost.transitions = 4 * standard + 3 * max(0, creates - standard - express)
    return cost


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
