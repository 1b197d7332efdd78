"""The prune state machine through its real ASL in the emulator (statemachines/prune.asl.json):
batches marked one at a time by the execution, a pass killed by its Lambda time-out retried
on ``Sandbox.Timedout`` and its batch finished by the next pass at once (not after 16
minutes), every expired point deleted and none left ``deleting``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import executions
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.local.history import fabricate
from lifeboat.models import PointStatus
from lifeboat.plans import Kind
from lifeboat.prune import machine
from tests.integration.helpers import managed_snapshots

pytestmark = pytest.mark.integration

# What Step Functions reports when a Lambda invocation runs out of time.
SandboxTimedout = type("Sandbox.Timedout", (Exception,), {})


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def test_an_interrupted_batch_is_finished_by_the_next_pass(
    stack: Any, elearn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 34 hourly points of web-1 up to an hour ago: 11 outside the rule's 24 hourly slots
    # (this hour's among them), in batches of 4
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC)) - timedelta(hours=1)
    for h in range(34):
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h))
    snapshots_before = len(managed_snapshots("ebs"))
    monkeypatch.setattr(machine, "BATCH_POINTS", 4)
    # and a pass whose Lambda times out right after the second batch's first deletes
    real = Ec2Gateway.delete_snapshots
    calls: list[list[str]] = []
    guard = threading.Lock()

    def times_out_once(self: Any, snapshot_ids: list[str], *args: Any, **kw: Any) -> Any:
        outcome = real(self, snapshot_ids, *args, **kw)
        with guard:
            calls.append(snapshot_ids)
            if len(calls) == 5:
                raise SandboxTimedout("Task timed out after 900.00 seconds")
        return outcome

    monkeypatch.setattr(Ec2Gateway, "delete_snapshots", times_out_once)
    # When the prune machine runs
    arn = executions.start(
        stack.outputs["PruneStateMachineArn"],
        {"plan": "standard", "rule": "hourly", "dry_run": False},
        "prune-interrupted",
    )
    result = executions.wait(arn, timeout=120, poll=0.05)
    # Then it succeeded: the timed-out pass was retried and finished the interrupted batch
    assert result["status"] == "SUCCEEDED", result
    history = list(executions.HistoryReader(arn).new_events())
    failures = [e for e in history if e["type"] == "TaskFailed" and "Sandbox.Timedout" in str(e)]
    assert len(failures) == 1
    assert result["output"]["deleted"] == 11 and result["output"]["unfinished_batches"] == 0
    points = catalog.points_for_resource(web1)
    statuses = [p.status for p in points]
    assert statuses.count(PointStatus.DELETED) == 11
    assert PointStatus.DELETING not in statuses
    owners = {p.deleting_by for p in points if p.status is PointStatus.DELETED}
    assert owners == {arn}  # every mark was this execution's
    # and their snapshots are gone (2 volumes each), the kept ones' still there
    assert len(managed_snapshots("ebs")) == snapshots_before - 22
    # and a second prune finds nothing more to do
    again = executions.start(
        stack.outputs["PruneStateMachineArn"],
        {"plan": "standard", "rule": "hourly", "dry_run": False},
        "prune-again",
    )
    assert executions.wait(again, timeout=60, poll=0.05)["output"]["deleted"] == 0


def test_a_dry_run_plans_and_changes_nothing(stack: Any, elearn: Any) -> None:
    catalog = Catalog(stack.outputs["CatalogTableName"])
    web1 = elearn.protected_instances["web-1"]
    start = _hour(datetime.now(UTC)) - timedelta(hours=1)
    for h in range(30):
        fabricate(catalog, web1, "hourly", Kind.EBS, start - timedelta(hours=h))
    arn = executions.start(
        stack.outputs["PruneStateMachineArn"],
        {"plan": "standard", "rule": "hourly", "dry_run": True},
        "prune-dry",
    )
    result = executions.wait(arn, timeout=60, poll=0.05)
    assert result["status"] == "SUCCEEDED"
    assert result["output"]["expired"] == 7 and result["output"]["deleted"] == 0
    assert all(p.status is PointStatus.COMPLETED for p in catalog.points_for_resource(web1))


def test_records_are_read_from_a_start_a_page_at_a_time(stack: Any) -> None:
    # Given a prune's batches in two regions
    catalog = Catalog(stack.outputs["CatalogTableName"])
    for region in ("us-east-1", "us-east-10"):
        for index in range(10):
            catalog.put_record("PRUNE#x", f"B#{region}#{index:06d}", {"n": index})
    queries: list[dict[str, Any]] = []
    catalog.ddb.meta.events.register(
        "before-call.dynamodb.Query", lambda params, **_: queries.append(params)
    )
    # When a pass reads from the third batch of us-east-1
    found = catalog.records_from("PRUNE#x", "B#us-east-1#000002", "B#us-east-1#")
    first = next(found)
    # Then it read one page of RECORDS_PAGE, and nothing of the other region, in order
    assert first["sk"] == "B#us-east-1#000002" and len(queries) == 1
    rest = [r["sk"] for r in found]
    assert rest == [f"B#us-east-1#{i:06d}" for i in range(3, 10)]
    assert len(queries) == 3  # 8 records, 4 a page, and an empty last page (as DynamoDB does)
    # and a start of another region reads the region's records from the first
    other = [r["n"] for r in catalog.records_from("PRUNE#x", "B#us-west-2#000000", "B#us-east-1#")]
    assert other == list(range(10))
