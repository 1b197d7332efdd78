"""Alarm storm routing on in-memory fakes: alarms of one storm that straddle two storm windows
still give one evacuation (or one proposal), never two."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifeboat.apps.storm import Storm, StormConfig, route_storm
from lifeboat.guardrails import GuardConfig, Guardrails
from tests.fakes.executions import FakeExecutions
from tests.fakes.ports import fake_ports

pytestmark = pytest.mark.unit
EVACUATE = "arn:aws:states:us-east-1:123456789012:stateMachine:lifeboat-evacuate"
STORM = Storm("elearn", "us-east-1a", ("i-0000000000000000a", "i-0000000000000000b"))
EDGE = datetime(2026, 12, 5, 14, 5, tzinfo=UTC)  # a 5-minute window's boundary


@pytest.mark.parametrize("auto", [False, True])
def test_alarms_straddling_two_windows_give_one_evacuation(auto: bool) -> None:
    executions = FakeExecutions()
    ports = fake_ports(executions=executions)
    config = StormConfig(evacuate_arn=EVACUATE, window_minutes=5, auto_evacuate=auto)
    guard = Guardrails(ports.guards, ports.catalog, GuardConfig())
    first = route_storm(STORM, "a1", ports, guard, config, EDGE - timedelta(seconds=1))
    second = route_storm(STORM, "a2", ports, guard, config, EDGE + timedelta(seconds=1))
    assert first["action"] in ("evacuation_proposed", "evacuation_started"), first
    assert second["action"] == "duplicate", second
    assert second["execution_arn"] == first["execution_arn"]
    assert len(executions.executions) == 1
    # A storm two windows later is a new one.
    third = route_storm(STORM, "a3", ports, guard, config, EDGE + timedelta(minutes=6))
    assert third["action"] != "duplicate" and len(executions.executions) == 2
