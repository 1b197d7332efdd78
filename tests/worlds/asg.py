"""The Auto Scaling groups feature's world: a group of a launch template in the fakes, a clock,
a daily run that backs the group up, and a group restore run step by step as its state machine
runs them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lifeboat.asg.apply import run_step
from lifeboat.asg.restore_models import GroupTask
from lifeboat.backup import check_run, create_batch
from lifeboat.models import (
    CheckEvent,
    CreateBatchEvent,
    ExecutionContext,
    ResourceRef,
)
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.timeutil import iso
from tests.fakes.catalog import FakeCatalog
from tests.fakes.ec2 import FakeEc2
from tests.fakes.groups import FakeGroups
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
                    }
                }
            }
        }
    }
)


class World:
    def __init__(self) -> None:
        self.now = NOW
        self.catalog = FakeCatalog()
        self.ec2 = FakeEc2(clock=lambda: self.now)
        self.groups = FakeGroups(self.ec2)
        self.template = self.groups.add_template("web", "ami-base", KeyName="ops")
        self.group = self.groups.add_group("web", self.template)
        self.ports: Ports = fake_ports(
            catalog=self.catalog, ec2=self.ec2, rds=FakeRds(), groups=self.groups
        )
        self.ports.autoscaling = self.groups

    def run(self, run_id: str = "20261127T0245Z-standard-daily") -> CreateBatchEvent:
        self.catalog.claim_run(run_id, "exec", {"plan": "standard", "rule": "daily"})
        batch = CreateBatchEvent(
            run_id=run_id,
            plan="standard",
            rule="daily",
            resources=[ResourceRef(type="asg", id="web")],
        )
        create_batch(batch, PLANS, self.ports, self.now)
        check_run(CheckEvent(run_id=run_id), self.ports, self.now)
        return batch

    def task(self, step: str, state: dict[str, Any], name: str = "restore-asg-1") -> GroupTask:
        return GroupTask(
            step=step,
            state=state,
            execution=ExecutionContext(
                id=f"arn:aws:states:us-east-1:123456789012:execution:group-restore:{name}",
                name=name,
                start_time=iso(self.now),
            ),
        )

    def restore(self, payload: dict[str, Any], name: str = "restore-asg-1") -> dict[str, Any]:
        """Begin, apply, check, finish, as the state machine runs them."""
        state: dict[str, Any] = dict(payload)
        for step, key in (("begin", "plan"), ("apply", "applied"), ("check", "refresh")):
            state[key] = {"value": run_step(self.task(step, state, name), self.ports, self.now)}
        return run_step(self.task("finish", state, name), self.ports, self.now)
