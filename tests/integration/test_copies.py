"""Copies in another region through the real state machines in the emulator: a daily backup
run queues its points, the copier it starts copies them into us-west-2 (AMIs with their
snapshots, the RDS snapshot), re-encrypted and tagged; they are catalogued there, pruned there
by their own retention, and a second copier never copies anything twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import executions, runtime
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.cli import EXIT_OK, main
from lifeboat.models import PointStatus
from lifeboat.plans import default_plans, parse_plans
from lifeboat.prune import PruneRequest, prune
from tests.integration.helpers import run_schedule, start, wait_copiers

pytestmark = pytest.mark.integration

DR = "us-west-2"


def dr_images() -> list[dict[str, Any]]:
    flt = [{"Name": "tag:lifeboat:managed", "Values": ["true"]}]
    return list(client("ec2", DR).describe_images(Owners=["self"], Filters=flt)["Images"])


def test_a_daily_run_copies_its_points_to_the_dr_region(stack: Any, elearn: Any) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    result = run_schedule(stack, "daily", now - timedelta(minutes=5))
    assert result["status"] == "SUCCEEDED"
    runs = wait_copiers(stack)
    assert runs and all(r["status"] == "SUCCEEDED" for r in runs)
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web = elearn.protected_instances["web-1"]
    (home,) = [p for p in catalog.points_for_resource(web) if p.status is PointStatus.COMPLETED]
    (copy,) = catalog.copies_for_resource(web, DR)
    assert copy.status is PointStatus.COMPLETED and copy.copy_of == home.recovery_point_id
    assert copy.image_id and copy.image_id != home.image_id and copy.created_at == home.created_at
    image = next(i for i in dr_images() if i["ImageId"] == copy.image_id)
    tags = T.to_dict(image["Tags"])
    assert tags[T.COPY_OF] == home.image_id and tags[T.SOURCE_REGION] == "us-east-1"
    assert tags[T.SOURCE] == web and tags[T.COPY_POINT] == copy.recovery_point_id
    # The image's snapshots (root and data volume) were copied and are encrypted in us-west-2.
    snaps = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
    described = client("ec2", DR).describe_snapshots(SnapshotIds=snaps)["Snapshots"]
    assert len(described) == 2 and all(s["Encrypted"] for s in described)
    (db_copy,) = catalog.copies_for_resource("elearn-db", DR)
    assert db_copy.status is PointStatus.COMPLETED and db_copy.db_snapshot_id
    dr_db = client("rds", DR).describe_db_snapshots(DBSnapshotIdentifier=db_copy.db_snapshot_id)
    assert T.to_dict(dr_db["DBSnapshots"][0]["TagList"])[T.COPY_POINT] == db_copy.recovery_point_id
    # Nothing left queued; a second copier finds nothing to do and copies nothing again.
    assert catalog.records(f"COPYQ#{DR}") == []
    before = len(dr_images())
    arn = executions.start(
        stack.outputs["CopierStateMachineArn"], {"requested_by": "test"}, "again"
    )
    assert executions.wait(arn, timeout=60, poll=0.05)["status"] == "SUCCEEDED"
    assert len(dr_images()) == before


def test_copies_are_pruned_in_their_region_by_their_own_retention(stack: Any, elearn: Any) -> None:
    for n in range(4):  # four daily points today (manual runs)
        assert start(stack, {"plan": "standard", "rule": "daily"}, f"m{n}")["status"] == "SUCCEEDED"
        wait_copiers(stack)
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web = elearn.protected_instances["web-1"]
    assert len(catalog.copies_for_resource(web, DR)) == 4
    # Each region by its own retention (unit tests vary them; here both keep one a day).
    # The fourth run's own prune may already have expired the oldest copies (their run's copier
    # can finish before that prune step reads them: a race of the emulator's timing), counted.
    sources = [*elearn.protected_instances.values(), "elearn-db"]
    pruned_by_the_run = sum(
        1
        for source in sources
        for c in catalog.copies_for_resource(source, DR)
        if c.status is PointStatus.DELETED
    )
    data = default_plans().model_dump(mode="json")
    data["plans"]["standard"]["min_keep"] = 1
    data["plans"]["standard"]["rules"]["daily"]["copy_to"][0]["retention"] = {"daily": 1}
    report = prune(
        PruneRequest(plan="standard", rule="daily"),
        parse_plans(data),
        runtime.ports(),
        datetime.now(UTC),
    )
    regions = [d.region or "home" for d in report.expired]
    # Copies: 3 of 4 for each of the 4 resources. Home: the fourth run's own prune step had
    # already deleted the oldest home point (its copy was then still queued, so kept).
    assert regions.count("us-west-2") + pruned_by_the_run == 12 and regions.count("home") == 8
    copies = catalog.copies_for_resource(web, DR)
    assert sorted(c.status.value for c in copies) == ["completed", "deleted", "deleted", "deleted"]
    live = {c.image_id for c in copies if c.status is PointStatus.COMPLETED}
    assert {i["ImageId"] for i in dr_images() if T.to_dict(i["Tags"])[T.SOURCE] == web} == live
    dr_snaps = client("ec2", DR).describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert len(dr_snaps) == 3 * 2  # the live copies' images: root and data snapshot each
    (db_live,) = [
        c for c in catalog.copies_for_resource("elearn-db", DR) if c.status is PointStatus.COMPLETED
    ]
    dr_db = client("rds", DR).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in dr_db] == [db_live.db_snapshot_id]


def test_the_cli_shows_the_copies_and_their_rpo(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert start(stack, {"plan": "standard", "rule": "daily"}, "cli")["status"] == "SUCCEEDED"
    wait_copiers(stack)
    capsys.readouterr()
    assert main(["copies", "status", "--json"]) == EXIT_OK
    (region,) = json.loads(capsys.readouterr().out)
    assert region["region"] == DR and region["queued"] == 0 and region["in_flight"] == 0
    (rule,) = region["rules"]
    assert rule["rule"] == "daily" and rule["resources"] == 4 and not rule["without_copy"]
    assert rule["rpo_seconds"] is not None and rule["rpo_seconds"] < 600
    web = elearn.protected_instances["web-1"]
    assert main(["copies", "list", "--resource", web, "--region", DR]) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 cop(ies) of" in out and "completed" in out and "ami-" in out
    assert main(["copies", "start", "--wait", "--json"]) == EXIT_OK  # nothing left: it ends
