"""The lifeboat CLI against the emulator (the same code path as against a deployed stack)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lifeboat.cli import EXIT_AWS, EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_STACK, main

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

    assert main(["recovery-points", "list", "--json", "--home-only"]) == EXIT_OK
    points = _json(capsys)
    assert len(points) == 4 and {p["status"] for p in points} == {"completed"}
    assert main(["recovery-points", "list", "--json"]) == EXIT_OK  # the copies too
    copies = [p for p in _json(capsys) if p.get("region")]
    assert {p["region"] for p in copies} <= {"us-west-2"}
    assert {p["copy_of"] for p in copies} <= {p["recovery_point_id"] for p in points}

    web1 = elearn.protected_instances["web-1"]
    assert main(["recovery-points", "list", "--resource", web1, "--home-only"]) == EXIT_OK
    listing = capsys.readouterr().out
    assert web1 in listing and "ami-" in listing and "1 recovery point(s)" in listing


def test_backup_failure_exits_non_zero(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.faults import FaultInjector, FaultRule

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


# --- issue 12, item 9: region, one-line errors, refusals -----------------------------------------
def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_region_is_found_as_aws_tools_find_it(
    stack: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from lifeboat.aws.clients import reset_clients

    # The local example (docs/operations/cli.md) exports AWS_REGION only (boto3 reads
    # AWS_DEFAULT_REGION)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    reset_clients()
    assert main(["stack", "outputs", "--json"]) == EXIT_OK
    assert _json(capsys) == stack.outputs
    # the profile's region
    config = tmp_path / "config"
    config.write_text("[profile drill]\nregion = us-east-1\n")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "drill")
    reset_clients()
    assert main(["stack", "outputs", "--json"]) == EXIT_OK
    capsys.readouterr()
    # none at all: one line, exit 4
    monkeypatch.delenv("AWS_PROFILE")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    reset_clients()
    assert main(["stack", "outputs"]) == EXIT_AWS
    assert "no AWS region" in _one_line(capsys.readouterr().err)
    reset_clients()


def test_bad_arns_unknown_executions_bad_polls_and_no_endpoint_are_one_line(
    stack: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifeboat.aws.clients import reset_clients

    assert main(["executions", "show", "not-an-arn"]) == EXIT_INPUT
    assert "not an execution ARN" in _one_line(capsys.readouterr().err)
    unknown = stack.outputs["RestoreStateMachineArn"].replace(":stateMachine:", ":execution:")
    assert main(["executions", "show", f"{unknown}:nobody"]) == EXIT_INPUT
    assert "ExecutionDoesNotExist" in _one_line(capsys.readouterr().err)
    assert main(["executions", "show", f"{unknown}:nobody", "--wait", "--poll", "-1"]) == (
        EXIT_INPUT
    )
    assert "--poll" in _one_line(capsys.readouterr().err)
    assert main(["backup", "start", "--plan", "standard", "--rule", "daily", "--timeout", "nan"])
    assert "--timeout" in _one_line(capsys.readouterr().err)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    reset_clients()
    try:
        assert main(["stack", "outputs"]) == EXIT_AWS
        assert "127.0.0.1:9" in _one_line(capsys.readouterr().err)
    finally:
        monkeypatch.undo()
        reset_clients()


def test_refusals_decided_by_the_state_machine_exit_2_and_fire_no_alarm(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from lifeboat.aws.catalog import Catalog
    from lifeboat.aws.clients import client

    web1 = backed_up.protected_instances["web-1"]
    web2_ami = next(
        p.image_id
        for p in Catalog(stack.outputs["CatalogTableName"]).points_for_resource(
            backed_up.protected_instances["web-2"]
        )
        if p.image_id
    )
    cases = [
        (["--instance", backed_up.other_instances["bastion (untagged)"]], "not protected"),
        (["--instance", web1, "--target-az", "eu-west-1a"], "not an Availability Zone"),
        (["--instance", web1, "--recovery-point", str(web2_ami)], "recovery_point"),
        (["--db", "elearn-db", "--restore-time", "2999-01-01T00:00:00Z"], "restore_time"),
    ]
    for extra, fragment in cases:
        # without --wait the CLI still waits for the validation step's verdict
        assert main(["restore", "start", *extra, "--poll", "0.05"]) == EXIT_INPUT, extra
        captured = capsys.readouterr()
        message = _one_line(captured.err)
        assert message.startswith("refused (InvalidInputError)") and fragment in message
        assert "stackTrace" not in captured.out + captured.err
    assert main(["restore", "start", "--instance", "i-0123456789abcdef0", "--json"]) == EXIT_INPUT
    refused = _json(capsys)
    assert refused["status"] == "REFUSED" and "does not exist" in refused["cause"]
    # a refusal is not a failure: no execution counts in ExecutionsFailed (RestoreFailedAlarm)
    listed = client("stepfunctions").list_executions(
        stateMachineArn=stack.outputs["RestoreStateMachineArn"]
    )["executions"]
    assert len(listed) == 5 and {e["status"] for e in listed} == {"SUCCEEDED"}
    # and a restore that passes validation is reported as started at once
    assert main(["restore", "start", "--instance", web1, "--poll", "0.05"]) == EXIT_OK
    assert "started" in capsys.readouterr().out
