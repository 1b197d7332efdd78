"""A small evaluator of CloudWatch metric alarms, from CloudWatch's documented semantics (moto
stores alarms but never evaluates them):

* the metric's datapoints are aggregated per ``Period`` (periods aligned on multiples of the
  period since the epoch) with the alarm's statistic (``Maximum``, ``Minimum``, ``Average``,
  ``Sum``, ``SampleCount``); a period without datapoints is *missing*;
* an alarm on metric math applies the expression (``ReturnData: true``) to each period's value;
  an expression over a missing value is missing;
* at each evaluation the alarm retrieves more periods than ``EvaluationPeriods``: the
  *evaluation range* (its exact length depends on the period; modelled here as
  ``EvaluationPeriods + 2``, the length of CloudWatch's own worked example); a period is
  *breaching* when its value compares to ``Threshold`` by ``ComparisonOperator``;
* when the range holds at least ``EvaluationPeriods`` periods with data, the most recent
  ``EvaluationPeriods`` of them are judged and missing periods are not treated at all (a
  stale datapoint still counts: an alarm on a metric that stopped holds its state until too
  few datapoints are left in the range);
* otherwise every period with data in the range is judged and missing periods fill the rest,
  as few as possible, by ``TreatMissingData``: ``breaching`` (counted as breaching),
  ``notBreaching`` (counted as within the threshold), ``ignore`` (when every period of the
  range is missing the alarm keeps its state) and ``missing`` (the default: when every period
  of the range is missing the alarm goes to ``INSUFFICIENT_DATA``); with ``ignore`` and
  ``missing``, periods that have data are judged alone;
* the alarm is ``ALARM`` when at least ``DatapointsToAlarm`` (default: ``EvaluationPeriods``)
  periods of the range are breaching, else ``OK``.
"""

from __future__ import annotations

import ast
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "Maximum": max,
    "Minimum": min,
    "Sum": sum,
    "Average": lambda values: sum(values) / len(values),
    "SampleCount": lambda values: float(len(values)),
}
MISSING_TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
_OPERATORS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def arithmetic(expression: str, variable: str) -> Callable[[float], float]:
    """A metric-math expression of one metric id and numbers (+ - * / and parentheses)."""
    tree = ast.parse(expression, mode="eval").body

    def value(node: ast.expr, x: float) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name) and node.id == variable:
            return x
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left, x), value(node.right, x))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand, x)
        raise ValueError(f"not supported in this evaluator: {ast.dump(node)}")

    return lambda x: value(tree, x)


@dataclass(frozen=True)
class Alarm:
    name: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    period: int
    statistic: str
    threshold: float
    comparison: str
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing: str = "missing"
    expression: Callable[[float], float] = field(default=lambda x: x)
    extra_range: int = 2  # the evaluation range's periods beyond EvaluationPeriods

    @property
    def evaluation_range(self) -> int:
        return self.evaluation_periods + self.extra_range

    def __post_init__(self) -> None:
        assert self.comparison in COMPARE, self.comparison
        assert self.statistic in STATISTICS, self.statistic
        assert self.treat_missing in MISSING_TREATMENTS, self.treat_missing
        assert 1 <= self.datapoints_to_alarm <= self.evaluation_periods

    @classmethod
    def from_template(
        cls, name: str, props: Mapping[str, Any], parameters: Mapping[str, Any]
    ) -> Alarm:
        """An ``AWS::CloudWatch::Alarm``'s properties as template.yaml declares them (one metric,
        or one metric and one expression over it), with ``!Sub`` resolved from ``parameters``."""
        common = {
            "name": name,
            "threshold": float(props["Threshold"]),
            "comparison": props["ComparisonOperator"],
            "evaluation_periods": int(props["EvaluationPeriods"]),
            "datapoints_to_alarm": int(props.get("DatapointsToAlarm", props["EvaluationPeriods"])),
            "treat_missing": props.get("TreatMissingData", "missing"),
        }
        if "Metrics" not in props:
            return cls(
                namespace=props["Namespace"],
                metric=props["MetricName"],
                dimensions={d["Name"]: d["Value"] for d in props.get("Dimensions", [])},
                period=int(props["Period"]),
                statistic=props["Statistic"],
                **common,
            )
        (stat,) = [m for m in props["Metrics"] if "MetricStat" in m]
        returned = [m for m in props["Metrics"] if m.get("ReturnData", True)]
        (shown,) = returned
        metric = stat["MetricStat"]["Metric"]
        expression: Callable[[float], float] = lambda x: x  # noqa: E731
        if "Expression" in shown:
            text = _sub(shown["Expression"], parameters)
            expression = arithmetic(text, stat["Id"])
        return cls(
            namespace=metric["Namespace"],
            metric=metric["MetricName"],
            dimensions={d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
            period=int(stat["MetricStat"]["Period"]),
            statistic=stat["MetricStat"]["Stat"],
            expression=expression,
            **common,
        )

    # --- evaluation ----------------------------------------------------------------------
    def periods(self, datapoints: Iterable[tuple[datetime, float]]) -> dict[int, float]:
        """Each period's value (key: the period's start, epoch seconds), expression applied."""
        buckets: dict[int, list[float]] = defaultdict(list)
        for at, value in datapoints:
            start = int(at.timestamp()) // self.period * self.period
            buckets[start].append(value)
        return {k: self.expression(STATISTICS[self.statistic](v)) for k, v in buckets.items()}

    def state(self, periods: Mapping[int, float], at: datetime, previous: str) -> str:
        """The state evaluated at ``at`` over the last complete periods."""
        end = int(at.timestamp()) // self.period * self.period  # the current period's start
        starts = [end - self.period * (i + 1) for i in range(self.evaluation_range)]
        values = [periods.get(s) for s in starts]  # newest first
        present = [v for v in values if v is not None]
        if len(present) >= self.evaluation_periods:  # enough real datapoints: no treatment
            present = present[: self.evaluation_periods]
        breaching = sum(1 for v in present if COMPARE[self.comparison](v, self.threshold))
        missing = max(0, self.evaluation_periods - len(present))
        if self.treat_missing == "breaching":
            breaching += missing
        elif not present:
            if self.treat_missing == "missing":
                return "INSUFFICIENT_DATA"
            if self.treat_missing == "ignore":
                return previous
        return "ALARM" if breaching >= self.datapoints_to_alarm else "OK"

    def timeline(
        self,
        datapoints: Iterable[tuple[datetime, float]],
        start: datetime,
        end: datetime,
        step: timedelta = timedelta(minutes=1),
    ) -> list[tuple[datetime, str]]:
        """The state at every ``step`` (CloudWatch evaluates alarms every minute)."""
        periods = self.periods(datapoints)
        states: list[tuple[datetime, str]] = []
        current, at = "INSUFFICIENT_DATA", start
        while at <= end:
            current = self.state(periods, at, current)
            states.append((at, current))
            at += step
        return states


def _sub(value: Any, parameters: Mapping[str, Any]) -> str:
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    for key, found in parameters.items():
        text = text.replace("${" + key + "}", str(found))
    assert "${" not in text, text
    return str(text)
