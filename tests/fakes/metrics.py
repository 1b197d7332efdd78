"""In memory, no sockets: CloudWatch metrics (``MetricsPort``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lifeboat.ports import (
    MetricsPort,
)


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


_metrics: MetricsPort = FakeMetrics()  # the fake implements the port (checked by mypy)
