"""CloudWatch custom metrics (``PutMetricData``): recovery point ages, drill RTO/RPO."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifeboat.aws.clients import client
from lifeboat.aws.permissions import needs

BATCH = 1000  # PutMetricData takes up to 1,000 metric data points per request


class CloudWatchMetrics:
    def __init__(self, cloudwatch: Any = None) -> None:
        self.cw = cloudwatch or client("cloudwatch")

    @needs("cloudwatch:PutMetricData")
    def put(
        self,
        namespace: str,
        name: str,
        value: float,
        unit: str,
        dimensions: dict[str, str],
        at: datetime | None = None,
    ) -> None:
        """One data point of ``name`` with ``dimensions`` (``unit``: a CloudWatch unit, e.g.
        ``Seconds``, ``Count``)."""
        datum: dict[str, Any] = {
            "MetricName": name,
            "Value": value,
            "Unit": unit,
            "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(dimensions.items())],
        }
        if at is not None:
            datum["Timestamp"] = at
        self.cw.put_metric_data(Namespace=namespace, MetricData=[datum])
