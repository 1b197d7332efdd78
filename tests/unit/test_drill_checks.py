"""Application-level health checks of drill copies (plans.yaml ``drill.checks``): validated
where they are declared, run with SSM on the copy itself once its status checks pass, and only
then is the copy healthy. A check that keeps failing, or never finishes, by the deadline makes
the resource ``unhealthy`` with the output's tail; the copy is torn down either way. A check
needs the stack's DrillInstanceProfileArn, and only checked copies get it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from lifeboat import drill
from lifeboat.drill.models import DrillInput
from lifeboat.drill.planner import plan_drill
from lifeboat.errors import InvalidInputError
from lifeboat.plans import AppCheck, PlanSet, parse_plans
from tests.fakes.drills import FakeDrills
from tests.fakes.metrics import FakeMetrics
from tests.worlds.drill import PLANS, drill_network, event, make_drill_world, run_drill
from tests.worlds.restore import NOW, World

pytestmark = pytest.mark.unit
PROFILE = "arn:aws:iam::123456789012:instance-profile/lifeboat-drill-ssm"
HTTP = {"http": {"path": "/healthz", "port": 8080, "expect_status": 200}}


def with_checks(checks: dict[str, Any]) -> PlanSet:
    data = PLANS.model_dump()
    data["plans"]["standard"]["drill"]["checks"] = checks
    return PlanSet.model_validate(data)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[World, FakeDrills, FakeMetrics]:
    return make_drill_world(monkeypatch)


# --- declaring a check ------------------------------------------------------------------------
def test_an_http_check_is_a_curl_on_the_copy_itself() -> None:
    check = AppCheck.model_validate(HTTP)
    (command,) = check.commands()
    assert "'http://127.0.0.1:8080/healthz'" in command
    assert "%{http_code}" in command and 'test "$code" = "200"' in command
    ssm = AppCheck.model_validate({"ssm": {"commands": ["systemctl is-active elearn"]}})
    assert ssm.commands() == ["systemctl is-active elearn"]
    assert AppCheck.model_validate({"http": {}}).commands()[0].count("127.0.0.1:80/'") == 1


@pytest.mark.parametrize(
    ("check", "named"),
    [
        ({"http": {"port": 0}}, "checks.web.http.port"),
        ({"http": {"path": "/x'; rm -rf / #"}}, "checks.web.http.path"),
        ({"http": {"path": "healthz"}}, "checks.web.http.path"),
        ({"http": {"expect_status": 99}}, "checks.web.http.expect_status"),
        ({"http": {"url": "http://x"}}, "checks.web.http.url"),
        ({"ssm": {"commands": []}}, "checks.web.ssm.commands"),
        ({**HTTP, "ssm": {"commands": ["true"]}}, "exactly one of 'http' or 'ssm'"),
        ({}, "exactly one of 'http' or 'ssm'"),
        ({**HTTP, "timeout_seconds": 5}, "checks.web.timeout_seconds"),
        ({"tcp": {"port": 80}}, "checks.web.tcp"),
    ],
)
def test_a_bad_check_is_refused_naming_its_field(check: dict[str, Any], named: str) -> None:
    data = PLANS.model_dump()
    data["plans"]["standard"]["drill"]["checks"] = {"web": check}
    with pytest.raises(ValidationError) as caught:
        parse_plans(data)
    assert named in str(caught.value).replace("\n  ", " ").replace("\n", ".")


# --- running it -------------------------------------------------------------------------------
def test_a_copy_is_healthy_once_its_check_passes_and_only_it_gets_the_profile(
    world: Any,
) -> None:
    given, drills, _ = world
    _state, summary = run_drill(
        given, {"plan": "standard"}, plans=with_checks({"web": HTTP}), profile=PROFILE
    )
    assert summary["status"] == "succeeded"
    results = {r["id"]: r for r in summary["resources"]}
    # Status checks pass at the first check (30 s): the check is sent; it is read passed at the
    # second (60 s): that is the RTO.
    assert results[given.web1]["rto_seconds"] == 60.0
    (command,) = drills.commands
    assert "http://127.0.0.1:8080/healthz" in command["commands"][0]
    (launch,) = drills.launches
    assert launch["plan"].iam_instance_profile_arn == PROFILE
    assert drills.dbs and all(d["plan"].new_identifier for d in drills.dbs.values())
    assert drills.live() == {}


def test_tiers_without_a_check_get_no_profile(world: Any) -> None:
    given, _drills, _ = world
    rule = with_checks({"app": HTTP}).plans["standard"].drill
    assert rule is not None
    points = given.catalog.all_points()
    targets, _ = plan_drill(
        DrillInput(plan="standard"), rule, points, drill_network().network(), [], "d", None, PROFILE
    )
    assert all(t.check is None for t in targets)
    assert all(t.instance is None or t.instance.iam_instance_profile_arn is None for t in targets)


def test_a_failing_check_makes_the_copy_unhealthy_with_the_output_s_tail(world: Any) -> None:
    given, drills, metrics = world
    output = "GET http://127.0.0.1:8080/healthz: HTTP 500 (expected 200)"
    drills.app = [{"status": "Failed", "output": "boot noise\n" * 200 + output}]
    _state, summary = run_drill(
        given,
        {"plan": "standard", "resource": given.web1},
        checks=8,
        step=timedelta(minutes=5),
        plans=with_checks({"web": HTTP}),
        profile=PROFILE,
    )
    assert summary["status"] == "failed"
    (result,) = summary["resources"]
    assert result["result"] == "unhealthy" and result["rto_seconds"] is None
    assert "application check" in result["error"] and output in result["error"]
    assert len(result["error"]) < 1000
    assert len(drills.commands) > 1, "a failed run is sent again until the deadline"
    assert drills.live() == {}
    assert not [p for p in metrics.points if p[1] == "DrillRtoSeconds"]


def test_a_check_that_never_finishes_is_unhealthy_at_the_deadline(world: Any) -> None:
    given, drills, _ = world
    drills.app = [{"status": "InProgress"}]
    _state, summary = run_drill(
        given,
        {"plan": "standard", "resource": given.web1},
        checks=10,
        step=timedelta(minutes=5),
        plans=with_checks({"web": HTTP}),
        profile=PROFILE,
    )
    (result,) = summary["resources"]
    assert result["result"] == "unhealthy" and "InProgress" in result["error"]
    assert len(drills.commands) == 1, "not sent again while it runs"
    assert drills.live() == {}


def test_a_check_without_the_stack_s_instance_profile_is_refused(world: Any) -> None:
    given, drills, _ = world
    plans = with_checks({"web": HTTP})
    with pytest.raises(InvalidInputError) as refused:
        drill.begin(event({"plan": "standard"}, "drill-1", {}), plans, given.ports, NOW)
    assert refused.value.field == "DrillInstanceProfileArn"
    assert given.web1 in refused.value.message and "AmazonSSMManagedInstanceCore" in str(
        refused.value
    )
    _state, summary = run_drill(given, {"plan": "standard"}, plans=plans)
    assert summary["status"] == "failed" and "DrillInstanceProfileArn" in summary["error"]
    assert drills.launches == [] and drills.live() == {}


def test_a_copy_whose_ssm_agent_has_not_registered_yet_is_checked_again(world: Any) -> None:
    given, drills, _ = world
    drills.fail["send_check"] = "InvalidInstanceId"
    plans = with_checks({"web": HTTP})
    begun = drill.begin(
        event({"plan": "standard"}, "drill-1", {}), plans, given.ports, NOW, PROFILE
    )
    web = next(t for t in begun.model_dump(mode="json")["resources"] if t["type"] == "instance")
    item: dict[str, Any] = {"target": web}
    launched = drill.launch(event({"plan": "standard"}, "drill-1", item), given.ports, NOW)
    item["launch"] = {"launched": launched.model_dump(mode="json")}
    for n, expected in enumerate(("not registered", "sent", "passed")):
        at = NOW + timedelta(minutes=n + 1)
        health = drill.check(event({"plan": "standard"}, "drill-1", item), given.ports, at)
        item["check"] = {"health": health.model_dump(mode="json")}
        assert expected in health.state and health.healthy is (expected == "passed")
        drills.fail.pop("send_check", None)
