"""CloudWatch metric alarms (Lifeboat's status-check alarms), paced under CloudWatch's quotas."""

from __future__ import annotations

from typing import Any

from lifeboat import tags as T
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.permissions import needs

DELETE_BATCH = 100  # DeleteAlarms takes up to 100 names


class CloudWatchAlarms:
    """Mutating calls go through ``retrier``, whose pacer keeps them under CloudWatch's quotas
    (``PutMetricAlarm``: 3 requests per second per account)."""

    def __init__(self, retrier: Retrier | None = None, cloudwatch: Any = None) -> None:
        self.calls = retrier or Retrier()
        self.cw = cloudwatch or client("cloudwatch")

    @needs("cloudwatch:DescribeAlarms")
    def alarms(self, prefix: str, state: str | None = None) -> list[dict[str, Any]]:
        """Metric alarms whose names start with ``prefix`` (in ``state``, when given)."""
        kwargs: dict[str, Any] = {"AlarmNamePrefix": prefix, "AlarmTypes": ["MetricAlarm"]}
        if state is not None:
            kwargs["StateValue"] = state
        found: list[dict[str, Any]] = []
        for page in self.cw.get_paginator("describe_alarms").paginate(**kwargs):
            found.extend(page["MetricAlarms"])
        return found

    @needs("cloudwatch:DescribeAlarms")
    def alarm(self, name: str) -> dict[str, Any] | None:
        found = self.cw.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"])
        alarms = found.get("MetricAlarms", [])
        return dict(alarms[0]) if alarms else None

    @needs("cloudwatch:ListTagsForResource")
    def tags(self, alarm_arn: str) -> dict[str, str]:
        found = self.calls.call(self.cw.list_tags_for_resource, ResourceARN=alarm_arn)
        return T.to_dict(found.get("Tags"))

    @needs("cloudwatch:PutMetricAlarm", "cloudwatch:TagResource")
    def put_status_alarm(
        self,
        name: str,
        description: str,
        metric: str,
        instance_id: str,
        periods: int,
        tags: dict[str, str],
    ) -> None:
        """An alarm on the EC2 status-check ``metric`` of ``instance_id``: ALARM after
        ``periods`` failed minutes in a row, missing data leaves the state as it is."""
        self.calls.call(
            self.cw.put_metric_alarm,
            AlarmName=name,
            AlarmDescription=description,
            Namespace="AWS/EC2",
            MetricName=metric,
            Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=periods,
            DatapointsToAlarm=periods,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="missing",
            Tags=T.to_list(tags),
        )

    @needs("cloudwatch:DeleteAlarms")
    def delete_alarms(self, names: list[str]) -> None:
        for start in range(0, len(names), DELETE_BATCH):
            self.calls.call(self.cw.delete_alarms, AlarmNames=names[start : start + DELETE_BATCH])
