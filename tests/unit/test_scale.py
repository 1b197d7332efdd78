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


def _create_map() -> dict[str, Any]:
    maps = [s for s in ASL["States"].values() if s["Type"] == "Map"]
    assert len(maps) == 1, "one Map processor for the create step"
    create_map: dict[str, Any] = maps[0]
    return create_map


def _worst_case() -> tuple[int, int]:
    """(events in the run's own history, events in the longest child execution's history)."""
    states = ASL["States"]
    fixed = 2 + sum(
        _task_events(states[n]) for n in ("BeginRun", "SyncAlarms", "Finalize", "Prune")
    )
    fixed += 2 * 5  # choices, passes and the final state
    polls = states["AllComplete"]["Choices"][1]["NumericGreaterThanEquals"]
    fixed += polls * (_task_events(states["CheckCompletion"]) + 2 + 2)  # task, choice, wait
    processor = _create_map()["ItemProcessor"]
    # A Distributed Map's batches run as child executions: the run's history holds the Map
    # state and its Map Run (entered, started, MapRun started/succeeded, exited...), whatever
    # the number of batches; each child holds one batch's task (every retry taken) and the
    # Pass state its Catch leads to.
    assert processor["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    # ... and each time the task stopped for the shared pace: the Choice, the Wait, the task
    waits = processor["States"]["CreatePaced"]["Choices"][0]["And"][1]["NumericGreaterThanEquals"]
    per_wait = 2 + 2 + _task_events(processor["States"]["CreateBatch"])
    child = 2 + _task_events(processor["States"]["CreateBatch"]) + waits * per_wait + 2 + 2
    return fixed + 8, child


@pytest.mark.parametrize("instances", [1, 50, 1_000, 1_001, 10_000, 100_000])
def test_worst_case_history_stays_far_below_the_limit(instances: int) -> None:
    # Given any fleet (batches of BatchSize resources), the run's history does not grow with it
    batch_size = int(TEMPLATE["Parameters"]["BatchSize"]["Default"])
    assert math.ceil(instances / batch_size) >= 1
    run, child = _worst_case()
    assert run < HISTORY_LIMIT // 2, run
    assert child < HISTORY_LIMIT // 2, child


def test_every_create_task_knows_its_place_in_the_run() -> None:
    # The Map hands the task its batch's index and the run's batch size (its log names them),
    # and the task's event model accepts them.
    from lifeboat.models import CreateBatchEvent

    selector = _create_map()["ItemSelector"]
    # every task's payload: state, execution (and whether the rule runs pre and post scripts)
    assert set(selector) == {"state", "execution.$", "has_scripts.$"}
    assert selector["has_scripts.$"] == "$.run.has_scripts"
    assert selector["execution.$"] == "$$.Execution"  # the run's (the child's own has no run)
    batch = selector["state"]
    assert batch["batch_index.$"] == "$$.Map.Item.Index"
    assert batch["batch_size.$"] == "$.run.batch_size"
    fields = {key.removesuffix(".$") for key in batch}
    assert fields <= set(CreateBatchEvent.model_fields)


def test_every_lambda_task_of_the_run_gets_its_state_and_the_execution() -> None:
    processor = _create_map()["ItemProcessor"]["States"]
    assert processor["CreateBatch"]["Parameters"]["Payload.$"] == "$"  # the item is the payload
    backup_tasks = [
        s
        for s in ASL["States"].values()
        if s["Type"] == "Task" and "Backup" in s["Parameters"].get("FunctionName", "")
    ]
    assert len(backup_tasks) == 3
    for state in backup_tasks:
        assert state["Parameters"]["Payload"] == {"state.$": "$", "execution.$": "$$.Execution"}


def test_a_failed_batch_never_fails_the_map() -> None:
    # Finalize records a failed point for each resource of a batch that failed after its
    # retries: the Map must hand every batch on, whatever fails.
    create_map = _create_map()
    assert float(create_map["ToleratedFailurePercentage"]) == 100.0
    task = create_map["ItemProcessor"]["States"]["CreateBatch"]
    assert [c["ErrorEquals"] for c in task["Catch"]] == [["States.ALL"]]
