"""Alarm-triggered recovery: the template's rule and pattern, the router, the guardrails."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import executions, runtime
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.aws.guard_store import DynamoGuardStore
from lifeboat.cli import EXIT_OK, main
from lifeboat.guardrails import GuardConfig, Guardrails, Refused
from lifeboat.local.bridge import BRIDGE
from lifeboat.local.harness import alarm_state_change
from lifeboat.plans import PlanSet
from tests.events import load_event
from tests.faults import FaultInjector, FaultRule
from tests.integration.helpers import run_schedule

pytestmark = pytest.mark.integration
ROUTER = "lifeboat-AlarmRouterFunction"
RULE = {"schedule": "cron(0 3 * * ? *)", "timezone": "Europe/London", "retention": {"daily": 7}}
FLEET = {"min_keep": 1, "rules": {"daily": {**RULE, "kinds": ["ami"]}}}


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


def _fire(instance_id: str, when: datetime | None = None, impair: bool = True) -> dict[str, Any]:
    BRIDGE.async_results.clear()
    alarm_state_change(
        f"lifeboat-standard-{instance_id}-system",
        "ALARM",
        "Threshold Crossed",
        when or datetime.now(UTC),
        impair=impair,
    )
    BRIDGE.wait_async()
    results = _router_results()
    assert len(results) == 1, BRIDGE.async_results
    return results[0]


def _deliveries(alarm: str, when: datetime) -> list[tuple[dict[str, Any], bool]]:
    """Deliver one ALARM transition of ``alarm``; (router payload, errored) per invocation."""
    BRIDGE.async_results.clear()
    alarm_state_change(alarm, "ALARM", "Threshold Crossed", when)
    BRIDGE.wait_async()
    return [(payload, errored) for name, payload, errored in BRIDGE.async_results if name == ROUTER]


def _guard(stack: Any, **config: int) -> Guardrails:
    table = stack.outputs["CatalogTableName"]
    return Guardrails(DynamoGuardStore(table), Catalog(table), GuardConfig(**config))


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
    run_schedule(stack, "hourly", datetime.now(UTC) - timedelta(hours=1))
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
    ec2 = client("ec2")
    image = ec2.register_image(Name="base", RootDeviceName="/dev/sda1")["ImageId"]
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "lifeboat:plan", "Value": "fleet"}]}]
    fleet = ec2.run_instances(
        ImageId=image, MinCount=7, MaxCount=7, InstanceType="t3.micro", TagSpecifications=tags
    )["Instances"]
    batch = [{"type": "instance", "id": i["InstanceId"]} for i in fleet]
    batch.append({"type": "db", "id": "elearn-db"})
    request = SyncRequest.model_validate({"plan": "fleet", "rule": "daily", "batches": [batch]})
    plans = PlanSet.model_validate({"plans": {"fleet": FLEET}})
    budget = iter([60.0, 50.0, 40.0, SYNC_RESERVE_SECONDS - 1])

    ports = runtime.aws_ports(stack.outputs["CatalogTableName"], calls=retrier)
    first = sync_alarms(request, 3, False, ports, plans, time_left=lambda: next(budget))
    assert (first["alarms"], first["created"], first["pending"]) == (7, 3, 4)
    assert slept and all(s > 0 for s in slept)  # 2.4 calls/s: the third call waited
    second = sync_alarms(request, 3, False, ports, plans, time_left=lambda: 600.0)
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
    # the server is now its replacement, which carries the cooldown
    current = first["output"]["replacement_id"]
    again = _wait(
        executions.start(
            stack.outputs["RestoreStateMachineArn"], {"instance_id": current}, "manual-2"
        )
    )
    assert (
        again["status"] == "REFUSED"
        and again["error"] == "Refused"
        and "cooldown" in str(again["cause"])
    )
    forced = _wait(
        executions.start(
            stack.outputs["RestoreStateMachineArn"],
            {"instance_id": current, "force": True},
            "manual-3",
        )
    )
    assert forced["status"] == "SUCCEEDED"


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
    table = stack.outputs["CatalogTableName"]
    guard = Guardrails(
        DynamoGuardStore(table), Catalog(table), GuardConfig(max_concurrent=2, max_per_hour=3)
    )
    now = datetime.now(UTC)

    def still_running(_name: str) -> str | None:
        return "RUNNING"

    def ended(_name: str) -> str | None:
        return "TIMED_OUT"

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
    guard.take_slots("f", later, ended)  # c and e have ended (timed out)
    assert guard.running() == ["f"]


# --- issue 12: guardrails that hold under retries and races -------------------------------------
def _alarm_of(instance_id: str, check: str = "system") -> str:
    return f"lifeboat-standard-{instance_id}-{check}"


def test_a_throttled_start_is_started_by_the_redelivery_and_only_once(
    stack: Any, backed_up: Any
) -> None:
    # Given StartExecution is throttled past boto3's retries for web-1's ALARM transition
    web1 = backed_up.protected_instances["web-1"]
    when = datetime.now(UTC)
    guard = _guard(stack)
    with FaultInjector([FaultRule("StartExecution", "ThrottlingException", times=99)]):
        [(failed, errored)] = _deliveries(_alarm_of(web1), when)
    # Then the router fails (so EventBridge delivers the event again), nothing started, and the
    # transition is not recorded as seen; its slot is held as "starting"
    assert errored and failed["errorType"] == "ClientError", failed
    assert _restores(stack) == [] and len(guard.running()) == 1
    # When EventBridge redelivers the same event, the restore starts, in the same slot
    [(started, errored)] = _deliveries(_alarm_of(web1), when)
    assert not errored and started["action"] == "started", started
    result = _wait(started["execution_arn"])
    assert result["status"] == "SUCCEEDED" and result["output"]["trigger"] == "alarm"
    # and a third delivery (after the restore) is a duplicate: exactly one execution
    [(again, _)] = _deliveries(_alarm_of(web1), when)
    assert again["action"] == "duplicate" and again["execution_arn"] == started["execution_arn"]
    assert len(_restores(stack)) == 1
    assert guard.running() == []  # finishing released the slot


def test_caps_count_restores_that_are_starting_and_success_releases_and_resets(
    stack: Any, backed_up: Any
) -> None:
    from lifeboat.guardrails import START_GRACE_SECONDS

    web1, web2, app1 = (backed_up.protected_instances[n] for n in ("web-1", "web-2", "app-1"))
    guard = _guard(stack)
    when = datetime.now(UTC)
    # Given two alarms whose executions have not started yet (StartExecution throttled)
    with FaultInjector([FaultRule("StartExecution", "ThrottlingException", times=99)]):
        for offset, instance_id in enumerate((web1, web2)):
            [(_, errored)] = _deliveries(_alarm_of(instance_id), when + timedelta(seconds=offset))
            assert errored
    assert len(guard.running()) == 2
    # When a third alarm fires (MaxConcurrentAutoRestores=2), it is refused: starting counts
    refused = _fire(app1, when + timedelta(seconds=5))
    assert refused["action"] == "refused" and refused["guard"] == "max_concurrent", refused
    assert _restores(stack) == []
    # Given two failures on the breaker's count, web-1's redelivered alarm restores successfully
    guard.record_outcome(False, "earlier failure", when)
    guard.record_outcome(False, "earlier failure", when)
    [(started, _)] = _deliveries(_alarm_of(web1), when)
    assert _wait(started["execution_arn"])["status"] == "SUCCEEDED"
    # Then its slot is released and the consecutive-failure count is back to 0
    assert len(guard.running()) == 1 and started["execution_arn"].split(":")[-1] not in (
        guard.running()
    )
    assert guard.breaker()["consecutive_failures"] == 0 and guard.breaker()["state"] == "closed"
    # A slot whose execution never appears is "starting" only for the grace period
    one = _guard(stack, max_concurrent=1, max_per_hour=50)
    later = datetime.now(UTC) + timedelta(seconds=30)
    with pytest.raises(Refused):
        one.take_slots("probe", later, lambda _name: None)
    one.take_slots("probe", later + timedelta(seconds=START_GRACE_SECONDS), lambda _name: None)
    assert one.running() == ["probe"]


def _put_alarm(
    name: str, instance_id: str, managed: bool = True, metric: str | None = None
) -> None:
    default = (
        "StatusCheckFailed_Instance" if name.endswith("-instance") else "StatusCheckFailed_System"
    )
    client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/EC2",
        MetricName=metric or default,
        Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=3,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Tags=[{"Key": "lifeboat:managed", "Value": "true"}] if managed else [],
    )


def test_only_lifeboats_own_alarm_on_an_impaired_protected_instance_starts_a_restore(
    stack: Any, backed_up: Any
) -> None:
    web1, web2 = backed_up.protected_instances["web-1"], backed_up.protected_instances["web-2"]
    bastion = backed_up.other_instances["bastion (untagged)"]
    other = backed_up.other_instances["reporting (plan other)"]
    guard = _guard(stack)
    # Given look-alike alarms (a forged lifeboat:managed tag included)
    _put_alarm(_alarm_of(web2, "instance"), bastion)  # protected name, untagged dimension
    _put_alarm(f"lifeboat-standard-{bastion}-system", bastion)  # untagged instance
    _put_alarm(f"lifeboat-standard-{other}-system", other)  # instance of another plan
    # a person's alarm under Lifeboat's name, on CPU (moto keeps a deleted alarm's tags, so the
    # untagged case cannot be set up here: the router checks the tag the same way)
    client("cloudwatch").delete_alarms(AlarmNames=[f"lifeboat-standard-{web2}-system"])
    _put_alarm(f"lifeboat-standard-{web2}-system", web2, metric="CPUUtilization")
    expected = [
        (_alarm_of(web2, "instance"), "not_lifeboat_alarm"),
        (f"lifeboat-standard-{bastion}-system", "not_protected"),
        (f"lifeboat-standard-{other}-system", "not_protected"),
        (f"lifeboat-standard-{web2}-system", "not_lifeboat_alarm"),
    ]
    when = datetime.now(UTC)
    for offset, (name, reason) in enumerate(expected):
        [(routed, errored)] = _deliveries(name, when + timedelta(seconds=offset))
        assert not errored and routed["action"] == "refused" and routed["guard"] == reason, routed
    # and the real alarm while EC2 reports web-1's status checks ok
    refused = _fire(web1, when + timedelta(seconds=10), impair=False)
    assert refused["action"] == "refused" and refused["guard"] == "not_impaired", refused
    # Then nothing started and no cap was used: five refusals, yet the real alarm (EC2 reports
    # web-1 impaired) is the first of the hour (MaxAutoRestoresPerHour=5)
    assert _restores(stack) == [] and guard.running() == []
    routed = _fire(web1, when + timedelta(seconds=20))
    assert routed["action"] == "started", routed
    assert _wait(routed["execution_arn"])["output"]["trigger"] == "alarm"


def test_trigger_is_never_taken_from_the_callers_input(stack: Any, backed_up: Any) -> None:
    from lifeboat.alarms import execution_name

    web1 = backed_up.protected_instances["web-1"]
    arn = stack.outputs["RestoreStateMachineArn"]
    guard = _guard(stack)
    # A caller claiming to be the alarm is refused, naming the field; nothing changes
    forged = _wait(executions.start(arn, {"instance_id": web1, "trigger": "alarm"}, "forged"))
    assert forged["status"] == "REFUSED" and "trigger" in str(forged["cause"])
    manual = _wait(executions.start(arn, {"instance_id": web1}, "manual"))
    assert manual["status"] == "SUCCEEDED"
    current = manual["output"]["replacement_id"]
    # A caller naming its execution the way the router does is still manual: held to the
    # cooldown, and it never feeds the breaker
    name = execution_name(_alarm_of(current), "2026-11-27T03:00:00.000+0000")
    mimic = _wait(executions.start(arn, {"instance_id": current}, name))
    assert mimic["status"] == "REFUSED" and "cooldown" in str(mimic["cause"])
    assert guard.breaker()["consecutive_failures"] == 0 and guard.running() == []


def _alarm_names(prefix: str = "lifeboat-") -> set[str]:
    pages = client("cloudwatch").get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
    return {a["AlarmName"] for page in pages for a in page["MetricAlarms"]}


def test_alarm_sync_deletes_only_its_plans_alarms_of_unprotected_instances(
    stack: Any, backed_up: Any
) -> None:
    from lifeboat.alarms import SyncRequest, sync_alarms

    ec2 = client("ec2")
    web1 = backed_up.protected_instances["web-1"]
    image = ec2.describe_instances(InstanceIds=[web1])["Reservations"][0]["Instances"][0]["ImageId"]
    eu_tag = {"Key": "lifeboat:plan", "Value": "standard-eu"}
    tags = [{"ResourceType": "instance", "Tags": [eu_tag]}]
    eu = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", TagSpecifications=tags
    )["Instances"][0]["InstanceId"]
    # Given an alarm of plan standard-eu (its name starts with "lifeboat-standard-")
    _put_alarm(f"lifeboat-standard-eu-{eu}-system", eu)
    before = _alarm_names()
    # When plan standard syncs, with the template's rules
    assert run_schedule(stack, "hourly", datetime.now(UTC) - timedelta(hours=1))["status"] == (
        "SUCCEEDED"
    )
    # Then standard-eu's alarm is untouched
    assert _alarm_names() == before
    # A rule of kinds [rds] only touches no instance alarm
    plans = PlanSet.model_validate(
        {"plans": {"standard": {"min_keep": 1, "rules": {"db": {**RULE, "kinds": ["rds"]}}}}}
    )
    request = SyncRequest.model_validate(
        {"plan": "standard", "rule": "db", "batches": [[{"type": "db", "id": "elearn-db"}]]}
    )
    ports = runtime.aws_ports(stack.outputs["CatalogTableName"])
    result = sync_alarms(request, 3, False, ports, plans)
    assert result["skipped"] is True and _alarm_names() == before
    # Batches that omit protected instances (partial or hostile) delete nothing
    daily = SyncRequest.model_validate(
        {"plan": "standard", "rule": "daily", "batches": [[{"type": "db", "id": "elearn-db"}]]}
    )
    assert sync_alarms(daily, 3, False, ports)["deleted"] == []
    assert _alarm_names() == before
    # Empty batches are refused by the function, naming the field; nothing is deleted
    response = client("lambda").invoke(
        FunctionName="lifeboat-SyncAlarmsFunction",
        Payload=json.dumps({"plan": "standard", "rule": "daily", "batches": []}).encode(),
    )
    body = json.loads(response["Payload"].read())
    assert response.get("FunctionError") and body["errorType"] == "InvalidInputError"
    assert body["errorMessage"].startswith("batches") and _alarm_names() == before


def test_fenced_instances_lose_their_alarms_and_replacements_gain_them(
    stack: Any, backed_up: Any
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    arn = stack.outputs["RestoreStateMachineArn"]
    restored = _wait(executions.start(arn, {"instance_id": web1}, "fence-then-sync"))
    assert restored["status"] == "SUCCEEDED"
    replacement = restored["output"]["replacement_id"]
    assert run_schedule(stack, "hourly", datetime.now(UTC) - timedelta(hours=2))["status"] == (
        "SUCCEEDED"
    )
    names = _alarm_names("lifeboat-standard-")
    assert _alarm_of(web1) not in names and _alarm_of(replacement) in names
