"""Retention and pruning in the emulator: back-dated fleets pruned to exactly the GFS set,
never touching what Lifeboat did not make, AMIs and their snapshots together."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lifeboat import runtime
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_INPUT, EXIT_OK, main
from lifeboat.local.history import fabricate
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind, default_plans
from lifeboat.prune import ORPHAN_GRACE, PruneRequest, prune
from tests.integration.helpers import (
    first_volume,
    managed_images,
    managed_snapshots,
    run_schedule,
)

pytestmark = pytest.mark.integration
LONDON = ZoneInfo("Europe/London")


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def _prune(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code = main(["prune", "--plan", "standard", "--json", *extra])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    return dict(json.loads(captured.out))


def _expected_daily(points: list[RecoveryPoint], now: datetime) -> set[str]:
    """Written independently of lifeboat.retention: 3 newest; newest of each of the last 7
    London days, 4 ISO weeks and 12 months."""
    today = now.astimezone(LONDON).date()
    newest_first = sorted(points, key=lambda p: p.created_at, reverse=True)
    keep = {p.recovery_point_id for p in newest_first[:3]}
    days = {today - timedelta(days=k) for k in range(7)}
    weeks = {(today - timedelta(weeks=k)).isocalendar()[:2] for k in range(4)}
    months: set[tuple[int, int]] = set()
    year, month = today.year, today.month
    for _ in range(12):
        months.add((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    windows: list[tuple[set[Any], Callable[[Any], Any]]] = [
        (days, lambda d: d),
        (weeks, lambda d: d.isocalendar()[:2]),
        (months, lambda d: (d.year, d.month)),
    ]
    for window, key in windows:
        taken = set()
        for point in newest_first:
            slot = key(point.created_at.astimezone(LONDON).date())
            if slot in window and slot not in taken:
                taken.add(slot)
                keep.add(point.recovery_point_id)
    return keep


def test_ninety_days_prune_to_exactly_the_gfs_set(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 90 days of daily AMIs and 2 days of hourly snapshot sets of web-1, back-dated
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    now = datetime.now(UTC)
    start = _hour(now)
    daily = [
        fabricate(catalog, web1, "daily", Kind.AMI, start - timedelta(days=d)) for d in range(90)
    ]
    hourly = [
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h)) for h in range(48)
    ]
    # and a snapshot someone else made of the same volume
    volume = first_volume(web1)
    theirs = client("ec2").create_snapshot(VolumeId=volume, Description="made by a person")[
        "SnapshotId"
    ]

    # When the plan is pruned
    report = _prune(capsys, "--yes")

    # Then exactly the GFS set survives, in the catalog and in EC2
    expected_daily = _expected_daily(daily, now)
    expected_hourly = {p.recovery_point_id for p in hourly[:24]}
    live = {p.recovery_point_id for p in catalog.all_points() if p.status is PointStatus.COMPLETED}
    assert live == expected_daily | expected_hourly
    assert report["summary"]["deleted"] == 90 + 48 - len(live) and report["skipped"] == []
    kept_images = {p.image_id for p in daily if p.recovery_point_id in expected_daily}
    assert {i["ImageId"] for i in managed_images()} == kept_images
    # an AMI and all its snapshots went together: no AMI snapshot survives its AMI
    ami_snaps = {s["SnapshotId"] for s in managed_snapshots("ami")}
    assert ami_snaps == {
        s.snapshot_id for p in daily if p.image_id in kept_images for s in p.snapshots
    }
    kept_sets = {s.snapshot_id for p in hourly[:24] for s in p.snapshots}
    assert {s["SnapshotId"] for s in managed_snapshots("ebs")} == kept_sets
    assert theirs in {
        s["SnapshotId"] for s in client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
    }
    # and the catalog stays true
    deleted = [p for p in catalog.all_points() if p.status is PointStatus.DELETED]
    assert len(deleted) == report["summary"]["deleted"]
    assert all(p.deleted_at and p.deleted_reason and "pruned" in p.deleted_reason for p in deleted)

    # Pruning again expires nothing (idempotent)
    again = _prune(capsys, "--yes")
    assert again["summary"]["expired"] == 0


def test_dry_run_prints_the_plan_and_changes_nothing(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC))
    for h in range(30):
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h))
    before = (len(managed_snapshots()), [p.status for p in catalog.all_points()])

    assert main(["prune", "--plan", "standard", "--rule", "hourly", "--dry-run"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "would delete" in text and "dry run: nothing was deleted" in text
    assert "outside every retention window" in text and "frees up to 168 GiB" in text
    report = _prune(capsys, "--rule", "hourly", "--dry-run")
    assert len(report["expired"]) == 6 and report["frees_gb"] == 6 * (8 + 20)
    assert (len(managed_snapshots()), [p.status for p in catalog.all_points()]) == before


def test_real_prune_needs_confirmation_when_not_interactive(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC))
    for h in range(26):
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h))
    assert main(["prune", "--plan", "standard"]) == EXIT_INPUT
    assert "--yes" in capsys.readouterr().err
    assert len(managed_snapshots()) == 26 * 2


def test_never_deletes_what_it_does_not_own(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC))
    points = [
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h)) for h in range(28)
    ]
    ec2 = client("ec2")
    # Given an expired catalog entry forged to point at a snapshot Lifeboat did not make
    volume = points[0].snapshots[0].volume_id
    foreign = ec2.create_snapshot(
        VolumeId=volume,
        TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": T.PLAN, "Value": "standard"}]}
        ],
    )["SnapshotId"]
    forged = points[-2].model_copy(
        update={"snapshots": [points[-2].snapshots[0].model_copy(update={"snapshot_id": foreign})]}
    )
    catalog.put_point(forged)

    report = _prune(capsys, "--rule", "hourly", "--yes")

    remaining = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert foreign in remaining
    assert report["skipped"] == [f"{foreign}: not-owned"]
    assert report["summary"]["deleted"] == 4  # 28 points, 24 hourly slots


def test_orphans_are_reported_and_removed_only_when_asked(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC))
    point = fabricate(catalog, web1, "daily", Kind.AMI, start)
    fabricate(catalog, web1, "daily", Kind.AMI, start - timedelta(days=1))
    # Given someone deregistered a Lifeboat AMI by hand (its snapshots are left behind)
    ec2 = client("ec2")
    ec2.deregister_image(ImageId=point.image_id)
    left = point.snapshots[0].snapshot_id
    # and a managed snapshot with no catalog entry
    stray = ec2.create_snapshots(
        InstanceSpecification={"InstanceId": web1},
        TagSpecifications=[
            {
                "ResourceType": "snapshot",
                "Tags": T.to_list(
                    T.backup_tags(
                        source_id=web1,
                        plan="standard",
                        rule="hourly",
                        run_id="lost",
                        kind="ebs",
                        source_tags={},
                    )
                ),
            }
        ],
    )["Snapshots"]

    # When pruned much later (orphans must be older than the grace period)
    later = datetime.now(UTC) + ORPHAN_GRACE + timedelta(hours=1)
    request = {"plan": "standard", "dry_run": True}
    report = prune(PruneRequest(**request), default_plans(), runtime.ports(), later)
    reasons = {o.artifact_id: o.reason for o in report.orphans}
    # Then the deregistered AMI's snapshot is an orphan (its point is no longer offered), and
    # the snapshot no catalog record proves Lifeboat made is foreign-tagged, never an orphan
    assert reasons[left].startswith("its AMI") and report.broken == [point.recovery_point_id]
    assert {o.artifact_id for o in report.foreign_tagged} == {s["SnapshotId"] for s in stray}
    assert left in {s["SnapshotId"] for s in managed_snapshots()}

    request = {"plan": "standard", "delete_orphans": True}
    report = prune(PruneRequest(**request), default_plans(), runtime.ports(), later)
    assert {o.outcome for o in report.orphans} == {"deleted"}
    remaining = {s["SnapshotId"] for s in managed_snapshots()}
    assert left not in remaining and {s["SnapshotId"] for s in stray} <= remaining
    assert catalog.get_point(web1, point.run_id, "ami").status is PointStatus.FAILED  # type: ignore[union-attr]


def test_nothing_expires_while_backups_are_failing(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC)) - timedelta(days=3)
    for h in range(40):
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h))
    report = _prune(capsys, "--rule", "hourly", "--yes")
    assert report["summary"]["expired"] == 0 and report["stale"] == [f"hourly:{web1}/ebs"]
    assert len(managed_snapshots("ebs")) == 80


def test_every_backup_run_ends_by_pruning(stack: Any, elearn: Any) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC)) - timedelta(hours=1)
    for h in range(30):
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h))
    result = run_schedule(stack, "hourly", _hour(datetime.now(UTC)))
    assert result["status"] == "SUCCEEDED"
    # 30 old + 1 new for web-1: keep 24 hourly slots -> 7 expire; the other two have 1 each
    assert result["output"]["prune"]["deleted"] == 7
