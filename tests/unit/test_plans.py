"""Plans and rules: the one validated declaration."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lifeboat.errors import InvalidInputError
from lifeboat.plans import Kind, default_plans, parse_plans

pytestmark = pytest.mark.unit


def test_default_deployment_ships_the_elearn_standard_plan() -> None:
    plans = default_plans()
    plan, hourly = plans.rule("standard", "hourly")
    _, daily = plans.rule("standard", "daily")
    assert plan.min_keep == 3
    assert hourly.kinds == (Kind.EBS,) and hourly.retention.hourly == 24
    assert set(daily.kinds) == {Kind.AMI, Kind.RDS}
    assert (daily.retention.daily, daily.retention.weekly, daily.retention.monthly) == (7, 4, 12)


def test_unknown_plan_and_rule_are_named_with_the_choices() -> None:
    plans = default_plans()
    with pytest.raises(InvalidInputError) as err:
        plans.rule("gold", "daily")
    assert err.value.field == "plan" and "standard" in err.value.message
    with pytest.raises(InvalidInputError) as err:
        plans.rule("standard", "weekly")
    assert err.value.field == "rule" and "daily" in err.value.message


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        (
            {"schedule": "every hour", "timezone": "UTC", "kinds": ["ebs"], "retention": {}},
            "schedule",
        ),
        (
            {
                "schedule": "cron(0 * * * ? *)",
                "timezone": "Mars/Olympus",
                "kinds": ["ebs"],
                "retention": {},
            },
            "timezone",
        ),
        (
            {
                "schedule": "cron(0 * * * ? *)",
                "timezone": "UTC",
                "kinds": ["tape"],
                "retention": {},
            },
            "kinds",
        ),
        (
            {
                "schedule": "cron(0 * * * ? *)",
                "timezone": "UTC",
                "kinds": ["ebs"],
                "retention": {"hourly": -1},
            },
            "hourly",
        ),
        (
            {
                "schedule": "cron(0 * * * ? *)",
                "timezone": "UTC",
                "kinds": ["ebs"],
                "retention": {},
                "keep": 3,
            },
            "keep",
        ),
    ],
)
def test_bad_rules_are_rejected_naming_the_field(rule: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_plans({"plans": {"p": {"rules": {"r": rule}}}})
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        ("cron(15 * * * ? *)", 3600),
        ("cron(45 2 * * ? *)", 86400),
        ("cron(0 */6 * * ? *)", 6 * 3600),
        ("cron(0 2,14 * * ? *)", 12 * 3600),
        ("cron(0 3 ? * SUN *)", 7 * 86400),
        ("rate(30 minutes)", 1800),
        # ranges and steps: the longest gap, overnight included (not a day)
        ("cron(0 8-18 * * ? *)", 14 * 3600),
        ("cron(0 1-5/2 * * ? *)", 20 * 3600),
        ("cron(0 0/6 * * ? *)", 6 * 3600),
        ("cron(0 6-22/4,23 * * ? *)", 7 * 3600),
        ("cron(0 2 ? * MON-FRI *)", 3 * 86400),  # over the weekend
        ("cron(0 2,14 ? * 2-6 *)", 60 * 3600),
        ("cron(0 3 ? * 1,4 *)", 4 * 86400),
        ("cron(0 3 ? * 6#3 *)", 35 * 86400),  # the third Friday of the month
    ],
)
def test_schedule_interval(schedule: str, seconds: int) -> None:
    plans = parse_plans(
        {
            "plans": {
                "p": {
                    "rules": {
                        "r": {
                            "schedule": schedule,
                            "timezone": "UTC",
                            "kinds": ["ebs"],
                            "retention": {},
                        }
                    }
                }
            }
        }
    )
    assert plans.rule("p", "r")[1].interval_seconds() == seconds


def test_application_shape_is_validated() -> None:
    # Given a plan declaring the eLearn application in the contract's shape

    base: dict[str, Any] = {
        "rules": {
            "daily": {
                "schedule": "cron(45 2 * * ? *)",
                "timezone": "Europe/London",
                "kinds": ["ami"],
                "retention": {"daily": 7},
            }
        }
    }
    app: dict[str, Any] = {
        "select": {"app": "elearn"},
        "order": ["db", "app", "web"],
        "database_endpoint": {"route53": {"zone_id": "Z0123456789", "name": "db.elearn.internal."}},
    }
    plans = parse_plans({"plans": {"standard": {**base, "applications": {"elearn": app}}}})
    elearn = plans.plans["standard"].applications["elearn"]
    assert elearn.order == ("db", "app", "web")
    assert elearn.database_endpoint is not None and elearn.database_endpoint.route53 is not None
    assert elearn.database_endpoint.route53.name == "db.elearn.internal"
    assert plans.plans["standard"].decommissioned_days == 90
    # Then both endpoints at once, a repeated tier or a bad zone id are refused
    for bad in (
        {**app, "database_endpoint": {**app["database_endpoint"], "ssm_parameter": "/x"}},
        {**app, "order": ["db", "db"]},
        {**app, "database_endpoint": {"route53": {"zone_id": "bad", "name": "x"}}},
    ):
        with pytest.raises(ValueError):
            parse_plans({"plans": {"standard": {**base, "applications": {"elearn": bad}}}})
