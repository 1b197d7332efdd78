"""The RPO alarms of template.yaml, evaluated as CloudWatch evaluates them
(tests/cloudwatch_alarms.py; moto never evaluates alarms), against the datapoints Lifeboat's own
code puts: each run's finalize step (``publish_rpo``) and the 5-minute publisher
(``publish_rpo_ages``). For every rule shipped: OK all day while the runs are on time; ALARM
within the rule's interval plus the margin (plus the 15 minutes the alarm takes to judge) after
the last good point when runs are late or stopped, and within half an hour when nothing reports
at all (the stale datapoints of the evaluation range count until too few are left); OK again
once a run catches up. The design it replaces (1-hour periods judged on one datapoint a day,
missing data breaching) is shown in ALARM all day while every run is on time."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.backup.rpo import publish_rpo, publish_rpo_ages
from lifeboat.local.cfn import load_template
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind, Retention, Rule, default_plans
from tests.cloudwatch_alarms import Alarm
from tests.fakes.catalog import FakeCatalog
from tests.fakes.ports import fake_ports

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
PARAMETERS = {k: v.get("Default") for k, v in TEMPLATE["Parameters"].items()}
MARGIN = timedelta(minutes=int(PARAMETERS["RpoAlarmMarginMinutes"]))
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
RUN_TAKES = timedelta(minutes=6)  # slot -> finalize
JUDGE = timedelta(minutes=20)  # 3 periods of 5 minutes, and the publisher's 5-minute step
# Nothing put at all: the datapoints already in the evaluation range (5 periods) still count
# until fewer than 3 are left, so the alarm fires once the range is empty of them.
SILENT = timedelta(minutes=30)
SOURCES = ("web-1", "app-1", "elearn-db")


def template_alarms() -> dict[tuple[str, str], Alarm]:
    found = {}
    for name, resource in TEMPLATE["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        alarm = Alarm.from_template(name, resource["Properties"], PARAMETERS)
        if alarm.metric == "RpoSeconds":
            found[(alarm.dimensions["Plan"], alarm.dimensions["Rule"])] = alarm
    return found


RULES = sorted((p, r) for p, plan in default_plans().plans.items() for r in plan.rules)


@dataclass
class Recorder:
    """CloudWatch's PutMetricData as the alarms see it: (time, value) per metric."""

    points: list[tuple[str, dict[str, str], datetime, float]] = field(default_factory=list)

    def put(
        self,
        namespace: str,
        name: str,
        value: float,
        unit: str,
        dimensions: dict[str, str],
        at: datetime | None = None,
    ) -> None:
        assert at is not None, "every datapoint is timestamped by Lifeboat's clock"
        self.points.append((name, dict(dimensions), at, value))

    def series(self, plan: str, rule: str) -> list[tuple[datetime, float]]:
        wanted = {"Plan": plan, "Rule": rule}
        return [(at, v) for name, d, at, v in self.points if name == "RpoSeconds" and d == wanted]


def simulate(
    plan: str,
    rule: str,
    runs: list[datetime],
    end: datetime,
    publisher_until: datetime | None = None,
    jitter: bool = False,
    takes: timedelta = RUN_TAKES,
    start: datetime = START,
) -> list[tuple[datetime, float]]:
    """What CloudWatch receives for (plan, rule): each run's finalize ``RUN_TAKES`` after its
    slot (its points created 30 s into it), and the publisher every 5 minutes (Scheduler
    delivering up to a minute late with ``jitter``) until ``publisher_until``."""
    catalog, metrics = FakeCatalog(), Recorder()
    ports = fake_ports(catalog=catalog, metrics=metrics)
    plans = default_plans()
    rng = random.Random(20)
    events: list[tuple[datetime, str, datetime | None]] = [
        (slot + takes, "finalize", slot) for slot in runs
    ]
    tick = start
    while tick <= end and (publisher_until is None or tick < publisher_until):
        delay = timedelta(seconds=rng.randint(0, 60)) if jitter else timedelta(seconds=17)
        events.append((tick + delay, "tick", None))
        tick += timedelta(minutes=5)
    for at, what, slot in sorted(events, key=lambda e: e[0]):
        if at > end:
            break
        if what == "tick":
            publish_rpo_ages(plans, ports, at)
            continue
        assert slot is not None
        made = [point(plan, rule, source, slot) for source in SOURCES]
        catalog.put_points(made)
        publish_rpo(plan, rule, made, ports, at)
    return metrics.series(plan, rule)


