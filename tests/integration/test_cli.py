"""The lifeboat CLI against the emulator (the same code path as against a deployed stack)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lifeboat.cli import EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_STACK, main

pytestmark = pytest.mark.integration


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_stack_outputs(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "outputs", "--json"]) == EXIT_OK
    outputs = _json(capsys)
    assert outputs == stack.outputs and "BackupStateMachineArn" in outputs


def test_missing_stack_is_explained(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "outputs", "--stack", "nope"]) == EXIT_STACK
    assert "lifeboat local serve" in capsys.readouterr().err


def test_backup_start_wait_then_list(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["backup", "start", "--plan", "standard", "--rule", "daily", "--wait", "--poll", "0.05"]
    )
    text = capsys.readouterr().out
    assert code == EXIT_OK
    assert "→ CreateRecoveryPoints" in text and "elearn-db" in text and "status: SUCCEEDED" in text

    assert main(["recovery-points", "list", "--json"]) == EXIT_OK
    points = _json(capsys)
    assert len(points) == 4 and {p["status"] for p in points} == {"completed"}

    web1 = elearn.protected_instances["web-1"]
    assert main(["recovery-points", "list", "--resource", web1]) == EXIT_OK
    listing = capsys.readouterr().out
    assert web1 in listing and "ami-" in listing and "1 recovery point(s)" in listing


def test_backup_failure_exits_non_zero(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from lifeboat.faults import FaultInjector, FaultRule

    with FaultInjector([FaultRule("CreateDBSnapshot", "InvalidDBInstanceState", times=99)]):
        code = main(
            [
                "backup",
                "start",
                "--plan",
                "standard",
                "--rule",
                "daily",
                "--wait",
                "--json",
                "--poll",
                "0.05",
            ]
        )
    result = _json(capsys)
    assert code == EXIT_FAILED and result["status"] == "FAILED" and "elearn-db" in result["cause"]


def test_bad_input_rejected_before_starting(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backup", "start", "--plan", "gold", "--rule", "daily"]) == EXIT_INPUT
    assert "plan: unknown plan 'gold'" in capsys.readouterr().err
    assert main(["backup", "start", "--plan", "standard", "--rule", "weekly"]) == EXIT_INPUT


def test_dry_run_and_executions_show(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["backup", "start", "--plan", "standard", "--rule", "hourly", "--dry-run", "--json"])
        == EXIT_OK
    )
    started = _json(capsys)
    assert (
        main(["executions", "show", started["execution_arn"], "--wait", "--poll", "0.05"])
        == EXIT_OK
    )
    text = capsys.readouterr().out
    assert "status: SUCCEEDED" in text
    assert main(["executions", "show", started["execution_arn"], "--json"]) == EXIT_OK
    shown = _json(capsys)
    assert shown["output"]["dry_run"] is True and shown["output"]["resource_count"] == 3
