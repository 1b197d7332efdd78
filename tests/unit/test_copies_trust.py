"""Copies keep their promises (issue: copies and locks in another region), on fakes: a copy is
adopted only when AWS proves it ours (RDS: its source and its date; EC2: its date), a forged
artifact in a copy's place is never adopted nor deleted, a copy locked by hand in its region
is never half-deleted nor marked deleted, and a copy never claims a lock it does not have."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifeboat import tags as T
from lifeboat.copies.enqueue import queue_copies
from lifeboat.copies.start import client_token
from lifeboat.models import PointStatus, RecoveryPoint, SnapshotLock
from lifeboat.plans import Kind
from lifeboat.prune import PruneRequest, prune
from lifeboat.timeutil import iso
from tests.fakes.catalog import FakeCatalog
from tests.fakes.copies import DiedAfterCall, FakeCopier
from tests.worlds.copies import (
    HOME_ARN,
    NOW,
    completed_copies,
    database,
    forge,
    home,
    our_arn,
    plans,
    point,
    put_home,
    queue,
    run_pump,
    until_done,
    world,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("kind", ["db", "cluster"])
@pytest.mark.parametrize(
    ("whose", "made_days_ago"),
    [("ours", 1), ("another", 0), (None, 0)],
    ids=["our-source-made-before-the-intent", "another-source", "not-a-copy"],
)
def test_a_forged_db_snapshot_in_a_copys_place_is_refused_notified_and_never_deleted(
    kind: str, whose: str | None, made_days_ago: int
) -> None:
    # Given a snapshot in us-west-2 named as tonight's copy will be, with copied lifeboat tags,
    # made before the run (or copied from another snapshot, or no copy at all)
    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW))
    source = database(kind)
    put_home(ports, source)
    arn = (
        our_arn(source)
        if whose == "ours"
        else (HOME_ARN.format("snapshot", "x") if whose else None)
    )
    name = forge(copier, source, arn, made_days_ago)
    queue_copies([source], plans(), ports, NOW)
    # When the copier runs: CopyDBSnapshot answers DBSnapshotAlreadyExists
    report = run_pump(ports, plans()).regions[0]
    # Then that copy alone fails with a clear reason, notified, and the forged one stays
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copy.status is PointStatus.FAILED and "not Lifeboat's copy" in (copy.error or "")
    assert not copy.artifact_ids() and name in copier.dbs
    assert copy.recovery_point_id in report.failed and not queue(catalog)
    assert any("1 failed" in subject for subject, _ in ports.notifier.sent)  # type: ignore[union-attr]
    # and no prune ever deletes it (it is not in the catalog as a copy's artifact)
    prune(
        PruneRequest(plan="standard"),
        plans(copy_retention={"daily": 1}),
        ports,
        NOW + timedelta(days=9),
    )
    assert name in copier.dbs


@pytest.mark.parametrize("kind", ["db", "cluster"])
def test_a_db_copy_whose_task_died_after_the_call_is_adopted_when_rds_proves_it_ours(
    kind: str,
) -> None:
    copier = FakeCopier(die_after_calls=1, clock=lambda: NOW + timedelta(seconds=5))
    ports, catalog, copier = world(copier)
    source = database(kind)
    put_home(ports, source)
    queue_copies([source], plans(), ports, NOW)
    with pytest.raises(DiedAfterCall):
        run_pump(ports, plans())
    until_done(ports, plans())
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copy.status is PointStatus.COMPLETED and copier.calls == ["CopyDBSnapshot"]
    assert (copy.db_cluster_snapshot_id or copy.db_snapshot_id) in copier.dbs


def test_a_db_copy_rds_has_not_dated_yet_is_decided_on_a_later_pump() -> None:
    copier = FakeCopier(die_after_calls=1, clock=lambda: NOW)
    ports, catalog, copier = world(copier)
    source = database()
    put_home(ports, source)
    queue_copies([source], plans(), ports, NOW)
    with pytest.raises(DiedAfterCall):
        run_pump(ports, plans())
    made = copier.dbs[source.db_snapshot_id or ""]
    made["SnapshotCreateTime"] = None  # still copying: RDS has not dated it
    waiting = run_pump(ports, plans(), NOW + timedelta(minutes=1)).regions[0]
    assert waiting.queued == 1 and not waiting.started and not waiting.failed
    made["SnapshotCreateTime"] = NOW + timedelta(seconds=30)
    until_done(ports, plans())
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copy.status is PointStatus.COMPLETED


def test_an_image_returned_for_our_client_token_but_made_before_the_intent_is_not_ours() -> None:
    # Given an image someone made with tonight's (predictable) ClientToken the day before
    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW))
    source = point("i-0web1", Kind.AMI)
    home(ports, [source])
    cid = f"{source.recovery_point_id}@us-west-2"
    tags = {T.MANAGED: "true", T.COPY_POINT: cid}
    copier.images_["ami-0f0f0f0f"] = {
        "ImageId": "ami-0f0f0f0f",
        "CreationDate": (NOW - timedelta(days=1)).isoformat(),
        "State": "available",
        "Tags": T.to_list(tags),
        "BlockDeviceMappings": [],
        "_polls": 0,
    }
    copier.tokens[client_token(cid)] = "ami-0f0f0f0f"
    queue_copies([source], plans(), ports, NOW)
    until_done(ports, plans())
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copy.status is PointStatus.FAILED and "made before this copy was started" in (
        copy.error or ""
    )
    assert copy.image_id is None and "ami-0f0f0f0f" in copier.images_  # forgotten, not deleted


def _snapshots_of(copier: FakeCopier, copy: RecoveryPoint) -> list[str]:
    """The copy's snapshots in its region (by the copy id they are tagged with)."""
    return sorted(
        s
        for s, v in copier.snaps.items()
        if T.to_dict(v["Tags"])[T.COPY_POINT] == copy.recovery_point_id
    )


