"""The backup run's stages on in-memory fakes (no sockets): begin (dedupe, slot bounds), create
(intent before the call, retries, fenced and untagged instances), check and finalize (what an
intent proves, failed images, leftovers, failed batches) and the clean-up of failed points."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.backup import (
    INTENT_SKEW,
    TASK_LIMIT,
    begin_run,
    cleanup_artifacts,
    image_name,
    made_by_intent,
)
from lifeboat.errors import InvalidInputError
from lifeboat.models import (
    BeginTask,
    ExecutionContext,
    Intent,
    PointStatus,
    RecoveryPoint,
    ResourceRef,
)
from lifeboat.observability import metrics
from lifeboat.plans import Kind
from lifeboat.timeutil import iso
from tests.fakes.common import TaskKilled
from tests.worlds.backup import NOW, PLANS, World

pytestmark = pytest.mark.unit


@pytest.fixture
def world() -> Iterator[World]:
    yield World()
    metrics.clear_metrics()  # outside Lambda nothing flushes them


def instance(iid: str) -> ResourceRef:
    return ResourceRef(type="instance", id=iid)


def begin(world: World, state: dict[str, Any], name: str = "exec-1") -> dict[str, Any]:
    event = BeginTask(
        state=state,
        execution=ExecutionContext(
            id=f"arn:aws:states:us-east-1:123456789012:execution:lifeboat-backup:{name}",
            name=name,
            start_time=iso(world.now),
        ),
    )
    return begin_run(event, PLANS, world.ports, batch_size=2, ttl_days=30)


# --- begin -----------------------------------------------------------------------------------
def test_a_scheduled_trigger_delivered_again_is_a_duplicate_of_the_first_run(world: World) -> None:
    for _ in range(3):
        world.ec2.add_instance("standard")
    slot = {"plan": "standard", "rule": "daily", "scheduled_time": "2026-11-27T02:45:00Z"}
    first = begin(world, slot, name="first")
    # When Scheduler delivers the same slot again, to another execution
    again = begin(world, slot, name="second")
    # Then the second run is the same run id, already claimed: nothing to do
    assert again["run_id"] == first["run_id"] == "20261127T0245Z-standard-daily"
    assert again["duplicate"] and again["batches"] == []
    assert again["original_execution"].endswith(":first")
    # and the first run (its begin task retried) still owns it, with its batches of two
    retried = begin(world, slot, name="first")
    assert not retried["duplicate"] and [len(b) for b in retried["batches"]] == [2, 1]


def test_manual_runs_are_unique_and_a_dry_run_claims_nothing(world: World) -> None:
    world.ec2.add_instance("standard")
    manual = {"plan": "standard", "rule": "daily"}
    one, two = begin(world, manual, name="m-1"), begin(world, manual, name="m-2")
    assert one["run_id"] != two["run_id"] and not one["duplicate"] and not two["duplicate"]
    claimed = dict(world.catalog.runs)
    dry = begin(world, {**manual, "dry_run": True}, name="m-3")
    assert dry["batches"] == [] and len(dry["would_back_up"]) == 1
    assert world.catalog.runs == claimed


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(seconds=30), True),  # Scheduler's clock a little ahead (skew)
        (timedelta(seconds=31), False),  # a future slot: a hand-made run would claim it
        (timedelta(minutes=4), False),  # minutes ahead: never Scheduler's own slot
        (-timedelta(hours=24, minutes=59), True),  # Scheduler retried for a day
        (-timedelta(hours=25, minutes=1), False),  # older than Scheduler's retries
    ],
)
def test_a_scheduled_time_must_be_a_slot_scheduler_could_deliver_now(
    world: World, offset: timedelta, accepted: bool
) -> None:
    state = {"plan": "standard", "rule": "daily", "scheduled_time": iso(world.now + offset)}
    if accepted:
        assert not begin(world, state)["duplicate"]
        return
    with pytest.raises(InvalidInputError) as err:
        begin(world, state)
    assert err.value.field == "scheduled_time" and world.catalog.runs == {}


# --- create ----------------------------------------------------------------------------------
def test_the_intent_is_in_the_catalog_before_the_create_call(world: World) -> None:
    iid = world.ec2.add_instance("standard")
    db = world.rds.add_db("standard")
    batch = world.batch("daily", instance(iid), ResourceRef(type="db", id=db))
    seen: dict[str, RecoveryPoint | None] = {}
    real_image, real_db = world.ec2.create_image, world.rds.create_db_snapshot

    def create_image(instance_id: str, name: str, reboot: bool, tags: dict[str, str]) -> str:
        seen["ami"] = world.catalog.get_point(instance_id, batch.run_id, "ami")
        return real_image(instance_id, name, reboot, tags)

    def create_db_snapshot(
        db_id: str, snapshot_id: str, tags: dict[str, str], not_before: datetime | None = None
    ) -> str:
        seen["rds"] = world.catalog.get_point(db_id, batch.run_id, "rds")
        return real_db(db_id, snapshot_id, tags, not_before)

    world.ec2.create_image = create_image  # type: ignore[method-assign]
    world.rds.create_db_snapshot = create_db_snapshot  # type: ignore[method-assign]
    assert world.create(batch)["created"] == 2
    ami, rds = seen["ami"], seen["rds"]
    assert ami is not None and ami.intent is not None and not ami.artifact_ids()
    assert ami.intent.image_name == image_name(iid, batch.run_id) and ami.intent.at == NOW
    assert rds is not None and rds.intent is not None and rds.intent.db_snapshot_id
    assert not rds.artifact_ids() and rds.status is PointStatus.PENDING
    assert world.point(batch, iid, Kind.AMI).image_id in world.ec2.amis


@pytest.mark.parametrize("rule", ["daily", "hourly"])
def test_a_retried_create_task_keeps_the_first_intent_and_makes_nothing_twice(
    world: World, rule: str
) -> None:
    iid = world.ec2.add_instance("standard")
    batch = world.batch(rule, instance(iid))
    # Given the first attempt is killed right after its create call
    world.ec2.die_after_create = True
    with pytest.raises(TaskKilled):
        world.create(batch)
    made = set(world.ec2.made_by_lifeboat)
    # When Step Functions retries the task five minutes later
    world.now += timedelta(minutes=5)
    counts = world.create(batch)
    # Then the retry finds what the first call made (by name, or by the first intent)
    kind = Kind.AMI if rule == "daily" else Kind.EBS
    point = world.point(batch, iid, kind)
    assert point.intent is not None and point.intent.at == NOW
    assert world.ec2.made_by_lifeboat == made and counts["created"] == 1
    assert set(point.artifact_ids()) <= made and point.artifact_ids()
    # and a third attempt reuses the recorded point
    assert world.create(batch)["reused"] == 1


def test_a_fenced_stopped_instance_is_skipped_and_a_running_one_backed_up(world: World) -> None:
    stopped, running = world.ec2.add_instance("standard"), world.ec2.add_instance("standard")
    for iid, state in ((stopped, "stopped"), (running, "running")):
        world.ec2.instances[iid]["Tags"].append({"Key": T.FENCED, "Value": "restore-1"})
        world.ec2.instances[iid]["State"]["Name"] = state
    batch = world.batch("daily", instance(stopped), instance(running))
    counts = world.create(batch)
    assert (counts["skipped"], counts["created"]) == (1, 1)
    assert world.catalog.get_point(stopped, batch.run_id, "ami") is None


def test_the_plan_tag_is_checked_again_by_the_create_task(world: World) -> None:
    untagged, gone = world.ec2.add_instance("standard"), world.ec2.add_instance("standard")
    batch = world.batch("daily", instance(untagged), instance(gone))
    # Given, between discovery and the batch's task, one instance lost the plan's tag and one
    # was terminated
    world.ec2.instances[untagged]["Tags"] = [{"Key": T.PLAN, "Value": "other"}]
    world.ec2.instances[gone]["State"]["Name"] = "terminated"
    counts = world.create(batch)
    # Then nothing is made for them; their points fail, saying why
    assert counts["failed"] == 2 and not world.ec2.made_by_lifeboat
    assert (world.point(batch, untagged, Kind.AMI).error or "").startswith("NotProtected")
    assert (world.point(batch, gone, Kind.AMI).error or "").startswith("InstanceGone")


def test_a_database_without_the_plan_tag_is_refused(world: World) -> None:
    db = world.rds.add_db("")
    batch = world.batch("daily", ResourceRef(type="db", id=db))
    assert world.create(batch)["failed"] == 1 and not world.rds.snaps
    assert world.point(batch, db, Kind.RDS).status is PointStatus.FAILED


# --- check and finalize ----------------------------------------------------------------------
def test_check_adopts_what_an_intent_proves_and_finalize_reports_it(world: World) -> None:
    iid = world.ec2.add_instance("standard")
    batch = world.batch("hourly", instance(iid))
    world.ec2.die_after_create = True
    with pytest.raises(TaskKilled):  # the set was made, never recorded
        world.create(batch)
    world.now += timedelta(minutes=2)
    assert world.check(batch)["pending"] == 0
    point = world.point(batch, iid, Kind.EBS)
    assert point.status is PointStatus.COMPLETED and len(point.snapshots) == 2
    report = world.finalize(batch, {"run_id": batch.run_id, "created": 0})
    assert report["status"] == "succeeded" and report["completed"] == 1


def test_a_forged_tag_outside_the_intent_s_window_is_never_adopted(world: World) -> None:
    iid = world.ec2.add_instance("standard")
    volume = world.ec2.instances[iid]["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    batch = world.batch("hourly", instance(iid))
    # Given a point whose task died before its create call, and someone's day-old snapshot of
    # the instance's volume, tagged since as this run's
    tags = T.backup_tags(
        source_id=iid, plan="standard", rule="hourly", run_id=batch.run_id, kind="ebs",
        source_tags={},
    )  # fmt: skip
    forged = world.ec2.plant_foreign("snapshot", tags, volume)
    intent = Intent(at=world.now, volume_ids=[volume])
    world.catalog.put_point(
        RecoveryPoint(
            recovery_point_id=f"{batch.run_id}/{iid}/ebs",
            run_id=batch.run_id,
            plan="standard",
            rule="hourly",
            kind=Kind.EBS,
            source_id=iid,
            source_type="instance",
            status=PointStatus.PENDING,
            created_at=world.now,
            intent=intent,
        )
    )
    world.check(batch)
    report = world.finalize(batch)
    # Then the point fails with nothing adopted, and the forged snapshot is left alone
    point = world.point(batch, iid, Kind.EBS)
    assert point.status is PointStatus.FAILED and not point.artifact_ids()
    assert report["failed"] == 1 and world.ec2.exists(forged)


@pytest.mark.parametrize(
    ("started", "volume", "adopted"),
    [
        (-INTENT_SKEW, "vol-a", True),
        (-INTENT_SKEW - timedelta(seconds=1), "vol-a", False),
        (TASK_LIMIT + INTENT_SKEW, "vol-a", True),
        (TASK_LIMIT + INTENT_SKEW + timedelta(seconds=1), "vol-a", False),
        (timedelta(0), "vol-other", False),
    ],
)
def test_made_by_intent_is_bounded_by_the_task_s_lifetime(
    started: timedelta, volume: str, adopted: bool
) -> None:
    intent = Intent(at=NOW, volume_ids=["vol-a"])
    snapshot = {"VolumeId": volume, "StartTime": iso(NOW + started)}
    assert made_by_intent(snapshot, intent) is adopted


def test_a_failed_image_fails_its_point_and_finalize_removes_it(world: World) -> None:
    iid = world.ec2.add_instance("standard")
    batch = world.batch("daily", instance(iid))
    world.create(batch)
    image_id = world.point(batch, iid, Kind.AMI).image_id
    assert image_id is not None
    world.ec2.amis[image_id]["State"] = "pending"
    pending = world.check(batch, attempt=3)
    assert (pending["pending"], pending["attempt"], pending["wait_seconds"]) == (1, 4, 120)
    world.ec2.amis[image_id].update(State="failed", StateReason={"Message": "disk error"})
    world.check(batch)
    point = world.point(batch, iid, Kind.AMI)
    assert point.status is PointStatus.FAILED and "disk error" in (point.error or "")
    snapshots = {m["Ebs"]["SnapshotId"] for m in world.ec2.amis[image_id]["BlockDeviceMappings"]}
    report = world.finalize(batch)
    assert report["status"] == "failed" and report["failures"][0]["resource_id"] == iid
    assert {image_id, *snapshots} <= world.ec2.deleted


def test_finalize_adopts_leftovers_of_a_killed_task_and_cleans_them_up(world: World) -> None:
    iid = world.ec2.add_instance("standard")
    batch = world.batch("daily", instance(iid))
    world.ec2.die_after_create = True
    with pytest.raises(TaskKilled):
        world.create(batch)
    (image_id,) = world.ec2.amis
    # When the run's check never ran (its task failed) and finalize finds the bare intent
    report = world.finalize(batch)
    # Then the AMI the call made is recorded, failed (never completed) and removed
    point = world.point(batch, iid, Kind.AMI)
    assert point.image_id == image_id and point.status is PointStatus.FAILED
    assert report["failed"] == 1 and image_id in world.ec2.deleted and not world.ec2.amis


def test_a_batch_that_failed_after_its_retries_gets_a_failed_point_per_resource(
    world: World,
) -> None:
    iid, other = world.ec2.add_instance("standard"), world.ec2.add_instance("standard")
    db = world.rds.add_db("standard")
    batch = world.batch("daily", instance(iid), instance(other), ResourceRef(type="db", id=db))
    world.create(world.batch("daily", instance(iid)))  # one of them was made before
    failed = {**batch.model_dump(mode="json"), "error": {"Error": "Sandbox.Timedout"}}
    world.check(batch)
    report = world.finalize(batch, failed)
    assert world.point(batch, iid, Kind.AMI).status is PointStatus.COMPLETED
    for source, kind in ((other, Kind.AMI), (db, Kind.RDS)):
        point = world.point(batch, source, kind)
        assert point.status is PointStatus.FAILED
        assert (point.error or "").startswith("Sandbox.Timedout")
    assert (report["completed"], report["failed"]) == (1, 2)
    assert world.catalog.get_point(db, batch.run_id, "ami") is None


def test_a_database_snapshot_completes_or_fails_by_its_status(world: World) -> None:
    db = world.rds.add_db("standard")
    batch = world.batch("daily", ResourceRef(type="db", id=db))
    world.create(batch)
    snapshot_id = world.point(batch, db, Kind.RDS).db_snapshot_id
    assert snapshot_id is not None and world.check(batch)["pending"] == 1
    world.rds.finish(snapshot_id, "failed")
    world.check(batch)
    world.finalize(batch)
    assert world.point(batch, db, Kind.RDS).status is PointStatus.FAILED
    assert snapshot_id in world.rds.deleted


# --- clean-up --------------------------------------------------------------------------------
def test_cleanup_removes_a_failed_point_s_artifacts_and_nothing_in_use(world: World) -> None:
    iid = world.ec2.add_instance("standard")
    ebs_batch = world.batch("hourly", instance(iid))
    world.create(ebs_batch)
    ebs = world.point(ebs_batch, iid, Kind.EBS)
    ami_batch = world.batch("daily", instance(iid))
    world.create(ami_batch)
    ami = world.point(ami_batch, iid, Kind.AMI)
    assert ami.image_id is not None
    # Given one of the set's snapshots is used by an image (someone else's AMI made from it)
    shared = ebs.snapshots[0].snapshot_id
    world.ec2.amis["ami-theirs"] = {
        "ImageId": "ami-theirs",
        "Tags": [],
        "BlockDeviceMappings": [{"Ebs": {"SnapshotId": shared}}],
    }
    results = cleanup_artifacts(ebs, world.ports)
    assert results[shared] == "in-use" and world.ec2.exists(shared)
    assert results[ebs.snapshots[1].snapshot_id] == "deleted"
    results = cleanup_artifacts(ami, world.ports)
    assert results[ami.image_id] == "deregistered" and not world.ec2.exists(ami.image_id)
    assert list(results.values()).count("deleted") == 2
