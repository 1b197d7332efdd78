"""Copies in another region, on fakes: queued once, started within the destination's limits,
settled, adopted after a task died mid-start, failed without touching the backup, leased to one
copier per region, pruned by their own retention (never what lacks the copy's tag), and the home
points a copy still needs kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.copies.enqueue import queue_and_start, queue_copies
from lifeboat.copies.models import ADOPT_AFTER, LEASE, MAX_COPY_ATTEMPTS, PumpEvent
from lifeboat.copies.pump import pump
from lifeboat.errors import InvalidInputError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind, parse_plans
from lifeboat.prune import PruneRequest, prune
from lifeboat.timeutil import iso
from tests.fakes.copies import DiedAfterCall, FakeCopier
from tests.fakes.ports import fake_ports
from tests.worlds.copies import (
    ARN,
    KEY,
    NOW,
    home,
    plans,
    point,
    queue,
    run_pump,
    until_done,
    world,
)

pytestmark = pytest.mark.unit


def test_copy_targets_are_validated_naming_the_field() -> None:
    bad_key = plans().model_dump(mode="json")
    target = bad_key["plans"]["standard"]["rules"]["daily"]["copy_to"][0]
    target["kms_key"] = KEY.replace("us-west-2", "eu-west-1")
    with pytest.raises(ValueError, match="kms_key is in eu-west-1, not us-west-2"):
        parse_plans(bad_key)
    twice = plans().model_dump(mode="json")
    rule = twice["plans"]["standard"]["rules"]["daily"]
    rule["copy_to"] = [rule["copy_to"][0], rule["copy_to"][0]]
    with pytest.raises(ValueError, match="names a region twice"):
        parse_plans(twice)
    target["kms_key"], target["region"] = "alias/dr", "mars-1"
    with pytest.raises(ValueError, match="region"):
        parse_plans(bad_key)
    target["kms_key"], target["region"] = "alias/aws/ebs", "us-west-2"
    with pytest.raises(ValueError, match="AWS managed key"):
        parse_plans(bad_key)


def test_completed_points_are_queued_once_and_failed_ones_never() -> None:
    ports, catalog, _ = world()
    failed = point("i-0web1", Kind.EBS).model_copy(update={"status": PointStatus.FAILED})
    points = [point("i-0web1", Kind.AMI), point("elearn-db", Kind.RDS), failed]
    assert queue_copies(points, plans(), ports, NOW) == {"us-west-2": 2}
    assert queue_copies(points, plans(), ports, NOW) == {"us-west-2": 0}  # finalize again
    assert len(queue(catalog)) == 2


def test_finalize_starts_one_copier_per_run_and_a_failed_start_never_fails_the_run() -> None:
    ports, _, _ = world()
    points = [point("i-0web1", Kind.AMI)]
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:lifeboat-copier"
    result = queue_and_start(points, plans(), ports, NOW, "run-1", machine)
    assert result["queued"] == {"us-west-2": 1} and result["copier"].endswith(":copies-run-1")

    class Refusing:
        def start(self, *args: Any, **kwargs: Any) -> str:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Start")

    ports.executions = Refusing()  # type: ignore[assignment]
    later = [point("i-0web1", Kind.AMI, day=1)]
    result = queue_and_start(later, plans(), ports, NOW, "run-2", machine)
    assert result["queued"] == {"us-west-2": 1}
    assert "copier not started (the hourly schedule will)" in result["error"]


def test_the_copier_copies_records_and_empties_the_queue() -> None:
    ports, catalog, copier = world()
    sources = [point("i-0web1", Kind.AMI), point("i-0web1", Kind.EBS, snapshots=2)]
    sources.append(point("elearn-db", Kind.RDS))
    home(ports, sources)
    queue_copies(sources, plans(), ports, NOW)
    reports = until_done(ports, plans())
    assert reports[0].regions[0].started and not queue(catalog)
    copies = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert sorted(c.kind.value for c in copies) == ["ami", "ebs", "rds"]
    for copy in copies:
        assert copy.status is PointStatus.COMPLETED and copy.region == "us-west-2"
        assert copy.copy_of in {s.recovery_point_id for s in sources}
        assert copy.created_at == NOW  # the data's time: retention and RPO read it
        assert set(copy.artifact_ids()).isdisjoint(
            {a for s in sources for a in s.artifact_ids()} - {"lifeboat-elearn-db-0"}
        )
    ebs = next(c for c in copies if c.kind is Kind.EBS)
    assert all(s.encrypted and s.kms_key_id == KEY for s in ebs.snapshots)
    made = next(iter(copier.snaps.values()))
    tags = T.to_dict(made["Tags"])
    assert tags[T.MANAGED] == "true" and tags[T.SOURCE_REGION] == "eu-west-1"
    assert tags[T.COPY_POINT].endswith("@us-west-2") and tags[T.COPY_OF].startswith(
        ("snap-", "ami-")
    )
    assert catalog.points_for_resource("i-0web1") == sorted(
        sources[:2], key=lambda p: p.kind.value
    )  # a home query never sees a copy


def test_never_more_than_20_snapshot_copies_nor_5_database_copies_in_flight() -> None:
    copier = FakeCopier(polls_to_complete=3)
    ports, catalog, copier = world(copier)
    sources = [point(f"i-{n:05d}", Kind.EBS, snapshots=3) for n in range(15)]
    amis = [point(f"i-{n:05d}", Kind.AMI, snapshots=4) for n in range(5)]
    unrecorded = [point(f"i-{n:05d}", Kind.AMI, snapshots=0) for n in range(5, 10)]
    for image in amis + unrecorded:
        copier.image_snapshots[image.image_id or ""] = 4
        ports.ec2.amis[image.image_id or ""] = {  # type: ignore[attr-defined]
            "ImageId": image.image_id,
            "BlockDeviceMappings": [{"Ebs": {"SnapshotId": f"snap-x{n}"}} for n in range(4)],
        }
    sources += amis + unrecorded + [point(f"db-{n}", Kind.RDS) for n in range(8)]
    home(ports, sources)
    queue_copies(sources, plans(), ports, NOW)
    reports = until_done(ports, plans())
    assert max(r.regions[0].snapshots_in_flight for r in reports) <= 20
    assert max(r.regions[0].db_copies_in_flight for r in reports) <= 5
    assert copier.peak_in_flight <= 20
    assert len(reports) > 2  # they did not all fit at once
    copies = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert len(copies) == 33 and all(c.status is PointStatus.COMPLETED for c in copies)


def test_a_task_that_died_after_the_copy_call_never_copies_twice() -> None:
    copier = FakeCopier(die_after_calls=1)
    ports, catalog, copier = world(copier)
    source = point("i-0web1", Kind.EBS)
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    with pytest.raises(DiedAfterCall):
        run_pump(ports, plans())
    (intent,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert intent.status is PointStatus.PENDING and not intent.artifact_ids()  # nothing recorded
    report = run_pump(ports, plans(), NOW + timedelta(minutes=1))  # same lease owner: retried
    assert report.regions[0].started  # adopted: found by its lifeboat:copy-point tag
    until_done(ports, plans())
    assert copier.calls == ["CopySnapshot"] and len(copier.snaps) == 1
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copy.status is PointStatus.COMPLETED


def test_a_task_that_died_before_the_call_reached_aws_starts_it_once_later() -> None:
    copier = FakeCopier(die_before_calls=1)
    ports, catalog, copier = world(copier)
    source = point("i-0web1", Kind.EBS)
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    with pytest.raises(DiedAfterCall):
        run_pump(ports, plans())
    soon = run_pump(ports, plans(), NOW + ADOPT_AFTER / 2)
    assert soon.regions[0].queued == 1 and not soon.regions[0].started  # too soon to tell
    later = run_pump(ports, plans(), NOW + ADOPT_AFTER * 2)
    assert later.regions[0].started
    until_done(ports, plans())
    assert copier.calls == ["CopySnapshot"] and len(copier.snaps) == 1


def test_a_copy_that_fails_in_aws_is_removed_reported_and_the_backup_untouched() -> None:
    copier = FakeCopier(error_next=True)
    ports, catalog, copier = world(copier)
    source = point("i-0web1", Kind.EBS)
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    until_done(ports, plans())
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copy.status is PointStatus.FAILED and "snapshot copies" in (copy.error or "")
    assert not copier.snaps and not queue(catalog)
    assert catalog.points_for_resource("i-0web1") == [source]
    assert ports.notifier.sent  # type: ignore[union-attr]


def test_a_refused_copy_removes_what_its_set_made_and_is_tried_again_later() -> None:
    copier = FakeCopier()
    ports, catalog, copier = world(copier)
    ours = point("i-0web1", Kind.EBS, snapshots=2)
    other = point("i-0web2", Kind.EBS)
    home(ports, [ours, other])
    queue_copies([ours, other], plans(), ports, NOW)
    original = copier.copy_snapshot
    calls = {"n": 0}

    def second_refused(*args: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ClientError({"Error": {"Code": "ResourceLimitExceeded", "Message": "x"}}, "C")
        return original(*args)

    copier.copy_snapshot = second_refused  # type: ignore[method-assign,assignment]
    first = run_pump(ports, plans()).regions[0]
    (cid,) = first.retrying
    assert "ResourceLimitExceeded" in first.retrying[cid] and not first.failed
    left = {T.to_dict(s["Tags"])[T.COPY_POINT] for s in copier.snaps.values()}
    assert cid not in left  # the half-made set is gone; the other copy started
    soon = run_pump(ports, plans(), NOW + timedelta(minutes=5)).regions[0]
    assert not soon.started and soon.queued == 1  # not before its pause
    later = run_pump(ports, plans(), NOW + timedelta(minutes=20)).regions[0]
    assert later.started == [cid]
    until_done(ports, plans())
    copies = {c.source_id: c for c in catalog.copies_for_rule("us-west-2", "standard", "daily")}
    assert all(c.status is PointStatus.COMPLETED for c in copies.values())


def test_a_copy_refused_every_time_is_given_up_after_its_attempts_and_notified() -> None:
    copier = FakeCopier(fail_copies=100)
    ports, catalog, copier = world(copier)
    source = point("i-0web1", Kind.EBS)
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    when = NOW
    for n in range(MAX_COPY_ATTEMPTS):  # the hourly copiers of the next day and a half
        run_pump(ports, plans(), when, name=f"hourly-{n}", started=when)
        when += timedelta(hours=7)
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copy.status is PointStatus.FAILED
    assert f"after {MAX_COPY_ATTEMPTS} attempt(s)" in (copy.error or "")
    assert not queue(catalog) and ports.notifier.sent  # type: ignore[union-attr]
    assert catalog.points_for_resource("i-0web1") == [source]  # the backup is intact


def test_one_copier_per_region_and_a_dead_one_is_taken_over_after_its_lease() -> None:
    ports, catalog, _ = world(FakeCopier(polls_to_complete=5))
    source = point("i-0web1", Kind.AMI)
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    first = run_pump(ports, plans(), name="first")
    assert first.regions[0].started and not first.done
    second = run_pump(ports, plans(), name="second")
    assert second.regions[0].busy_with == ARN + "first" and second.done  # it leaves it be
    later = run_pump(ports, plans(), NOW + LEASE + timedelta(seconds=1), name="second")
    assert later.regions[0].busy_with is None  # the first died: its lease ran out


def test_a_copy_whose_source_was_deleted_before_it_started_is_dropped() -> None:
    ports, catalog, copier = world()
    source = point("i-0web1", Kind.EBS)
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    catalog.put_point(source.model_copy(update={"status": PointStatus.DELETED}))
    report = run_pump(ports, plans())
    assert report.done and not copier.calls and not queue(catalog)
    assert "no longer completed" in next(iter(report.regions[0].failed.values()))


def test_copies_are_pruned_by_their_own_retention_and_only_with_their_tag() -> None:
    ports, catalog, copier = world()
    sources = [point("i-0web1", Kind.EBS, day=d) for d in range(5)]
    home(ports, sources)
    queue_copies(sources, plans(), ports, NOW)
    until_done(ports, plans())
    short = plans(copy_retention={"daily": 2})
    dry = prune(PruneRequest(plan="standard", dry_run=True), short, ports, NOW)
    assert sorted(d.region or "" for d in dry.expired) == ["us-west-2"] * 3  # home keeps 7
    assert len(copier.snaps) == 5
    # One copy's snapshot was re-tagged by someone else: prune refuses it, deletes the others.
    forged = next(
        s for s in copier.snaps.values() if T.to_dict(s["Tags"])[T.COPY_OF] == "snap-0web1040"
    )
    forged["Tags"] = T.to_list({**T.to_dict(forged["Tags"]), T.COPY_POINT: "someone-else"})
    report = prune(PruneRequest(plan="standard"), short, ports, NOW)
    assert report.deleted == 2 and len(copier.snaps) == 3
    statuses = sorted(
        c.status.value for c in catalog.copies_for_rule("us-west-2", "standard", "daily")
    )
    assert statuses == ["completed", "completed", "completed", "deleted", "deleted"]
    assert all(
        p.status is PointStatus.COMPLETED for p in catalog.points_for_rule("standard", "daily")
    )


def test_prune_keeps_a_home_point_whose_copy_is_not_done() -> None:
    ports, catalog, _ = world()
    old = point("i-0web1", Kind.EBS, day=9)
    newer = [point("i-0web1", Kind.EBS, day=d) for d in range(3)]
    home(ports, [old, *newer])
    queue_copies([old], plans(), ports, NOW)  # its copy is still queued
    report = prune(PruneRequest(plan="standard"), plans(), ports, NOW)
    assert report.deleted == 0
    assert any("its copy to us-west-2 is not done yet" in s for s in report.skipped)
    assert catalog.get_point(old.source_id, old.run_id, "ebs") == old


def test_the_copier_input_is_validated() -> None:
    ports, _, _ = world()
    event = PumpEvent.model_validate(
        {
            "execution": {
                "Id": ARN + "x",
                "Name": "x",
                "StartTime": iso(NOW),
                "Input": {"regions": ["not a region"]},
            }
        }
    )
    with pytest.raises(InvalidInputError, match="regions"):
        pump(event, plans(), ports, NOW)


def test_a_copier_past_its_time_stops_and_leaves_the_rest_queued() -> None:
    ports, catalog, copier = world()
    source = point("i-0web1", Kind.EBS)
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    report = run_pump(ports, plans(), NOW + timedelta(hours=12))
    assert report.done and report.ended_because and not copier.calls
    assert len(queue(catalog)) == 1


def test_a_long_queue_is_read_through_a_window_and_nothing_in_flight_is_forgotten() -> None:
    ports, catalog, copier = world(FakeCopier(polls_to_complete=1000))
    sources = [point(f"i-{n:05d}", Kind.EBS) for n in range(300)]
    home(ports, sources)
    queue_copies(sources, plans(), ports, NOW)
    first = run_pump(ports, plans()).regions[0]
    assert len(first.started) == 20 and first.queued == 280
    # Newer copies queued in front of them (an older run finalizing late) cannot push the
    # twenty in flight out of sight: they are read whatever the window.
    late = [point(f"i-late{n}", Kind.EBS, day=3) for n in range(150)]
    home(ports, late)
    queue_copies(late, plans(), ports, NOW)
    second = run_pump(ports, plans(), NOW + timedelta(minutes=1)).regions[0]
    assert second.in_flight == 20 and second.snapshots_in_flight == 20 and not second.started
    assert second.queued == 430 and copier.peak_in_flight == 20


def test_copy_status_names_the_queue_the_copies_rpo_and_what_has_no_copy() -> None:
    from lifeboat.copies.status import copy_status

    ports, _, copier = world(FakeCopier(polls_to_complete=1000))
    copied = point("i-0web1", Kind.EBS, day=1)
    for snap in copied.snapshots:  # the copy's artifacts are there (a census reads them)
        copier.snaps[snap.snapshot_id] = {"SnapshotId": snap.snapshot_id, "State": "completed"}
        copier.snaps[snap.snapshot_id].update(_polls=0, Tags=[])
    waiting = point("i-0web2", Kind.EBS)
    home(ports, [copied, waiting])
    queue_copies([copied], plans(), ports, NOW - timedelta(days=1))
    ports.catalog.put_point(  # web-1's copy completed yesterday
        copied.model_copy(
            update={
                "recovery_point_id": copied.recovery_point_id + "@us-west-2",
                "region": "us-west-2",
                "copy_of": copied.recovery_point_id,
            }
        )
    )
    ports.catalog.dequeue_copies("us-west-2", [i["sk"] for i in queue(ports.catalog)])  # type: ignore[arg-type]
    queue_copies([waiting], plans(), ports, NOW - timedelta(minutes=30))
    (region,) = copy_status(plans(), ports, NOW)
    assert region.region == "us-west-2" and region.queued == 1 and region.in_flight == 0
    assert region.oldest_queued_seconds == 1800
    (rule,) = region.rules
    assert rule.resources == 2 and rule.without_copy == ["i-0web2"] and rule.rpo_seconds is None


def test_one_regions_trouble_never_stops_the_copies_to_another() -> None:
    two = plans().model_dump(mode="json")
    rule = two["plans"]["standard"]["rules"]["daily"]
    rule["copy_to"].append(
        {"region": "eu-central-1", "kms_key": "alias/dr", "retention": {"daily": 7}}
    )
    the_plans = parse_plans(two)
    healthy = FakeCopier(region="eu-central-1")

    class Impaired(FakeCopier):
        def find(self, copy_point_id: str) -> dict[str, dict[str, Any]]:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "Find")

        def images(self, ids: list[str]) -> dict[str, dict[str, Any]]:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "Describe")

    impaired = Impaired(region="us-west-2")
    ports = fake_ports(
        copies=lambda region: impaired if region == "us-west-2" else healthy,
        home_region="eu-west-1",
    )
    source = point("i-0web1", Kind.AMI)
    home(ports, [source])
    queue_copies([source], the_plans, ports, NOW)
    # us-west-2 fails on its first read once a copy there is in flight
    impaired.fail_copies = 0
    first = {r.region: r for r in run_pump(ports, the_plans).regions}
    assert first["eu-central-1"].started
    second = {r.region: r for r in run_pump(ports, the_plans, NOW + timedelta(minutes=1)).regions}
    assert second["us-west-2"].error and "InternalError" in second["us-west-2"].error
    assert second["eu-central-1"].completed  # the other region went on
    assert ports.notifier.sent  # type: ignore[union-attr]


def test_copies_started_but_never_recorded_still_count_against_the_limit() -> None:
    ports, catalog, copier = world(FakeCopier(polls_to_complete=1000))
    sources = [point(f"i-{n:05d}", Kind.EBS) for n in range(20)]
    home(ports, sources)
    queue_copies(sources, plans(), ports, NOW)
    writes = {"n": 0}
    original = catalog.put_points

    def dies_after_the_calls(points: list[RecoveryPoint]) -> None:
        writes["n"] += 1 if points else 0
        if writes["n"] == 2 and points:  # intents written, the 20 calls made: the task dies
            raise TimeoutError("Task timed out")
        original(points)

    catalog.put_points = dies_after_the_calls  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        run_pump(ports, plans())
    catalog.put_points = original  # type: ignore[method-assign]
    assert copier.snapshots_in_flight() == 20
    # An older run finalizes late: its points sort first in the queue.
    late = [point(f"i-late{n}", Kind.EBS, day=2) for n in range(20)]
    home(ports, late)
    queue_copies(late, plans(), ports, NOW)
    report = run_pump(ports, plans(), NOW + timedelta(minutes=3)).regions[0]
    assert copier.peak_in_flight == 20 and copier.snapshots_in_flight() == 20
    assert report.in_flight == 20 and report.queued == 20  # adopted; the late ones wait


def test_a_forged_artifact_tagged_with_the_next_copy_id_is_never_adopted_nor_deleted() -> None:
    copier = FakeCopier(die_before_calls=1)
    ports, catalog, copier = world(copier)
    source = point("i-0web1", Kind.AMI)
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    with pytest.raises(DiedAfterCall):
        run_pump(ports, plans())  # the intent is written, no call reached AWS
    cid = f"{source.recovery_point_id}@us-west-2"
    forged = {T.MANAGED: "true", T.COPY_POINT: cid, T.COPY_OF: source.image_id or ""}
    copier.images_["ami-0f0f0f0f0f0f0f0f0"] = {  # registered by someone, before the intent
        "ImageId": "ami-0f0f0f0f0f0f0f0f0",
        "CreationDate": (NOW - timedelta(days=1)).isoformat(),
        "State": "available",
        "Tags": T.to_list(forged),
        "BlockDeviceMappings": [],
        "_polls": 0,
    }
    run_pump(ports, plans(), NOW + ADOPT_AFTER * 2)
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copy.image_id != "ami-0f0f0f0f0f0f0f0f0"  # a real copy was made instead
    assert "ami-0f0f0f0f0f0f0f0f0" in copier.images_  # and the forged image left alone


def test_prune_deletes_a_copy_all_or_none_and_finishes_an_image_already_gone() -> None:
    ports, catalog, copier = world()
    sources = [point("i-0web1", Kind.EBS, day=d, snapshots=3) for d in range(3)]
    sources += [point("i-0web2", Kind.AMI, day=d) for d in range(3)]
    for image in sources[3:]:
        copier.image_snapshots[image.image_id or ""] = 2
    home(ports, sources)
    queue_copies(sources, plans(), ports, NOW)
    until_done(ports, plans())
    copies = {
        (c.source_id, c.created_at): c
        for c in catalog.copies_for_rule("us-west-2", "standard", "daily")
    }
    oldest_set = copies[("i-0web1", NOW - timedelta(days=2))]
    # One of the set's three snapshots was re-tagged by someone: nothing of it may go.
    retagged = copier.snaps[oldest_set.snapshots[1].snapshot_id]
    retagged["Tags"] = T.to_list({**T.to_dict(retagged["Tags"]), T.COPY_POINT: "someone-else"})
    # The oldest image copy's AMI is already gone (a prune died after its deregister).
    oldest_image = copies[("i-0web2", NOW - timedelta(days=2))]
    gone = copier.images_.pop(oldest_image.image_id or "")
    leftover = [m["Ebs"]["SnapshotId"] for m in gone["BlockDeviceMappings"]]
    prune(PruneRequest(plan="standard"), plans(copy_retention={"daily": 2}), ports, NOW)
    after = catalog.copies_for_resource("i-0web1", "us-west-2")
    refused = next(c for c in after if c.recovery_point_id == oldest_set.recovery_point_id)
    assert refused.status is PointStatus.COMPLETED  # refused whole: every snapshot still there
    assert all(s.snapshot_id in copier.snaps for s in refused.snapshots)
    image_copy = next(
        c
        for c in catalog.copies_for_resource("i-0web2", "us-west-2")
        if c.recovery_point_id == oldest_image.recovery_point_id
    )
    assert image_copy.status is PointStatus.DELETED
    assert not any(sid in copier.snaps for sid in leftover)  # its snapshots did not leak
