"""The drill's unit-test world: restore_world's eLearn stack (web-1 with a daily AMI and a newer
hourly EBS set, elearn-db with a daily snapshot) plus a drill network in a VPC of its own, and
``run_drill``, which drives the drill's stages as statemachines/drill.asl.json does."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifeboat import drill
from lifeboat import tags as T
from lifeboat.plans import PlanSet
from lifeboat.timeutil import iso
from tests.fakes.drills import FakeDrills
from tests.fakes.metrics import FakeMetrics
from tests.worlds.restore import ARN, NOW, VPC, World, make_world

DRILL_VPC = "vpc-0drill000000000000"
PLANS = PlanSet.model_validate(
    {
        "plans": {
            "standard": {
                "rules": {
                    "daily": {
                        "schedule": "cron(45 2 * * ? *)",
                        "timezone": "Europe/London",
                        "kinds": ["ami", "rds"],
                        "retention": {"daily": 7},
                    },
                    "hourly": {
                        "schedule": "cron(15 * * * ? *)",
                        "timezone": "Europe/London",
                        "kinds": ["ebs"],
                        "retention": {"hourly": 24},
                    },
                },
                "drill": {"schedule": "cron(0 4 ? * SUN *)", "timezone": "Europe/London"},
            }
        }
    }
)


def drill_network() -> FakeDrills:
    def subnet(az: str, tier: str) -> dict[str, Any]:
        return {
            "SubnetId": f"subnet-drill{az[-1]}{tier}",
            "AvailabilityZone": az,
            "VpcId": DRILL_VPC,
            "Tags": [{"Key": T.DRILL_TIER, "Value": tier}],
        }

    return FakeDrills(
        subnets=[subnet("us-east-1a", "web"), subnet("us-east-1b", "web")],
        groups=[
            {
                "GroupId": "sg-drillweb",
                "VpcId": DRILL_VPC,
                "Tags": [{"Key": T.DRILL_TIER, "Value": "web"}],
            },
            {
                "GroupId": "sg-drilldb",
                "VpcId": DRILL_VPC,
                "Tags": [{"Key": T.DRILL_TIER, "Value": "db"}],
            },
        ],
        clock=lambda: NOW,
    )


def make_drill_world(monkeypatch: pytest.MonkeyPatch) -> tuple[World, FakeDrills, FakeMetrics]:
    given = make_world(monkeypatch)
    drills = drill_network()
    # Production as DescribeInstances shows it: web-1 in the eLearn VPC, its subnet and group.
    given.ec2.instances[given.web1].update(
        VpcId=VPC, SubnetId="subnet-aaaaaaaaw", SecurityGroups=[{"GroupId": "sg-0123456789abcdef0"}]
    )
    drills.protected = given.ec2.instances
    # What is protected now, as a backup run discovers it: the same instances.
    given.ports.ec2.instances = given.ec2.instances  # type: ignore[attr-defined]
    metrics = FakeMetrics()
    given.ports.drills = drills
    given.ports.cluster_drills = drills
    given.ports.metrics = metrics
    return given, drills, metrics


def event(payload: dict[str, Any], name: str, state: dict[str, Any]) -> drill.DrillTaskEvent:
    return drill.DrillTaskEvent.model_validate(
        {
            "state": state,
            "execution": {"Id": ARN + name, "Name": name, "StartTime": iso(NOW), "Input": payload},
        }
    )


def _error(exc: Exception) -> dict[str, str]:
    return {"Error": type(exc).__name__, "Cause": str(exc)}


def run_drill(
    world: World,
    payload: dict[str, Any],
    name: str = "drill-1",
    checks: int = 3,
    *,
    plans: PlanSet = PLANS,
    profile: str = "",
    step: timedelta = timedelta(seconds=30),
    during: Callable[[datetime], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state machine's paths: PlanDrill (Catch → FinishDrill), per resource Launch → Check
    loop every ``step`` (Catch → TearDown) → TearDown (Catch → a failed result), then
    FinishDrill. ``during(at)`` runs before each check (a prune, a fault); ``profile`` is the
    stack's DrillInstanceProfileArn."""
    ports = world.ports
    state: dict[str, Any] = {}
    try:
        begun = drill.begin(event(payload, name, {}), plans, ports, NOW, profile)
        state["begin"] = {"plan": begun.model_dump(mode="json")}
    except Exception as exc:  # noqa: BLE001 (Catch States.ALL)
        state["error"] = _error(exc)
    else:
        results = []
        for target in state["begin"]["plan"]["resources"]:
            item: dict[str, Any] = {"target": target}
            try:
                launched = drill.launch(event(payload, name, item), ports, NOW)
                item["launch"] = {"launched": launched.model_dump(mode="json")}
                for n in range(checks):
                    at = NOW + step * (n + 1)
                    if during is not None:
                        during(at)
                    health = drill.check(event(payload, name, item), ports, at)
                    item["check"] = {"health": health.model_dump(mode="json")}
                    if health.healthy or health.deadline_passed:
                        break
            except Exception as exc:  # noqa: BLE001
                item["error"] = _error(exc)
            try:
                result = drill.tear_down_resource(event(payload, name, item), ports)
                results.append(result.model_dump(mode="json"))
            except Exception:  # noqa: BLE001
                results.append({"id": target["id"], "type": target["type"], "result": "failed"})
        state["results"] = results
    summary = drill.finish(event(payload, name, state), ports, NOW + timedelta(minutes=10))
    return state, summary


def production(world: World) -> Any:
    return copy.deepcopy((world.ec2.instances, world.ec2.eips, world.ec2.groups))
