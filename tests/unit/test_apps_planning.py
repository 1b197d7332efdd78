"""Planning an evacuation on the in-memory fakes: one recovery time T (the newest every
affected resource reaches, or --at), each instance from its newest set at or before T, the
database to T exactly by point-in-time restore (its newest snapshot at or before T without
automated backups), the skew between tiers."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.apps.evacuation import Action, EvacuateInput
from lifeboat.apps.planning import plan_evacuation
from lifeboat.errors import InvalidInputError
from lifeboat.models import validate_input
from lifeboat.plans import PlanSet
from lifeboat.restore.models import RestoreInput
from tests.fakes.ec2 import FakeEc2
from tests.fakes.endpoints import FakeEndpoints
from tests.worlds.restore import ARN, NOW, PLANS, World, make_world

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


def test_at_after_the_databases_latest_restorable_time_restores_it_to_that_time(
    world: World,
) -> None:
    # The database reaches 5 minutes ago; T 2 minutes ago must not drop it to its 3-hour-old
    # snapshot: it comes back to its newest restorable instant before T, shown as such.
    at = NOW - timedelta(minutes=2)
    planned = plan(world, at=at.isoformat())
    (db,) = planned.tiers[0].steps
    assert db.restore is not None and db.restore.restore_time == NOW - timedelta(minutes=5)
    assert db.point_at == NOW - timedelta(minutes=5) and db.behind_seconds == 180
    assert "exactly T" not in db.point


@pytest.mark.parametrize("at", ["2026-11-28T01:00:00", "0001-01-01T00:00:00+14:00"])
def test_at_without_a_time_zone_is_refused_naming_the_field(at: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_input(EvacuateInput, {"app": "elearn", "az": "us-east-1a", "at": at})
    assert raised.value.field == "at"


def test_at_with_an_offset_is_the_same_instant(world: World) -> None:
    at = (NOW - timedelta(hours=3)).astimezone(timezone(timedelta(hours=-5)))
    planned = plan(world, at=at.isoformat())
    assert planned.recovery_time == NOW - timedelta(hours=3)


@pytest.mark.parametrize("field", ["restore_time", "point_time"])
def test_a_single_restores_time_without_a_time_zone_is_refused_too(field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_input(RestoreInput, {"db_instance_id": "elearn-db", field: "2026-11-28T01:00"})
    assert raised.value.field == field


def _begin(world: World, name: str = "evac-1") -> Any:
    from lifeboat.apps.evacuation import EvacuationEvent
    from lifeboat.apps.stages import begin

    event = EvacuationEvent.model_validate(
        {
            "execution": {
                "Id": ARN + name,
                "Name": name,
                "StartTime": NOW.isoformat(),
                "Input": {"app": "elearn", "az": "us-east-1a"},
            }
        }
    )
    return begin(event, PLANS_WITH_APP, world.ports, NOW)


def test_a_member_already_being_restored_alone_is_left_to_that_restore(world: World) -> None:
    # web-1's alarm started a single restore a moment before the storm was seen: the
    # evacuation recovers the rest (the database first) and leaves web-1 to that restore.
    single = ARN + "alarm-web-1"
    now = int(NOW.timestamp())
    assert world.ports.catalog.acquire_lock(world.web1, single, now, 3600, {}) is None
    planned = _begin(world)
    assert [s.resource_id for s in planned.steps()] == ["elearn-db"]
    assert any(world.web1 in w and "being restored" in w for w in planned.warnings)
    held = world.ports.catalog.active_locks([world.web1, "elearn-db"], now)
    assert held[world.web1]["owner"] == single and held["elearn-db"]["owner"] == ARN + "evac-1"
    assert world.web1 not in planned.locked


def test_a_database_being_restored_alone_refuses_the_evacuation(world: World) -> None:
    from lifeboat.errors import RestoreInProgressError

    now = int(NOW.timestamp())
    assert world.ports.catalog.acquire_lock("elearn-db", ARN + "db", now, 3600, {}) is None
    with pytest.raises(RestoreInProgressError, match="elearn-db"):
        _begin(world)
    held = world.ports.catalog.active_locks([world.web1, "evacuate#elearn#us-east-1a"], now)
    assert held == {}


def test_a_database_an_earlier_evacuation_replaced_is_not_restored_again(world: World) -> None:
    # elearn was evacuated from us-east-1a: elearn-db restored, the record switched to the
    # restored database, which has taken writes since. Running the evacuation again (a later
    # storm window, the on-call retrying) must not restore the old database a second time and
    # point the application at older data.
    from lifeboat.apps.resources import DnsRecord

    zone, old, new = "Z0123456789ABCDEFGHIJ", "elearn-db.old.rds", "elearn-db-restored.rds"
    declared = PLANS_WITH_APP.model_dump(mode="json")
    declared["plans"]["standard"]["applications"]["elearn"]["database_endpoint"] = {
        "route53": {"zone_id": zone, "name": "db.elearn.internal"}
    }
    plans = PlanSet.model_validate(declared)
    record = DnsRecord(name="db.elearn.internal.", type="CNAME", values=(new,))
    world.ports.endpoints = FakeEndpoints(zones={zone: {"db.elearn.internal.": record}})
    catalog = world.ports.catalog
    catalog.put_record(
        "EVAC#elearn#us-east-1a",
        "2026-11-28T02:00:00Z#evac-0",
        {"status": "recovered", "execution_name": "evac-0"},
    )
    catalog.put_record(
        "EVACCHANGE#evac-0", "endpoint", {"member": "elearn-db", "old": old, "new": new}
    )
    request = EvacuateInput.model_validate({"app": "elearn", "az": "us-east-1a"})
    planned = plan_evacuation(request, plans, world.ports, NOW, "evac-1", ARN + "evac-1")
    assert "elearn-db" not in [s.resource_id for s in planned.steps()]
    assert "elearn-db" in planned.unaffected
    assert any("elearn-db" in w and "evac-0" in w for w in planned.warnings)
    # Switched back since (recover --undo --include-endpoint): the old database is live again.
    world.ports.endpoints.zones[zone]["db.elearn.internal."] = record.model_copy(
        update={"values": (old,)}
    )
    planned = plan_evacuation(request, plans, world.ports, NOW, "evac-2", ARN + "evac-2")
    assert "elearn-db" in [s.resource_id for s in planned.steps()]
