"""Copies keep their promises through the real state machines in the emulator: a DB snapshot
forged in the DR region in tonight's copy's place is refused, notified and never deleted; a
copy locked by hand there is kept whole; a copy finalize could not queue is notified, counted
missing and copied by the next copier; a copy deleted outside Lifeboat is not offered for a
restore there (the newest copy that exists is, or the restore is refused naming what vanished)
and not counted by ``copies status``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lifeboat import runtime
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_INPUT, EXIT_OK, main
from lifeboat.models import PointStatus
from lifeboat.plans import default_plans, parse_plans
from lifeboat.prune import PruneRequest, prune
from tests.integration.helpers import run_schedule, start, wait_copiers

pytestmark = pytest.mark.integration
DR = "us-west-2"


def subjects(stack: Any) -> list[str]:
    """What the stack's topic published (the emulator runs in this process)."""
    from moto.sns.models import sns_backends

    topic = stack.outputs.get("NotificationTopicArn") or next(
        v for k, v in stack.outputs.items() if k.endswith("TopicArn")
    )
    found = sns_backends["123456789012"]["us-east-1"].topics[topic]
    return [str(n[2]) for n in found.sent_notifications]


def test_a_db_snapshot_forged_in_tonights_copys_place_is_refused_and_never_deleted(
    stack: Any, elearn: Any
) -> None:
    # Given, in us-west-2 before the run, a snapshot with the name tonight's copy will have
    # and copied lifeboat tags (copied from another snapshot of the database)
    when = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    run_id = f"{when:%Y%m%dT%H%MZ}-standard-daily"
    name = T.snapshot_identifier(run_id, "elearn-db")
    home = client("rds")
    theirs = home.create_db_snapshot(DBInstanceIdentifier="elearn-db", DBSnapshotIdentifier="x1")
    forged = {
        T.MANAGED: "true",
        T.SOURCE: "elearn-db",
        T.PLAN: "standard",
        T.COPY_POINT: f"{run_id}/elearn-db/rds@{DR}",
    }
    client("rds", DR).copy_db_snapshot(
        SourceDBSnapshotIdentifier=theirs["DBSnapshot"]["DBSnapshotArn"],
        TargetDBSnapshotIdentifier=name,
        SourceRegion="us-east-1",
        Tags=T.to_list(forged),
    )
    # When the daily run copies its points
    assert run_schedule(stack, "daily", when)["status"] == "SUCCEEDED"
    assert all(r["status"] == "SUCCEEDED" for r in wait_copiers(stack))
    # Then elearn-db's copy alone fails, named and notified; the others completed
    catalog = Catalog(stack.outputs["CatalogTableName"])
    (copy,) = catalog.copies_for_resource("elearn-db", DR)
    assert copy.status is PointStatus.FAILED and "not Lifeboat's copy" in (copy.error or "")
    assert copy.db_snapshot_id is None
    web = elearn.protected_instances["web-1"]
    assert catalog.copies_for_resource(web, DR)[0].status is PointStatus.COMPLETED
    assert any(f"copies to {DR}: 1 failed" in s for s in subjects(stack))
    # and no prune deletes it, whatever the copies' retention
    data = default_plans().model_dump(mode="json")
    data["plans"]["standard"]["min_keep"] = 1
    data["plans"]["standard"]["rules"]["daily"]["copy_to"][0]["retention"] = {"daily": 1}
    later = datetime.now(UTC) + timedelta(days=9)
    prune(PruneRequest(plan="standard"), parse_plans(data), runtime.ports(), later)
    still = client("rds", DR).describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"]
    assert still and still[0]["SourceDBSnapshotIdentifier"].endswith(":snapshot:x1")


@contextmanager
def locked_by_hand(monkeypatch: pytest.MonkeyPatch, snapshot_ids: set[str]) -> Iterator[None]:
    """EBS Snapshot Lock in the emulator (moto has none): DescribeLockedSnapshots reports the
    locks, DeleteSnapshot refuses a locked snapshot, as EC2 does."""
    import moto.ec2.models.elastic_block_store as ebs_models
    import moto.ec2.responses as ec2_responses
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError

    def describe(response: Any) -> Any:
        wanted = set(response._get_param("SnapshotIds", []))
        return ActionResult(
            {
                "Snapshots": [
                    {"SnapshotId": s, "LockState": "governance", "LockDuration": 30}
                    for s in sorted(wanted & snapshot_ids)
                ]
            }
        )

    original = ebs_models.EBSBackend.delete_snapshot

    def delete(backend: Any, snapshot_id: str) -> Any:
        if snapshot_id in snapshot_ids:
            raise EC2ClientError("SnapshotLocked", f"{snapshot_id} is locked")
        return original(backend, snapshot_id)

    monkeypatch.setattr(ec2_responses.EC2Response, "describe_locked_snapshots", describe)
    monkeypatch.setattr(ebs_models.EBSBackend, "delete_snapshot", delete)
    yield


