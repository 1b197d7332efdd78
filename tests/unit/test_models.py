"""Boundary models: bad input is rejected with the field and the fix, before any change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifeboat.backup import make_run_id
from lifeboat.errors import InvalidInputError
from lifeboat.models import (
    BackupInput,
    BeginTask,
    CheckTask,
    CreateTask,
    FinalizeTask,
    validate_input,
)
from lifeboat.tags import snapshot_identifier
from tests.events import load_event

pytestmark = pytest.mark.unit


def test_sample_events_are_valid() -> None:
    assert validate_input(BackupInput, load_event("backup_scheduled")).scheduled_time is not None
    assert validate_input(BackupInput, load_event("backup_manual")).rule == "hourly"
    assert len(validate_input(CreateTask, load_event("backup_create")).state.resources) == 2


def test_every_backup_task_event_is_its_state_and_the_execution() -> None:
    # The samples are what the ASL's uniform payload ({"state.$": "$", "execution.$":
    # "$$.Execution"}) hands each task; the context object's extra fields are ignored.
    begin = validate_input(BeginTask, load_event("backup_begin"))
    assert begin.state["rule"] == "daily" and begin.execution.name == "manual-example"
    check = validate_input(CheckTask, load_event("backup_check")).request()
    assert (check.run_id, check.attempt) == ("20261127T0245Z-standard-daily", 0)
    final = validate_input(FinalizeTask, load_event("backup_finalize")).request()
    assert final.run_id == check.run_id and final.batches[0]["created"] == 2
    create = validate_input(CreateTask, load_event("backup_create"))
    assert create.execution.start_time.startswith("2026-11-27T02:45")
    with pytest.raises(InvalidInputError) as err:
        validate_input(CheckTask, {**load_event("backup_check"), "execution": {"Id": "x"}})
    assert err.value.field.startswith("execution.")


def test_unknown_field_is_named_with_the_allowed_ones() -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_input(BackupInput, load_event("backup_bad_input"))
    assert err.value.field == "retention_days"
    assert "remove it" in err.value.message and "plan" in err.value.message


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"rule": "daily"}, "plan"),
        ({"plan": "Standard!", "rule": "daily"}, "plan"),
        ({"plan": "standard", "rule": "daily", "dry_run": "perhaps"}, "dry_run"),
        ({"plan": "standard", "rule": "daily", "scheduled_time": "yesterday"}, "scheduled_time"),
    ],
)
def test_bad_values_name_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_input(BackupInput, payload)
    assert err.value.field == field


def test_non_object_input() -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_input(BackupInput, ["standard"])
    assert err.value.field == "input"


def test_scheduled_runs_share_an_id_manual_runs_do_not() -> None:
    start = datetime(2026, 11, 27, 2, 45, 7, tzinfo=UTC)
    scheduled = validate_input(BackupInput, load_event("backup_scheduled"))
    assert make_run_id(scheduled, "a", start) == make_run_id(scheduled, "b", start)
    assert make_run_id(scheduled, "a", start) == "20261127T0245Z-standard-daily"
    manual = validate_input(BackupInput, load_event("backup_manual"))
    assert make_run_id(manual, "a", start) != make_run_id(manual, "b", start)


@pytest.mark.parametrize("source", ["elearn-db", "Elearn_DB", "db--with--dashes", "x" * 300])
def test_rds_snapshot_identifiers_are_valid(source: str) -> None:
    ident = snapshot_identifier("20261127T0245Z-standard-daily", source)
    assert ident[0].isalpha() and "--" not in ident and not ident.endswith("-")
    assert len(ident) <= 255 and ident == ident.lower()
