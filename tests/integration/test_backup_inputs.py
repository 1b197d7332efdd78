"""Issue 12, item 7: inputs that cannot hurt the backup path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import runtime
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.backup import create_batch
from lifeboat.models import CreateBatchEvent, PointStatus, ResourceRef
from lifeboat.plans import default_plans
from lifeboat.timeutil import utcnow
from tests.integration.helpers import managed_images, run_schedule, start

pytestmark = pytest.mark.integration


def test_a_manual_run_cannot_pre_claim_a_future_scheduled_slot(stack: Any, elearn: Any) -> None:
    # Given someone starts a run by hand with the next daily slot as its scheduled_time
    slot = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    payload = {"plan": "standard", "rule": "daily", "scheduled_time": slot.isoformat()}
    result = start(stack, payload, "pre-claim")
    # Then it is refused naming the field, and nothing is created or claimed
    assert result["status"] == "FAILED" and "scheduled_time" in str(result["cause"])
    assert "future" in str(result["cause"]) and managed_images() == []
    catalog = Catalog(stack.outputs["CatalogTableName"])
    assert catalog.get_run(f"{slot:%Y%m%dT%H%MZ}-standard-daily") is None
    # and a manual run without it gets its own run id (never a scheduled slot's)
    manual = start(stack, {"plan": "standard", "rule": "hourly"}, "by-hand")
    assert manual["status"] == "SUCCEEDED" and "-m" in manual["output"]["run_id"]
    # and the real trigger of a slot still creates its recovery points
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    real = run_schedule(stack, "daily", now)
    assert real["status"] == "SUCCEEDED" and real["output"]["completed"] >= 1


def test_a_create_task_never_images_an_untagged_instance(stack: Any, elearn: Any) -> None:
    # Given a create task whose batch names an instance without the plan's tag
    untagged = elearn.other_instances["bastion (untagged)"]
    web1 = elearn.protected_instances["web-1"]
    event = CreateBatchEvent(
        run_id=f"{utcnow():%Y%m%dT%H%MZ}-standard-daily",
        plan="standard",
        rule="daily",
        resources=[ResourceRef(type="instance", id=i) for i in (web1, untagged)],
    )
    result = create_batch(event, default_plans(), runtime.ports(), utcnow())
    # Then only the protected one is imaged; the other fails with the reason, nothing made
    assert result["created"] == 1 and result["failed"] == 1
    sources = {
        t["Value"]
        for i in managed_images()
        for t in i.get("Tags", [])
        if t["Key"] == "lifeboat:source"
    }
    assert sources == {web1}
    failed = Catalog(stack.outputs["CatalogTableName"]).get_point(untagged, event.run_id, "ami")
    assert failed is not None and failed.status is PointStatus.FAILED
    assert "NotProtected" in (failed.error or "")
    images = client("ec2").describe_images(Owners=["self"])["Images"]
    assert not [i for i in images if untagged in i.get("Name", "")]
