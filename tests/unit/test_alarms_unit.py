"""Alarm sync and the alarm router on in-memory ports (the end-to-end paths through EventBridge
and the restore machine are in tests/integration/test_alarms.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.alarms import (
    SYNC_RESERVE_SECONDS,
    AlarmStateChange,
    SyncRequest,
    alarm_name,
    route,
    sync_alarms,
)
from lifeboat.guardrails import GuardConfig, Guardrails
from lifeboat.plans import Kind, PlanSet, default_plans
from lifeboat.ports import Ports
from tests.fakes.alarms import FakeCloudWatch
from tests.fakes.ec2 import FakeEc2
from tests.fakes.executions import FakeExecutions
from tests.fakes.guards import FakeGuardStore
from tests.fakes.notifier import FakeNotifier
from tests.fakes.ports import fake_ports

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
RESTORE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:lifeboat-restore"
MANAGED = {T.MANAGED: "true"}


@dataclass
class StatusOnly:
    """The one restore-port call the router makes: EC2's status checks of an instance."""

    impaired: set[str] = field(default_factory=set)

    def status(self, instance_id: str) -> dict[str, str]:
        bad = "impaired" if instance_id in self.impaired else "ok"
        return {"state": "running", "system": bad, "instance": "ok"}


def world() -> tuple[Ports, FakeEc2, FakeCloudWatch]:
    ec2 = FakeEc2(clock=lambda: NOW)
    cloudwatch = FakeCloudWatch()
    return fake_ports(ec2=ec2, alarms=cloudwatch, ec2_restore=StatusOnly()), ec2, cloudwatch


def request(plan: str, rule: str, *instance_ids: str) -> SyncRequest:
    batch = [{"type": "instance", "id": i} for i in instance_ids]
    return SyncRequest.model_validate({"plan": plan, "rule": rule, "batches": [batch or []]})


def tag(ec2: FakeEc2, instance_id: str, key: str, value: str) -> None:
    tags = T.to_dict(ec2.instances[instance_id]["Tags"])
    ec2.instances[instance_id]["Tags"] = T.to_list({**tags, key: value})


# --- sync -------------------------------------------------------------------------------------
def test_sync_creates_an_alarm_per_protected_instance_only() -> None:
    ports, ec2, cloudwatch = world()
    protected, fenced, other = (ec2.add_instance("standard") for _ in range(3))
    tag(ec2, fenced, T.FENCED, "arn:aws:states:::execution:x")
    tag(ec2, other, T.PLAN, "gold")
    result = sync_alarms(request("standard", "daily", protected, fenced, other), 3, False, ports)
    assert (result["alarms"], result["created"], result["pending"]) == (1, 1, 0)
    assert list(cloudwatch.alarms_by_name) == [alarm_name("standard", protected)]
    alarm = cloudwatch.alarms_by_name[alarm_name("standard", protected)]
    assert alarm["EvaluationPeriods"] == 3
    assert T.is_managed(cloudwatch.tags(alarm["AlarmArn"]))
    again = sync_alarms(request("standard", "daily", protected), 3, False, ports)
    assert again["created"] == 0  # safe to repeat


def test_sync_with_instance_checks_makes_two_alarms_each() -> None:
    ports, ec2, cloudwatch = world()
    instance = ec2.add_instance("standard")
    sync_alarms(request("standard", "daily", instance), 2, True, ports)
    assert sorted(cloudwatch.alarms_by_name) == [
        alarm_name("standard", instance, "instance"),
        alarm_name("standard", instance, "system"),
    ]


def test_sync_stops_before_the_lambda_ends_and_leaves_the_rest_pending() -> None:
    ports, ec2, _ = world()
    fleet = [ec2.add_instance("standard") for _ in range(5)]
    budget = iter([60.0, 50.0, SYNC_RESERVE_SECONDS - 1])
    first = sync_alarms(
        request("standard", "daily", *fleet), 3, False, ports, time_left=lambda: next(budget)
    )
    assert (first["created"], first["pending"]) == (2, 3)
    second = sync_alarms(request("standard", "daily", *fleet), 3, False, ports)
    assert (second["created"], second["pending"], second["alarms"]) == (3, 0, 5)


