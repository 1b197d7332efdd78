"""Alarm names parse by exact plan; execution names derived from alarm transitions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifeboat.alarms import alarm_name, execution_name, parse_alarm_name
from lifeboat.plans import NAME_PATTERN

pytestmark = pytest.mark.unit
SFN_NAME = re.compile(r"^[0-9A-Za-z_-]{1,80}$")


def test_plan_is_parsed_exactly_not_by_prefix() -> None:
    assert parse_alarm_name("lifeboat-standard-eu-i-0abc12345-system") == (
        "standard-eu",
        "i-0abc12345",
        "system",
    )
    assert parse_alarm_name("lifeboat-a-i-b-i-0123abcd-instance") == (
        "a-i-b",
        "i-0123abcd",
        "instance",
    )
    assert parse_alarm_name("lifeboat-standard-i-0abc-cpu") is None


@given(
    plan=st.from_regex(NAME_PATTERN, fullmatch=True),
    instance=st.from_regex(r"^i-[0-9a-f]{8,17}$", fullmatch=True),
    check=st.sampled_from(["system", "instance"]),
)
def test_names_round_trip(plan: str, instance: str, check: str) -> None:
    assert parse_alarm_name(alarm_name(plan, instance, check)) == (plan, instance, check)


@given(alarm=st.text(min_size=1, max_size=255), stamp=st.text(max_size=40))
def test_execution_names_are_valid_and_deterministic(alarm: str, stamp: str) -> None:
    name = execution_name(alarm, stamp)
    assert SFN_NAME.match(name) and name == execution_name(alarm, stamp)


def test_distinct_transitions_get_distinct_names() -> None:
    alarm = alarm_name("standard", "i-0123456789abcdef0")
    first = execution_name(alarm, "2026-11-27T03:00:00.000+0000")
    assert first != execution_name(alarm, "2026-11-27T03:00:00.001+0000")
    assert first != execution_name(
        alarm_name("standard", "i-0123456789abcdef0", "instance"), "2026-11-27T03:00:00.000+0000"
    )