def point(plan: str, rule: str, source: str, slot: datetime) -> RecoveryPoint:
    return RecoveryPoint(
        recovery_point_id=f"{slot:%Y%m%dT%H%M}/{source}/{rule}",
        run_id=f"{slot:%Y%m%dT%H%M}-{plan}-{rule}",
        plan=plan,
        rule=rule,
        kind=Kind.EBS,
        source_id=source,
        source_type="instance",
        status=PointStatus.COMPLETED,
        created_at=slot + timedelta(seconds=30),
    )


def interval(plan: str, rule: str) -> timedelta:
    return timedelta(seconds=default_plans().plans[plan].rules[rule].interval_seconds())


def slots(plan: str, rule: str, until: datetime, first: datetime = START) -> list[datetime]:
    found, at = [], first
    while at <= until:
        found.append(at)
        at += interval(plan, rule)
    return found


def states(
    alarm: Alarm, series: list[tuple[datetime, float]], start: datetime, end: datetime
) -> list[tuple[datetime, str]]:
    return alarm.timeline(series, start, end)


def first_alarm(timeline: list[tuple[datetime, str]]) -> datetime | None:
    return next((at for at, state in timeline if state == "ALARM"), None)


# --- the evaluator itself -------------------------------------------------------------------
def _alarm(treat: str, dta: int = 2) -> Alarm:
    return Alarm(
        name="t", namespace="N", metric="M", dimensions={}, period=60, statistic="Maximum",
        threshold=10, comparison="GreaterThanThreshold", evaluation_periods=3,
        datapoints_to_alarm=dta, treat_missing=treat,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("values", "treat", "previous", "expected"),
    [
        ([1, 1, 1], "breaching", "OK", "OK"),
        ([20, 20, 1], "notBreaching", "OK", "ALARM"),
        ([None, None, 1], "breaching", "OK", "ALARM"),
        ([None, None, 1], "notBreaching", "ALARM", "OK"),
        ([None, None, None], "missing", "OK", "INSUFFICIENT_DATA"),
        ([None, None, None], "ignore", "ALARM", "ALARM"),
        ([None, 20, 20], "ignore", "OK", "ALARM"),
        ([None, 20, None], "missing", "OK", "OK"),
    ],
)
def test_the_evaluator_follows_cloudwatchs_missing_data_rules(
    values: list[float | None], treat: str, previous: str, expected: str
) -> None:
    alarm = _alarm(treat)
    at = START + timedelta(minutes=3)
    periods = {
        int((START + timedelta(minutes=i)).timestamp()): float(v)
        for i, v in enumerate(values)
        if v is not None
    }
    assert alarm.state(periods, at, previous) == expected


@pytest.mark.parametrize("treat", ["breaching", "missing", "notBreaching"])
def test_the_evaluator_judges_the_newest_real_datapoints_when_enough_are_in_the_range(
    treat: str,
) -> None:
    # 2 of 3 over a range of 5 periods: two newest periods missing, three older ones OK. With
    # 3 real datapoints in the range, CloudWatch judges them and treats no missing period.
    alarm = _alarm(treat, dta=2)
    at = START + timedelta(minutes=5)
    ok = {int((START + timedelta(minutes=i)).timestamp()): 1.0 for i in range(3)}
    assert alarm.state(ok, at, "OK") == "OK"
    # with two real datapoints left, one missing period is filled by the treatment
    two = dict(list(ok.items())[1:])
    assert alarm.state(two, at, "OK") == "OK"  # at most 1 breaching (filled) of 3: still OK
    # a range with no datapoint at all
    expected = {"breaching": "ALARM", "missing": "INSUFFICIENT_DATA", "notBreaching": "OK"}
    assert alarm.state({}, at, "OK") == expected[treat]


