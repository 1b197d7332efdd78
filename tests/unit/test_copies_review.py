"""Copies tried again as an adversary and a careful operator would (review of the copies'
trust fixes), on fakes: an artifact forged a few seconds before a copy's intent is neither
adopted nor deleted (the slack covers the services' clock precision, not a minute); a settle
that finds a foreign artifact in a snapshot set deletes the set's own snapshots instead of
forgetting them; an image deregistered by hand mid-copy leaves none of its snapshots behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.copies.enqueue import queue_copies
from lifeboat.copies.provenance import SLACK
from lifeboat.copies.start import client_token
from lifeboat.models import PointStatus, SnapshotLock
from lifeboat.plans import Kind
from lifeboat.prune import PruneRequest, prune
from lifeboat.prune.models import PRUNE_TAKEOVER
from tests.fakes.common import client_error
from tests.fakes.copies import FakeCopier
from tests.worlds.copies import (
    NOW,
    completed_copies,
    database,
    forge,
    home,
    our_arn,
    plans,
    point,
    put_home,
    run_pump,
    until_done,
    world,
)

pytestmark = pytest.mark.unit


def test_the_slack_is_the_services_clock_precision_not_a_minute() -> None:
    assert timedelta(seconds=1) <= SLACK <= timedelta(seconds=2)


@pytest.mark.parametrize("kind", ["db", "cluster"])
def test_a_copy_of_our_own_source_forged_seconds_before_the_intent_is_not_adopted(
    kind: str,
) -> None:
    # Given someone copied our own source snapshot into us-west-2 under tonight's name, with
    # our tags, 30 seconds before the copier's intent
    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW))
    source = database(kind)
    put_home(ports, source)
    name = forge(copier, source, our_arn(source), 0)
    copier.dbs[name]["SnapshotCreateTime"] = NOW - timedelta(seconds=30)
    queue_copies([source], plans(), ports, NOW)
    run_pump(ports, plans())
    # Then it is not taken as Lifeboat's copy, and it is left where it is
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copy.status is PointStatus.FAILED and "not Lifeboat's copy" in (copy.error or "")
    assert name in copier.dbs and not copy.artifact_ids()


def test_an_image_for_our_client_token_forged_seconds_before_the_intent_is_not_ours() -> None:
    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW))
    source = point("i-0web1", Kind.AMI)
    home(ports, [source])
    cid = f"{source.recovery_point_id}@us-west-2"
    copier.images_["ami-0f0f0f0f"] = {
        "ImageId": "ami-0f0f0f0f",
        "CreationDate": (NOW - timedelta(seconds=30)).isoformat(),
        "State": "available",
        "Tags": T.to_list({T.MANAGED: "true", T.COPY_POINT: cid}),
        "BlockDeviceMappings": [],
        "_polls": 0,
    }
    copier.tokens[client_token(cid)] = "ami-0f0f0f0f"
    queue_copies([source], plans(), ports, NOW)
    until_done(ports, plans())
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    assert copy.status is PointStatus.FAILED and copy.image_id is None
    assert "ami-0f0f0f0f" in copier.images_


def test_a_refused_copy_never_deletes_a_snapshot_forged_seconds_before_its_intent() -> None:
    # Given a snapshot tagged as tonight's copy of a set, made 30 s before the intent
    ports, _catalog, copier = world(FakeCopier(clock=lambda: NOW, fail_copies=1))
    source = point("i-0web1", Kind.EBS)
    home(ports, [source])
    cid = f"{source.recovery_point_id}@us-west-2"
    tags = {T.MANAGED: "true", T.COPY_POINT: cid, T.COPY_OF: source.snapshots[0].snapshot_id}
    copier.snaps["snap-0f0f0f0f"] = {
        "SnapshotId": "snap-0f0f0f0f",
        "StartTime": NOW - timedelta(seconds=30),
        "State": "completed",
        "Tags": T.to_list(tags),
        "_polls": 0,
    }
    queue_copies([source], plans(), ports, NOW)
    # When the copy is refused (its first call): what earlier calls made is cleaned up
    report = run_pump(ports, plans()).regions[0]
    assert report.retrying
    # Then the forged one, made before the intent, is not among it
    assert "snap-0f0f0f0f" in copier.snaps


def test_a_foreign_snapshot_in_a_set_leaves_none_of_the_sets_own_snapshots_behind() -> None:
    # Given an EBS set of two volumes being copied
    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW, polls_to_complete=3))
    source = point("i-0web1", Kind.EBS, snapshots=2)
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    run_pump(ports, plans())
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    ours, theirs = (s.snapshot_id for s in copy.snapshots)
    # and one of the recorded snapshots turns out to predate the copy (not made for it)
    copier.snaps[theirs]["StartTime"] = NOW - timedelta(days=1)
    until_done(ports, plans())
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    # Then the copy fails, the foreign one is left untouched, and the set's own is deleted
    # (not forgotten by the catalog and left in the region for ever)
    assert copy.status is PointStatus.FAILED
    assert theirs in copier.snaps
    assert ours not in copier.snaps


def test_an_image_deregistered_by_hand_mid_copy_leaves_none_of_its_snapshots() -> None:
    # Given an AMI copy of two volumes in flight
    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW, polls_to_complete=3))
    source = point("i-0web1", Kind.AMI, snapshots=2)
    copier.image_snapshots[source.image_id or ""] = 2
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    run_pump(ports, plans())
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    image = copier.images_.pop(copy.image_id or "")  # deregistered by hand while copying
    left = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]]
    assert all(s in copier.snaps for s in left)
    until_done(ports, plans())
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    # Then the copy fails and the image's snapshots (tagged with its id, made after its
    # intent) are deleted with it
    assert copy.status is PointStatus.FAILED and "disappeared" in (copy.error or "")
    assert not [s for s in left if s in copier.snaps]


def test_an_image_deregistered_by_hand_never_deletes_a_snapshot_made_before_the_intent() -> None:
    ports, catalog, copier = world(FakeCopier(clock=lambda: NOW, polls_to_complete=3))
    source = point("i-0web1", Kind.AMI)
    home(ports, [source])
    queue_copies([source], plans(), ports, NOW)
    run_pump(ports, plans())
    (copy,) = catalog.copies_for_rule("us-west-2", "standard", "daily")
    cid = copy.recovery_point_id
    tags = {T.MANAGED: "true", T.COPY_POINT: cid, T.COPY_OF: source.image_id or ""}
    copier.snaps["snap-0f0f0f0f"] = {
        "SnapshotId": "snap-0f0f0f0f",
        "StartTime": NOW - timedelta(hours=1),
        "State": "completed",
        "Tags": T.to_list(tags),
        "_polls": 0,
    }
    copier.images_.pop(copy.image_id or "")
    until_done(ports, plans())
    assert "snap-0f0f0f0f" in copier.snaps


@pytest.mark.parametrize("code", ["AccessDenied", "RequestLimitExceeded"])
@pytest.mark.parametrize("failing_read", [1, 2], ids=["prune's-read", "the-set's-own-read"])
@pytest.mark.parametrize("kind", [Kind.AMI, Kind.EBS])
def test_a_lock_read_that_fails_in_the_copy_region_deletes_nothing(
    kind: Kind, failing_read: int, code: str
) -> None:
    # Given expired copies, and DescribeLockedSnapshots in us-west-2 failing (denied by an SCP,
    # or throttled past the retries) at prune's read, or at the set's read before its delete
    ports, catalog, copier, _copies = completed_copies(kind)
    before = (set(copier.images_), set(copier.snaps))
    real = copier.snapshot_locks
    calls = {"n": 0}

    def failing(ids: list[str]) -> dict[str, SnapshotLock]:
        calls["n"] += 1
        if calls["n"] >= failing_read:
            raise client_error(code, "DescribeLockedSnapshots")
        return real(ids)

    copier.snapshot_locks = failing  # type: ignore[method-assign]
    try:
        prune(PruneRequest(plan="standard"), plans(copy_retention={"daily": 1}), ports, NOW)
    except ClientError:
        pass  # failing loudly is fine; deleting is not
    # Then nothing is deleted in us-west-2, and every copy is still offered (not left deleting
    # for ever, not marked deleted)
    assert (set(copier.images_), set(copier.snaps)) == before
    copier.snapshot_locks = real  # type: ignore[method-assign]
    report = prune(
        PruneRequest(plan="standard"),
        plans(copy_retention={"daily": 1}),
        ports,
        NOW + PRUNE_TAKEOVER * 2,
    )
    assert report.deleted == 2 and len(set(copier.snaps)) < len(before[1])
    left = catalog.copies_for_resource("i-0web1", "us-west-2")
    assert sorted(c.status.value for c in left) == ["completed", "deleted", "deleted"]


def test_a_resource_whose_backups_stopped_does_not_get_its_whole_history_copied() -> None:
    from lifeboat.copies.reconcile import forgotten

    # Given a server whose backups stopped 3 days ago (its group is stale: home prune keeps
    # everything) and a rule that copies by {daily: 7} from today on
    ports, _catalog, _copier = world(FakeCopier(clock=lambda: NOW))
    history = [point("i-0web1", Kind.EBS, day=d) for d in range(3, 30)]
    home(ports, history)
    # Then the copier queues what the copy retention keeps, never the server's whole history
    found = {p.recovery_point_id for p in forgotten("us-west-2", plans({"daily": 7}), ports, NOW)}
    wanted = {p.recovery_point_id for p in history if (NOW - p.created_at).days < 7}
    assert found == wanted


def test_the_copy_adapters_inventory_dates_each_snapshot_as_ec2_does() -> None:
    # The clean-up of an image deregistered mid-copy trusts only snapshots EC2 dates after the
    # copy's intent: the adapter must carry StartTime through.
    import boto3
    from botocore.stub import Stubber

    from lifeboat.aws.clients import Retrier
    from lifeboat.aws.copy_ops import CopyOps
    from lifeboat.pacing import Pacer

    ec2 = boto3.client(
        "ec2", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x"
    )
    rds = boto3.client(
        "rds", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x"
    )
    retrier = Retrier(sleep=lambda _s: None, pacer=Pacer(sleep=lambda _s: None))
    ops = CopyOps("us-west-2", retrier, ec2=ec2, rds=rds)
    started = NOW + timedelta(seconds=3)
    tags = {T.MANAGED: "true", T.COPY_POINT: "p@us-west-2", T.COPY_OF: "ami-1"}
    with Stubber(ec2) as e, Stubber(rds) as r:
        e.add_response("describe_images", {"Images": []})
        e.add_response(
            "describe_snapshots",
            {
                "Snapshots": [
                    {"SnapshotId": "snap-1", "StartTime": started, "Tags": T.to_list(tags)}
                ]
            },
        )
        r.add_response("describe_db_snapshots", {"DBSnapshots": []})
        r.add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": []})
        (found,) = ops.inventory()
    assert found.artifact_id == "snap-1" and found.copy_point_id == "p@us-west-2"
    assert found.created_at == started


def test_a_long_copier_queues_what_finalize_could_not_within_the_hour() -> None:
    # A copier that runs for hours holds the region's lease: the hourly copiers find it held
    # and end. A point whose queue write failed meanwhile is queued by the running copier
    # within the hour, not when it ends (up to 11 hours later).
    ports, _catalog, _copier = world(FakeCopier(clock=lambda: NOW))
    never = point("i-0web1", Kind.EBS)
    home(ports, [never])
    later = NOW + timedelta(hours=1)
    report = run_pump(ports, plans(), later, attempt=60, started=NOW).regions[0]
    assert report.requeued == [never.recovery_point_id]
