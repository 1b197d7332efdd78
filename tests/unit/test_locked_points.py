"""Locked recovery points and the Recycle Bin on in-memory fakes (docs/concepts/immutability.md): a
rule's ``lock`` and its refusals, finalize locking a run's points (an AMI's snapshots too, RDS
never), prune keeping locked points (recorded, or as EC2 reports) and never counting them as
deleted or freed, locked orphans, and the Recycle Bin note of the prune report. The EC2
requests themselves: tests/unit/test_snapshot_lock.py (Stubber)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifeboat.backup import check_run, create_batch, finalize_run
from lifeboat.models import (
    CheckEvent,
    CreateBatchEvent,
    FinalizeEvent,
    PointStatus,
    ResourceRef,
    SnapshotLock,
)
from lifeboat.plans import Kind
from lifeboat.prune import PruneRequest, prune
from lifeboat.prune.expired import run_prune
from tests.fakes.notifier import FakeNotifier
from tests.worlds.prune import PLANS, World, locked_plans

pytestmark = pytest.mark.unit

GOVERNANCE = locked_plans({"mode": "governance", "days": 10})


# --- the rule ------------------------------------------------------------------------------
def test_compliance_mode_needs_its_acknowledgement_naming_the_field() -> None:
    with pytest.raises(ValueError, match="i_understand_compliance_mode: true"):
        locked_plans({"mode": "compliance", "days": 30})
    with pytest.raises(ValueError, match="cool_off_hours applies to compliance mode only"):
        locked_plans({"mode": "governance", "days": 30, "cool_off_hours": 2})
    with pytest.raises(ValueError, match="days"):
        locked_plans({"mode": "governance", "days": 0})
    plans = locked_plans({"mode": "compliance", "days": 30, "i_understand_compliance_mode": True})
    assert plans.plans["standard"].rules["daily"].lock is not None


def test_a_lock_on_a_rule_of_databases_only_is_refused() -> None:
    data = PLANS.model_dump(mode="json")
    data["plans"]["standard"]["rules"]["daily"]["kinds"] = ["rds"]
    data["plans"]["standard"]["rules"]["daily"]["lock"] = {"mode": "governance", "days": 3}
    with pytest.raises(ValueError, match="cannot lock RDS snapshots"):
        PLANS.model_validate(data)


# --- finalize ------------------------------------------------------------------------------
def test_finalize_locks_every_snapshot_of_a_runs_points_and_records_until_when() -> None:
    world = World()
    run_id = world.daily_run(GOVERNANCE)
    (point,) = world.catalog.points_for_run(run_id)
    assert point.status is PointStatus.COMPLETED and point.kind is Kind.AMI
    assert point.lock_mode == "governance"
    assert point.locked_until == world.now - timedelta(days=1) + timedelta(days=10)
    image = world.ec2.amis[point.image_id or ""]
    behind = {m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]}
    assert len(behind) == 2 and behind <= set(world.ec2.locks)  # root and data volume


def test_a_repeated_finalize_locks_nothing_twice() -> None:
    world = World()
    world.daily_run(GOVERNANCE)
    calls = len(world.ec2.lock_calls)
    from lifeboat.backup.lock import lock_points

    points = world.catalog.all_points()
    report = lock_points(points, GOVERNANCE, world.ports, world.now)  # a day later, say
    assert report["locked"] == 1 and len(world.ec2.lock_calls) == calls


def test_a_lock_that_fails_is_reported_and_never_fails_the_backup() -> None:
    world = World()
    world.ec2.refuse_all_locks = True
    run_id, report = world.daily_run(GOVERNANCE, with_report=True)
    assert report["status"] == "succeeded"
    assert report["locks"]["failed"] == 1 and "UnauthorizedOperation" in str(report["locks"])
    assert isinstance(world.ports.notifier, FakeNotifier)
    assert any("could not be locked" in subject for subject, _ in world.ports.notifier.sent)
    (point,) = world.catalog.points_for_run(run_id)
    assert point.status is PointStatus.COMPLETED and point.locked_until is None


def test_a_partly_locked_point_is_recorded_as_held_and_its_failure_reported() -> None:
    world = World()
    lock = world.ec2.lock_snapshots

    def refuse_the_first(
        ids: list[str], mode: str, days: int, cool_off_hours: int = 0
    ) -> dict[str, SnapshotLock]:
        world.ec2.refuse_locks.add(ids[0])
        return lock(ids, mode, days, cool_off_hours)

    world.ec2.lock_snapshots = refuse_the_first  # type: ignore[method-assign]
    _run_id, report = world.daily_run(GOVERNANCE, with_report=True)
    assert report["locks"]["locked"] == 1 and report["locks"]["failed"] == 1
    (point,) = world.catalog.all_points()
    assert point.locked_until is not None  # its locked snapshot holds it: prune must see it


# --- prune -------------------------------------------------------------------------------------
def test_prune_never_counts_a_locked_point_as_deleted_before_its_lock_ends() -> None:
    world = World()
    for _ in range(5):
        world.daily_run(GOVERNANCE)
    report = prune(PruneRequest(plan="standard"), GOVERNANCE, world.ports, world.now)
    assert report.deleted == 0 and not report.expired and report.frees_gb == 0
    assert len(report.locked) == 3 and report.kept == 5
    assert all(lock.kind == "point" and lock.mode == "governance" for lock in report.locked)
    assert "kept until the lock ends" in report.locked[0].describe()
    assert report.summary()["locked"] == 3
    world.now += timedelta(days=10)  # every lock has ended; backups went on (unlocked)
    world.daily_run(PLANS)
    report = prune(PruneRequest(plan="standard"), GOVERNANCE, world.ports, world.now)
    assert report.deleted == len(report.expired) >= 3 and not report.locked


def test_a_lock_the_catalog_never_recorded_holds_the_point_too() -> None:
    # Given points with no lock recorded, one of whose snapshots someone locked by hand
    world = World()
    world.daily_runs(5)
    oldest = min(world.catalog.all_points(), key=lambda p: p.created_at)
    until = world.now + timedelta(days=3)
    world.ec2.lock_by_hand(oldest.snapshots[1].snapshot_id, until)
    # When prune plans (dry run) and deletes
    planned = prune(PruneRequest(plan="standard", dry_run=True), PLANS, world.ports, world.now)
    report = prune(PruneRequest(plan="standard"), PLANS, world.ports, world.now)
    # Then the point is kept whole, with EC2's end, and neither counted nor freed
    for result in (planned, report):
        assert [lock.id for lock in result.locked] == [oldest.recovery_point_id]
        assert result.locked[0].locked_until == until
        assert len(result.expired) == 2
        assert oldest.recovery_point_id not in {e.recovery_point_id for e in result.expired}
    assert report.deleted == 2
    kept = world.catalog.get_point(oldest.source_id, oldest.run_id, oldest.kind.value)
    assert kept is not None and kept.status is PointStatus.COMPLETED
    assert all(world.ec2.exists(a) for a in kept.artifact_ids())


def test_a_lock_that_appears_after_prune_read_is_never_counted_as_deleted() -> None:
    # Given a lock someone puts on a snapshot of the oldest point while prune deletes it (after
    # prune read the locks, after its AMI was deregistered)
    world = World()
    world.daily_runs(3)
    oldest = min(world.catalog.all_points(), key=lambda p: p.created_at)
    locked_sid = oldest.snapshots[0].snapshot_id
    deregister = world.ec2.deregister_image

    def lock_meanwhile(image_id: str, owner_tags: dict[str, str] | None = None) -> list[str]:
        world.ec2.lock_by_hand(locked_sid, world.now + timedelta(days=1))
        return deregister(image_id, owner_tags)

    world.ec2.deregister_image = lock_meanwhile  # type: ignore[method-assign]
    report = prune(PruneRequest(plan="standard"), PLANS, world.ports, world.now)
    # Then it is neither deleted nor freed; its AMI is gone, so it stays 'deleting' (never
    # offered for restore) and the first prune after the lock ends finishes it
    assert report.deleted == 0 and report.frees_gb == 0
    assert [lock.snapshots for lock in report.locked] == [[locked_sid]]
    left = world.catalog.get_point(oldest.source_id, oldest.run_id, oldest.kind.value)
    assert left is not None and left.status is PointStatus.DELETING
    world.ec2.deregister_image = deregister  # type: ignore[method-assign]
    # And a prune while the lock holds (the mark taken over) reports it locked, not expired,
    # and leaves what is left of it alone (planned and done alike)
    world.now += timedelta(hours=1)
    present = [s.snapshot_id for s in oldest.snapshots if world.ec2.exists(s.snapshot_id)]
    assert present == [locked_sid]  # the other went before the lock refused this one
    for dry_run in (True, False):
        held = prune(PruneRequest(plan="standard", dry_run=dry_run), PLANS, world.ports, world.now)
        assert oldest.recovery_point_id not in {e.recovery_point_id for e in held.expired}
        assert [lock.id for lock in held.locked] == [oldest.recovery_point_id]
        assert held.deleted == 0 and held.frees_gb == 0
    left = world.catalog.get_point(oldest.source_id, oldest.run_id, oldest.kind.value)
    assert left is not None and left.status is PointStatus.DELETING
    assert world.ec2.exists(locked_sid)
    world.now += timedelta(days=2)
    prune(PruneRequest(plan="standard"), PLANS, world.ports, world.now)
    done = world.catalog.get_point(oldest.source_id, oldest.run_id, oldest.kind.value)
    assert done is not None and done.status is PointStatus.DELETED
    assert not world.ec2.exists(locked_sid)


def test_a_snapshot_set_refused_whole_for_a_lock_is_put_back() -> None:
    # Given hourly snapshot sets, the oldest's locked by hand after prune read the locks
    world = World()
    for _ in range(5):
        _hourly_run(world)
    oldest = min(world.catalog.all_points(), key=lambda p: p.created_at)
    assert oldest.kind is Kind.EBS
    read = world.ec2.snapshot_locks
    world.ec2.snapshot_locks = lambda ids: {}  # type: ignore[method-assign]
    for snap in oldest.snapshots:
        world.ec2.lock_by_hand(snap.snapshot_id, world.now + timedelta(days=1))
    # When prune deletes
    report = prune(PruneRequest(plan="standard"), PLANS, world.ports, world.now)
    world.ec2.snapshot_locks = read  # type: ignore[method-assign]
    # Then the set is put back whole (nothing of it went), offered for restore again
    back = world.catalog.get_point(oldest.source_id, oldest.run_id, oldest.kind.value)
    assert back is not None and back.status is PointStatus.COMPLETED
    assert all(world.ec2.exists(a) for a in back.artifact_ids())
    assert [lock.id for lock in report.locked] == [oldest.recovery_point_id]
    assert report.deleted == len(report.expired) - 1


def _hourly_run(world: World) -> None:
    run_id = f"{world.now:%Y%m%dT%H%M%SZ}-standard-hourly-m1"
    world.catalog.claim_run(run_id, "exec", {"plan": "standard", "rule": "hourly"})
    event = CreateBatchEvent(
        run_id=run_id,
        plan="standard",
        rule="hourly",
        resources=[ResourceRef(type="instance", id=world.instance)],
    )
    create_batch(event, PLANS, world.ports, world.now)
    check_run(CheckEvent(run_id=run_id), world.ports, world.now)
    batch = event.model_dump(mode="json")
    finalize_run(FinalizeEvent(run_id=run_id, batches=[batch]), PLANS, world.ports, world.now)
    world.now += timedelta(hours=1)


def test_a_locked_orphan_is_never_counted_as_deletable() -> None:
    # Given a locked point whose AMI someone deregistered by hand: its snapshots are orphans
    world = World()
    for _ in range(2):
        world.daily_run(GOVERNANCE)
    world.now += timedelta(days=1)
    oldest = min(world.catalog.all_points(), key=lambda p: p.created_at)
    snapshots = world.ec2.deregister_image(oldest.image_id or "")
    # When prune looks for orphans, deleting them
    report = prune(
        PruneRequest(plan="standard", delete_orphans=True), GOVERNANCE, world.ports, world.now
    )
    # Then they are listed as locked, not as orphans, and stay
    assert report.orphans == []
    assert sorted(lock.id for lock in report.locked) == sorted(snapshots)
    assert all(lock.kind == "orphan" for lock in report.locked)
    assert all(world.ec2.exists(s) for s in snapshots)


# --- the Recycle Bin -------------------------------------------------------------------------
def test_the_prune_report_says_deleted_points_sit_in_the_recycle_bin() -> None:
    world = World()
    world.daily_runs(5)
    data = run_prune(PruneRequest(plan="standard", dry_run=True), PLANS, world.ports, world.now, 14)
    note = data["summary"]["recycle_bin"]
    assert "Recycle Bin for 14 days" in note and "still billed" in note
    assert f"up to {data['frees_gb']} GiB" in note
    bare = run_prune(PruneRequest(plan="standard", dry_run=True), PLANS, world.ports, world.now)
    assert bare["summary"]["recycle_bin"] is None


def test_recovery_points_list_shows_a_lock_while_it_holds() -> None:
    from lifeboat.cli.backup import _status

    world = World()
    world.daily_run(GOVERNANCE)
    (point,) = world.catalog.all_points()
    assert _status(point, world.now) == "completed, locked to 2026-11-11 (governance)"
    assert _status(point, world.now + timedelta(days=10)) == "completed"
