"""In-memory fakes of the operations-side ports: the guard store, CloudWatch alarms, Step
Functions executions and the notifier. Same semantics as the adapters (each guard-store method
is atomic, like the conditional DynamoDB write it stands for), no sockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lifeboat.ports import (
    AlarmsPort,
    ExecutionsPort,
    GuardStorePort,
    MetricsPort,
    NotifierPort,
    Ports,
)


@dataclass
class FakeGuardStore:
    notified: dict[str, int] = field(default_factory=dict)
    slots: dict[str, int] = field(default_factory=dict)
    hours: dict[str, set[str]] = field(default_factory=dict)
    autos: dict[str, dict[str, Any]] = field(default_factory=dict)
    breaker_item: dict[str, Any] = field(default_factory=dict)

    def put_once(self, key: str, expires_at: int, now: int) -> bool:
        if key in self.notified and self.notified[key] >= now:
            return False
        self.notified[key] = expires_at
        return True

    def take_running(self, name: str, now: int, max_slots: int) -> bool:
        if name not in self.slots and len(self.slots) >= max_slots:
            return False
        self.slots.setdefault(name, now)
        return True

    def running(self) -> dict[str, int]:
        return dict(self.slots)

    def release_running(self, name: str, taken: int | None = None) -> None:
        if taken is None or self.slots.get(name) == taken:
            self.slots.pop(name, None)

    def take_hourly(self, hour: str, name: str, max_per_hour: int, expires_at: int) -> bool:
        started = self.hours.setdefault(hour, set())
        if name not in started and len(started) >= max_per_hour:
            return False
        started.add(name)
        return True

    def put_auto(self, name: str, record: dict[str, Any]) -> None:
        self.autos[name] = dict(record)

    def auto(self, name: str) -> dict[str, Any] | None:
        found = self.autos.get(name)
        return dict(found) if found is not None else None

    def breaker(self) -> dict[str, Any]:
        return dict(self.breaker_item)

    def breaker_succeeded(self) -> None:
        if self.breaker_item.get("state", "closed") == "closed":
            self.breaker_item["consecutive_failures"] = 0

    def breaker_failed(self, detail: str) -> int:
        failures = int(self.breaker_item.get("consecutive_failures", 0)) + 1
        self.breaker_item.update(consecutive_failures=failures, last_failure=detail)
        return failures

    def open_breaker(self, at: str) -> None:
        self.breaker_item["state"] = "open"
        self.breaker_item.setdefault("opened_at", at)

    def reset_breaker(self, by: str) -> None:
        self.breaker_item = {"state": "closed", "consecutive_failures": 0, "reset_by": by}


@dataclass
class FakeNotifier:
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, subject: str, body: dict[str, Any]) -> None:
        self.sent.append((subject, body))


@dataclass
class FakeCloudWatch:
    """Metric alarms by name, with their tags; ``state`` per alarm (OK unless set)."""

    alarms_by_name: dict[str, dict[str, Any]] = field(default_factory=dict)
    alarm_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def plant(
        self,
        name: str,
        instance_id: str,
        tags: dict[str, str],
        metric: str = "StatusCheckFailed_System",
        state: str = "OK",
    ) -> None:
        """An alarm made by someone (Lifeboat's or not: ``tags`` decides)."""
        arn = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
        self.alarms_by_name[name] = {
            "AlarmName": name,
            "AlarmArn": arn,
            "Namespace": "AWS/EC2",
            "MetricName": metric,
            "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
            "StateValue": state,
        }
        self.alarm_tags[arn] = dict(tags)

    def alarms(self, prefix: str, state: str | None = None) -> list[dict[str, Any]]:
        self.calls.append("DescribeAlarms")
        return [
            dict(a)
            for name, a in sorted(self.alarms_by_name.items())
            if name.startswith(prefix) and (state is None or a["StateValue"] == state)
        ]

    def alarm(self, name: str) -> dict[str, Any] | None:
        self.calls.append("DescribeAlarms")
        found = self.alarms_by_name.get(name)
        return dict(found) if found else None

    def tags(self, alarm_arn: str) -> dict[str, str]:
        self.calls.append("ListTagsForResource")
        return dict(self.alarm_tags.get(alarm_arn, {}))

    def put_status_alarm(
        self,
        name: str,
        description: str,
        metric: str,
        instance_id: str,
        periods: int,
        tags: dict[str, str],
    ) -> None:
        self.calls.append("PutMetricAlarm")
        self.plant(name, instance_id, tags, metric)
        self.alarms_by_name[name]["EvaluationPeriods"] = periods

    def delete_alarms(self, names: list[str]) -> None:
        assert len(names) <= 100 or not names
        for start in range(0, len(names), 100):
            self.calls.append("DeleteAlarms")
            for name in names[start : start + 100]:
                found = self.alarms_by_name.pop(name, None)
                if found:
                    self.alarm_tags.pop(found["AlarmArn"], None)


@dataclass
class FakeExecutions:
    """Executions by ARN with their status; ``fail_starts`` makes the next starts raise."""

    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_starts: int = 0

    def start(
        self,
        state_machine_arn: str,
        name: str | None,
        payload: dict[str, Any],
        existing_ok: bool = True,
    ) -> str | None:
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("ThrottlingException: Rate exceeded")
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name or 'x'}"
        if arn in self.executions:
            if existing_ok:
                return None
            raise RuntimeError("ExecutionAlreadyExists")
        self.executions[arn] = {"status": "RUNNING", "input": payload}
        return arn

    def status(self, execution_arn: str) -> str | None:
        found = self.executions.get(execution_arn)
        return None if found is None else str(found["status"])


@dataclass
class FakeMetrics:
    """Data points put, in order: (namespace, name, value, unit, dimensions)."""

    points: list[tuple[str, str, float, str, dict[str, str]]] = field(default_factory=list)

    def put(
        self,
        namespace: str,
        name: str,
        value: float,
        unit: str,
        dimensions: dict[str, str],
        at: datetime | None = None,
    ) -> None:
        self.points.append((namespace, name, value, unit, dict(dimensions)))


class _NotGiven:
    """A port a test did not provide: any use says which."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the test gave no {self._name} port (it used .{attribute})")


def fake_ports(**given: Any) -> Ports:
    """In-memory ports; ``given`` replaces any of them (e.g. ``ec2=FakeEc2(clock=...)``)."""
    from tests.fakes import FakeCatalog, FakeEc2, FakeRds
    from tests.fakes_drill import FakeDrills

    defaults: dict[str, Any] = {
        "catalog": FakeCatalog(),
        "ec2": FakeEc2(clock=lambda: datetime.now(UTC)),
        "rds": FakeRds(),
        "ec2_restore": _NotGiven("ec2_restore"),
        "rds_restore": _NotGiven("rds_restore"),
        "guards": FakeGuardStore(),
        "alarms": FakeCloudWatch(),
        "executions": FakeExecutions(),
        "metrics": FakeMetrics(),
        "notifier": FakeNotifier(),
        "drills": FakeDrills(),
    }
    return Ports(**{**defaults, **given})


# The fakes implement the ports (checked by mypy).
_guards: GuardStorePort = FakeGuardStore()
_alarms: AlarmsPort = FakeCloudWatch()
_executions: ExecutionsPort = FakeExecutions()
_notifier: NotifierPort = FakeNotifier()
_metrics: MetricsPort = FakeMetrics()
