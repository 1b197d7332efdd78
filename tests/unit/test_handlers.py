"""Handlers are thin: they validate the event and reject bad input before any AWS call."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lifeboat.errors import InvalidInputError
from tests.events import load_event

pytestmark = pytest.mark.unit
FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def _handler(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"handler_{name}", FUNCTIONS / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name", sorted(p.name for p in FUNCTIONS.iterdir() if (p / "app.py").exists())
)
def test_handlers_are_thin(name: str) -> None:
    source = (FUNCTIONS / name / "app.py").read_text(encoding="utf-8")
    assert "boto3" not in source and "os.environ" not in source
    assert len([line for line in source.splitlines() if line.strip()]) <= 25
    assert "validate_input(" in source


def _with_state(name: str, **state: Any) -> dict[str, Any]:
    """The sample event of ``name`` with ``state``'s fields changed (or, alone, the state)."""
    event = load_event(name)
    if name == "backup_begin":
        return {**event, "state": state}
    return {**event, "state": {**event["state"], **state}}


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("backup_create", _with_state("backup_create", resources="all")),
        ("backup_check", {"state": {"poll": {"attempt": 0}}}),
        ("backup_check", _with_state("backup_check", run={"run_id": "../x"})),
        ("backup_finalize", {**load_event("backup_finalize"), "extra": True}),
        ("backup_begin", _with_state("backup_begin", plan="standard")),
        ("backup_begin", {"state": load_event("backup_begin")["state"]}),
        ("backup_scripts", {**load_event("backup_scripts"), "phase": "freeze"}),
        ("backup_scripts", {"phase": "pre", "task": {"state": {"run_id": "../x"}}}),
        ("volume_restore", {**load_event("volume_restore"), "action": "detach-everything"}),
        ("volume_restore", _with_state("volume_restore", device="/dev/sda")),
        ("volume_restore", _with_state("volume_restore", instance_id="web-1")),
        ("volume_restore", _with_state("volume_restore", dry_run=True, extra=1)),
    ],
)
def test_bad_events_are_rejected_by_the_handler(
    name: str, event: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "LifeboatTest")
    with pytest.raises(InvalidInputError):
        _handler(name).lambda_handler(event, lambda_context)