def _untouched(
    catalog: FakeCatalog, copier: FakeCopier, copy: RecoveryPoint, snapshot_ids: list[str]
) -> RecoveryPoint:
    """Asserts nothing of the copy was deleted; the copy as the catalog has it now."""
    assert all(s in copier.snaps for s in snapshot_ids)
    if copy.image_id:
        assert copy.image_id in copier.images_
    return next(
        c
        for c in catalog.copies_for_resource("i-0web1", "us-west-2")
        if c.recovery_point_id == copy.recovery_point_id
    )


@pytest.mark.parametrize("kind", [Kind.AMI, Kind.EBS])
def test_a_copy_locked_by_hand_in_its_region_is_kept_whole_and_listed_locked(kind: Kind) -> None:
    ports, catalog, copier, copies = completed_copies(kind)
    oldest = copies[0]
    snapshot_ids = _snapshots_of(copier, oldest)
    assert len(snapshot_ids) == 2
    # Given one of its snapshots locked by hand in us-west-2
    copier.locks[snapshot_ids[1]] = SnapshotLock(
        snapshot_id=snapshot_ids[1], state="governance", expires_on=NOW + timedelta(days=30)
    )
    before = (dict(copier.images_), dict(copier.snaps))
    # When its retention expires
    report = prune(PruneRequest(plan="standard"), plans(copy_retention={"daily": 1}), ports, NOW)
    # Then nothing of it is deleted, it is listed locked and never marked deleting/deleted
    assert all(s in copier.snaps for s in snapshot_ids)
    if oldest.image_id:
        assert oldest.image_id in copier.images_
    assert oldest.recovery_point_id in {lock.id for lock in report.locked}
    after = next(
        c
        for c in catalog.copies_for_resource("i-0web1", "us-west-2")
        if c.recovery_point_id == oldest.recovery_point_id
    )
    assert after.status is PointStatus.COMPLETED
    assert len(before[1]) - len(copier.snaps) == 2 * (
        1 if kind is Kind.EBS else 1
    )  # the other old copy went


@pytest.mark.parametrize("kind", [Kind.AMI, Kind.EBS])
def test_a_lock_set_after_prune_read_the_locks_still_deletes_nothing_of_the_set(kind: Kind) -> None:
    # A lock that appears between the read and the delete (or an interrupted prune's copy,
    # taken over 'deleting'): the set's locks are read again before its first delete.
    ports, catalog, copier, copies = completed_copies(kind)
    oldest = copies[0]
    snapshot_ids = _snapshots_of(copier, oldest)
    real = copier.snapshot_locks
    calls = {"n": 0}

    def lock_appears(ids: list[str]) -> dict[str, SnapshotLock]:
        calls["n"] += 1
        if calls["n"] == 2:  # prune's first read saw none; a lock is set by hand meanwhile
            copier.locks[snapshot_ids[0]] = SnapshotLock(
                snapshot_id=snapshot_ids[0], state="compliance", expires_on=NOW + timedelta(days=9)
            )
        return real(ids)

    copier.snapshot_locks = lock_appears  # type: ignore[method-assign]
    report = prune(PruneRequest(plan="standard"), plans(copy_retention={"daily": 2}), ports, NOW)
    after = _untouched(catalog, copier, oldest, snapshot_ids)
    assert after.status is PointStatus.COMPLETED  # put back whole, offered again
    assert oldest.recovery_point_id in {lock.id for lock in report.locked} and report.deleted == 0


