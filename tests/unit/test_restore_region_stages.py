"""Every stage of a restore in another region, on fakes, as the state machine drives them: each
works on that region's adapters; the home region's EC2 and RDS adapters are never called (not
even to describe the original: any call fails the test), so nothing there is fenced, stopped,
re-addressed or deregistered; a failure, a stop or a time-out removes only what this execution
launched there; the lock is the one a home restore takes; the home lineage is left as it was."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import pytest

from lifeboat import restore
from lifeboat import tags as T
from lifeboat.errors import InvalidInputError, ReplacementFailedError, RestoreInProgressError
from lifeboat.models import DatabaseConfig, PointStatus, RecoveryPoint
from lifeboat.plans import Kind
from lifeboat.restore.region import restored_in_key
from tests.fakes.dr_reads import DrReads
from tests.fakes.rds import FakeRds
from tests.fakes.restore import FakeEc2Restore, FakeRdsRestore
from tests.worlds.restore import (
    ARN,
    EIP,
    NOW,
    PLANS,
    TG,
    World,
    instance_config,
    make_world,
    run,
)
from tests.worlds.restore_region import DR, with_copies

pytestmark = pytest.mark.unit


class HomeUnreachable:
    """The home region's adapters during a restore in another region: any call fails."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"home {self.name}.{attribute} used by a restore in {DR}")


class Dr:
    def __init__(self) -> None:
        self.ec2 = FakeEc2Restore(zones=["us-west-2a", "us-west-2b"])
        self.ec2.subnets = [
            {
                "SubnetId": f"subnet-0d00eb0{az}",
                "VpcId": "vpc-0dr",
                "AvailabilityZone": f"us-west-2{az}",
                "State": "available",
                "Tags": [{"Key": T.TIER, "Value": "web"}],
            }
            for az in "ab"
        ]
        self.ec2.security_group_list = [
            {"GroupId": "sg-0d0eb0000000001", "GroupName": "elearn-web", "VpcId": "vpc-0dr"},
            {"GroupId": "sg-0d0db0000000001", "GroupName": "elearn-db", "VpcId": "vpc-0dr"},
        ]
        self.rds = FakeRds()
        self.reads = DrReads()  # the copies' artifacts there (none deleted outside Lifeboat)
        self.rds.snapshot = with_copies(self.rds, self.reads)  # type: ignore[method-assign,assignment]
        self.rds_restore = FakeRdsRestore(self.rds)
        self.rds_restore.subnet_groups["elearn-db"] = {
            "VpcId": "vpc-0dr",
            "Subnets": [{"SubnetAvailabilityZone": {"Name": "us-west-2b"}}],
        }


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[World, Dr]:
    world = make_world(monkeypatch)
    dr = Dr()
    config = instance_config().model_copy(update={"security_group_names": ["elearn-web"]})
    day = NOW - timedelta(days=1)
    world.catalog.put_points(
        [
            _copy("rp-ami-1", world.web1, Kind.AMI, day, image_id="ami-0d000000000000001",
                  instance=config),
            _copy("rp-db-1", "elearn-db", Kind.RDS, day, db_snapshot_id="lifeboat-db-dr",
                  database=DatabaseConfig(
                      instance_class="db.t3.micro", availability_zone="us-east-1a",
                      subnet_group="elearn-db", security_group_ids=["sg-0f0db0000000001"],
                      security_group_names=["elearn-db"],
                  )),
        ]
    )  # fmt: skip
    home = world.ports
    world.ports = replace(
        home,
        ec2_restore=cast(Any, HomeUnreachable("ec2_restore")),
        rds=cast(Any, HomeUnreachable("rds")),
        rds_restore=cast(Any, HomeUnreachable("rds_restore")),
        home_region="us-east-1",
    )
    there = replace(
        world.ports,
        ec2=cast(Any, dr.reads),
        ec2_restore=dr.ec2,
        rds=dr.rds,
        rds_restore=dr.rds_restore,
        regional=None,
    )
    world.ports.regional = lambda region: there
    return world, dr


def _copy(home_id: str, source: str, kind: Kind, at: Any, **fields: Any) -> RecoveryPoint:
    return RecoveryPoint(
        recovery_point_id=f"{home_id}@{DR}",
        run_id=f"run-{home_id}",
        plan="standard",
        rule="daily",
        kind=kind,
        source_id=source,
        source_type="instance" if kind is Kind.AMI else "db",
        status=PointStatus.COMPLETED,
        created_at=at,
        region=DR,
        copy_of=home_id,
        **fields,
    )


