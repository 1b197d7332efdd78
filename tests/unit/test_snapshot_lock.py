"""Locked recovery points (a rule's ``lock``): EBS Snapshot Lock is not in the emulator, so the
calls are tested with botocore's Stubber (exact request shapes from the service model), and the
behaviour on fakes: finalize locks a run's completed snapshots (an AMI's included) and records
``locked_until``; a lock that fails is reported and notified and never fails the backup; prune
never counts a locked point as deleted before its lock ends; compliance mode needs its
acknowledgement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lifeboat.aws.clients import Retrier
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.models import PointStatus
from lifeboat.pacing import Pacer
from lifeboat.plans import PlanSet, parse_plans
from lifeboat.prune import PruneRequest, prune
from lifeboat.prune.expired import run_prune
from tests.unit.test_prune_model import PLANS
from tests.unit.test_prune_unit import World

pytestmark = pytest.mark.unit


def locked_plans(lock: dict[str, Any]) -> PlanSet:
    data = PLANS.model_dump(mode="json")
    data["plans"]["standard"]["rules"]["daily"]["lock"] = lock
    return parse_plans(data)


GOVERNANCE = locked_plans({"mode": "governance", "days": 10})


def _gateway() -> tuple[Ec2Gateway, Stubber]:
    ec2 = boto3.client(
        "ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    gateway = Ec2Gateway(
        Retrier(sleep=lambda _s: None, pacer=Pacer(sleep=lambda _s: None)), ec2=ec2, elbv2=object()
    )
    return gateway, Stubber(ec2)


def test_lock_snapshot_requests_are_exactly_what_ec2_takes() -> None:
    gateway, stubber = _gateway()
    ok = {"SnapshotId": "snap-1", "LockState": "governance", "LockDuration": 10}
    stubber.add_response(
        "lock_snapshot", ok, {"SnapshotId": "snap-1", "LockMode": "governance", "LockDuration": 10}
    )
    stubber.add_client_error(
        "lock_snapshot",
        service_error_code="InvalidSnapshot.NotFound",
        expected_params={"SnapshotId": "snap-2", "LockMode": "governance", "LockDuration": 10},
    )
    with stubber:
        results = gateway.lock_snapshots(["snap-1", "snap-2"], "governance", 10)
    assert results == {"snap-1": "locked", "snap-2": "InvalidSnapshot.NotFound"}
    stubber.assert_no_pending_responses()


def test_a_compliance_lock_sends_its_cool_off_and_is_never_asked_to_shorten() -> None:
    gateway, stubber = _gateway()
    expected = {
        "SnapshotId": "snap-1",
        "LockMode": "compliance",
        "LockDuration": 30,
        "CoolOffPeriod": 24,
    }
    response = {"SnapshotId": "snap-1", "LockState": "compliance-cooloff"}
    stubber.add_response("lock_snapshot", response, expected)
    with stubber:
        assert gateway.lock_snapshots(["snap-1"], "compliance", 30, 24) == {"snap-1": "locked"}
    # LockDuration counts from the call: a repeated lock moves the end later, never earlier;
    # Lifeboat never calls UnlockSnapshot (the template grants it to nobody).
    assert not hasattr(gateway, "unlock_snapshots")


def test_locked_snapshots_are_read_from_describe_locked_snapshots() -> None:
    gateway, stubber = _gateway()
    stubber.add_response(
        "describe_locked_snapshots",
        {
            "Snapshots": [
                {"SnapshotId": "snap-1", "LockState": "compliance"},
                {"SnapshotId": "snap-2", "LockState": "expired"},
                {"SnapshotId": "snap-3", "LockState": "compliance-cooloff"},
            ]
        },
        {"SnapshotIds": ["snap-1", "snap-2", "snap-3"]},
    )
    with stubber:
        assert gateway.locked_snapshots(["snap-1", "snap-2", "snap-3"]) == {"snap-1", "snap-3"}


def test_compliance_mode_needs_its_acknowledgement_naming_the_field() -> None:
    with pytest.raises(ValueError, match="i_understand_compliance_mode: true"):
        locked_plans({"mode": "compliance", "days": 30})
    with pytest.raises(ValueError, match="cool_off_hours applies to compliance mode only"):
        locked_plans({"mode": "governance", "days": 30, "cool_off_hours": 2})
    plans = locked_plans({"mode": "compliance", "days": 30, "i_understand_compliance_mode": True})
    assert plans.plans["standard"].rules["daily"].lock is not None


def test_finalize_locks_every_snapshot_of_a_runs_points_and_records_until_when() -> None:
    world = World()
    run_id = world.daily_run(GOVERNANCE)
    points = list(world.catalog.points_for_run(run_id))
    assert points and all(p.status is PointStatus.COMPLETED for p in points)
    for point in points:
        assert point.lock_mode == "governance"
        assert point.locked_until == world.now - timedelta(days=1) + timedelta(days=10)
        assert point.snapshots and all(s.snapshot_id in world.ec2.locks for s in point.snapshots)


def test_a_lock_that_fails_is_reported_and_never_fails_the_backup() -> None:
    world = World()
    world.ec2.refuse_all_locks = True
    run_id, report = world.daily_run(GOVERNANCE, with_report=True)
    assert report["status"] == "succeeded" and report["locks"]["failed"]
    assert world.ports.notifier.sent  # type: ignore[union-attr]
    (point,) = world.catalog.points_for_run(run_id)
    assert point.status is PointStatus.COMPLETED and point.locked_until is None


def test_prune_never_counts_a_locked_point_as_deleted_before_its_lock_ends() -> None:
    world = World()
    for _ in range(5):
        world.daily_run(GOVERNANCE)
    report = prune(PruneRequest(plan="standard"), GOVERNANCE, world.ports, world.now)
    assert report.deleted == 0 and not report.expired and report.frees_gb == 0
    assert sum("kept until the lock ends" in s for s in report.skipped) == 3
    world.now += timedelta(days=10)  # every lock has ended; backups went on (unlocked)
    world.daily_run(PLANS)
    report = prune(PruneRequest(plan="standard"), GOVERNANCE, world.ports, world.now)
    assert report.deleted == len(report.expired) >= 3
    assert not any("kept until the lock ends" in s for s in report.skipped)


def test_the_prune_report_says_deleted_points_sit_in_the_recycle_bin() -> None:
    world = World()
    world.daily_runs(5)
    data = run_prune(PruneRequest(plan="standard", dry_run=True), PLANS, world.ports, world.now, 14)
    assert "Recycle Bin for 14 days" in data["summary"]["recycle_bin"]
    assert "still billed" in data["summary"]["recycle_bin"]
    bare = run_prune(PruneRequest(plan="standard", dry_run=True), PLANS, world.ports, world.now)
    assert bare["summary"]["recycle_bin"] is None