@pytest.mark.parametrize("kind", [Kind.AMI, Kind.EBS])
def test_an_interrupted_copy_deletion_under_a_lock_is_left_deleting_not_counted(
    kind: Kind,
) -> None:
    # Given a copy whose deletion a prune began and never finished (marked an hour ago), and
    # one of its snapshots locked by hand in us-west-2 since
    ports, catalog, copier, copies = completed_copies(kind)
    oldest = copies[0]
    mark = {"deleting_since": iso(NOW - timedelta(hours=1)), "deleting_by": "prune:gone"}
    assert catalog.transition(oldest, PointStatus.COMPLETED, PointStatus.DELETING, mark)
    snapshot_ids = _snapshots_of(copier, oldest)
    copier.locks[snapshot_ids[0]] = SnapshotLock(
        snapshot_id=snapshot_ids[0], state="governance", expires_on=NOW + timedelta(days=3)
    )
    # When a prune runs while the lock holds (planned, then done)
    for dry_run in (True, False):
        report = prune(
            PruneRequest(plan="standard", dry_run=dry_run),
            plans(copy_retention={"daily": 2}),
            ports,
            NOW,
        )
        # Then it is reported locked, never expired nor freed, and nothing of it is deleted
        assert oldest.recovery_point_id in {lock.id for lock in report.locked}
        assert oldest.recovery_point_id not in {e.recovery_point_id for e in report.expired}
    after = _untouched(catalog, copier, oldest, snapshot_ids)
    assert after.status is PointStatus.DELETING  # never offered again: some may be gone


def test_a_copy_of_a_locked_point_claims_no_lock_and_its_claim_is_not_believed() -> None:
    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW))
    sources = [
        point("i-0web1", Kind.EBS, day=d).model_copy(
            update={"locked_until": NOW + timedelta(days=90), "lock_mode": "compliance"}
        )
        for d in range(3)
    ]
    home(ports, sources)
    queue_copies(sources, plans(), ports, NOW)
    until_done(ports, plans())
    copies = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copies and all(c.locked_until is None and c.lock_mode is None for c in copies)
    # A copy recorded by an older version with its source's lock: the claim is not believed
    # (nothing is locked there), so its retention applies.
    oldest = min(copies, key=lambda c: c.created_at)
    catalog.put_point(
        oldest.model_copy(
            update={"locked_until": NOW + timedelta(days=90), "lock_mode": "compliance"}
        )
    )
    report = prune(PruneRequest(plan="standard"), plans(copy_retention={"daily": 2}), ports, NOW)
    assert report.deleted == 1 and not report.locked


def test_a_copy_that_could_not_be_queued_is_notified_counted_missing_and_copied_later() -> None:
    from lifeboat.copies.enqueue import queue_and_start
    from lifeboat.copies.status import copy_status

    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW))
    yesterday = point("i-0web1", Kind.EBS, day=1)
    home(ports, [yesterday])
    queue_copies([yesterday], plans(), ports, NOW - timedelta(days=1))
    until_done(ports, plans())  # yesterday's copy exists: the copies' RPO looks fresh
    tonight = point("i-0web1", Kind.EBS)
    home(ports, [tonight])

    catalog.fail_after_writes = 0  # the table refuses the batched queue write
    # When finalize cannot queue tonight's copy: the run goes on, and it is notified at once
    result = queue_and_start([tonight], plans(), ports, NOW, "run-2", None)
    assert "copies not queued" in result["error"] and result["notified"]
    assert any("not queued" in subject for subject, _ in ports.notifier.sent)  # type: ignore[union-attr]
    assert queue(catalog) == []  # nothing of the chunk was written (tonight is not queued)
    catalog.fail_after_writes = None  # the table answers again
    # copies status counts it as missing (not a fresh RPO with without_copy: [])
    (region,) = copy_status(plans(), ports, NOW)
    (rule,) = region.rules
    assert rule.without_copy == ["i-0web1"] and rule.rpo_seconds is None
    assert rule.not_queued == [tonight.recovery_point_id]
    # The next copier queues it (its first pump) and copies it
    first = run_pump(ports, plans(), NOW + timedelta(hours=1)).regions[0]
    assert first.requeued == [tonight.recovery_point_id]
    until_done(ports, plans())
    copied = {c.copy_of for c in catalog.copies_for_rule("us-west-2", "standard", "daily")}
    assert tonight.recovery_point_id in copied
    (region,) = copy_status(plans(), ports, NOW + timedelta(hours=1))
    assert region.rules[0].without_copy == [] and region.rules[0].not_queued == []


