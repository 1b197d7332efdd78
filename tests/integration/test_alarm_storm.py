"""Alarm storm → one evacuation: four servers of eLearn fail together in us-east-1a; their
four alarms give one evacuation of the application (or, by default, one proposal to the
on-call with the dry-run plan and the command), never four restores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifeboat import executions
from lifeboat.aws.clients import client
from lifeboat.local.bridge import BRIDGE
from lifeboat.local.harness import alarm_state_change
from lifeboat.local.seed_apps import seed_elearn_application
from lifeboat.plans import default_plans
from tests.integration.helpers import run_schedule

pytestmark = pytest.mark.integration
AZ = "us-east-1a"
REASON = "Threshold Crossed: 3 out of the last 3 datapoints [1.0, 1.0, 1.0] >= 1.0"


@pytest.fixture
def four_servers(
    stack: Any, elearn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """eLearn with four servers in us-east-1a (web-1, app-1 and two more), backed up, declared
    as an application."""
    ec2 = client("ec2")
    image = ec2.describe_images(Filters=[{"Name": "name", "Values": ["elearn-lamp-base"]}])
    extra = []
    for name, tier, subnet in (("web-3", "web", "web-a"), ("app-3", "app", "app-a")):
        extra.append(
            ec2.run_instances(
                ImageId=image["Images"][0]["ImageId"],
                InstanceType="t3.medium",
                MinCount=1,
                MaxCount=1,
                SubnetId=elearn.subnets[subnet],
                SecurityGroupIds=[elearn.security_groups[tier]],
                TagSpecifications=[
                    {
                        "ResourceType": "instance",
                        "Tags": [
                            {"Key": "Name", "Value": name},
                            {"Key": "app", "Value": "elearn"},
                            {"Key": "tier", "Value": tier},
                            {"Key": "lifeboat:plan", "Value": "standard"},
                        ],
                    }
                ],
            )["Instances"][0]["InstanceId"]
        )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    assert run_schedule(stack, "daily", now - timedelta(minutes=30))["status"] == "SUCCEEDED"
    assert run_schedule(stack, "hourly", now)["status"] == "SUCCEEDED"
    seeded = seed_elearn_application(elearn)
    plans = default_plans().model_dump(mode="json")
    plans["plans"]["standard"]["applications"] = {"elearn": seeded.application()}
    plans_file = tmp_path / "plans.yaml"
    plans_file.write_text(yaml.safe_dump(plans), encoding="utf-8")
    monkeypatch.setitem(BRIDGE.local_environment, "LIFEBOAT_PLANS_FILE", str(plans_file))
    monkeypatch.setenv("LIFEBOAT_PLANS_FILE", str(plans_file))
    return [elearn.protected_instances["web-1"], elearn.protected_instances["app-1"], *extra]


def _storm(servers: list[str]) -> list[dict[str, Any]]:
    """us-east-1a fails: EC2 reports the four servers impaired, and their alarms fire."""
    for server in servers:
        BRIDGE.impair(server)
    BRIDGE.async_results.clear()
    when = datetime.now(UTC)
    for server in servers:
        alarm_state_change(f"lifeboat-standard-{server}-system", "ALARM", REASON, when)
    BRIDGE.wait_async()
    return [p for n, p, _e in BRIDGE.async_results if n.endswith("AlarmRouterFunction")]


def _restores(stack: Any) -> list[dict[str, Any]]:
    found = client("stepfunctions").list_executions(
        stateMachineArn=stack.outputs["RestoreStateMachineArn"]
    )
    return list(found["executions"])


def _evacuations(stack: Any) -> list[dict[str, Any]]:
    found = client("stepfunctions").list_executions(
        stateMachineArn=stack.outputs["EvacuateStateMachineArn"]
    )
    return list(found["executions"])


def test_a_storm_of_four_servers_is_proposed_once_by_default(
    stack: Any, four_servers: list[str]
) -> None:
    routed = _storm(four_servers)
    assert len(routed) == 4
    # Every alarm of the storm maps to one execution (StartExecution with its name and input
    # is idempotent: alarms routed at the same moment see it as started, later ones as a
    # duplicate).
    assert {r["action"] for r in routed} <= {"evacuation_proposed", "duplicate"}, routed
    assert len({r["execution_arn"] for r in routed}) == 1
    assert len(_evacuations(stack)) == 1
    assert _restores(stack) == []  # no single restore
    proposed = next(r for r in routed if r["action"] == "evacuation_proposed")
    result = executions.wait(proposed["execution_arn"], timeout=120, poll=0.05)
    assert result["status"] == "SUCCEEDED", result
    plan = result["output"]
    assert plan["proposed"] and plan["dry_run"]
    assert plan["command"] == f"lifeboat recover --app elearn --az {AZ}"
    planned = {s["resource_id"] for t in plan["tiers"] for s in t["steps"]}
    assert set(four_servers) <= planned
    # The proposal went to the on-call (SNS), and nothing was launched.
    assert any(
        e.get("type") == "TaskSucceeded"
        and "sns" in str(e.get("taskSucceededEventDetails", {}).get("resourceType", ""))
        for e in executions.HistoryReader(proposed["execution_arn"]).new_events()
    )


def test_a_storm_of_four_servers_gives_one_evacuation_with_auto_evacuate(
    stack: Any, four_servers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BRIDGE.local_environment, "AUTO_EVACUATE", "true")
    routed = _storm(four_servers)
    assert {r["action"] for r in routed} <= {"evacuation_started", "duplicate"}, routed
    assert len({r["execution_arn"] for r in routed}) == 1
    assert len(_evacuations(stack)) == 1
    assert _restores(stack) == []
    started = next(r for r in routed if r["action"] == "evacuation_started")
    result = executions.wait(started["execution_arn"], timeout=240, poll=0.05)
    assert result["status"] == "SUCCEEDED", result
    members = {m["resource_id"]: m for m in result["output"]["members"]}
    assert set(four_servers) <= set(members)
    assert all(members[s]["replacement_id"] for s in four_servers)
    # Counted as one automatic restore: its slot released, the breaker told of a success.
    assert result["output"]["breaker"]["consecutive_failures"] == 0
