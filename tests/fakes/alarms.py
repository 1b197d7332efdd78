"""In memory, no sockets: CloudWatch alarms (``AlarmsPort``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifeboat.ports import (
    AlarmsPort,
)


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


_alarms: AlarmsPort = FakeCloudWatch()  # the fake implements the port (checked by mypy)
