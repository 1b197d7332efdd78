"""Pre and post scripts through the real backup ASL (moto's engine) and the real handlers, SSM
answered by local mode's gap-fills (lifeboat.local.ssm_gapfill)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifeboat.aws.catalog import Catalog
from lifeboat.local.bridge import BRIDGE
from lifeboat.plans import default_plans
from tests.faults import RequestRecorder
from tests.integration.helpers import run_schedule

pytestmark = pytest.mark.integration

PRE, POST = "/usr/local/bin/db-freeze", "/usr/local/bin/db-thaw"


@pytest.fixture
def faults() -> Iterator[Any]:
    BRIDGE.ssm_faults.clear()
    yield BRIDGE.ssm_faults
    BRIDGE.ssm_faults.clear()


def _with_scripts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    on_pre_failure: str = "crash-consistent",
    rule: str = "hourly",
) -> None:
    plans = default_plans().model_dump(mode="json", exclude_none=True)
    plans["plans"]["standard"]["rules"][rule]["scripts"] = {
        "pre": [PRE],
        "post": [POST],
        "timeout_seconds": 30,
        "on_pre_failure": on_pre_failure,
    }
    path = tmp_path / "plans.yaml"
    path.write_text(yaml.safe_dump(plans), encoding="utf-8")
    monkeypatch.setitem(BRIDGE.local_environment, "LIFEBOAT_PLANS_FILE", str(path))


def _points(stack: Any, run_id: str) -> dict[str, Any]:
    found = Catalog(stack.outputs["CatalogTableName"]).points_for_run(run_id)
    return {p.source_id: p for p in found}


def _order(sent: RequestRecorder) -> list[str]:
    """SendCommand (pre or post, by its command) and CreateSnapshots, in the order made."""
    out = []
    for name, params in sent.calls:
        if name == "SendCommand":
            commands = params["Parameters"]["commands"]
            out.append("pre" if commands == [PRE] else "post" if commands == [POST] else "?")
        else:
            out.append("create")
    return out


def test_scripts_run_in_order_around_the_create_call_and_points_are_application_consistent(
    stack: Any, elearn: Any, faults: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_scripts(tmp_path, monkeypatch)
    with RequestRecorder("SendCommand", "CreateSnapshots") as sent:
        result = run_schedule(stack, "hourly")
    assert result["status"] == "SUCCEEDED", result
    # One pre command for the batch's three instances, their three snapshot sets, one post.
    assert _order(sent) == ["pre", "create", "create", "create", "post"]
    (pre, post) = sent.requests("SendCommand")
    protected = set(elearn.protected_instances.values())
    assert set(pre["InstanceIds"]) == protected == set(post["InstanceIds"])
    assert pre["DocumentName"] == "AWS-RunShellScript"
    assert pre["Parameters"]["executionTimeout"] == ["30"]
    points = _points(stack, result["output"]["run_id"])
    assert {p.consistency for p in points.values()} == {"application"}
    assert all(p.consistency_reason for p in points.values())
    outcomes = result["output"]["outcomes"]
    assert {o["consistency"] for o in outcomes} == {"application"}


def test_a_failed_pre_script_falls_back_to_crash_consistent_and_is_notified(
    stack: Any, elearn: Any, faults: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_scripts(tmp_path, monkeypatch, "crash-consistent")
    web1 = elearn.protected_instances["web-1"]
    faults.set_outcome(web1, "Failed", when=PRE)
    with RequestRecorder("SendCommand", "CreateSnapshots", "Publish") as sent:
        result = run_schedule(stack, "hourly")
    assert result["status"] == "SUCCEEDED", result
    points = _points(stack, result["output"]["run_id"])
    assert points[web1].consistency == "crash" and points[web1].status.value == "completed"
    assert "pre script Failed" in (points[web1].consistency_reason or "")
    others = [p for i, p in points.items() if i != web1]
    assert {p.consistency for p in others} == {"application"}
    # The post script still ran on web-1 (the pre script was sent to it).
    (_pre, post) = sent.requests("SendCommand")
    assert web1 in post["InstanceIds"]
    (notice,) = [p for p in sent.requests("Publish") if "scripts did not succeed" in p["Subject"]]
    assert web1 in notice["Message"]


def test_skip_gives_the_instance_no_point_this_run(
    stack: Any, elearn: Any, faults: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_scripts(tmp_path, monkeypatch, "skip")
    web1 = elearn.protected_instances["web-1"]
    faults.set_outcome(web1, "TimedOut", when=PRE)
    with RequestRecorder("SendCommand", "CreateSnapshots") as sent:
        result = run_schedule(stack, "hourly")
    # A skipped instance is a failed point with a clear reason: the run says so.
    assert result["status"] == "FAILED"
    created = {r["InstanceSpecification"]["InstanceId"] for r in sent.requests("CreateSnapshots")}
    assert web1 not in created and len(created) == 2
    points = _points(stack, next(iter(_runs(stack))))
    assert points[web1].status.value == "failed" and points[web1].artifact_ids() == []
    assert (points[web1].error or "").startswith("SkippedByScripts: pre script TimedOut")
    assert web1 in sent.requests("SendCommand")[-1]["InstanceIds"]  # post still sent


def _runs(stack: Any) -> list[str]:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    return sorted({p.run_id for p in catalog.all_points()})


def test_an_instance_without_an_ssm_agent_follows_on_pre_failure(
    stack: Any, elearn: Any, faults: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_scripts(tmp_path, monkeypatch, "crash-consistent")
    app1 = elearn.protected_instances["app-1"]
    faults.set_offline(app1)
    with RequestRecorder("SendCommand", "Publish") as sent:
        result = run_schedule(stack, "hourly")
    assert result["status"] == "SUCCEEDED", result
    points = _points(stack, result["output"]["run_id"])
    assert points[app1].consistency == "crash"
    assert "no online SSM agent" in (points[app1].consistency_reason or "")
    # Nothing was sent to it, before or after.
    assert all(app1 not in r["InstanceIds"] for r in sent.requests("SendCommand"))
    assert any(app1 in p["Message"] for p in sent.requests("Publish"))


class _Timedout(Exception):
    """What Lambda reports when a function runs past its time-out."""


_Timedout.__name__ = "Sandbox.Timedout"


@pytest.mark.parametrize("error", [RuntimeError, _Timedout], ids=["failed", "timed-out"])
def test_the_post_script_runs_when_the_create_task_fails_or_times_out(
    stack: Any,
    elearn: Any,
    faults: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: type[Exception],
) -> None:
    _with_scripts(tmp_path, monkeypatch)
    from lifeboat.backup import create

    def dies(*_args: Any, **_kwargs: Any) -> Any:
        raise error("the create task died")

    monkeypatch.setattr(create, "_create_for_instances", dies)
    with RequestRecorder("SendCommand") as sent:
        result = run_schedule(stack, "hourly")
    assert result["status"] == "FAILED"
    phases = [r["Parameters"]["commands"] for r in sent.requests("SendCommand")]
    assert phases == [[PRE], [POST]]
    # The batch ended failed: each instance has a failed point.
    points = _points(stack, _runs(stack)[0])
    assert {p.status.value for p in points.values()} == {"failed"}


def test_the_post_script_runs_when_a_pre_script_never_answers(
    stack: Any, elearn: Any, faults: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_scripts(tmp_path, monkeypatch)
    web2 = elearn.protected_instances["web-2"]
    faults.set_outcome(web2, "InProgress", when=PRE)  # the agent never reports back
    with RequestRecorder("SendCommand") as sent:
        result = run_schedule(stack, "hourly")
    assert result["status"] == "SUCCEEDED", result
    points = _points(stack, result["output"]["run_id"])
    assert points[web2].consistency == "crash"
    assert "TimedOut" in (points[web2].consistency_reason or "")
    assert web2 in sent.requests("SendCommand")[-1]["InstanceIds"]
    assert len(sent.requests("SendCommand")) == 2  # one pre, one post: no resend


def test_a_failed_post_script_downgrades_the_point_to_crash_consistent(
    stack: Any, elearn: Any, faults: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_scripts(tmp_path, monkeypatch)
    web1 = elearn.protected_instances["web-1"]
    faults.set_outcome(web1, "Failed", when=POST)  # e.g. the recipe's timer released first
    result = run_schedule(stack, "hourly")
    assert result["status"] == "SUCCEEDED", result
    points = _points(stack, result["output"]["run_id"])
    assert points[web1].consistency == "crash"
    assert "post script Failed" in (points[web1].consistency_reason or "")
    assert {p.consistency for i, p in points.items() if i != web1} == {"application"}


def test_a_failed_pre_step_still_backs_up_and_still_runs_the_post_script(
    stack: Any, elearn: Any, faults: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_scripts(tmp_path, monkeypatch)
    from lifeboat.scripts import steps

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the pre step died")

    monkeypatch.setattr(steps, "start_pre", broken)
    with RequestRecorder("SendCommand", "Publish") as sent:
        result = run_schedule(stack, "hourly")
    assert result["status"] == "SUCCEEDED", result
    points = _points(stack, result["output"]["run_id"])
    assert {p.consistency for p in points.values()} == {"crash"}
    assert all(
        "pre-script step failed (RuntimeError)" in (p.consistency_reason or "")
        for p in points.values()
    )
    # Nothing recorded what the pre step reached: the post script goes to every online agent.
    (post,) = sent.requests("SendCommand")
    assert post["Parameters"]["commands"] == [POST]
    assert set(post["InstanceIds"]) == set(elearn.protected_instances.values())
    assert any("scripts did not succeed" in p["Subject"] for p in sent.requests("Publish"))


def test_the_daily_ami_rule_runs_its_scripts_around_create_image(
    stack: Any, elearn: Any, faults: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_scripts(tmp_path, monkeypatch, rule="daily")
    with RequestRecorder("SendCommand", "CreateImage", "CreateDBSnapshot") as sent:
        result = run_schedule(stack, "daily")
    assert result["status"] == "SUCCEEDED", result
    order = [
        name if name != "SendCommand" else params["Parameters"]["commands"][0]
        for name, params in sent.calls
        if name != "CreateDBSnapshot"
    ]
    assert order == [PRE, "CreateImage", "CreateImage", "CreateImage", POST]
    outcomes = {o["resource_id"]: o for o in result["output"]["outcomes"]}
    protected = set(elearn.protected_instances.values())
    assert {outcomes[i]["consistency"] for i in protected} == {"application"}
    # The database's snapshot is RDS's own: no consistency of Lifeboat's making, no script.
    assert "consistency" not in outcomes["elearn-db"]
