"""Between runs, each rule's RPO is put every 5 minutes from what its last run measured (the
record finalize writes in the catalog), so its alarm is judged on fresh datapoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import runtime
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.backup.rpo import publish_rpo_ages
from lifeboat.plans import default_plans
from lifeboat.timeutil import parse_iso

pytestmark = pytest.mark.integration


def test_each_run_records_its_rpo_and_the_publisher_puts_it_as_it_grows(
    stack: Any, backed_up: Any
) -> None:
    records = {
        r["sk"]: r for r in Catalog(stack.outputs["CatalogTableName"]).records("RPO#standard")
    }
    assert set(records) == {"hourly", "daily"}
    later = datetime.now(UTC) + timedelta(hours=2)
    published = publish_rpo_ages(default_plans(), runtime.ports(), later)
    oldest = parse_iso(str(records["hourly"]["oldest_at"]))
    assert published["standard/hourly"] == pytest.approx((later - oldest).total_seconds(), 1)
    found = client("cloudwatch").get_metric_statistics(
        Namespace="Lifeboat",
        MetricName="RpoSeconds",
        Dimensions=[{"Name": "Plan", "Value": "standard"}, {"Name": "Rule", "Value": "hourly"}],
        StartTime=later - timedelta(minutes=1),
        EndTime=later + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [d["Maximum"] for d in found] == [published["standard/hourly"]]