def test_sync_deletes_only_lifeboats_stale_alarms_of_its_own_plan() -> None:
    ports, ec2, cloudwatch = world()
    kept, gone, unmanaged, eu = (ec2.add_instance("standard") for _ in range(4))
    for instance in (kept, gone):
        cloudwatch.plant(
            alarm_name("standard", instance), instance, {**MANAGED, T.PLAN: "standard"}
        )
    cloudwatch.plant(alarm_name("standard", unmanaged), unmanaged, {})  # someone else's
    cloudwatch.plant(alarm_name("standard-eu", eu), eu, {**MANAGED, T.PLAN: "standard-eu"})
    for instance in (gone, unmanaged, eu):
        ec2.instances[instance]["State"] = {"Name": "terminated"}
    result = sync_alarms(request("standard", "daily", kept), 3, False, ports)
    assert result["deleted"] == [alarm_name("standard", gone)]
    assert sorted(cloudwatch.alarms_by_name) == sorted(
        [
            alarm_name("standard", kept),
            alarm_name("standard", unmanaged),
            alarm_name("standard-eu", eu),
        ]
    )


def test_a_partial_or_hostile_batch_list_deletes_nothing() -> None:
    ports, ec2, cloudwatch = world()
    instance = ec2.add_instance("standard")
    sync_alarms(request("standard", "daily", instance), 3, False, ports)
    result = sync_alarms(request("standard", "daily"), 3, False, ports)  # lists nobody
    assert result["deleted"] == []
    assert list(cloudwatch.alarms_by_name) == [alarm_name("standard", instance)]


def test_a_rule_without_instance_kinds_touches_no_alarm() -> None:
    ports, ec2, cloudwatch = world()
    instance = ec2.add_instance("standard")
    standard = default_plans().plans["standard"]
    only_db = standard.model_copy(
        update={"rules": {"db": standard.rules["daily"].model_copy(update={"kinds": (Kind.RDS,)})}}
    )
    plans = PlanSet(plans={"standard": only_db})
    result = sync_alarms(request("standard", "db", instance), 3, False, ports, plans)
    assert result["skipped"] is True and not cloudwatch.calls


# --- the router -------------------------------------------------------------------------------
def change(
    name: str, instance_id: str, value: str = "ALARM", at: datetime = NOW
) -> AlarmStateChange:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return AlarmStateChange.model_validate(
        {
            "id": "e",
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": "123456789012",
            "time": stamp,
            "region": "us-east-1",
            "detail": {
                "alarmName": name,
                "state": {"value": value, "reason": "checks failed", "timestamp": stamp},
                "configuration": {
                    "metrics": [
                        {"metricStat": {"metric": {"dimensions": {"InstanceId": instance_id}}}}
                    ]
                },
            },
        }
    )


def guarded(ports: Ports, **config: int) -> Guardrails:
    return Guardrails(ports.guards, ports.catalog, GuardConfig(**config))


def failing(ports: Ports) -> tuple[str, str]:
    """A protected instance whose Lifeboat alarm fires and whose EC2 checks are impaired."""
    ec2: Any = ports.ec2
    cloudwatch: Any = ports.alarms
    instance = ec2.add_instance("standard")
    name = alarm_name("standard", instance)
    cloudwatch.plant(name, instance, {**MANAGED, T.PLAN: "standard"}, state="ALARM")
    status: Any = ports.ec2_restore
    status.impaired.add(instance)
    return instance, name


def test_an_alarm_starts_one_restore_and_a_redelivery_starts_nothing() -> None:
    ports, _, _ = world()
    instance, name = failing(ports)
    guard = guarded(ports)
    first = route(change(name, instance), ports, guard, RESTORE_ARN, NOW)
    assert first["action"] == "started"
    executions: Any = ports.executions
    started = executions.executions[first["execution_arn"]]["input"]
    assert started["instance_id"] == instance and started["requested_by"] == f"alarm:{name}"
    name_of_execution = first["execution_arn"].rsplit(":", 1)[1]
    assert guard.is_alarm_execution(name_of_execution, instance)  # provenance recorded first
    again = route(change(name, instance), ports, guard, RESTORE_ARN, NOW)
    assert again["action"] == "duplicate"
    assert len(executions.executions) == 1 and guard.running() == [name_of_execution]