def test_the_copier_never_requeues_a_copy_given_up_nor_history_the_copy_retention_drops() -> None:
    from lifeboat.copies.reconcile import forgotten

    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW, fail_copies=100))
    old = [point("i-0web1", Kind.EBS, day=d) for d in range(20, 23)]  # before copy_to was set
    given_up = point("i-0web1", Kind.EBS, day=1)
    home(ports, [*old, given_up])
    catalog.put_point(
        given_up.model_copy(
            update={
                "recovery_point_id": given_up.recovery_point_id + "@us-west-2",
                "region": "us-west-2",
                "copy_of": given_up.recovery_point_id,
                "status": PointStatus.FAILED,
            }
        )
    )
    assert forgotten("us-west-2", plans(copy_retention={"daily": 7}), ports, NOW) == []
    never = point("i-0web1", Kind.EBS, day=2)  # within the copy retention, never queued
    home(ports, [never])
    assert forgotten("us-west-2", plans(copy_retention={"daily": 7}), ports, NOW) == [never]


def test_a_copy_deleted_outside_lifeboat_is_not_counted_marked_failed_and_reported() -> None:
    from lifeboat.copies.status import copy_status

    ports, catalog, copier, copies = completed_copies(Kind.AMI, days=2)
    newest = copies[-1]
    copier.images_.pop(newest.image_id or "")  # deregistered by hand in us-west-2
    (region,) = copy_status(plans(), ports, NOW)
    (rule,) = region.rules
    assert rule.vanished == [newest.recovery_point_id]
    assert rule.without_copy == [] and rule.rpo_seconds == 86400  # the older copy counts
    report = prune(PruneRequest(plan="standard", dry_run=True), plans(), ports, NOW)
    assert newest.recovery_point_id in report.broken
    assert catalog.copies_for_resource("i-0web1", "us-west-2")[-1].status is PointStatus.COMPLETED
    report = prune(PruneRequest(plan="standard"), plans(), ports, NOW)
    marked = next(
        c
        for c in catalog.copies_for_resource("i-0web1", "us-west-2")
        if c.recovery_point_id == newest.recovery_point_id
    )
    assert marked.status is PointStatus.FAILED and "deleted outside Lifeboat" in (
        marked.error or ""
    )


def test_copy_artifacts_nobody_catalogued_are_reported_and_never_deleted() -> None:
    from lifeboat.copies.status import copy_status

    ports, catalog, copier, copies = completed_copies(Kind.EBS, days=3)
    # A CopySnapshot re-sent after a time-out: a second snapshot tagged as the oldest copy's
    oldest = copies[0]
    tags = {T.MANAGED: "true", T.COPY_POINT: oldest.recovery_point_id, T.PLAN: "standard"}
    copier.snaps["snap-c0resent"] = {
        "SnapshotId": "snap-c0resent",
        "StartTime": NOW,
        "State": "completed",
        "Tags": T.to_list({**tags, T.COPY_OF: "snap-x"}),
        "_polls": 0,
    }
    (region,) = copy_status(plans(), ports, NOW)
    assert [a.artifact_id for a in region.uncatalogued] == ["snap-c0resent"]
    short = plans(copy_retention={"daily": 1})
    report = prune(PruneRequest(plan="standard", delete_orphans=True), short, ports, NOW)
    assert "snap-c0resent" in [o.artifact_id for o in report.foreign_tagged]
    assert report.deleted == 2 and "snap-c0resent" in copier.snaps  # the copy went; not it
