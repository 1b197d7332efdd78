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


def _create_maps() -> dict[str, dict[str, Any]]:
    """The create step's Maps by their children's execution type."""
    maps = [s for s in ASL["States"].values() if s["Type"] == "Map"]
    by_type = {m["ItemProcessor"]["ProcessorConfig"]["ExecutionType"]: m for m in maps}
    assert len(maps) == 2 and set(by_type) == {"EXPRESS", "STANDARD"}, "two create Maps"
    return by_type


def _create_map() -> dict[str, Any]:
    """The Standard create Map (a rule's scripts; every batch again after a hand-over)."""
    return _create_maps()["STANDARD"]


def _worst_case() -> tuple[int, int]:
    """(events in the run's own history, events in the longest child execution's history)."""
    states = ASL["States"]
    fixed = 2 + sum(
        _task_events(states[n]) for n in ("BeginRun", "SyncAlarms", "Finalize", "Prune")
    )
    fixed += 2 * 5  # choices, passes and the final state
    fixed += 8 + 2  # the Express Map (its children keep no history in the run), its wait-out
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

    maps = _create_maps()
    express_selector = dict(maps["EXPRESS"]["ItemSelector"])
    assert express_selector.pop("express") is True  # its task knows it is in an Express child
    assert express_selector == maps["STANDARD"]["ItemSelector"]
    assert maps["EXPRESS"]["ItemsPath"] == maps["STANDARD"]["ItemsPath"]
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
    for create_map in _create_maps().values():
        processor = create_map["ItemProcessor"]["States"]
        creates = [
            s
            for s in processor.values()
            if s["Type"] == "Task" and "BackupCreateFunction" in s["Parameters"]["FunctionName"]
        ]
        assert creates and all(t["Parameters"]["Payload.$"] == "$" for t in creates)  # the item
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


def test_an_express_child_never_outlives_its_five_minutes_and_hands_over_instead() -> None:
    # An Express child lives at most five minutes (AWS ends it). Its task reserves nothing
    # handed out after the budget and makes no create call after its deadline; the run waits
    # the children out before the Standard Map runs any batch again (never two tasks at once).
    from lifeboat.backup.pace import EXPRESS_CALL_DEADLINE, EXPRESS_LIMIT, EXPRESS_WAIT_BUDGET
    from lifeboat.models import CreateTask

    states = ASL["States"]
    express = _create_maps()["EXPRESS"]
    processor = express["ItemProcessor"]["States"]
    assert EXPRESS_WAIT_BUDGET < EXPRESS_CALL_DEADLINE < EXPRESS_LIMIT == 300
    task = processor["CreateExpressBatch"]
    assert task["TimeoutSeconds"] <= EXPRESS_CALL_DEADLINE
    # the task starts the child, and keeps its first call's moment through its Waits
    assert express["ItemProcessor"]["StartAt"] == "CreateExpressBatch"
    assert task["ResultSelector"]["express_since.$"] == "$.Payload.express_since"
    assert "express" in CreateTask.model_fields
    # whatever ends the child early ends it failed: the Map tolerates no failure ...
    assert float(express.get("ToleratedFailurePercentage", 0.0)) == 0.0
    assert [c["Next"] for c in task["Catch"]] == ["HandOverBatch"]
    assert processor["HandOverBatch"]["Type"] == "Fail"
    handed = processor["ExpressBatchPaced"]["Choices"][0]
    assert (handed["Variable"], handed["Next"]) == ("$.result.handover", "HandOverBatch")
    # ... and the run waits the children out, then runs every batch in the Standard Map
    (catch,) = express["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    wait = states[catch["Next"]]
    assert wait["Seconds"] >= EXPRESS_LIMIT
    assert states[wait["Next"]] is _create_map()
    # a rule with scripts goes straight to the Standard Map; any other to the Express one
    route = states["DuplicateOrDryRun"]
    scripts = [c for c in route["Choices"] if c["Variable"] == "$.run.has_scripts"]
    assert states[scripts[0]["Next"]] is _create_map()
    assert states[route["Default"]] is express
