"""Issue 11: prune never destroys a recovery point that is not provably expired.

One test per situation in which the earlier prune destroyed good backups; each shows the safe
outcome in the emulator (real template, real handlers). Orphans must be older than the grace
period, so the prune domain function is called with a clock ``LATER`` hours ahead where the
test needs an orphan to be old enough.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import executions, runtime
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.backup import create as backup_create
from lifeboat.backup import create_batch, image_name
from lifeboat.cli import EXIT_INPUT, main
from lifeboat.errors import UnsafeToDeleteError
from lifeboat.local.history import fabricate
from lifeboat.models import CreateBatchEvent, PointStatus, ResourceRef
from lifeboat.plans import Kind, default_plans
from lifeboat.prune import ORPHAN_GRACE, PruneReport, PruneRequest, prune
from lifeboat.timeutil import utcnow
from tests.faults import FaultInjector, FaultRule
from tests.integration.helpers import (
    create_task_dies_after_its_calls,
    first_volume,
    managed_images,
    managed_snapshots,
    run_schedule,
)

pytestmark = pytest.mark.integration
LATER = ORPHAN_GRACE + timedelta(hours=1)


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def _prune(now: datetime, **request: Any) -> PruneReport:
    return prune(
        PruneRequest.model_validate({"plan": "standard", **request}),
        default_plans(),
        runtime.ports(),
        now,
    )


def _snapshot_ids() -> set[str]:
    return {
        s["SnapshotId"] for s in client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
    }


def _image_ids() -> set[str]:
    return {i["ImageId"] for i in client("ec2").describe_images(Owners=["self"])["Images"]}


def _forged_tags(source: str, rule: str = "hourly") -> list[dict[str, str]]:
    """Tags of a real recent run (the fabricated point's), forged onto someone else's artifact."""
    run = f"{_hour(datetime.now(UTC)):%Y%m%dT%H%MZ}-standard-{rule}"
    return T.to_list(
        T.backup_tags(
            source_id=source, plan="standard", rule=rule, run_id=run, kind="ebs", source_tags={}
        )
    )


def test_1_orphans_of_one_rule_never_touch_another_rules_points(stack: Any, elearn: Any) -> None:
    # Given daily AMIs the catalog offers for restore, and hourly sets
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC))
    daily = [
        fabricate(catalog, web1, "daily", Kind.AMI, start - timedelta(days=d)) for d in range(3)
    ]
    hourly = [
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h)) for h in range(3)
    ]
    # and a failed hourly point whose snapshots were left behind (a real orphan of 'hourly')
    failed = fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=5))
    catalog.put_point(failed.model_copy(update={"status": PointStatus.FAILED}))

    # When the hourly rule is pruned with --delete-orphans, long after
    report = _prune(utcnow() + LATER, rule="hourly", delete_orphans=True)

    # Then the daily AMIs and their snapshots are all still there, and still offered
    assert {p.image_id for p in daily} <= _image_ids()
    assert {s.snapshot_id for p in daily for s in p.snapshots} <= _snapshot_ids()
    offered = {
        p.recovery_point_id
        for p in catalog.points_for_resource(web1)
        if p.status is PointStatus.COMPLETED
    }
    assert {p.recovery_point_id for p in daily} <= offered
    # and only the failed hourly point's snapshots were orphans of the hourly rule
    assert {o.artifact_id for o in report.orphans} == {s.snapshot_id for s in failed.snapshots}
    assert all(o.outcome == "deleted" for o in report.orphans)
    assert {s.snapshot_id for p in hourly for s in p.snapshots} <= _snapshot_ids()


def test_2_forged_tags_are_foreign_and_never_deleted(stack: Any, elearn: Any) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    fabricate(catalog, web1, "hourly", Kind.EBS, _hour(datetime.now(UTC)))
    ec2, rds = client("ec2"), client("rds")
    # Given an AMI, an EBS snapshot and a DB snapshot someone else tagged as Lifeboat's
    forged = _forged_tags(web1)
    image = ec2.create_image(
        InstanceId=web1,
        Name="someone-elses-image",
        NoReboot=True,
        TagSpecifications=[{"ResourceType": "image", "Tags": forged}],
    )["ImageId"]
    volume = first_volume(web1)
    snap = ec2.create_snapshot(
        VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": forged}]
    )["SnapshotId"]
    rds.create_db_snapshot(
        DBSnapshotIdentifier="their-db-snapshot", DBInstanceIdentifier="elearn-db", Tags=forged
    )

    report = _prune(utcnow() + LATER, delete_orphans=True)

    foreign = {o.artifact_id for o in report.foreign_tagged}
    assert {image, snap, "their-db-snapshot"} <= foreign
    assert not report.orphans
    assert image in _image_ids() and snap in _snapshot_ids()
    assert rds.describe_db_snapshots(DBSnapshotIdentifier="their-db-snapshot")["DBSnapshots"]


def test_3_a_users_snapshot_of_a_restored_database_is_not_lifeboats(
    stack: Any, backed_up: Any
) -> None:
    # Given a database Lifeboat restored
    arn = executions.start(
        stack.outputs["RestoreStateMachineArn"], {"db_instance_id": "elearn-db"}, "db-restore"
    )
    result = executions.wait(arn, timeout=120, poll=0.05)
    assert result["status"] == "SUCCEEDED", result
    rds = client("rds")
    restored_id = result["output"]["replacement_id"]
    restored = rds.describe_db_instances(DBInstanceIdentifier=restored_id)["DBInstances"][0]
    tags = T.to_dict(restored["TagList"])
    # Then it carries lifeboat:restored-from, not lifeboat:managed
    assert tags[T.RESTORED_FROM] == "elearn-db" and T.MANAGED not in tags
    # and a user's own snapshot of it (tags copied to snapshots) survives --delete-orphans
    rds.create_db_snapshot(DBSnapshotIdentifier="users-own", DBInstanceIdentifier=restored_id)
    _prune(utcnow() + LATER, delete_orphans=True)
    assert rds.describe_db_snapshots(DBSnapshotIdentifier="users-own")["DBSnapshots"]


def test_4_a_running_backups_new_amis_are_not_orphans(stack: Any, elearn: Any) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    fabricate(catalog, web1, "daily", Kind.AMI, _hour(datetime.now(UTC)) - timedelta(days=1))
    # Given a create task that has made its AMIs but not yet recorded them (intents only)
    event = CreateBatchEvent(
        run_id=f"{utcnow():%Y%m%dT%H%MZ}-standard-daily",
        plan="standard",
        rule="daily",
        resources=[ResourceRef(type="instance", id=i) for i in elearn.protected_instances.values()],
    )
    with create_task_dies_after_its_calls(), pytest.raises(TimeoutError):
        create_batch(event, default_plans(), runtime.ports(), utcnow())
    fresh = {i["ImageId"] for i in managed_images()} - {
        p.image_id for p in catalog.all_points() if p.image_id
    }
    assert len(fresh) == 3

    # When a prune with --delete-orphans runs meanwhile (now, and even much later)
    now_report = _prune(utcnow(), delete_orphans=True)
    later_report = _prune(utcnow() + LATER, delete_orphans=True)

    # Then the run's AMIs are untouched: young, and proven by pending intents
    assert fresh <= _image_ids()
    assert not {o.artifact_id for o in now_report.orphans + later_report.orphans} & fresh
    # and the retried task adopts them: no second AMI
    again = create_batch(event, default_plans(), runtime.ports(), utcnow())
    assert again["created"] == 3 and len(managed_images()) == 4


def test_5_empty_catalog_or_missing_history_refuses_delete_orphans(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    old = [
        fabricate(catalog, web1, "daily", Kind.AMI, _hour(datetime.now(UTC)) - timedelta(days=d))
        for d in range(3)
    ]
    # Given the catalog was emptied (the stack re-created: a new, empty table)
    ddb = client("dynamodb")
    table = stack.outputs["CatalogTableName"]
    for item in ddb.scan(TableName=table)["Items"]:
        ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    before_images, before_snaps = _image_ids(), _snapshot_ids()

    # When --delete-orphans is asked for: the CLI refuses with the reason, exit 2
    code = main(["prune", "--plan", "standard", "--delete-orphans", "--yes"])
    err = capsys.readouterr().err
    assert code == EXIT_INPUT and "no recovery points of plan 'standard'" in err
    with pytest.raises(UnsafeToDeleteError):
        _prune(utcnow() + LATER, delete_orphans=True)
    assert _image_ids() == before_images and _snapshot_ids() == before_snaps

    # Given a catalog that has only new history: older Lifeboat-tagged artifacts exist
    fabricate(catalog, web1, "daily", Kind.AMI, _hour(datetime.now(UTC)))
    with pytest.raises(UnsafeToDeleteError, match="lacks the plan's run history"):
        _prune(utcnow() + LATER, delete_orphans=True)
    assert {p.image_id for p in old} <= _image_ids()


def test_6_a_point_chosen_by_a_running_restore_is_pinned(stack: Any, elearn: Any) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC))
    points = [
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h)) for h in range(28)
    ]
    # Given a restore of web-1 holds its lock (it may launch from any of its points)
    now = utcnow()
    assert (
        catalog.acquire_lock(web1, "arn:aws:states:::execution:r:1", int(now.timestamp()), 3600, {})
        is None
    )

    report = _prune(now, rule="hourly")

    # Then nothing of web-1 is deleted, the expired points stay offered, and the report says why
    assert report.deleted == 0 and all("pinned" in d.outcome for d in report.expired)
    assert {s.snapshot_id for p in points for s in p.snapshots} <= _snapshot_ids()
    statuses = {p.status for p in catalog.points_for_resource(web1)}
    assert statuses == {PointStatus.COMPLETED}

    # When the restore ends, the next prune deletes what expired
    catalog.release_lock(web1, "arn:aws:states:::execution:r:1")
    assert _prune(now, rule="hourly").deleted == 4


def test_7_a_create_task_killed_after_create_image_leaves_nothing_unknown(
    stack: Any, elearn: Any
) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    real = backup_create._create_artifact
    attempts: list[str] = []

    def killed_after_the_call(*args: Any, **kwargs: Any) -> Any:
        attempts.append(real(*args, **kwargs).source_id)  # CreateImage went through (or an
        raise LambdaTimeout("Task timed out after 900.00 seconds")  # earlier attempt's found)

    # Given every attempt of the create task is killed right after its CreateImage calls
    # return (the Lambda time-out; a batch's calls go together, so each of its instances'
    # calls is made before the kill), so the state machine retries it and then gives it up
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backup_create, "_create_artifact", killed_after_the_call)
        result = run_schedule(stack, "daily", _hour(datetime.now(UTC)))

    # Then the time-out was retried like any transient failure, no attempt made a second AMI
    # of an instance, and every AMI the killed tasks made is known to the catalog: adopted as
    # a recovery point by the run's check (the AMI is good), so nothing is left unknown for
    # --delete-orphans; a point whose AMI was never made is failed, never offered
    assert len(attempts) > len(set(attempts)), (attempts, result)  # retried
    images = {i["ImageId"] for i in managed_images()}
    assert len(images) == len(set(attempts))  # one AMI an instance, whatever the attempts
    recorded = {p.image_id: p for p in catalog.all_points() if p.image_id}
    assert images <= set(recorded)
    assert all(recorded[i].status is PointStatus.COMPLETED for i in images)
    never_made = [p for p in catalog.all_points() if p.kind is Kind.AMI and not p.image_id]
    assert all(p.status is PointStatus.FAILED for p in never_made)
    report = _prune(utcnow() + LATER, delete_orphans=True)
    assert not report.foreign_tagged and not report.orphans


# The error name a Lambda time-out reaches Step Functions with.
LambdaTimeout = type("Sandbox.Timedout", (Exception,), {})


def test_8_catalog_write_failures_never_leave_a_point_offered_without_its_artifacts(
    stack: Any, elearn: Any
) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC))
    for h in range(28):
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h))
    now = utcnow()

    # Given the catalog refuses the write-ahead mark: nothing is deleted
    with FaultInjector([FaultRule("UpdateItem", "InternalServerError", times=50, status=500)]):
        with pytest.raises(Exception, match="InternalServerError"):
            _prune(now, rule="hourly")
    _assert_offered_points_are_whole(catalog, web1)
    assert len(managed_snapshots("ebs")) == 28 * 2

    # Given the catalog refuses the final 'deleted' write: the points stay 'deleting' (not
    # offered for restore) and the next prune finishes them
    with FaultInjector([FaultRule("BatchWriteItem", "InternalServerError", times=50, status=500)]):
        with pytest.raises(Exception, match="InternalServerError"):
            _prune(now, rule="hourly")
    _assert_offered_points_are_whole(catalog, web1)
    deleting = [p for p in catalog.points_for_resource(web1) if p.status is PointStatus.DELETING]
    assert len(deleting) == 4
    # (a 'deleting' mark younger than a prune's 15 minutes may belong to a prune still running)
    interrupted = {p.recovery_point_id for p in deleting}

    def statuses() -> set[PointStatus]:
        return {
            p.status
            for p in catalog.points_for_resource(web1)
            if p.recovery_point_id in interrupted
        }

    _prune(now + timedelta(minutes=5), rule="hourly")
    assert statuses() == {PointStatus.DELETING}
    report = _prune(now + timedelta(minutes=17), rule="hourly")
    # the interrupted four are finished (with, should the clock have crossed an hour meanwhile,
    # the point that left the 24-hour window)
    assert report.deleted >= 4 and statuses() == {PointStatus.DELETED}
    assert not [p for p in catalog.points_for_resource(web1) if p.status is PointStatus.DELETING]
    _assert_offered_points_are_whole(catalog, web1)


def _assert_offered_points_are_whole(catalog: Catalog, source: str) -> None:
    present = _snapshot_ids() | _image_ids()
    for point in catalog.points_for_resource(source):
        if point.status is PointStatus.COMPLETED:
            assert set(point.artifact_ids()) <= present, point.recovery_point_id


def test_the_cli_reports_foreign_tagged_and_refusals(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    fabricate(catalog, web1, "hourly", Kind.EBS, _hour(datetime.now(UTC)))
    volume = first_volume(web1)
    snap = client("ec2").create_snapshot(
        VolumeId=volume,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": _forged_tags(web1)}],
    )["SnapshotId"]
    assert main(["prune", "--plan", "standard", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "foreign-tagged" in out and snap in out
    assert main(["prune", "--plan", "standard", "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["foreign_tagged"] == 1
    assert image_name("i-1", "r") == "lifeboat-i-1-r"
