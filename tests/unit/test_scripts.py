"""Pre and post scripts on the fakes: the plans shape, the steps the backup machine runs, the
consistency each instance's points get, and the IAM grant of the plans' documents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifeboat.backup import create_batch
from lifeboat.models import CreateBatchEvent, ExecutionContext, ResourceRef
from lifeboat.observability import metrics
from lifeboat.plans import PlanSet, default_plans, parse_plans
from lifeboat.scripts.models import ScriptsState
from lifeboat.scripts.steps import (
    ScriptsEvent,
    ScriptsTask,
    decisions,
    rule_scripts,
    run_step,
)
from tests.fakes import FakeCatalog, FakeEc2
from tests.fakes.notifier import FakeNotifier
from tests.fakes.ports import fake_ports
from tests.fakes.scripts import FakeScripts

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 5, 9, 15, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _plans(scripts: dict[str, Any] | None, kinds: tuple[str, ...] = ("ebs",)) -> PlanSet:
    rule: dict[str, Any] = {
        "schedule": "cron(15 * * * ? *)",
        "timezone": "UTC",
        "kinds": list(kinds),
        "retention": {"hourly": 24},
    }
    if scripts is not None:
        rule["scripts"] = scripts
    return parse_plans({"plans": {"standard": {"rules": {"hourly": rule}}}})


SCRIPTS = {"pre": ["db-freeze"], "post": ["db-thaw"], "timeout_seconds": 60}


# --- the plans shape -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scripts", "kinds", "says"),
    [
        ({"pre": ["a"], "document": "MyDoc"}, ("ebs",), "either document"),
        ({"post": ["b"]}, ("ebs",), "give pre"),
        ({"document": "AWS-RunShellScript"}, ("ebs",), "not the name of one of your"),
        ({"pre": ["a"], "on_pre_failure": "ignore"}, ("ebs",), "on_pre_failure"),
        ({"pre": ["a"], "timeout_seconds": 5}, ("ebs",), "timeout_seconds"),
        ({"pre": ["a"], "pre_script": "x"}, ("ebs",), "pre_script"),
        ({"pre": ["a"]}, ("rds",), "add kind ami or ebs"),
    ],
)
def test_bad_scripts_are_refused_naming_the_field(
    scripts: dict[str, Any], kinds: tuple[str, ...], says: str
) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        _plans(scripts, kinds)
    assert "scripts" in str(caught.value)


def test_the_contract_shape_parses_with_its_defaults() -> None:
    (_rule, scripts) = rule_scripts(
        _plans({"pre": ["/usr/local/bin/db-freeze"], "post": ["/usr/local/bin/db-thaw"]}),
        CreateBatchEvent(run_id="r1", plan="standard", rule="hourly", resources=[]),
    )
    assert scripts is not None
    assert (scripts.timeout_seconds, scripts.on_pre_failure) == (60, "crash-consistent")
    assert scripts.parameters("pre") == (
        "AWS-RunShellScript",
        {"commands": ["/usr/local/bin/db-freeze"], "executionTimeout": ["60"]},
    )
    documented = _plans({"document": "MyFreezeDocument", "on_pre_failure": "skip"})
    (_rule, doc) = rule_scripts(
        documented, CreateBatchEvent(run_id="r", plan="standard", rule="hourly", resources=[])
    )
    assert doc is not None and doc.parameters("post") == (
        "MyFreezeDocument",
        {"command": ["post-script"]},
    )


# --- the steps -------------------------------------------------------------------------------
EXECUTION = ExecutionContext(
    id="arn:aws:states:us-east-1:123456789012:execution:lifeboat-backup:e1",
    name="e1",
    start_time="2026-12-05T09:15:00Z",
)


class Batch:
    def __init__(self, n: int, scripts: dict[str, Any] | None = None) -> None:
        self.plans = _plans(scripts or SCRIPTS)
        self.ids = [f"i-{k:017x}" for k in range(1, n + 1)]
        self.event = CreateBatchEvent(
            run_id="20261205T0915Z-standard-hourly",
            plan="standard",
            rule="hourly",
            resources=[ResourceRef(type="instance", id=i) for i in self.ids],
        )
        self.ssm = FakeScripts()
        self.notifier = FakeNotifier()
        self.ports = fake_ports(scripts=self.ssm, notifier=self.notifier)

    def step(
        self, phase: str, scripts: dict[str, Any] | None = None, **more: Any
    ) -> dict[str, Any]:
        task = {"state": self.event.model_dump(), "execution": EXECUTION.model_dump(by_alias=True)}
        if scripts is not None:
            task["scripts"] = scripts
        event = ScriptsEvent.model_validate({"phase": phase, "task": {**task, **more}})
        return run_step(event, self.plans, self.ports)

    def task(self, scripts: dict[str, Any] | None, **more: Any) -> ScriptsTask:
        return ScriptsTask.model_validate(
            {
                "state": self.event.model_dump(),
                "execution": EXECUTION.model_dump(by_alias=True),
                "scripts": scripts,
                **more,
            }
        )


def test_pre_goes_to_online_agents_only_fifty_per_command() -> None:
    batch = Batch(120)
    batch.ssm.offline = {batch.ids[0]}
    sent = batch.step("pre")
    assert sent["active"] and sent["phase"] == "pre" and sent["pending"] == 119
    assert [len(c["instances"]) for c in batch.ssm.sent] == [50, 50, 19]
    assert sent["offline"] == [batch.ids[0]] and len(sent["commands"]) == 3


def test_a_check_settles_results_and_times_out_what_never_answers() -> None:
    batch = Batch(3)
    batch.ssm.outcomes = {batch.ids[1]: "Failed", batch.ids[2]: "InProgress"}
    state = batch.step("pre")
    checked = batch.step("check", state)
    assert checked["pending"] == 1 and checked["attempt"] == 1
    assert checked["results"][batch.ids[1]] == "Failed"
    # The step's own bound: past timeout_seconds (plus delivery), InProgress counts as TimedOut.
    while checked["pending"]:
        checked = batch.step("check", checked)
        assert checked["attempt"] <= checked["max_attempts"]
    assert checked["results"] == {
        batch.ids[0]: "Success",
        batch.ids[1]: "Failed",
        batch.ids[2]: "TimedOut",
    }


def test_decisions_application_crash_or_skip_with_the_reason() -> None:
    for policy, skip in (("crash-consistent", False), ("skip", True)):
        batch = Batch(3, {**SCRIPTS, "on_pre_failure": policy})
        batch.ssm.outcomes = {batch.ids[1]: "Failed"}
        batch.ssm.offline = {batch.ids[2]}
        state = ScriptsState.model_validate(batch.step("check", batch.step("pre")))
        _rule, scripts = rule_scripts(batch.plans, batch.event)
        found = decisions(batch.event, scripts, state)
        assert found[batch.ids[0]].consistency == "application" and not found[batch.ids[0]].skip
        assert found[batch.ids[1]].consistency == "crash" and found[batch.ids[1]].skip is skip
        assert "pre script Failed" in found[batch.ids[1]].reason
        assert "no online SSM agent" in found[batch.ids[2]].reason
        assert found[batch.ids[2]].skip is skip


def test_a_failed_pre_step_makes_every_instance_follow_on_pre_failure() -> None:
    batch = Batch(2)
    _rule, scripts = rule_scripts(batch.plans, batch.event)
    found = decisions(batch.event, scripts, None, {"Error": "Lambda.Unknown", "Cause": "x"})
    assert {d.consistency for d in found.values()} == {"crash"}
    assert all("pre-script step failed (Lambda.Unknown)" in d.reason for d in found.values())


def test_post_goes_where_pre_went_or_to_every_online_agent_when_pre_failed() -> None:
    batch = Batch(3)
    batch.ssm.offline = {batch.ids[2]}
    pre = batch.step("check", batch.step("pre"))
    post = batch.step("post", pre, result={"created": 3}, error={"Error": "States.Timeout"})
    assert post["phase"] == "post" and post["pending"] == 2
    assert batch.ssm.sent[-1]["instances"] == batch.ids[:2]
    assert batch.ssm.sent[-1]["parameters"]["commands"] == ["db-thaw"]
    # The pre step itself failed (nothing recorded): post to every online instance.
    fresh = Batch(3)
    fresh.ssm.offline = {fresh.ids[0]}
    fresh.step("post", None, scripts_error={"Error": "Lambda.Unknown"})
    assert fresh.ssm.sent[-1]["instances"] == fresh.ids[1:]


def test_a_settled_post_phase_notifies_failures_once() -> None:
    batch = Batch(2)
    batch.ssm.outcomes = {batch.ids[1]: "Failed"}
    pre = batch.step("check", batch.step("pre"))
    post = batch.step("post", pre)
    done = batch.step("check", post)
    assert done["phase"] == "done" and done["post_results"][batch.ids[1]] == "Failed"
    ((subject, body),) = batch.notifier.sent
    assert "scripts did not succeed on 1 instance(s)" in subject
    assert batch.ids[1] in body["pre_script"] and batch.ids[1] in body["post_script"]


def test_a_rule_without_scripts_runs_no_step() -> None:
    batch = Batch(2)
    batch.plans = _plans(None)
    found = batch.step("pre")
    assert (found["active"], found["phase"], found["pending"]) == (False, "done", 0)
    assert batch.ssm.sent == []


# --- the create call -------------------------------------------------------------------------
def test_points_record_consistency_and_skip_records_a_clear_failure() -> None:
    ec2, catalog = FakeEc2(clock=lambda: NOW), FakeCatalog()
    ports = fake_ports(ec2=ec2, catalog=catalog)
    ids = [ec2.add_instance("standard") for _ in range(3)]
    plans = _plans({**SCRIPTS, "on_pre_failure": "skip"})
    event = CreateBatchEvent(
        run_id="r-1",
        plan="standard",
        rule="hourly",
        resources=[ResourceRef(type="instance", id=i) for i in ids],
    )
    catalog.claim_run("r-1", "exec", {"plan": "standard", "rule": "hourly"})
    state = ScriptsState(
        active=True, sent=ids[:2], offline=[ids[2]], results={ids[0]: "Success", ids[1]: "Failed"}
    )
    _rule, scripts = rule_scripts(plans, event)
    counts = create_batch(event, plans, ports, NOW, decisions(event, scripts, state))
    metrics.clear_metrics()
    assert counts["created"] == 1 and counts["failed"] == 2
    points = {p.source_id: p for p in catalog.points_for_run("r-1")}
    assert points[ids[0]].consistency == "application"
    assert points[ids[1]].status.value == "failed" and points[ids[1]].artifact_ids() == []
    assert (points[ids[1]].error or "").startswith("SkippedByScripts: pre script Failed")
    assert "no online SSM agent" in (points[ids[2]].consistency_reason or "")


# --- IAM ---------------------------------------------------------------------------------------
def test_the_template_grants_send_command_on_every_document_the_plans_name() -> None:
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    block = template[template.index("Sid: RunOnlyTheDeclaredDocuments") :]
    block = block[: block.index("- Sid: Catalog")]
    granted = {
        line.rsplit("document/", 1)[1].strip() for line in block.splitlines() if "document/" in line
    }
    named = {"AWS-RunShellScript"} | {
        rule.scripts.document
        for plan in default_plans().plans.values()
        for rule in plan.rules.values()
        if rule.scripts is not None and rule.scripts.document
    }
    assert granted == named


def test_bad_scripts_in_a_plans_file_name_the_field(tmp_path: Path) -> None:
    from lifeboat.plans import load_plans_file

    path = tmp_path / "plans.yaml"
    data = {
        "plans": {
            "standard": {
                "rules": {
                    "hourly": {
                        "schedule": "cron(15 * * * ? *)",
                        "timezone": "UTC",
                        "kinds": ["ebs"],
                        "retention": {"hourly": 24},
                        "scripts": {"pre": []},
                    }
                }
            }
        }
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValueError, match=r"plans\.standard\.rules\.hourly\.scripts"):
        load_plans_file(path)


def test_a_failed_post_script_makes_the_instance_s_points_crash_consistent() -> None:
    # Given a batch whose pre scripts succeeded and whose points were recorded application...
    ec2, catalog = FakeEc2(clock=lambda: NOW), FakeCatalog()
    ssm = FakeScripts()
    ports = fake_ports(ec2=ec2, catalog=catalog, scripts=ssm, notifier=FakeNotifier())
    ids = [ec2.add_instance("standard") for _ in range(2)]
    plans = _plans(SCRIPTS)
    event = CreateBatchEvent(
        run_id="r-2",
        plan="standard",
        rule="hourly",
        resources=[ResourceRef(type="instance", id=i) for i in ids],
    )
    catalog.claim_run("r-2", "exec", {"plan": "standard", "rule": "hourly"})
    task = {"state": event.model_dump(), "execution": EXECUTION.model_dump(by_alias=True)}

    def step(phase: str, scripts: dict[str, Any] | None) -> dict[str, Any]:
        found = ScriptsEvent.model_validate({"phase": phase, "task": {**task, "scripts": scripts}})
        return run_step(found, plans, ports)

    pre = step("check", step("pre", None))
    _rule, scripts = rule_scripts(plans, event)
    create_batch(event, plans, ports, NOW, decisions(event, scripts, ScriptsState(**pre)))
    metrics.clear_metrics()
    # ...when one instance's post script reports that the recipe's timer released it first
    ssm.outcomes = {ids[1]: "Failed"}
    step("check", step("post", pre))
    points = {p.source_id: p for p in catalog.points_for_run("r-2")}
    assert points[ids[0]].consistency == "application"
    assert points[ids[1]].consistency == "crash"
    assert "post script Failed" in (points[ids[1]].consistency_reason or "")
