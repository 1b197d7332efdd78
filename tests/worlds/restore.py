"""A small eLearn-like world for the restore's unit tests, on the in-memory fakes: web-1 in
us-east-1a (Elastic IP, target group) with a daily AMI and a newer hourly EBS set, web subnets
in three AZs, and the database elearn-db with a daily snapshot. ``run`` drives the stages as
the state machine does, passing each result on in the state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.guardrails import GuardConfig, Guardrails
from lifeboat.models import (
    BlockDevice,
    DatabaseConfig,
    InstanceConfig,
    PointStatus,
    RecoveryPoint,
    TargetGroupMembership,
    VolumeSnapshot,
)
from lifeboat.plans import Kind, PlanSet
from lifeboat.ports import Ports
from lifeboat.restore import locks
from lifeboat.timeutil import iso
from tests.fakes.catalog import FakeCatalog
from tests.fakes.guards import FakeGuardStore
from tests.fakes.notifier import FakeNotifier
from tests.fakes.ports import fake_ports
from tests.fakes.rds import FakeRds
from tests.fakes.restore import FakeEc2Restore, FakeRdsRestore

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
ARN = "arn:aws:states:us-east-1:123456789012:execution:lifeboat-restore:"
VPC = "vpc-0123456789abcdef0"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
EIP = "eipalloc-0123456789abcdef0"
PLANS = PlanSet.model_validate(
    {
        "plans": {
            "standard": {
                "fallback_instance_types": ["t3a.medium", "m5.large"],
                "rules": {
                    "daily": {
                        "schedule": "cron(45 2 * * ? *)",
                        "timezone": "Europe/London",
                        "kinds": ["ami", "rds"],
                        "retention": {"daily": 7},
                    }
                },
            }
        }
    }
)


def subnet(az: str, tier: str = "web") -> dict[str, Any]:
    return {
        "SubnetId": f"subnet-{az[-1] * 8}{tier[0]}",
        "AvailabilityZone": az,
        "VpcId": VPC,
        "State": "available",
        "Tags": [{"Key": T.TIER, "Value": tier}],
    }


def instance_config(az: str = "us-east-1a") -> InstanceConfig:
    return InstanceConfig(
        instance_type="t3.medium",
        availability_zone=az,
        subnet_tier="web",
        vpc_id=VPC,
        security_group_ids=["sg-0123456789abcdef0"],
        root_device_name="/dev/sda1",
        tags={"Name": "web-1", T.PLAN: "standard", "team": "elearn"},
        elastic_ip={"allocation_id": EIP, "public_ip": "203.0.113.10"},
        target_groups=[TargetGroupMembership(target_group_arn=TG, port=80)],
        block_devices=[
            BlockDevice(
                device_name="/dev/sda1", volume_id="vol-root", size_gb=8, volume_type="gp3"
            ),
            BlockDevice(
                device_name="/dev/sdf", volume_id="vol-data", size_gb=20, volume_type="gp3"
            ),
        ],
    )


def ami_point(source: str, at: datetime, config: InstanceConfig, n: int = 1) -> RecoveryPoint:
    return RecoveryPoint(
        recovery_point_id=f"rp-ami-{n}",
        run_id=f"run-ami-{n}",
        plan="standard",
        rule="daily",
        kind=Kind.AMI,
        source_id=source,
        source_type="instance",
        status=PointStatus.COMPLETED,
        created_at=at,
        image_id=f"ami-{n:017x}",
        snapshots=[
            VolumeSnapshot(
                volume_id="vol-root", snapshot_id=f"snap-root-{n}", device_name="/dev/sda1"
            ),
            VolumeSnapshot(
                volume_id="vol-data", snapshot_id=f"snap-data-{n}", device_name="/dev/sdf"
            ),
        ],
        instance=config,
    )


def ebs_point(source: str, at: datetime, n: int = 1) -> RecoveryPoint:
    return RecoveryPoint(
        recovery_point_id=f"rp-ebs-{n}",
        run_id=f"run-ebs-{n}",
        plan="standard",
        rule="hourly",
        kind=Kind.EBS,
        source_id=source,
        source_type="instance",
        status=PointStatus.COMPLETED,
        created_at=at,
        snapshots=[
            VolumeSnapshot(
                volume_id="vol-root", snapshot_id=f"snap-hroot-{n}", device_name="/dev/sda1"
            ),
            VolumeSnapshot(
                volume_id="vol-data", snapshot_id=f"snap-hdata-{n}", device_name="/dev/sdf"
            ),
        ],
    )


@dataclass
class World:
    catalog: FakeCatalog
    ec2: FakeEc2Restore
    rds: FakeRds
    rds_restore: FakeRdsRestore
    notifier: FakeNotifier
    guard: Guardrails
    guards: FakeGuardStore
    ports: Ports
    web1: str

    def event(self, payload: dict[str, Any], name: str = "restore-1", **state: Any) -> Any:
        from lifeboat.restore import TaskEvent

        return TaskEvent.model_validate(
            {
                "state": state,
                "execution": {
                    "Id": ARN + name,
                    "Name": name,
                    "StartTime": iso(NOW),
                    "Input": payload,
                },
            }
        )


def make_world(monkeypatch: pytest.MonkeyPatch) -> World:
    catalog = FakeCatalog()
    ec2 = FakeEc2Restore(subnets=[subnet(z) for z in ("us-east-1a", "us-east-1b", "us-east-1c")])
    web1 = ec2.add_instance("us-east-1a", {"Name": "web-1", T.PLAN: "standard", "team": "elearn"})
    ec2.eips[EIP] = {"AllocationId": EIP, "PublicIp": "203.0.113.10", "InstanceId": web1}
    ec2.groups[TG] = {web1}
    catalog.put_points(
        [
            ami_point(web1, NOW - timedelta(days=1), instance_config()),
            ebs_point(web1, NOW - timedelta(hours=1)),
        ]
    )
    rds = FakeRds()
    rds.dbs["elearn-db"] = {
        "DBInstanceIdentifier": "elearn-db",
        "DBInstanceStatus": "available",
        "DBInstanceClass": "db.t3.micro",
        "AvailabilityZone": "us-east-1a",
        "MultiAZ": False,
        "BackupRetentionPeriod": 7,
        "LatestRestorableTime": NOW - timedelta(minutes=5),
        "TagList": [{"Key": T.PLAN, "Value": "standard"}],
    }
    catalog.put_point(
        RecoveryPoint(
            recovery_point_id="rp-db-1",
            run_id="run-db-1",
            plan="standard",
            rule="daily",
            kind=Kind.RDS,
            source_id="elearn-db",
            source_type="db",
            status=PointStatus.COMPLETED,
            created_at=NOW - timedelta(hours=3),
            db_snapshot_id="lifeboat-elearn-db-run-db-1",
            database=DatabaseConfig(instance_class="db.t3.micro", availability_zone="us-east-1a"),
        )
    )
    notifier = FakeNotifier()
    rds_restore = FakeRdsRestore(rds)
    guards = FakeGuardStore()
    ports = fake_ports(
        catalog=catalog,
        rds=rds,
        ec2_restore=ec2,
        rds_restore=rds_restore,
        guards=guards,
        notifier=notifier,
    )
    guard = Guardrails(guards, catalog, GuardConfig())
    monkeypatch.setattr(locks, "guardrails_for", lambda ports: guard)
    return World(catalog, ec2, rds, rds_restore, notifier, guard, guards, ports, web1)


STAGES = ("begin", "launch", "check", "cut_over", "finish")


def run(
    world: World, payload: dict[str, Any], name: str = "restore-1", until: str = "finish"
) -> tuple[dict[str, Any], Any]:
    """Drive the stages as the state machine does, up to and including ``until``: returns the
    state (each result at its ResultPath) and the last stage's result."""
    from lifeboat import restore

    state: dict[str, Any] = {}
    result: Any = None
    for stage in STAGES[: STAGES.index(until) + 1]:
        event = world.event(payload, name, **state)
        if stage == "begin":
            result = restore.begin(event, PLANS, world.ports, NOW)
            state["begin"] = {"plan": result.model_dump(mode="json")}
        elif stage == "launch":
            result = restore.launch(event, world.ports, NOW)
            state["launch"] = {"launched": result.model_dump(mode="json")}
        elif stage == "check":
            result = restore.check(event, world.ports, NOW + timedelta(minutes=5))
            state["check"] = {"health": result.model_dump(mode="json")}
        elif stage == "cut_over":
            result = restore.cut_over(event, world.ports)
            state["cut_over"] = {"cutover": result.model_dump(mode="json")}
        else:
            result = restore.finish(event, world.ports, NOW + timedelta(minutes=10))
    return state, result
