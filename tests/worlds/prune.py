"""The prune feature's world: the plans prune is tested under (hourly EBS, daily AMI, min_keep 2),
a fleet in the fakes with a clock, and daily backup runs that make points to prune."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat.backup import check_run, create_batch, finalize_run
from lifeboat.models import (
    CheckEvent,
    CreateBatchEvent,
    FinalizeEvent,
    PointStatus,
    ResourceRef,
)
from lifeboat.plans import PlanSet, parse_plans
from lifeboat.ports import Ports
from tests.fakes.catalog import FakeCatalog
from tests.fakes.ec2 import FakeEc2
from tests.fakes.ports import fake_ports
from tests.fakes.rds import FakeRds

MIN_KEEP = 2


PLANS = PlanSet.model_validate(
    {
        "plans": {
            "standard": {
                "min_keep": MIN_KEEP,
                "rules": {
                    "hourly": {
                        "schedule": "cron(15 * * * ? *)",
                        "timezone": "UTC",
                        "kinds": ["ebs"],
                        "retention": {"hourly": 3},
                    },
                    "daily": {
                        "schedule": "cron(45 2 * * ? *)",
                        "timezone": "UTC",
                        "kinds": ["ami"],
                        "retention": {"daily": 2},
                    },
                },
            }
        }
    }
)


START = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


class World:
    def __init__(self) -> None:
        self.now = START
        self.catalog = FakeCatalog()
        self.ec2 = FakeEc2(clock=lambda: self.now)
        self.ports: Ports = fake_ports(catalog=self.catalog, ec2=self.ec2, rds=FakeRds())
        self.instance = self.ec2.add_instance("standard")

    def daily_runs(self, days: int) -> None:
        for _ in range(days):
            self.daily_run()

    def daily_run(self, plans: PlanSet = PLANS, with_report: bool = False) -> Any:
        """One daily run under ``plans`` (its id; with its finalize report), a day later."""
        run_id = f"{self.now:%Y%m%dT%H%M%SZ}-standard-daily-m1"
        self.catalog.claim_run(run_id, "exec", {"plan": "standard", "rule": "daily"})
        event = CreateBatchEvent(
            run_id=run_id,
            plan="standard",
            rule="daily",
            resources=[ResourceRef(type="instance", id=self.instance)],
        )
        create_batch(event, plans, self.ports, self.now)
        check_run(CheckEvent(run_id=run_id), self.ports, self.now)
        batch = event.model_dump(mode="json")
        report = finalize_run(
            FinalizeEvent(run_id=run_id, batches=[batch]), plans, self.ports, self.now
        )
        self.now += timedelta(days=1)
        return (run_id, report) if with_report else run_id

    def statuses(self) -> list[PointStatus]:
        return [p.status for p in sorted(self.catalog.all_points(), key=lambda p: p.created_at)]


def locked_plans(lock: dict[str, Any]) -> PlanSet:
    data = PLANS.model_dump(mode="json")
    data["plans"]["standard"]["rules"]["daily"]["lock"] = lock
    return parse_plans(data)
