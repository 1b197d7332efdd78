"""The copier on the stack's shared pace, through the real copy state machine in the emulator:
a destination whose copy bucket another execution has taken holds the copies in the copier's
own loop (the pump returns; WaitForCopies is the wait), and they start, once each, when the
bucket hands their calls out."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.local.bridge import BRIDGE
from lifeboat.models import PointStatus
from lifeboat.pace import bucket_size
from tests.integration.helpers import copier_runs, history, run_schedule, wait_copiers

pytestmark = pytest.mark.integration

DR = "us-west-2"
PUMP = "lifeboat-CopyPumpFunction"
AHEAD = 6.0  # seconds: longer than the run takes to start its copier


def pumps(execution_arn: str) -> list[dict[str, Any]]:
    """What each Pump task returned (its region reports)."""
    found = []
    for event in history(execution_arn):
        details = event.get("taskSucceededEventDetails") or {}
        if event["type"] == "TaskSucceeded" and details.get("resource") == "invoke":
            found.append(json.loads(details["output"])["Payload"])
    return found


def test_a_drained_destination_pace_holds_the_copies_in_the_copier(stack: Any, elearn: Any) -> None:
    # Given another execution that has taken us-west-2's CopyImage bucket: its next call comes
    # AHEAD seconds from now
    table = stack.outputs["CatalogTableName"]
    ddb = client("dynamodb")
    capacity, rate = bucket_size("CopyImage", 0.8)
    tat = time.time() + capacity / rate + AHEAD - 1 / rate
    ddb.put_item(
        TableName=table,
        Item={"pk": {"S": f"PACE#{DR}#CopyImage"}, "sk": {"S": "PACE"}, "tat": {"N": f"{tat:.3f}"}},
    )
    before = BRIDGE.invocations.get(PUMP, 0)
    # When the daily run queues its copies and starts the copier
    assert run_schedule(stack, "daily")["status"] == "SUCCEEDED"
    (run,) = wait_copiers(stack)
    # Then the copier's first pump started no image copy and said until when: it returned at
    # once (not slept) and the copier waited in its own loop, pumping again
    assert run["status"] == "SUCCEEDED"
    (execution,) = copier_runs(stack)
    reports = [
        next(r for r in p["regions"] if r["region"] == DR) for p in pumps(execution["executionArn"])
    ]
    first = reports[0]
    servers = len(elearn.protected_instances)
    assert first["paced_until"] and first["reserved"] == {"CopyImage": servers}
    assert not any(s.endswith("/ami@us-west-2") for s in first["started"])
    assert BRIDGE.invocations[PUMP] - before == len(reports) > 2
    catalog = Catalog(table)
    # and once the bucket handed the calls out, each image was copied once, from that bucket
    images = client("ec2", DR).describe_images(
        Owners=["self"], Filters=[{"Name": "tag:lifeboat:managed", "Values": ["true"]}]
    )["Images"]
    assert len(images) == servers
    copies = [
        c for s in elearn.protected_instances.values() for c in catalog.copies_for_resource(s, DR)
    ]
    assert len(copies) == servers and all(c.status is PointStatus.COMPLETED for c in copies)
    assert catalog.records(f"COPYQ#{DR}") == []
    item = ddb.get_item(
        TableName=table, Key={"pk": {"S": f"PACE#{DR}#CopyImage"}, "sk": {"S": "PACE"}}
    )["Item"]
    assert float(item["tat"]["N"]) == pytest.approx(tat + servers / rate, abs=0.01)
    # The database's copy was not held: its call came from its own bucket (CopyDBSnapshot)
    (db_copy,) = catalog.copies_for_resource("elearn-db", DR)
    assert db_copy.status is PointStatus.COMPLETED and db_copy.recovery_point_id in first["started"]
    db_bucket = {"pk": {"S": f"PACE#{DR}#CopyDBSnapshot"}, "sk": {"S": "PACE"}}
    assert "Item" in ddb.get_item(TableName=table, Key=db_bucket)
