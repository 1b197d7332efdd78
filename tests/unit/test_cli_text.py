"""The CLI needs no README at 3 a.m. (issue 23): every command and every option of every command
has help text, and no human output prints ``None`` for a field left empty."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from lifeboat.cli.backup import print_backup_report
from lifeboat.cli.main import build_parser
from lifeboat.cli.restore import describe_plan, describe_result
from lifeboat.cli.restore_oncall import describe_rollback, describe_rows
from lifeboat.restore.listing import RestoreRow
from lifeboat.restore.models import Candidate, DatabasePlan, InstancePlan, VolumePlan
from lifeboat.restore.undo import RollbackResult
from tests.worlds.restore import NOW

pytestmark = pytest.mark.unit


def _parsers(
    parser: argparse.ArgumentParser, path: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                assert helps.get(name), f"{path} {name}: a command without help text"
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_of_every_command_has_help_text() -> None:
    missing = [
        f"{path} {'/'.join(action.option_strings) or action.dest}"
        for path, parser in _parsers(build_parser(), "lifeboat")
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        and (not action.help or action.help == argparse.SUPPRESS)
    ]
    assert missing == []


def test_the_walk_sees_every_command() -> None:
    paths = {path for path, _ in _parsers(build_parser(), "lifeboat")}
    assert {
        "lifeboat restore start",
        "lifeboat restore list",
        "lifeboat restore rollback",
        "lifeboat recovery-points list",
        "lifeboat backup start",
    } <= paths


# --- no None ---------------------------------------------------------------------------------
def _bare_instance_plan(**extra: Any) -> dict[str, Any]:
    """An instance plan with every optional field empty (no key pair, profile, address, …)."""
    return InstancePlan(
        source_id="i-0123456789abcdef0",
        data_taken_at=NOW,
        name="web-1",
        source_az="us-east-1a",
        source_state="gone",
        recovery_point_id="rp-1",
        image_id="ami-0123456789abcdef0",
        image_taken_at=NOW,
        root_device_name=None,
        volumes=[VolumePlan(device_name="/dev/sdf", snapshot_id=None, source="AMI", taken_at=NOW)],
        candidates=[Candidate(availability_zone="us-east-1b", subnet_id="subnet-0123456789")],
        instance_types=["t3.micro"],
        security_group_ids=[],
        tags={},
        **extra,
    ).model_dump(mode="json")


def _bare_db_plan(**extra: Any) -> dict[str, Any]:
    return DatabasePlan(
        source_id="elearn-db",
        data_taken_at=NOW,
        source_az=None,
        recovery_point_id=None,
        snapshot_id=None,
        restore_time=NOW,
        new_identifier="elearn-db-restored-1",
        target_az=None,
        instance_class=None,
        multi_az=False,
        subnet_group=None,
        parameter_group=None,
        security_group_ids=[],
        tags={},
        **extra,
    ).model_dump(mode="json")


def _lines() -> list[tuple[str, list[str]]]:
    region = {"region": "us-west-2", "home_region": None, "copy_of": None, "vpc_id": None}
    result: dict[str, Any] = {
        "resource_id": "elearn-db",
        "replacement_id": "elearn-db-restored-1",
        "availability_zone": None,
        "from_availability_zone": None,
        "recovery_point_id": None,
        "data_taken_at": "2026-11-28T03:00:00Z",
        "rpo_seconds": 60,
        "rto_seconds": 600,
        "cutover": {},
        "endpoint": None,
        "capacity_fallbacks": [],
    }
    row = RestoreRow(
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:m:x",
        name="x",
        trigger="api",
        requested_by="unknown",
        resource_id="i-0123456789abcdef0",
        kind="instance",
        status="running",
        stage="starting",
        started_at=NOW,
        age_seconds=0,
    )
    rollback = RollbackResult(
        execution_arn=row.execution_arn,
        kind="instance",
        resource_id=row.resource_id,
        replacement_id=None,
        status="planned",
        dry_run=True,
        steps=["record"],
    )
    return [
        ("instance plan", describe_plan(_bare_instance_plan())),
        ("database plan", describe_plan(_bare_db_plan())),
        ("instance plan, other region", describe_plan(_bare_instance_plan(**region))),
        ("database plan, other region", describe_plan(_bare_db_plan(**region))),
        ("result", describe_result(result)),
        ("result with an execution", describe_result(result, row.execution_arn)),
        ("restore list", describe_rows([row])),
        ("restore list, finished", describe_rows([row.model_copy(update={"status": "failed"})])),
        ("rollback plan", describe_rollback(rollback)),
        ("rollback done", describe_rollback(rollback.model_copy(update={"dry_run": False}))),
    ]


@pytest.mark.parametrize(("what", "lines"), _lines(), ids=[w for w, _ in _lines()])
def test_no_human_output_prints_none(what: str, lines: list[str]) -> None:
    text = "\n".join(lines)
    assert text and "None" not in text, text


def test_the_backup_report_prints_no_none(capsys: pytest.CaptureFixture[str]) -> None:
    failed = {"resource_id": "i-1", "kind": "ami", "status": "failed"}
    print_backup_report({"output": {"outcomes": [failed]}, "cause": None})
    print_backup_report({"output": {"dry_run": True, "kinds": []}})
    assert "None" not in capsys.readouterr().out


def test_an_age_is_readable() -> None:
    from lifeboat.cli.restore_oncall import age

    assert [age(s) for s in (0, 59, 3600 + 120, int(timedelta(days=1).total_seconds()))] == [
        "0m",
        "0m",
        "1h02m",
        "24h00m",
    ]


def test_a_failure_or_refusal_without_a_cause_prints_no_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lifeboat.cli.common import finish
    from lifeboat.cli.restore import _print_restore, _refused

    args = argparse.Namespace(json=False)
    _print_restore({"status": "FAILED", "error": None, "cause": None})
    _refused(args, {"status": "REFUSED", "error": None, "cause": None})
    finish(args, {"status": "FAILED", "error": "States.Timeout", "cause": None})
    captured = capsys.readouterr()
    assert "None" not in captured.out + captured.err
    assert "RESTORE FAILED" in captured.out and "refused" in captured.err
