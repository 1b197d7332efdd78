"""The runbooks' dry runs, run as written against the emulator: every ``lifeboat … --dry-run``
command of docs/runbooks/*.md (tests/runbooks.py reads them, so a page merged later is covered),
its placeholders (``i-0abc…``) standing for the seeded eLearn servers, in a world backed up by
both rules and copied to the DR region. Each must succeed (exit 0) and change nothing: no
instance or database appears in either region. A command whose placeholder this world cannot
stand for (``subnet-…``, ``<ARN>``) is still checked by tests/unit/test_runbook_commands.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeboat import executions
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_OK, main
from tests.integration.helpers import run_schedule
from tests.runbooks import resolve, runbook_commands

pytestmark = pytest.mark.integration
REGIONS = ("us-east-1", "us-west-2")


def _world(stack: Any) -> tuple[tuple[str, ...], ...]:
    """What a dry run must not change: the instances and databases of both regions."""
    live = ["pending", "running", "stopping", "stopped"]
    seen = []
    for region in REGIONS:
        reservations = client("ec2", region).describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": live}]
        )["Reservations"]
        seen.append(tuple(sorted(i["InstanceId"] for r in reservations for i in r["Instances"])))
        databases = client("rds", region).describe_db_instances()["DBInstances"]
        seen.append(tuple(sorted(d["DBInstanceIdentifier"] for d in databases)))
    return tuple(seen)


def test_every_runbook_dry_run_succeeds_and_changes_nothing(
    stack: Any,
    elearn: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the eLearn stack backed up by both rules, its daily points copied to the DR region
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    assert run_schedule(stack, "daily", now - timedelta(minutes=30))["status"] == "SUCCEEDED"
    assert run_schedule(stack, "hourly", now)["status"] == "SUCCEEDED"
    sfn = client("stepfunctions")
    copiers = sfn.list_executions(stateMachineArn=stack.outputs["CopierStateMachineArn"])
    for run in copiers["executions"]:
        assert executions.wait(run["executionArn"], timeout=120, poll=0.05)["status"] == "SUCCEEDED"
    _declare_elearn(elearn, tmp_path, monkeypatch)  # lifeboat recover --app elearn …
    web = elearn.protected_instances["web-1"]
    values = {"--instance": web, "--resource": web, "--db": "elearn-db", "--point": "latest"}
    dry_runs = [c for c in runbook_commands() if "--dry-run" in c.argv]
    resolved = [(c, resolve(c, values)) for c in dry_runs]
    runnable = [(c, argv) for c, argv in resolved if argv is not None]
    assert runnable, f"no runbook dry run this world can run: {[str(c) for c in dry_runs]}"
    before = _world(stack)
    # When each runs as written; then it succeeds and nothing appears
    failed = []
    for command, argv in runnable:
        capsys.readouterr()
        code = main(argv)
        out, err = capsys.readouterr()
        if code != EXIT_OK:
            failed.append(f"{command} → exit {code}: {err.strip() or out.strip()[-300:]}")
        assert _world(stack) == before, f"{command} changed something"
    assert not failed, "\n".join(failed)


def _declare_elearn(elearn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """eLearn declared as an application (tags, private zone, plans file), as the runbooks'
    ``lifeboat recover`` commands name it."""
    import yaml

    from lifeboat.local.bridge import BRIDGE
    from lifeboat.local.seed_apps import seed_elearn_application
    from lifeboat.plans import default_plans

    declared = seed_elearn_application(elearn)
    plans = default_plans().model_dump(mode="json")
    plans["plans"]["standard"]["applications"] = {"elearn": declared.application()}
    plans_file = tmp_path / "plans.yaml"
    plans_file.write_text(yaml.safe_dump(plans), encoding="utf-8")
    monkeypatch.setitem(BRIDGE.local_environment, "LIFEBOAT_PLANS_FILE", str(plans_file))
    monkeypatch.setenv("LIFEBOAT_PLANS_FILE", str(plans_file))
