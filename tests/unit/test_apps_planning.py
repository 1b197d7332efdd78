"""Planning an evacuation on the in-memory fakes: one recovery time T (the newest every
affected resource reaches, or --at), each instance from its newest set at or before T, the
database to T exactly by point-in-time restore (its newest snapshot at or before T without
automated backups), the skew between tiers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.apps.evacuation import Action, EvacuateInput
from lifeboat.apps.planning import plan_evacuation
from lifeboat.errors import InvalidInputError
from lifeboat.plans import PlanSet
from tests.fakes import FakeEc2
from tests.fakes_apps import FakeEndpoints
from tests.unit.restore_world import ARN, NOW, PLANS, World, make_world

pytestmark = pytest.mark.unit
PLANS_WITH_APP = PlanSet.model_validate(
    {
        "plans": {
            "standard": {
                **PLANS.plans["standard"].model_dump(mode="json"),
                "applications": {"elearn": {"select": {"app": "elearn"}, "order": ["db", "web"]}},
            }
        }
    }
)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    """web-1 (us-east-1a; AMI a day old, EBS set an hour old) and elearn-db (us-east-1a,
    automated backups restorable to 5 minutes ago), both tagged app=elearn."""
    world = make_world(monkeypatch)
    described = world.ec2.instances[world.web1]
    tags = {**T.to_dict(described.get("Tags")), "app": "elearn", "tier": "web"}
    described["Tags"] = T.to_list(tags)
    ec2 = FakeEc2(clock=lambda: NOW)
    ec2.instances[world.web1] = described
    world.ports.ec2 = ec2
    world.ports.endpoints = FakeEndpoints()
    db = world.rds.dbs["elearn-db"]
    db["TagList"] = [*db["TagList"], {"Key": "app", "Value": "elearn"}]
    db["DBSubnetGroup"] = {"DBSubnetGroupName": "elearn-db"}
    world.rds_restore.subnet_groups["elearn-db"] = {
        "DBSubnetGroupName": "elearn-db",
        "Subnets": [
            {"SubnetAvailabilityZone": {"Name": "us-east-1a"}},
            {"SubnetAvailabilityZone": {"Name": "us-east-1b"}},
        ],
    }
    return world


def plan(world: World, **given: Any) -> Any:
    request = EvacuateInput.model_validate({"app": "elearn", "az": "us-east-1a", **given})
    return plan_evacuation(request, PLANS_WITH_APP, world.ports, NOW, "evac-1", ARN + "evac-1")


def test_t_is_the_newest_instant_every_resource_reaches(world: World) -> None:
    planned = plan(world)
    # web-1's newest data is its EBS set (an hour old); the database reaches 5 minutes ago.
    assert planned.recovery_time == NOW - timedelta(hours=1)
    (db_tier, web_tier) = planned.tiers
    (db,) = db_tier.steps
    (web,) = web_tier.steps
    assert (db.action, web.action) == (Action.RESTORE_DATABASE, Action.RESTORE_INSTANCE)
    assert db.restore is not None and db.restore.restore_time == planned.recovery_time
    assert db.restore.target_az == "us-east-1b"  # a healthy AZ of its subnet group
    assert web.point_at == planned.recovery_time and web.behind_seconds == 0
    assert planned.skew_seconds == 0
    assert planned.command == "lifeboat recover --app elearn --az us-east-1a"


def test_at_chooses_another_t_and_the_skew_shows(world: World) -> None:
    at = NOW - timedelta(hours=3)
    planned = plan(world, at=at.isoformat())
    assert planned.recovery_time == at and planned.recovery_time_chosen == "at"
    (db,) = planned.tiers[0].steps
    (web,) = planned.tiers[1].steps
    assert db.restore is not None and db.restore.restore_time == at
    # The hourly set is after T: web-1 comes back from its AMI, a day old.
    assert web.point_at == NOW - timedelta(days=1)
    assert web.behind_seconds == int(timedelta(hours=21).total_seconds())
    assert planned.skew_seconds == int(timedelta(hours=21).total_seconds())


def test_at_before_every_point_is_refused(world: World) -> None:
    with pytest.raises(InvalidInputError, match="has no recovery point at or before"):
        plan(world, at=(NOW - timedelta(days=3)).isoformat())
    with pytest.raises(InvalidInputError, match="in the future"):
        plan(world, at=(NOW + timedelta(minutes=1)).isoformat())


def test_without_automated_backups_the_database_comes_from_its_snapshot(world: World) -> None:
    world.rds.dbs["elearn-db"]["BackupRetentionPeriod"] = 0
    planned = plan(world)
    # T: the database's newest snapshot (3 hours old) bounds it.
    assert planned.recovery_time == NOW - timedelta(hours=3)
    (db,) = planned.tiers[0].steps
    assert db.restore is not None and db.restore.restore_time is None
    assert db.restore.snapshot_id == "lifeboat-elearn-db-run-db-1"


def test_a_multi_az_database_is_awaited_and_does_not_bound_t(world: World) -> None:
    world.rds.dbs["elearn-db"]["MultiAZ"] = True
    planned = plan(world)
    (db,) = planned.tiers[0].steps
    assert db.action is Action.AWAIT_FAILOVER and db.point_at is None
    assert planned.recovery_time == NOW - timedelta(hours=1)  # web-1's newest


def test_nothing_in_another_az_is_touched(world: World) -> None:
    planned = plan(world, az="us-east-1b")
    assert planned.tiers == [] and set(planned.unaffected) == {"elearn-db", world.web1}
