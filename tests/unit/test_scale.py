"""Scale limits computed from the ASL itself: no backup execution nears Step Functions'
25,000-event history limit, whatever the fleet."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from lifeboat.local.cfn import load_template

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachines/backup.asl.json").read_text(encoding="utf-8"))
TEMPLATE = load_template(ROOT / "template.yaml")
HISTORY_LIMIT = 25_000


def _task_events(state: dict[str, Any]) -> int:
    """Worst case for a Task: entered, scheduled, started, succeeded, exited, plus failed,
    scheduled and started again for every retry its Retry allows."""
    retries = sum(int(r.get("MaxAttempts", 3)) for r in state.get("Retry", []))
    return 5 + 3 * retries


def _worst_case(instances: int, batch_size: int) -> tuple[str, int]:
    states = ASL["States"]
    batches = math.ceil(instances / batch_size)
    threshold = states["FanOut"]["Choices"][0]["NumericGreaterThan"]
    fixed = 2 + sum(
        _task_events(states[n]) for n in ("BeginRun", "SyncAlarms", "Finalize", "Prune")
    )
    fixed += 2 * 5  # choices, passes and the final state
    polls = states["AllComplete"]["Choices"][1]["NumericGreaterThanEquals"]
    fixed += polls * (_task_events(states["CheckCompletion"]) + 2 + 2)  # task, choice, wait
    if batches > threshold:
        return "distributed", fixed + 8  # Map entered/started/MapRun started/succeeded/…
    create = states["CreateRecoveryPoints"]["ItemProcessor"]["States"]["CreateBatch"]
    per_iteration = 2 + _task_events(create) + 2  # iteration started/succeeded, task, pass
    return "inline", fixed + 4 + batches * per_iteration


@pytest.mark.parametrize("instances", [50, 1_000, 1_001, 10_000, 100_000])
def test_worst_case_history_stays_far_below_the_limit(instances: int) -> None:
    batch_size = int(TEMPLATE["Parameters"]["BatchSize"]["Default"])
    path, events = _worst_case(instances, batch_size)
    assert events < HISTORY_LIMIT // 2, (path, events)
    if instances >= 10_000:
        assert path == "distributed"


def test_create_concurrency_matches_the_map() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    for name in ("CreateRecoveryPoints", "CreateRecoveryPointsDistributed"):
        assert ASL["States"][name]["MaxConcurrency"] == int(env["CREATE_CONCURRENCY"])


def test_every_create_task_knows_its_place_in_the_run_s_schedule() -> None:
    # The run-wide pacing schedule numbers batch b's calls from b x batch size: both Maps hand
    # the task its index and the run's batch size, and the task's event model accepts them.
    from lifeboat.models import CreateBatchEvent

    for name in ("CreateRecoveryPoints", "CreateRecoveryPointsDistributed"):
        selector = ASL["States"][name]["ItemSelector"]
        assert selector["batch_index.$"] == "$$.Map.Item.Index"
        assert selector["batch_size.$"] == "$.run.batch_size"
        fields = {key.removesuffix(".$") for key in selector}
        assert fields <= set(CreateBatchEvent.model_fields)
