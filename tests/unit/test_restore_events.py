"""One event shape for every restore task: the ASL gives each Lambda Task the whole state and
the execution's context object, puts each result at a ResultPath the ``RestoreState`` model
reads, and the sample events (``events/restore_*.json``) parse as that model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lifeboat.restore.models import MissingStageError, RestoreState, TaskEvent
from tests.events import load_event

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachines" / "restore.asl.json").read_text(encoding="utf-8"))
TASKS = {
    name: state
    for name, state in ASL["States"].items()
    if state.get("Resource") == "arn:aws:states:::lambda:invoke"
}
SAMPLES = {
    "begin": [],
    "launch": ["begin"],
    "check": ["begin", "launch"],
    "cutover": ["begin", "launch", "check"],
    "finish": ["begin", "launch", "check", "cut_over"],
    "abort": ["begin", "launch", "error"],
}


def test_every_lambda_task_receives_the_state_and_the_execution() -> None:
    assert set(TASKS) == {"ValidateAndPlan", "Launch", "CheckHealth", "CutOver", "Finish", "Abort"}
    for name, task in TASKS.items():
        payload = task["Parameters"]["Payload"]
        assert payload == {"state.$": "$", "execution.$": "$$.Execution"}, name


def test_results_land_where_the_state_model_reads_them() -> None:
    expected = {
        "ValidateAndPlan": ("begin", "plan"),
        "Launch": ("launch", "launched"),
        "CheckHealth": ("check", "health"),
        "CutOver": ("cut_over", "cutover"),
    }
    for name, (stage, key) in expected.items():
        assert TASKS[name]["ResultPath"] == f"$.{stage}", name
        assert TASKS[name]["ResultSelector"] == {f"{key}.$": "$.Payload"}, name
        assert stage in RestoreState.model_fields
    # the health loop replaces its one result (the history does not grow with the polls)
    assert ASL["States"]["IsHealthy"]["Choices"][0]["Variable"] == "$.check.health.healthy"
    assert ASL["States"]["WaitHealthy"]["SecondsPath"] == "$.check.health.wait_seconds"
    assert "Prepare" not in ASL["States"] and "KeepHealth" not in ASL["States"]


@pytest.mark.parametrize(("name", "stages"), sorted(SAMPLES.items()))
def test_the_sample_events_parse_once(name: str, stages: list[str]) -> None:
    event = TaskEvent.model_validate(load_event(f"restore_{name}"))
    assert event.request().instance_id == "i-0123456789abcdef0"
    present = {k for k, v in event.state.model_dump().items() if v is not None}
    assert present == set(stages)
    if "launch" in stages:
        assert event.plan().kind == event.launched().kind == "instance"


def test_a_missing_stage_is_named() -> None:
    event = TaskEvent.model_validate(load_event("restore_begin"))
    with pytest.raises(MissingStageError) as missing:
        event.launched()
    assert missing.value.field == "state.launch"
    assert event.attempt == 0


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"state": {}}, "execution"),
        ({"execution": {"Id": "arn:aws:states:x", "Name": "n"}}, "execution.StartTime"),
        ({**load_event("restore_check"), "extra": 1}, "extra"),
        (
            {**load_event("restore_check"), "state": {"begin": {"plan": {"kind": "vm"}}}},
            "state.begin.plan",
        ),
    ],
)
def test_bad_task_events_are_rejected_naming_the_field(event: dict[str, Any], field: str) -> None:
    from lifeboat.errors import InvalidInputError
    from lifeboat.models import validate_input

    with pytest.raises(InvalidInputError) as bad:
        validate_input(TaskEvent, event)
    assert bad.value.field.startswith(field)
