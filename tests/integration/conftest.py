"""Integration fixtures: the eLearn stack backed up (which also creates its alarms)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.helpers import run_schedule


@pytest.fixture
def backed_up(stack: Any, elearn: Any) -> Any:
    """The eLearn stack with a daily AMI and, after it, an hourly snapshot set."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    assert run_schedule(stack, "daily", now - timedelta(minutes=30))["status"] == "SUCCEEDED"
    assert run_schedule(stack, "hourly", now)["status"] == "SUCCEEDED"
    return elearn