def test_a_copy_locked_by_hand_in_the_dr_region_is_kept_whole(
    stack: Any, elearn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(2):
        assert start(stack, {"plan": "standard", "rule": "daily"}, f"l{n}")["status"] == "SUCCEEDED"
        wait_copiers(stack)
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web = elearn.protected_instances["web-1"]
    oldest = min(catalog.copies_for_resource(web, DR), key=lambda c: c.created_at)
    ec2 = client("ec2", DR)
    image = ec2.describe_images(ImageIds=[oldest.image_id or ""])["Images"][0]
    snaps = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
    data = default_plans().model_dump(mode="json")
    data["plans"]["standard"]["min_keep"] = 1
    data["plans"]["standard"]["rules"]["daily"]["copy_to"][0]["retention"] = {"daily": 1}
    # Given one snapshot of the oldest copy's AMI locked by hand in us-west-2
    with locked_by_hand(monkeypatch, {snaps[-1]}):
        report = prune(
            PruneRequest(plan="standard"), parse_plans(data), runtime.ports(), datetime.now(UTC)
        )
    # Then the AMI is not deregistered, none of its snapshots deleted, the copy not deleted
    assert ec2.describe_images(ImageIds=[oldest.image_id or ""])["Images"]
    assert len(ec2.describe_snapshots(SnapshotIds=snaps)["Snapshots"]) == len(snaps)
    after = next(
        c
        for c in catalog.copies_for_resource(web, DR)
        if c.recovery_point_id == oldest.recovery_point_id
    )
    assert after.status is PointStatus.COMPLETED
    assert oldest.recovery_point_id in [lock.id for lock in report.locked]
    # The other resources' expired copies went (nothing else was locked)
    assert sum(1 for d in report.expired if d.region == DR and "deleted" in d.outcome.values())


def test_a_copy_finalize_could_not_queue_is_notified_counted_and_copied_later(
    stack: Any, elearn: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(self: Catalog, region: str, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        error = {"Error": {"Code": "InternalServerError", "Message": "x"}}
        raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(Catalog, "enqueue_copies", refused)
        result = start(stack, {"plan": "standard", "rule": "daily"}, "unqueued")
    assert result["status"] == "SUCCEEDED"  # the backup itself succeeded
    assert "copies not queued" in result["output"]["copies"]["error"]
    assert any("not queued" in s for s in subjects(stack))
    capsys.readouterr()
    assert main(["copies", "status", "--json"]) == EXIT_OK
    (region,) = json.loads(capsys.readouterr().out)
    (rule,) = region["rules"]
    assert len(rule["without_copy"]) == 4 and len(rule["not_queued"]) == 4
    assert rule["rpo_seconds"] is None
    # The next copier queues them (its first pump) and copies them
    assert main(["copies", "start", "--wait", "--json"]) == EXIT_OK
    capsys.readouterr()
    assert main(["copies", "status", "--json"]) == EXIT_OK
    (region,) = json.loads(capsys.readouterr().out)
    assert region["rules"][0]["without_copy"] == [] and region["rules"][0]["not_queued"] == []
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web = elearn.protected_instances["web-1"]
    assert catalog.copies_for_resource(web, DR)[0].status is PointStatus.COMPLETED


def test_a_copy_deleted_outside_lifeboat_is_never_offered_nor_counted(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(2):
        assert start(stack, {"plan": "standard", "rule": "daily"}, f"v{n}")["status"] == "SUCCEEDED"
        wait_copiers(stack)
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web = elearn.protected_instances["web-1"]
    older, newer = sorted(catalog.copies_for_resource(web, DR), key=lambda c: c.created_at)
    assert older.image_id and newer.image_id
    ec2 = client("ec2", DR)
    # Given the newest copy's AMI deregistered by hand in us-west-2
    ec2.deregister_image(ImageId=newer.image_id)
    capsys.readouterr()
    code = main(["restore", "start", "--instance", web, "--region", DR, "--dry-run", "--json"])
    plan = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK, plan
    text = json.dumps(plan)
    assert older.image_id in text and newer.recovery_point_id in text  # fell back, said why
    assert main(["copies", "status", "--json"]) == EXIT_OK
    (region,) = json.loads(capsys.readouterr().out)
    assert region["rules"][0]["vanished"] == [newer.recovery_point_id]
    # Both gone: refused (exit 2) naming what vanished, nothing launched
    ec2.deregister_image(ImageId=older.image_id)
    assert main(["restore", "start", "--instance", web, "--region", DR]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "deleted outside Lifeboat" in err and older.image_id in err and newer.image_id in err
    live = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )["Reservations"]
    assert live == []


def test_a_db_copy_whose_copier_died_after_the_call_is_adopted_by_the_next_copier(
    stack: Any, elearn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifeboat.aws.copy_ops import CopyOps
    from lifeboat.copies.pump import lease_name

    real = CopyOps.copy_db_snapshot
    made: list[str] = []

    def dies_after_the_call(self: CopyOps, *args: Any, **kwargs: Any) -> str:
        made.append(real(self, *args, **kwargs))
        raise TimeoutError("Task timed out after 300.00 seconds")

    when = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    with monkeypatch.context() as patch:
        patch.setattr(CopyOps, "copy_db_snapshot", dies_after_the_call)
        assert run_schedule(stack, "daily", when)["status"] == "SUCCEEDED"
        (dead,) = wait_copiers(stack)
    assert dead["status"] == "FAILED" and len(made) == 1
    catalog = Catalog(stack.outputs["CatalogTableName"])
    (intent,) = catalog.copies_for_resource("elearn-db", DR)
    assert intent.status is PointStatus.PENDING and intent.db_snapshot_id is None
    # The dead copier's lease runs out (released here rather than waited for)
    for lease in catalog.records("LOCK#" + lease_name(DR)):
        catalog.release_lock(lease_name(DR), str(lease.get("owner")))
    # (the EC2 copies the dead task never started are started again two minutes after their
    # intent: shortened here)
    monkeypatch.setattr("lifeboat.copies.start.ADOPT_AFTER", timedelta(seconds=1))
    # The next copier: CopyDBSnapshot answers DBSnapshotAlreadyExists, RDS reports the copy of
    # this point's snapshot made after the intent: adopted at once, not made twice
    assert main(["copies", "start", "--wait", "--json"]) == EXIT_OK
    (copy,) = catalog.copies_for_resource("elearn-db", DR)
    assert copy.status is PointStatus.COMPLETED and copy.db_snapshot_id == made[0]
    there = client("rds", DR).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in there] == [made[0]]
