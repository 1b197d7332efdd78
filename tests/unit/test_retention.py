"""Retention properties (hypothesis) and worked examples, DST included."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifeboat.models import PointStatus
from lifeboat.plans import Kind, Retention
from lifeboat.retention import _keys, decide, slots

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)


@dataclass(frozen=True)
class P:
    recovery_point_id: str
    source_id: str
    created_at: datetime
    status: PointStatus = PointStatus.COMPLETED
    kind: Kind = Kind.EBS


def run(
    points: list[P],
    retention: Retention,
    min_keep: int = 3,
    tz: str = "Europe/London",
    interval: int = 3600,
    now: datetime = NOW,
) -> tuple[set[str], set[str]]:
    result = decide(
        points,
        retention=retention,
        min_keep=min_keep,
        timezone=tz,
        interval_seconds=interval,
        now=now,
    )
    return set(result.kept), set(result.expired)


points_strategy = st.lists(
    st.tuples(
        st.sampled_from(["i-1", "i-2"]),
        st.integers(min_value=0, max_value=400 * 24 * 60),  # minutes before NOW
        st.sampled_from([PointStatus.COMPLETED] * 6 + [PointStatus.FAILED, PointStatus.PENDING]),
    ),
    max_size=60,
).map(
    lambda items: [
        P(f"rp-{n}", src, NOW - timedelta(minutes=age), status)
        for n, (src, age, status) in enumerate(items)
    ]
)
retention_strategy = st.builds(
    Retention,
    hourly=st.integers(0, 30),
    daily=st.integers(0, 10),
    weekly=st.integers(0, 6),
    monthly=st.integers(0, 14),
    yearly=st.integers(0, 2),
)
zones = st.sampled_from(
    ["Europe/London", "America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"]
)


@settings(max_examples=150, deadline=None)
@given(points_strategy, retention_strategy, st.integers(1, 5), zones)
def test_never_expires_the_newest_min_keep_completed(
    points: list[P], retention: Retention, min_keep: int, tz: str
) -> None:
    _kept, expired = run(points, retention, min_keep, tz)
    for source in ("i-1", "i-2"):
        done = sorted(
            (p for p in points if p.source_id == source and p.status is PointStatus.COMPLETED),
            key=lambda p: (p.created_at, p.recovery_point_id),
            reverse=True,
        )
        assert not {p.recovery_point_id for p in done[:min_keep]} & expired


@settings(max_examples=150, deadline=None)
@given(points_strategy, retention_strategy, zones)
def test_only_completed_points_expire(points: list[P], retention: Retention, tz: str) -> None:
    _kept, expired = run(points, retention, 1, tz)
    statuses = {p.recovery_point_id: p.status for p in points}
    assert all(statuses[i] is PointStatus.COMPLETED for i in expired)


@settings(max_examples=150, deadline=None)
@given(points_strategy, retention_strategy, zones)
def test_nothing_expires_when_backups_are_failing(
    points: list[P], retention: Retention, tz: str
) -> None:
    # Given no completed point newer than interval + 1 h for a resource
    old = [p for p in points if NOW - p.created_at > timedelta(hours=2)]
    _kept, expired = run(old, retention, 1, tz, interval=3600)
    assert expired == set()


@settings(max_examples=150, deadline=None)
@given(points_strategy, retention_strategy, st.integers(1, 4), zones)
def test_idempotent(points: list[P], retention: Retention, min_keep: int, tz: str) -> None:
    kept, _expired = run(points, retention, min_keep, tz)
    survivors = [p for p in points if p.recovery_point_id in kept]
    again_kept, again_expired = run(survivors, retention, min_keep, tz)
    assert again_expired == set() and again_kept == kept


@settings(max_examples=100, deadline=None)
@given(points_strategy, retention_strategy, st.integers(1, 4), zones, st.randoms())
def test_independent_of_input_order(
    points: list[P], retention: Retention, min_keep: int, tz: str, rnd: random.Random
) -> None:
    shuffled = list(points)
    rnd.shuffle(shuffled)
    assert run(points, retention, min_keep, tz) == run(shuffled, retention, min_keep, tz)


@settings(max_examples=150, deadline=None)
@given(points_strategy, retention_strategy, zones)
def test_every_slot_with_a_point_keeps_its_newest(
    points: list[P], retention: Retention, tz: str
) -> None:
    kept, _expired = run(points, retention, 1, tz)
    zone = ZoneInfo(tz)
    windows = slots(NOW, zone, retention)
    for source in ("i-1", "i-2"):
        done = [p for p in points if p.source_id == source and p.status is PointStatus.COMPLETED]
        for name, keys in windows.items():
            for key in keys:
                inside = [p for p in done if _keys(p.created_at, zone)[name] == key]
                if inside:
                    newest = max(inside, key=lambda p: (p.created_at, p.recovery_point_id))
                    assert newest.recovery_point_id in kept, (name, key)


def test_ninety_days_of_hourly_points_prune_to_the_gfs_set() -> None:
    # Given 90 days of hourly points, with a daily/weekly/monthly policy
    points = [P(f"h{h}", "i-1", NOW - timedelta(hours=h)) for h in range(90 * 24)]
    kept, expired = run(points, Retention(daily=7, weekly=4, monthly=12), min_keep=3, tz="UTC")
    # Then: the 3 newest, the newest of each of the 7 days, of 4 ISO weeks, of 4 months in range
    by_id = {p.recovery_point_id: p for p in points}
    days = {by_id[i].created_at.date() for i in kept}
    assert len(days) >= 7
    assert {"h0", "h1", "h2"} <= kept
    expected: set[str] = {"h0", "h1", "h2"}
    windows: list[tuple[set[Any], Callable[[P], Any]]] = [
        ({(NOW - timedelta(days=d)).date() for d in range(7)}, lambda p: p.created_at.date()),
        (
            {tuple((NOW - timedelta(weeks=w)).date().isocalendar())[:2] for w in range(4)},
            lambda p: tuple(p.created_at.date().isocalendar())[:2],
        ),
        (
            {(2026, m) for m in range(1, 12)} | {(2025, 12)},
            lambda p: (p.created_at.year, p.created_at.month),
        ),
    ]
    for window, keyf in windows:
        for key in window:
            inside = [p for p in points if keyf(p) == key]
            if inside:
                expected.add(max(inside, key=lambda p: p.created_at).recovery_point_id)
    assert kept == expected
    assert len(expired) == len(points) - len(expected)


def test_dst_fall_back_keeps_both_repeated_hours() -> None:
    # 2026-10-25 01:00-02:00 happens twice in London (BST then GMT).
    now = datetime(2026, 10, 25, 3, 0, tzinfo=UTC)
    first = P("bst", "i-1", datetime(2026, 10, 25, 0, 30, tzinfo=UTC))  # 01:30 BST
    second = P("gmt", "i-1", datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # 01:30 GMT
    kept, _ = run([first, second], Retention(hourly=24), min_keep=1, now=now)
    assert kept == {"bst", "gmt"}


def test_daily_slots_follow_the_local_calendar() -> None:
    # In Sydney (UTC+11) 12:00Z on 27 Nov is 23:00 on the 27th, while 13:30Z and 23:30Z are
    # the 28th: the three points UTC puts on one day are two local days.
    now = datetime(2026, 11, 28, 0, 30, tzinfo=UTC)
    a = P("a", "i-1", datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    b = P("b", "i-1", datetime(2026, 11, 27, 13, 30, tzinfo=UTC))
    c = P("c", "i-1", datetime(2026, 11, 27, 23, 30, tzinfo=UTC))
    kept_utc, _ = run([a, b, c], Retention(daily=2), min_keep=1, tz="UTC", interval=86400, now=now)
    kept_syd, _ = run(
        [a, b, c], Retention(daily=2), min_keep=1, tz="Australia/Sydney", interval=86400, now=now
    )
    assert kept_utc == {"c"}
    assert kept_syd == {"a", "c"}


def test_reasons_are_given() -> None:
    points = [
        P("new", "i-1", NOW - timedelta(minutes=5)),
        P("old", "i-1", NOW - timedelta(days=40)),
    ]
    result = decide(
        points,
        retention=Retention(hourly=2),
        min_keep=1,
        timezone="UTC",
        interval_seconds=3600,
        now=NOW,
    )
    assert result.decisions["old"].keep is False
    assert result.decisions["old"].reasons == ("outside every retention window",)
    assert any("min_keep" in r for r in result.decisions["new"].reasons)
