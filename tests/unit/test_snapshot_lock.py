"""EBS Snapshot Lock against EC2's service model: the emulator has no snapshot locks, so the
calls are checked with botocore's Stubber (every request is validated against the model and
must be exactly what is expected; an unexpected call fails the test). Finalize's locking runs
here over the real adapter too. The behaviour on fakes (finalize, prune, orphans) is in
tests/unit/test_locked_points.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lifeboat.aws.clients import Retrier
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.backup.lock import lock_points
from lifeboat.models import PointStatus, RecoveryPoint, SnapshotLock, VolumeSnapshot
from lifeboat.pacing import Pacer
from lifeboat.plans import Kind
from tests.fakes.catalog import FakeCatalog
from tests.fakes.notifier import FakeNotifier
from tests.fakes.ports import fake_ports
from tests.worlds.prune import locked_plans

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 20, 2, 50, tzinfo=UTC)
COMPLETED = NOW - timedelta(minutes=5)


def _gateway() -> tuple[Ec2Gateway, Stubber]:
    ec2 = boto3.client(
        "ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    gateway = Ec2Gateway(
        Retrier(sleep=lambda _s: None, pacer=Pacer(sleep=lambda _s: None)), ec2=ec2, elbv2=object()
    )
    return gateway, Stubber(ec2)


def _locked(sid: str, state: str, expires: datetime, days: int = 10) -> dict[str, Any]:
    """A lock as EC2 reports it (LockSnapshot's answer, DescribeLockedSnapshots' items)."""
    return {
        "SnapshotId": sid,
        "LockState": state,
        "LockDuration": days,
        "LockCreatedOn": expires - timedelta(days=days),
        "LockDurationStartTime": expires - timedelta(days=days),
        "LockExpiresOn": expires,
    }


def _point(*snapshot_ids: str, kind: Kind = Kind.AMI) -> RecoveryPoint:
    return RecoveryPoint(
        recovery_point_id=f"i-1#run-1#{kind.value}",
        run_id="run-1",
        plan="standard",
        rule="daily",
        kind=kind,
        source_id="i-1",
        source_type="instance",
        status=PointStatus.COMPLETED,
        created_at=COMPLETED - timedelta(minutes=10),
        completed_at=COMPLETED,
        image_id="ami-1" if kind is Kind.AMI else None,
        snapshots=[VolumeSnapshot(volume_id="", snapshot_id=s) for s in snapshot_ids],
    )


# --- the adapter's requests --------------------------------------------------------------------
def test_lock_snapshot_requests_are_exactly_what_ec2_takes() -> None:
    gateway, stubber = _gateway()
    ends = NOW + timedelta(days=10)
    stubber.add_response(
        "lock_snapshot",
        _locked("snap-1", "governance", ends),
        {"SnapshotId": "snap-1", "LockMode": "governance", "LockDuration": 10},
    )
    stubber.add_client_error(
        "lock_snapshot",
        service_error_code="InvalidParameterValue",
        service_message="Snapshot snap-2 is not in a completed state",
        expected_params={"SnapshotId": "snap-2", "LockMode": "governance", "LockDuration": 10},
    )
    with stubber:
        results = gateway.lock_snapshots(["snap-1", "snap-2"], "governance", 10)
    stubber.assert_no_pending_responses()
    assert results["snap-1"] == SnapshotLock(
        snapshot_id="snap-1", state="governance", expires_on=ends
    )
    assert results["snap-1"].holds
    assert results["snap-2"].error == "InvalidParameterValue" and not results["snap-2"].holds


def test_a_compliance_lock_sends_its_cool_off_only_when_it_has_one() -> None:
    gateway, stubber = _gateway()
    ends = NOW + timedelta(days=30)
    stubber.add_response(
        "lock_snapshot",
        _locked("snap-1", "compliance-cooloff", ends, 30) | {"CoolOffPeriod": 24},
        {"SnapshotId": "snap-1", "LockMode": "compliance", "LockDuration": 30, "CoolOffPeriod": 24},
    )
    stubber.add_response(
        "lock_snapshot",
        _locked("snap-2", "compliance", ends, 30),
        {"SnapshotId": "snap-2", "LockMode": "compliance", "LockDuration": 30},
    )
    with stubber:
        first = gateway.lock_snapshots(["snap-1"], "compliance", 30, 24)
        second = gateway.lock_snapshots(["snap-2"], "compliance", 30)
    stubber.assert_no_pending_responses()
    assert first["snap-1"].state == "compliance-cooloff" and first["snap-1"].holds
    assert second["snap-2"].expires_on == ends
    # Lifeboat has no way to undo a lock (and the template grants ec2:UnlockSnapshot to nobody).
    assert not any("unlock" in name.lower() for name in dir(gateway))


def test_locks_in_force_are_read_page_by_page_and_expired_ones_left_out() -> None:
    gateway, stubber = _gateway()
    ends = NOW + timedelta(days=3)
    ids = ["snap-1", "snap-2", "snap-3", "snap-4"]
    stubber.add_response(
        "describe_locked_snapshots",
        {
            "Snapshots": [
                _locked("snap-1", "compliance", ends),
                _locked("snap-2", "expired", NOW - timedelta(days=1)),
            ],
            "NextToken": "page-2",
        },
        {"SnapshotIds": ids},
    )
    stubber.add_response(
        "describe_locked_snapshots",
        {"Snapshots": [_locked("snap-3", "compliance-cooloff", ends)]},
        {"SnapshotIds": ids, "NextToken": "page-2"},
    )
    with stubber:
        locks = gateway.snapshot_locks(ids)
    stubber.assert_no_pending_responses()
    assert set(locks) == {"snap-1", "snap-3"}
    assert locks["snap-1"].expires_on == ends


def test_a_snapshot_gone_meanwhile_does_not_hide_the_others_locks() -> None:
    gateway, stubber = _gateway()
    ends = NOW + timedelta(days=3)
    ids = ["snap-1", "snap-2", "snap-3", "snap-gone"]
    missing = "InvalidSnapshot.NotFound"
    stubber.add_client_error(
        "describe_locked_snapshots", missing, expected_params={"SnapshotIds": ids}
    )
    stubber.add_response(  # halved: the half without the missing snapshot answers at once
        "describe_locked_snapshots",
        {"Snapshots": [_locked("snap-1", "governance", ends)]},
        {"SnapshotIds": ["snap-1", "snap-2"]},
    )
    stubber.add_client_error(
        "describe_locked_snapshots", missing, expected_params={"SnapshotIds": ids[2:]}
    )
    stubber.add_response(
        "describe_locked_snapshots",
        {"Snapshots": [_locked("snap-3", "compliance", ends)]},
        {"SnapshotIds": ["snap-3"]},
    )
    stubber.add_client_error(
        "describe_locked_snapshots", missing, expected_params={"SnapshotIds": ["snap-gone"]}
    )
    with stubber:
        assert set(gateway.snapshot_locks(ids)) == {"snap-1", "snap-3"}
    stubber.assert_no_pending_responses()


def test_nothing_is_asked_for_no_snapshots() -> None:
    gateway, stubber = _gateway()
    with stubber:  # DescribeLockedSnapshots without ids would list every lock of the account
        assert gateway.snapshot_locks([]) == {}


# --- finalize's locking over the real adapter ----------------------------------------------
def _ports(gateway: Ec2Gateway) -> Any:
    return fake_ports(ec2=gateway, catalog=FakeCatalog(), notifier=FakeNotifier())


def test_a_lock_already_long_enough_is_never_asked_again_so_never_shortened() -> None:
    # Given a compliance lock (say, extended by hand) lasting past the rule's end on one
    # snapshot of an AMI point, and no lock on its other snapshot
    gateway, stubber = _gateway()
    ports = _ports(gateway)
    plans = locked_plans({"mode": "governance", "days": 10})
    longer = COMPLETED + timedelta(days=400)
    stubber.add_response(
        "describe_locked_snapshots",
        {"Snapshots": [_locked("snap-root", "compliance", longer, 400)]},
        {"SnapshotIds": ["snap-root", "snap-data"]},
    )
    ends = NOW + timedelta(days=10)
    stubber.add_response(
        "lock_snapshot",
        _locked("snap-data", "governance", ends),
        {"SnapshotId": "snap-data", "LockMode": "governance", "LockDuration": 10},
    )
    # When finalize locks the point
    with stubber:
        report = lock_points([_point("snap-root", "snap-data")], plans, ports, NOW)
    # Then only the unlocked snapshot was locked (a LockSnapshot on snap-root would have failed
    # the Stubber), and the point is recorded as held until the later of the two ends
    stubber.assert_no_pending_responses()
    assert report == {"locked": 1, "failed": 0, "failures": {}}
    (point,) = ports.catalog.all_points()
    assert point.locked_until == longer and point.lock_mode == "compliance"


def test_a_lock_ending_too_soon_is_extended_from_now() -> None:
    gateway, stubber = _gateway()
    ports = _ports(gateway)
    plans = locked_plans({"mode": "governance", "days": 10})
    stubber.add_response(
        "describe_locked_snapshots",
        {"Snapshots": [_locked("snap-1", "governance", NOW + timedelta(days=2), 2)]},
        {"SnapshotIds": ["snap-1"]},
    )
    ends = NOW + timedelta(days=10)
    stubber.add_response(
        "lock_snapshot",
        _locked("snap-1", "governance", ends),
        {"SnapshotId": "snap-1", "LockMode": "governance", "LockDuration": 10},
    )
    with stubber:
        lock_points([_point("snap-1", kind=Kind.EBS)], plans, ports, NOW)
    stubber.assert_no_pending_responses()
    (point,) = ports.catalog.all_points()
    assert point.locked_until == ends  # EC2's own end, not one computed here


def test_unreadable_locks_change_no_lock_and_are_notified() -> None:
    gateway, stubber = _gateway()
    ports = _ports(gateway)
    plans = locked_plans({"mode": "governance", "days": 10})
    stubber.add_client_error(
        "describe_locked_snapshots", service_error_code="UnauthorizedOperation"
    )
    with stubber:  # no LockSnapshot may follow
        report = lock_points([_point("snap-1")], plans, ports, NOW)
    assert report["locked"] == 0 and report["failed"] == 1
    assert "UnauthorizedOperation" in next(iter(report["failures"].values()))
    assert ports.catalog.all_points() == []
    (subject, body) = ports.notifier.sent[0]
    assert "could not be locked" in subject and "not immutable" in body["note"]


def test_a_refused_lock_is_reported_with_ec2s_error_code() -> None:
    gateway, stubber = _gateway()
    ports = _ports(gateway)
    plans = locked_plans({"mode": "governance", "days": 10})
    stubber.add_response("describe_locked_snapshots", {"Snapshots": []}, {"SnapshotIds": ["s-1"]})
    stubber.add_client_error(
        "lock_snapshot",
        service_error_code="InvalidParameterValue",
        expected_params={"SnapshotId": "s-1", "LockMode": "governance", "LockDuration": 10},
    )
    with stubber:
        report = lock_points([_point("s-1")], plans, ports, NOW)
    assert report["failed"] == 1 and "InvalidParameterValue" in str(report["failures"])
    assert ports.catalog.all_points() == []  # nothing holds it: nothing recorded


def test_a_lock_longer_than_the_stack_allows_is_not_even_asked_for() -> None:
    gateway, stubber = _gateway()
    ports = _ports(gateway)
    plans = locked_plans({"mode": "governance", "days": 10})
    stubber.add_response("describe_locked_snapshots", {"Snapshots": []}, {"SnapshotIds": ["s-1"]})
    with stubber:  # IAM would refuse it (ec2:SnapshotLockDuration): said plainly instead
        report = lock_points([_point("s-1")], plans, ports, NOW, max_days=7)
    assert "SnapshotLockMaxDays=10" in str(report["failures"])