def test_the_evaluator_aggregates_each_period_with_the_statistic_then_the_expression() -> None:
    alarm = Alarm.from_template(
        "a",
        {
            "Metrics": [
                {"Id": "m", "ReturnData": False, "MetricStat": {
                    "Metric": {"Namespace": "N", "MetricName": "M"}, "Period": 60,
                    "Stat": "Average"}},
                {"Id": "e", "Expression": {"Fn::Sub": "m - ${X} * 2"}, "ReturnData": True},
            ],
            "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 1,
        },
        {"X": 5},
    )  # fmt: skip
    series = [(START + timedelta(seconds=5), 4.0), (START + timedelta(seconds=50), 20.0)]
    assert alarm.periods(series) == {int(START.timestamp()): 2.0}  # avg 12, less 10
    assert alarm.datapoints_to_alarm == 1 and alarm.treat_missing == "missing"


# --- the template's RPO alarms, for every rule shipped ---------------------------------------
def test_every_rule_shipped_has_its_alarm() -> None:
    assert sorted(template_alarms()) == RULES


@pytest.mark.parametrize(("plan", "rule"), RULES)
def test_ok_all_along_while_every_run_is_on_time(plan: str, rule: str) -> None:
    alarm = template_alarms()[(plan, rule)]
    end = START + max(3 * interval(plan, rule), timedelta(days=3))
    series = simulate(plan, rule, slots(plan, rule, end), end, jitter=True)
    timeline = states(alarm, series, START + RUN_TAKES + JUDGE, end)
    assert {state for _at, state in timeline} == {"OK"}, first_alarm(timeline)


@pytest.mark.parametrize(("plan", "rule"), RULES)
def test_a_late_run_alarms_within_the_interval_and_margin_then_clears(plan: str, rule: str) -> None:
    # Given a run is late by the margin plus an hour
    alarm = template_alarms()[(plan, rule)]
    every = interval(plan, rule)
    on_time = slots(plan, rule, START + 2 * every)
    late = on_time[-1] + every + MARGIN + timedelta(hours=1)
    end = late + 2 * every
    runs = [*on_time, late, *slots(plan, rule, end, first=late + every)]
    timeline = states(alarm, simulate(plan, rule, runs, end), START + RUN_TAKES + JUDGE, end)
    # Then the alarm fires no later than the interval plus the margin after the last good
    # point (plus the time CloudWatch takes to judge), not before the RPO is over target...
    last_good = on_time[-1] + timedelta(seconds=30)
    fired = first_alarm(timeline)
    assert fired is not None
    assert last_good + every + MARGIN <= fired <= last_good + every + MARGIN + JUDGE
    # ...and is OK again once the late run has completed
    after = [state for at, state in timeline if at >= late + RUN_TAKES + JUDGE]
    assert set(after) == {"OK"}


@pytest.mark.parametrize(("plan", "rule"), RULES)
def test_stopped_runs_alarm_and_stay_in_alarm(plan: str, rule: str) -> None:
    alarm = template_alarms()[(plan, rule)]
    every = interval(plan, rule)
    runs = slots(plan, rule, START + 2 * every)
    end = runs[-1] + 3 * every
    timeline = states(alarm, simulate(plan, rule, runs, end), START + RUN_TAKES + JUDGE, end)
    deadline = runs[-1] + timedelta(seconds=30) + every + MARGIN + JUDGE
    fired = first_alarm(timeline)
    assert fired is not None and fired <= deadline
    assert {state for at, state in timeline if at >= fired} == {"ALARM"}


@pytest.mark.parametrize(("plan", "rule"), RULES)
def test_nothing_reported_is_an_alarm_within_minutes(plan: str, rule: str) -> None:
    # The publisher stopped (or no run ever measured the rule): missing data is breaching.
    alarm = template_alarms()[(plan, rule)]
    every = interval(plan, rule)
    stop = START + every + timedelta(hours=1)
    runs = slots(plan, rule, START + 3 * every)
    end = stop + timedelta(hours=1)
    series = [(at, v) for at, v in simulate(plan, rule, runs, end, publisher_until=stop)]
    series = [(at, v) for at, v in series if at < stop]  # the finalize steps stopped too
    timeline = states(alarm, series, START + RUN_TAKES + JUDGE, end)
    fired = first_alarm(timeline)
    assert fired is not None and stop < fired <= stop + SILENT


