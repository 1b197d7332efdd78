"""The backup feature's world: a fleet in the fakes, a clock, and a run's create, check and
finalize under the daily and hourly plans."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lifeboat.backup import (
    check_run,
    create_batch,
    finalize_run,
)
from lifeboat.models import (
    CheckEvent,
    CreateBatchEvent,
    FinalizeEvent,
    RecoveryPoint,
    ResourceRef,
)
from lifeboat.plans import Kind, PlanSet
from lifeboat.ports import Ports
from tests.fakes.catalog import FakeCatalog
from tests.fakes.ec2 import FakeEc2
from tests.fakes.ports import fake_ports
from tests.fakes.rds import FakeRds

NOW = datetime(2026, 11, 27, 2, 45, 3, tzinfo=UTC)


PLANS = PlanSet.model_validate(
    {
        "plans": {
            "standard": {
                "rules": {
                    "daily": {
                        "schedule": "cron(45 2 * * ? *)",
                        "timezone": "UTC",
                        "kinds": ["ami", "rds"],
                        "retention": {"daily": 7},
                    },
                    "hourly": {
                        "schedule": "cron(15 * * * ? *)",
                        "timezone": "UTC",
                        "kinds": ["ebs"],
                        "retention": {"hourly": 24},
                    },
                }
            }
        }
    }
)


class World:
    """A fleet in the fakes, a clock, and the run's batch."""

    def __init__(self) -> None:
        self.now = NOW
        self.catalog = FakeCatalog()
        self.ec2 = FakeEc2(clock=lambda: self.now)
        self.rds = FakeRds()
        self.ports: Ports = fake_ports(catalog=self.catalog, ec2=self.ec2, rds=self.rds)

    def batch(self, rule: str, *refs: ResourceRef, run_id: str = "") -> CreateBatchEvent:
        run_id = run_id or f"20261127T0245Z-standard-{rule}"
        self.catalog.claim_run(run_id, "exec", {"plan": "standard", "rule": rule})
        return CreateBatchEvent(run_id=run_id, plan="standard", rule=rule, resources=list(refs))

    def create(self, batch: CreateBatchEvent) -> dict[str, Any]:
        return create_batch(batch, PLANS, self.ports, self.now)

    def check(self, batch: CreateBatchEvent, attempt: int = 0) -> dict[str, Any]:
        return check_run(CheckEvent(run_id=batch.run_id, attempt=attempt), self.ports, self.now)

    def finalize(self, batch: CreateBatchEvent, *batches: dict[str, Any]) -> dict[str, Any]:
        event = FinalizeEvent(run_id=batch.run_id, batches=list(batches))
        return finalize_run(event, PLANS, self.ports, self.now)

    def point(self, batch: CreateBatchEvent, source: str, kind: Kind) -> RecoveryPoint:
        found = self.catalog.get_point(source, batch.run_id, kind.value)
        assert found is not None, (source, kind)
        return found
