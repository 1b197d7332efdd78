"""Alarm-triggered recovery: the template's rule and pattern, the router, the guardrails."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import executions
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_OK, main
from lifeboat.faults import FaultInjector, FaultRule
from lifeboat.guardrails import GuardConfig, Guardrails, Refused
from lifeboat.local.bridge import BRIDGE
from lifeboat.local.harness import alarm_state_change
from tests.conftest import load_event
from tests.integration.helpers import run_schedule

pytestmark = pytest.mark.integration
ROUTER = "lifeboat-AlarmRouterFunction"


def _put(event: dict[str, Any]) -> None:
    client("events").put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Resources": event["resources"],
                "Detail": json.dumps(event["detail"]),
            }
        ]
    )
    BRIDGE.wait_async()


def _router_results() -> list[dict[str, Any]]:
    return [payload for name, payload, _errored in BRIDGE.async_results if name == ROUTER]


def _restores(stack: Any) -> list[dict[str, Any]]:
    return list(
        client("stepfunctions").list_executions(
            stateMachineArn=stack.outputs["RestoreStateMachineArn"]
        )["executions"]
    )


def _fire(instance_id: str, when: datetime | None = None) -> dict[str, Any]:
    BRIDGE.async_results.clear()
    alarm_state_change(
        f"lifeboat-standard-{instance_id}-system",
        "ALARM",
        "Threshold Crossed",
        when or datetime.now(UTC),
    )
    BRIDGE.wait_async()
    results = _router_results()
    assert len(results) == 1, BRIDGE.async_results
    return results[0]


def _wait(arn: str) -> dict[str, Any]:
    return executions.wait(arn, timeout=120, poll=0.05)


def test_the_templates_rule_matches_the_sample_event_only(stack: Any) -> None:
    # Given the sample event AWS sends, an OK transition and another alarm's event
    sample = load_event("alarm_state_change")
    ok = json.loads(json.dumps(sample))
    ok["detail"]["state"]["value"] = "OK"
    other = json.loads(json.dumps(sample))
    other["detail"]["alarmName"] = "billing-over-budget"
    BRIDGE.async_results.clear()
    # When each is put on the default bus, through the template's own rule
    _put(sample)
    _put(ok)
    _put(other)
    # Then only the sample reaches the router
    results = _router_results()
    assert [r["alarm"] for r in results] == [sample["detail"]["alarmName"]]


def test_backup_runs_keep_one_alarm_per_protected_instance(stack: Any, backed_up: Any) -> None:
    cloudwatch = client("cloudwatch")
    names = {
        a["AlarmName"]
        for a in cloudwatch.describe_alarms(AlarmNamePrefix="lifeboat-standard-")["MetricAlarms"]
    }
    assert names == {
        f"lifeboat-standard-{i}-system" for i in backed_up.protected_instances.values()
    }
    alarm = cloudwatch.describe_alarms(
        AlarmNames=[f"lifeboat-standard-{backed_up.protected_instances['web-1']}-system"]
    )["MetricAlarms"][0]
    assert alarm["MetricName"] == "StatusCheckFailed_System" and alarm["EvaluationPeriods"] == 3
    # a person's alarm with a look-alike name is never deleted
    cloudwatch.put_metric_alarm(
        AlarmName="lifeboat-standard-i-0000000000000000a-system",
        MetricName="x",
        Namespace="y",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    # When web-2 is gone, the next run removes its alarm
    web2 = backed_up.protected_instances["web-2"]
    client("ec2").terminate_instances(InstanceIds=[web2])
    run_schedule(stack, "hourly", datetime.now(UTC) + timedelta(hours=1))
    names = {
        a["AlarmName"]
        for a in cloudwatch.describe_alarms(AlarmNamePrefix="lifeboat-standard-")["MetricAlarms"]
    }
    assert f"lifeboat-standard-{web2}-system" not in names
    assert "lifeboat-standard-i-0000000000000000a-system" in names


def test_alarm_sync_is_paced_and_leaves_what_does_not_fit_to_the_next_run(stack: Any) -> None:
    # A first run over a large fleet: PutMetricAlarm is 3/s per account, so the sync paces its
    # calls and, when the function's time runs short, stops and reports the rest as pending.
    from lifeboat.alarms import SYNC_RESERVE_SECONDS, SyncRequest, sync_alarms
    from lifeboat.aws.clients import Retrier
    from lifeboat.pacing import Pacer

    slept: list[float] = []
    retrier = Retrier(pacer=Pacer(share=0.8, sleep=slept.append))
    batch = [{"type": "instance", "id": f"i-{n:017x}"} for n in range(1, 8)]
    batch.append({"type": "db", "id": "elearn-db"})
    request = SyncRequest(plan="fleet", batches=[batch])
    budget = iter([60.0, 50.0, 40.0, SYNC_RESERVE_SECONDS - 1])

    first = sync_alarms(request, 3, False, retrier=retrier, time_left=lambda: next(budget))
    assert (first["alarms"], first["created"], first["pending"]) == (7, 3, 4)
    assert slept and all(s > 0 for s in slept)  # 2.4 calls/s: the third call waited
    second = sync_alarms(request, 3, False, retrier=retrier, time_left=lambda: 600.0)
    assert (second["created"], second["pending"]) == (4, 0)
    names = client("cloudwatch").describe_alarms(AlarmNamePrefix="lifeboat-fleet-")["MetricAlarms"]
    assert len(names) == 7


def test_alarm_restores_into_another_az_once_then_cooldown(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    when = datetime.now(UTC)
    routed = _fire(web1, when)
    assert routed["action"] == "started"
    result = _wait(routed["execution_arn"])
    assert result["status"] == "SUCCEEDED"
    assert (
        result["output"]["availability_zone"] == "us-east-1b"
        and result["output"]["trigger"] == "alarm"
    )
    eip = client("ec2").describe_addresses(AllocationIds=[backed_up.elastic_ip["allocation_id"]])[
        "Addresses"
    ][0]
    assert eip["InstanceId"] == result["output"]["replacement_id"]
    # the same transition delivered again starts nothing
    BRIDGE.async_results.clear()
    alarm_state_change(f"lifeboat-standard-{web1}-system", "ALARM", "Threshold Crossed", when)
    BRIDGE.wait_async()
    assert _router_results()[0]["action"] == "duplicate"
    # a new transition within the cooldown is refused, and notified
    refused = _fire(web1, when + timedelta(minutes=5))
    assert refused["action"] == "refused" and refused["guard"] == "cooldown"
    assert len(_restores(stack)) == 1


def test_manual_restore_respects_the_cooldown_unless_forced(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    first = _wait(
        executions.start(stack.outputs["RestoreStateMachineArn"], {"instance_id": web1}, "manual-1")
    )
    assert first["status"] == "SUCCEEDED"
    again = _wait(
        executions.start(stack.outputs["RestoreStateMachineArn"], {"instance_id": web1}, "manual-2")
    )
    assert (
        again["status"] == "FAILED"
        and again["error"] == "Refused"
        and "cooldown" in str(again["cause"])
    )


def test_circuit_breaker_opens_after_three_failures_and_a_person_closes_it(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = list(backed_up.protected_instances.values())
    with FaultInjector([FaultRule("RunInstances", "InsufficientInstanceCapacity", times=999)]):
        for index, instance_id in enumerate(ids):
            routed = _fire(instance_id, datetime.now(UTC) + timedelta(seconds=index))
            assert routed["action"] == "started"
            assert _wait(routed["execution_arn"])["status"] == "FAILED"
    refused = _fire(ids[0], datetime.now(UTC) + timedelta(minutes=1))
    assert refused["action"] == "refused" and refused["guard"] == "circuit_breaker"
    assert main(["breaker", "status", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["state"] == "open"
    assert main(["breaker", "reset", "--reason", "capacity is back"]) == EXIT_OK
    capsys.readouterr()
    routed = _fire(ids[0], datetime.now(UTC) + timedelta(minutes=2))
    assert routed["action"] == "started" and _wait(routed["execution_arn"])["status"] == "SUCCEEDED"


def test_alarms_in_one_az_send_restores_to_other_azs(stack: Any, backed_up: Any) -> None:
    web1, app1 = backed_up.protected_instances["web-1"], backed_up.protected_instances["app-1"]
    first = _fire(web1)
    second = _fire(app1)
    assert "us-east-1a" in second["avoid_azs"]
    results = [_wait(r["execution_arn"]) for r in (first, second)]
    assert [r["output"]["availability_zone"] for r in results] == ["us-east-1b", "us-east-1b"]


def test_caps_and_slots(stack: Any) -> None:
    # Guardrails on the emulator's DynamoDB: two running at once, three per hour
    guard = Guardrails(
        Catalog(stack.outputs["CatalogTableName"]), GuardConfig(max_concurrent=2, max_per_hour=3)
    )
    now = datetime.now(UTC)
    still_running = lambda _name: True  # noqa: E731
    guard.take_slots("a", now, still_running)
    guard.take_slots("b", now, still_running)
    with pytest.raises(Refused) as err:
        guard.take_slots("c", now, still_running)
    assert err.value.guard == "max_concurrent"
    guard.release_running("a")
    guard.take_slots("c", now, still_running)  # a finished: its slot is free
    guard.release_running("b")
    with pytest.raises(Refused) as err:
        guard.take_slots("d", now, still_running)
    assert err.value.guard == "max_per_hour" and guard.running() == ["c"]
    # a slot held by an execution that ended without releasing it is reclaimed
    later = now + timedelta(hours=1)
    guard.take_slots("e", later, still_running)
    guard.take_slots("f", later, lambda _name: False)  # c and e have ended (timed out)
    assert guard.running() == ["f"]
