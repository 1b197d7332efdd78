"""The demo's own timing: its back-dated history never takes the slot of its own runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifeboat.demo import demo_schedule
from lifeboat.local.history import last_slots

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("minute", range(0, 24 * 60, 5))
def test_the_demo_s_history_ends_before_its_own_runs_at_any_time_of_day(minute: int) -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC) + timedelta(minutes=minute, seconds=30)
    scheduled, until = demo_schedule(now)
    assert all(slot < scheduled for slot in last_slots(until))
