"""The ``Ports`` a domain function takes, every one in memory unless a test gives its own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lifeboat.ports import (
    Ports,
)
from tests.fakes.alarms import FakeCloudWatch
from tests.fakes.catalog import FakeCatalog
from tests.fakes.drills import FakeDrills
from tests.fakes.ec2 import FakeEc2
from tests.fakes.executions import FakeExecutions
from tests.fakes.guards import FakeGuardStore
from tests.fakes.metrics import FakeMetrics
from tests.fakes.notifier import FakeNotifier
from tests.fakes.rds import FakeRds


class _NotGiven:
    """A port a test did not provide: any use says which."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the test gave no {self._name} port (it used .{attribute})")


def fake_ports(**given: Any) -> Ports:
    """In-memory ports; ``given`` replaces any of them (e.g. ``ec2=FakeEc2(clock=...)``)."""
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
