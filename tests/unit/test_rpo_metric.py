"""Each backup run's finalize step publishes, per plan and rule, the age of the oldest "newest
completed point" across the rule's resources (``Lifeboat/RpoSeconds``, dimensions Plan, Rule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifeboat.backup import finalize_run
from lifeboat.backup.rpo import rule_rpo_seconds
from lifeboat.models import FinalizeEvent, PointStatus, RecoveryPoint
from lifeboat.plans import Kind, default_plans
from tests.fakes.catalog import FakeCatalog
from tests.fakes.metrics import FakeMetrics
from tests.fakes.ports import fake_ports

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 27, 3, 15, tzinfo=UTC)


def point(source: str, run: str, at: datetime, status: PointStatus) -> RecoveryPoint:
    return RecoveryPoint(
        recovery_point_id=f"{run}/{source}/ebs",
        run_id=run,
        plan="standard",
        rule="hourly",
        kind=Kind.EBS,
        source_id=source,
        source_type="instance",
        status=status,
        created_at=at,
    )


def test_finalize_publishes_the_oldest_newest_point_of_the_rule() -> None:
    # Given two instances: web's newest completed point is this run's; app's failed now and
    # its newest completed point is three hours old
    catalog = FakeCatalog()
    done, failed = PointStatus.COMPLETED, PointStatus.FAILED
    catalog.put_points(
        [
            point("i-web", "old", NOW - timedelta(hours=3), done),
            point("i-app", "old", NOW - timedelta(hours=3), done),
            point("i-web", "run-1", NOW - timedelta(minutes=5), done),
            point("i-app", "run-1", NOW - timedelta(minutes=5), failed),
        ]
    )
    catalog.runs["run-1"] = {"plan": "standard", "rule": "hourly", "owner": "x"}
    metrics = FakeMetrics()
    ports = fake_ports(catalog=catalog, metrics=metrics)

    report = finalize_run(FinalizeEvent(run_id="run-1"), default_plans(), ports, NOW)

    # Then the published RPO is app's: three hours, for plan standard and rule hourly
    assert metrics.points == [
        ("Lifeboat", "RpoSeconds", 3 * 3600.0, "Seconds", {"Plan": "standard", "Rule": "hourly"})
    ]
    assert report["rpo_seconds"] == 3 * 3600.0


def test_a_resource_that_never_completed_counts_from_its_first_attempt() -> None:
    points = [
        point("i-new", "r1", NOW - timedelta(hours=2), PointStatus.FAILED),
        point("i-new", "r2", NOW - timedelta(hours=1), PointStatus.FAILED),
        point("i-ok", "r2", NOW - timedelta(hours=1), PointStatus.COMPLETED),
    ]
    assert rule_rpo_seconds(points, {"i-new", "i-ok"}, NOW) == 2 * 3600
    assert rule_rpo_seconds(points, {"i-ok"}, NOW) == 3600
    assert rule_rpo_seconds(points, {"i-other"}, NOW) is None


def test_an_empty_run_publishes_nothing() -> None:
    catalog = FakeCatalog()
    catalog.runs["run-1"] = {"plan": "standard", "rule": "hourly", "owner": "x"}
    metrics = FakeMetrics()
    report = finalize_run(
        FinalizeEvent(run_id="run-1"),
        default_plans(),
        fake_ports(catalog=catalog, metrics=metrics),
        NOW,
    )
    assert metrics.points == [] and "rpo_seconds" not in report