def test_the_design_it_replaces_was_in_alarm_all_day_while_on_time() -> None:
    # 1-hour periods, 26 evaluation periods, 1 datapoint to alarm, missing data breaching,
    # judged on the one datapoint each daily run's finalize put: ALARM while every run was on
    # time. The template's alarm, on the same runs with the publisher, stays OK.
    old = Alarm(
        name="old", namespace="Lifeboat", metric="RpoSeconds",
        dimensions={"Plan": "standard", "Rule": "daily"}, period=3600, statistic="Maximum",
        threshold=86400, comparison="GreaterThanThreshold", evaluation_periods=26,
        datapoints_to_alarm=1, treat_missing="breaching",
        expression=lambda x: x - MARGIN.total_seconds(),
    )  # fmt: skip
    end = START + timedelta(days=3)
    runs = slots("standard", "daily", end)
    finalize_only = [
        (at, v) for at, v in simulate("standard", "daily", runs, end, publisher_until=START)
    ]
    old_states = [s for _at, s in old.timeline(finalize_only, START + timedelta(days=1), end)]
    assert old_states.count("ALARM") / len(old_states) > 0.9
    new = template_alarms()[("standard", "daily")]
    series = simulate("standard", "daily", runs, end)
    assert {s for _at, s in new.timeline(series, START + timedelta(hours=1), end)} == {"OK"}


def test_the_publisher_puts_a_datapoint_every_period_whatever_the_backup_schedules() -> None:
    (schedule,) = TEMPLATE["Resources"]["RpoPublishFunction"]["Properties"]["Events"].values()
    props = schedule["Properties"]
    assert schedule["Type"] == "ScheduleV2" and props["ScheduleExpression"] == "rate(5 minutes)"
    assert "State" not in props, "runs with the backups switched off: the RPO still grows"
    assert {a.period for a in template_alarms().values()} == {300}


def test_a_daily_rule_stays_ok_across_the_clock_change() -> None:
    # Given the daily rule at 02:45 Europe/London: on the night the clocks go back (25 October
    # 2026) its runs are 25 hours apart, and a run takes 40 minutes to complete its points
    plan, rule = "standard", "daily"
    declared = default_plans().plans[plan].rules[rule]
    assert declared.schedule == "cron(45 2 * * ? *)" and declared.timezone == "Europe/London"
    days = [datetime(2026, 10, d, 2, 45, tzinfo=declared.tz) for d in range(21, 30)]
    runs = [d.astimezone(UTC) for d in days]
    assert runs[4] - runs[3] == timedelta(hours=25)
    end = runs[-1] + timedelta(hours=2)
    series = simulate(plan, rule, runs, end, takes=timedelta(minutes=40), start=runs[0])
    # Then its alarm stays OK: the rule's own schedule made the gap, no run was late
    timeline = states(template_alarms()[(plan, rule)], series, runs[0] + timedelta(hours=1), end)
    assert {state for _at, state in timeline} == {"OK"}, first_alarm(timeline)


@pytest.mark.parametrize(
    ("schedule", "timezone", "seconds"),
    [
        ("cron(45 2 * * ? *)", "UTC", 86400),
        ("cron(45 2 * * ? *)", "Europe/London", 90000),  # 25 h the night the clocks go back
        ("cron(0 4 ? * SUN *)", "Europe/London", 7 * 86400 + 3600),
        ("cron(15 * * * ? *)", "Europe/London", 3600),  # every hour: UTC hours, no shift
        ("rate(1 day)", "Europe/London", 86400),  # a rate does not follow the local clock
    ],
)
def test_a_rules_longest_interval_counts_its_timezones_clock_change(
    schedule: str, timezone: str, seconds: int
) -> None:
    rule = Rule(
        schedule=schedule, timezone=timezone, kinds=[Kind.EBS], retention=Retention(daily=1)
    )
    assert rule.interval_seconds() == seconds