def _home_untouched(world: World) -> None:
    """web-1 at home as make_world left it: running, not fenced, its address and target."""
    assert world.ec2.state_of(world.web1) == "running"
    assert T.FENCED not in world.ec2.tags_of(world.web1)
    assert world.ec2.eips[EIP]["InstanceId"] == world.web1 and world.ec2.groups[TG] == {world.web1}


def test_every_stage_works_in_that_region_and_nothing_at_home_is_called(
    world: tuple[World, Dr],
) -> None:
    home, dr = world
    state, result = run(home, {"instance_id": home.web1, "region": DR})
    (replacement,) = dr.ec2.live()
    assert result["status"] == "restored" and result["replacement_id"] == replacement
    assert result["region"] == DR and result["not_done"]
    assert dr.ec2.instances[replacement]["SubnetId"] in {"subnet-0d00eb0a", "subnet-0d00eb0b"}
    assert dr.ec2.launches[0]["plan"] == home.web1
    cut = state["cut_over"]["cutover"]
    assert "not fenced" in cut["note"] and not cut["eip_moved"] and not cut["target_groups"]
    _home_untouched(home)
    assert not home.catalog.locks
    # The home lineage is left as it was; the restore there is recorded apart.
    assert not home.catalog.records(f"REPLACED#{home.web1}")
    (record,) = home.catalog.records(restored_in_key(DR, home.web1))
    assert record["by"] == replacement
    assert restore.lineage(home.catalog, home.web1) == [home.web1]
    # Again there, minutes later: refused for the replacement standing there (not merely the
    # cooldown), unless forced
    again = home.event({"instance_id": home.web1, "region": DR}, "again")
    with pytest.raises(InvalidInputError, match=f"already restored in {DR} as {replacement}"):
        restore.begin(again, PLANS, home.ports, NOW + timedelta(minutes=15))


def test_a_database_is_restored_there_into_its_subnet_group_with_its_groups_by_name(
    world: tuple[World, Dr],
) -> None:
    home, dr = world
    _, result = run(home, {"db_instance_id": "elearn-db", "region": DR}, until="launch")
    restored = dr.rds.dbs[result.id]
    assert restored["DBSubnetGroup"]["DBSubnetGroupName"] == "elearn-db"
    assert restored["VpcSecurityGroups"] == [{"VpcSecurityGroupId": "sg-0d0db0000000001"}]
    assert restored["AvailabilityZone"] == "us-west-2b"  # the subnet group's AZ there
    assert "elearn-db" in home.rds.dbs  # the home database, never called


def test_a_failed_restore_there_terminates_only_what_it_launched_there(
    world: tuple[World, Dr],
) -> None:
    home, dr = world
    other = dr.ec2.add_instance(
        "us-west-2a", {T.RESTORED_FROM: home.web1, T.RESTORE_EXECUTION: ARN + "another"}
    )
    payload = {"instance_id": home.web1, "region": DR}
    state, launched = run(home, payload, until="launch")
    dr.ec2.instances[launched.id]["State"] = {"Name": "stopped"}
    with pytest.raises(ReplacementFailedError):
        restore.check(home.event(payload, **state), home.ports, NOW + timedelta(minutes=5))
    error = {"Error": "ReplacementFailedError", "Cause": "stopped"}
    result = restore.abort(home.event(payload, **state, error=error), home.ports, NOW)
    assert result["undone"] == {"replacement": "terminated"}
    assert dr.ec2.state_of(launched.id) == "terminated" and dr.ec2.live() == {other}
    _home_untouched(home)
    assert not home.catalog.locks


def test_a_restore_there_stopped_before_its_finish_is_rolled_back(
    world: tuple[World, Dr],
) -> None:
    home, dr = world
    payload = {"instance_id": home.web1, "region": DR}
    run(home, payload, "stopped", until="cut_over")
    millis = int((NOW - timedelta(hours=1)).timestamp() * 1000)
    change = restore.ExecutionStatusChange.model_validate(
        {
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": ARN + "stopped",
                "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:r",
                "name": "stopped",
                "status": "ABORTED",
                "startDate": millis,
                "stopDate": millis,
                "input": f'{{"instance_id": "{home.web1}", "region": "{DR}"}}',
            },
        }
    )
    result = restore.clean_up(change, home.ports, NOW, sleep=lambda _: None)
    assert result["status"] == "failed" and result["undone"]["replacement"] == "terminated"
    assert dr.ec2.live() == set() and not home.catalog.locks
    _home_untouched(home)


def test_a_restore_there_and_one_at_home_share_the_servers_lock(
    world: tuple[World, Dr],
) -> None:
    home, _dr = world
    run(home, {"instance_id": home.web1, "region": DR}, "first", until="begin")
    with pytest.raises(RestoreInProgressError, match="already running"):
        restore.begin(home.event({"instance_id": home.web1}, "second"), PLANS, home.ports, NOW)