def test_a_failed_start_raises_and_the_redelivery_starts_it_once() -> None:
    ports, _, _ = world()
    instance, name = failing(ports)
    executions: Any = ports.executions
    executions.fail_starts = 1
    guard = guarded(ports, max_concurrent=1)
    with pytest.raises(RuntimeError):
        route(change(name, instance), ports, guard, RESTORE_ARN, NOW)
    result = route(change(name, instance), ports, guard, RESTORE_ARN, NOW + timedelta(seconds=5))
    assert result["action"] == "started"  # its own slot, taken by the first delivery
    assert len(executions.executions) == 1


@pytest.mark.parametrize(
    ("spoil", "guard_name"),
    [
        ("not impaired", "not_impaired"),
        ("fenced", "fenced"),
        ("untagged alarm", "not_lifeboat_alarm"),
        ("other dimension", "not_lifeboat_alarm"),
        ("plan tag removed", "not_protected"),
        ("terminated", "not_protected"),
    ],
)
def test_refusals_start_nothing_take_no_slot_and_notify_once(spoil: str, guard_name: str) -> None:
    ports, ec2, cloudwatch = world()
    instance, name = failing(ports)
    event = change(name, instance)
    if spoil == "not impaired":
        status: Any = ports.ec2_restore
        status.impaired.clear()
    elif spoil == "fenced":
        tag(ec2, instance, T.FENCED, "arn:aws:states:::execution:y")
    elif spoil == "untagged alarm":
        cloudwatch.alarm_tags[cloudwatch.alarms_by_name[name]["AlarmArn"]] = {}
    elif spoil == "other dimension":
        event = change(name, ec2.add_instance("standard"))
    elif spoil == "plan tag removed":
        tag(ec2, instance, T.PLAN, "none")
    else:
        ec2.instances[instance]["State"] = {"Name": "terminated"}
    guard = guarded(ports)
    first = route(event, ports, guard, RESTORE_ARN, NOW)
    second = route(event, ports, guard, RESTORE_ARN, NOW + timedelta(minutes=1))
    assert first["action"] == second["action"] == "refused"
    assert first["guard"] == guard_name
    executions: Any = ports.executions
    notifier: Any = ports.notifier
    assert not executions.executions and guard.running() == []
    assert len(notifier.sent) == 1  # anti-flood: one message per instance and guard


def test_other_transitions_and_foreign_alarm_names_are_ignored() -> None:
    ports, _, _ = world()
    instance, name = failing(ports)
    guard = guarded(ports)
    assert route(change(name, instance, "OK"), ports, guard, RESTORE_ARN, NOW)["action"] == (
        "ignored"
    )
    assert route(change("web-cpu", instance), ports, guard, RESTORE_ARN, NOW)["action"] == (
        "ignored"
    )


def test_an_open_breaker_and_the_caps_refuse() -> None:
    ports, _, _ = world()
    guard = guarded(ports, max_concurrent=1, breaker_threshold=1)
    first_instance, first = failing(ports)
    second_instance, second = failing(ports)
    assert route(change(first, first_instance), ports, guard, RESTORE_ARN, NOW)["action"] == (
        "started"
    )
    capped = route(change(second, second_instance), ports, guard, RESTORE_ARN, NOW)
    assert capped["guard"] == "max_concurrent"
    guard.record_outcome(False, "failed", NOW)
    third_instance, third = failing(ports)
    broken = route(change(third, third_instance), ports, guard, RESTORE_ARN, NOW)
    assert broken["guard"] == "circuit_breaker"


def test_restores_avoid_azs_where_other_lifeboat_alarms_fire() -> None:
    ports, ec2, _ = world()
    sick, name = failing(ports)
    neighbour, _other = failing(ports)
    ec2.instances[neighbour]["Placement"] = {"AvailabilityZone": "us-east-1b"}
    result = route(change(name, sick), ports, guarded(ports), RESTORE_ARN, NOW)
    assert result["avoid_azs"] == ["us-east-1a", "us-east-1b"]


def test_unused_fakes_are_real_ports() -> None:
    # The fakes' in-memory semantics used above (guard store, notifier) start empty.
    assert FakeGuardStore().running() == {} and FakeNotifier().sent == []
    assert FakeExecutions().status("arn") is None
