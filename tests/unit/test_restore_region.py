"""Planning a restore in another region, on fakes: only the copies in that region are used
(never a home point), the subnet is of the server's tier in the region's one VPC with that tier,
the security groups are those of the same names there (or those asked for, of that VPC), a key
pair only if that region has one of its name, a database goes into the DB subnet group of its
name there; the original is never described or touched, what is not done is listed, a second
restore there while the first's replacement stands is refused unless forced; each refusal
names its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat.errors import InvalidInputError, NoTargetError
from lifeboat.models import DatabaseConfig, InstanceConfig, PointStatus, RecoveryPoint
from lifeboat.plans import Kind
from lifeboat.restore.models import DatabasePlan, InstancePlan, Launched, RestoreInput
from lifeboat.restore.region import (
    check_region,
    earlier_restore,
    in_region,
    plan_in_region,
    record_restored_in,
)
from tests.worlds.copies import plans
from tests.worlds.restore_region import DR, Dr, subnet, world

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
WEB = "i-00000000000000eb1"
ARN = "arn:aws:states:us-east-1:123456789012:execution:lifeboat-restore:earlier"


def point(region: str | None, age_days: int, names: list[str] | None = None) -> RecoveryPoint:
    created = NOW - timedelta(days=age_days)
    run = f"{created:%Y%m%dT%H%M%SZ}-standard-daily"
    config = InstanceConfig(
        instance_type="t3.medium",
        availability_zone="us-east-1a",
        subnet_id="subnet-0home0web0a",
        subnet_tier="web",
        vpc_id="vpc-0home",
        security_group_ids=["sg-0f0eb0000000001"],
        security_group_names=["elearn-web"] if names is None else names,
        key_name="elearn-ops",
        tags={"Name": "web-1"},
        elastic_ip={"allocation_id": "eipalloc-0home", "public_ip": "203.0.113.1"},
        root_device_name="/dev/sda1",
    )
    suffix = f"@{region}" if region else ""
    return RecoveryPoint(
        recovery_point_id=f"{run}/{WEB}/ami{suffix}",
        run_id=run,
        plan="standard",
        rule="daily",
        kind=Kind.AMI,
        source_id=WEB,
        source_type="instance",
        status=PointStatus.COMPLETED,
        created_at=created,
        completed_at=created,
        image_id=f"ami-0{'dr' if region else 'home'}{age_days:013d}",
        instance=config,
        region=region,
        copy_of=f"{run}/{WEB}/ami" if region else None,
    )


def db_point(region: str | None, names: list[str] | None = None, **config: Any) -> RecoveryPoint:
    created = NOW - timedelta(days=1)
    run = f"{created:%Y%m%dT%H%M%SZ}-standard-daily"
    suffix = f"@{region}" if region else ""
    database = DatabaseConfig(
        instance_class="db.t3.medium",
        availability_zone="us-east-1a",
        subnet_group="elearn-db",
        parameter_group="elearn-mysql",
        security_group_ids=["sg-0f0db0000000001"],
        security_group_names=["elearn-db"] if names is None else names,
        **config,
    )
    return RecoveryPoint(
        recovery_point_id=f"{run}/elearn-db/rds{suffix}",
        run_id=run,
        plan="standard",
        rule="daily",
        kind=Kind.RDS,
        source_id="elearn-db",
        source_type="db",
        status=PointStatus.COMPLETED,
        created_at=created,
        completed_at=created,
        db_snapshot_id=f"lifeboat-elearn-db-{'dr' if region else 'home'}",
        database=database,
        region=region,
        copy_of=f"{run}/elearn-db/rds" if region else None,
    )


def plan(dr: Dr, **asked: Any) -> InstancePlan:
    request = RestoreInput.model_validate({"instance_id": WEB, "region": DR, **asked})
    found = plan_in_region(request, plans(), dr.ports, [WEB], "exec-1", NOW)
    assert isinstance(found, InstancePlan)
    return found


def db_plan(dr: Dr, **asked: Any) -> DatabasePlan:
    request = RestoreInput.model_validate({"db_instance_id": "elearn-db", "region": DR, **asked})
    found = plan_in_region(request, plans(), dr.ports, ["elearn-db"], "exec-1", NOW)
    assert isinstance(found, DatabasePlan)
    return found


def test_only_the_copies_in_that_region_are_used_and_nothing_is_moved() -> None:
    dr = world()
    dr.ports.catalog.put_points([point(None, 0), point(DR, 1), point(DR, 3)])  # home is newer
    found = plan(dr)
    assert found.region == DR and found.image_id == "ami-0dr0000000000001"  # the newest copy
    assert found.copy_of == point(None, 1).recovery_point_id and found.home_region == "us-east-1"
    assert found.data_taken_at == NOW - timedelta(days=1)  # the home point's time: the RPO
    assert {c.subnet_id for c in found.candidates} == {"subnet-0d00eb0a", "subnet-0d00eb0b"}
    assert found.vpc_id == "vpc-0dr"
    assert found.security_group_ids == ["sg-0d0eb0000000001"]
    assert found.security_group_names == ["elearn-web"]
    assert found.elastic_ip is None and found.target_groups == [] and found.key_name is None
    assert found.source_state.startswith("not checked")  # the home original is never described
    assert any("not fenced, stopped or even described" in n for n in found.not_done)
    assert any("Elastic IP 203.0.113.1 stays in us-east-1" in n for n in found.not_done)
    assert any("key pair 'elearn-ops'" in w for w in found.warnings)


def test_a_key_pair_of_the_same_name_in_that_region_is_used() -> None:
    dr = world()
    dr.ec2.key_pairs.add("elearn-ops")
    dr.ports.catalog.put_points([point(DR, 1)])
    found = plan(dr)
    assert found.key_name == "elearn-ops"
    assert not any("key pair" in w for w in found.warnings)


def test_security_groups_asked_for_must_be_of_that_vpc() -> None:
    dr = world()
    dr.ports.catalog.put_points([point(DR, 1)])
    assert plan(dr, security_groups=["sg-0d0a00000000001"]).security_group_ids == [
        "sg-0d0a00000000001"
    ]
    with pytest.raises(InvalidInputError, match="security_groups"):
        plan(dr, security_groups=["sg-0f0eb0000000001"])


def test_a_group_name_missing_there_or_never_recorded_is_refused_naming_the_field() -> None:
    dr = world()
    dr.ports.catalog.put_points([point(DR, 1, names=["elearn-cache"])])
    with pytest.raises(InvalidInputError, match=r"no security group named \['elearn-cache'\]"):
        plan(dr)
    dr.ports.catalog.put_points([point(DR, 1, names=[])])
    with pytest.raises(InvalidInputError, match="security_groups: the names .* were not recorded"):
        plan(dr)


def test_two_vpcs_with_the_tier_or_a_server_without_tier_ask_for_a_target_subnet() -> None:
    other = subnet("subnet-0f0ee0eb", "vpc-0other", "us-west-2b", "web-b")
    dr = world([other])
    dr.ports.catalog.put_points([point(DR, 1)])
    with pytest.raises(NoTargetError, match="--target-subnet"):
        plan(dr)
    chosen = plan(dr, target_subnet="subnet-0d00eb0a")
    assert [c.subnet_id for c in chosen.candidates] == ["subnet-0d00eb0a"]
    untiered = point(DR, 1)
    assert untiered.instance is not None
    untiered.instance.subnet_tier = None
    dr = world()
    dr.ports.catalog.put_points([untiered])
    with pytest.raises(NoTargetError, match="had no tier.*--target-subnet"):
        plan(dr)


def test_no_copy_there_and_the_home_region_are_refused() -> None:
    dr = world()
    dr.ports.catalog.put_points([point(None, 0)])
    with pytest.raises(InvalidInputError, match="no completed copy in us-west-2"):
        plan(dr)
    home = RestoreInput(instance_id=WEB, region="us-east-1")
    with pytest.raises(InvalidInputError, match="this stack's own region"):
        check_region(home, dr.ports)
    assert in_region(dr.ports, None) is dr.ports and in_region(dr.ports, "us-east-1") is dr.ports
    with pytest.raises(ValueError, match="point-in-time"):
        RestoreInput.model_validate(
            {"db_instance_id": "elearn-db", "region": DR, "restore_time": "2026-11-28T00:00:00Z"}
        )
    with pytest.raises(ValueError, match="region only"):
        RestoreInput.model_validate({"instance_id": WEB, "security_groups": ["sg-0d0eb0000000001"]})


def test_a_database_goes_into_its_subnet_group_there_with_its_groups_by_name() -> None:
    dr = world()
    dr.ports.catalog.put_points([db_point(None), db_point(DR, multi_az=True)])
    found = db_plan(dr)
    assert found.snapshot_id == "lifeboat-elearn-db-dr" and found.region == DR
    assert found.subnet_group == "elearn-db" and found.vpc_id == "vpc-0dr"
    assert found.target_az == "us-west-2a" and found.multi_az is False
    assert found.security_group_ids == ["sg-0d0db0000000001"]
    assert found.security_group_names == ["elearn-db"]
    assert found.parameter_group is None  # no group of that name there: the default
    assert any("no DB parameter group named 'elearn-mysql'" in w for w in found.warnings)
    assert any("Multi-AZ once it runs" in w for w in found.warnings)
    assert any("not pointed at the new endpoint" in n for n in found.not_done)
    dr.rds_restore.parameter_groups.add("elearn-mysql")
    assert db_plan(dr, target_az="us-west-2b").parameter_group == "elearn-mysql"


def test_a_database_without_its_subnet_group_or_group_names_there_is_refused() -> None:
    dr = world()
    dr.ports.catalog.put_points([db_point(DR)])
    with pytest.raises(InvalidInputError, match="target_az: us-west-2c has no subnet"):
        db_plan(dr, target_az="us-west-2c")
    dr.ports.catalog.put_points([db_point(DR, names=[])])
    with pytest.raises(InvalidInputError, match="security_groups: the names"):
        db_plan(dr)
    assert db_plan(dr, security_groups=["sg-0d0db0000000001"]).security_group_ids == [
        "sg-0d0db0000000001"
    ]
    del dr.rds_restore.subnet_groups["elearn-db"]
    with pytest.raises(NoTargetError, match="no DB subnet group named 'elearn-db' in us-west-2"):
        db_plan(dr)


def test_a_second_restore_there_while_the_first_replacement_stands_is_refused_unless_forced() -> (
    None
):
    dr = world()
    dr.ports.catalog.put_points([point(DR, 1)])
    first = plan(dr)
    standing = dr.ec2.add_instance("us-west-2a", {"Name": "web-1"})
    launched = Launched(kind="instance", id=standing)
    record_restored_in(dr.ports.catalog, first, launched, ARN, NOW)
    asked = RestoreInput(instance_id=WEB, region=DR)
    with pytest.raises(InvalidInputError, match=f"already restored in us-west-2 as {standing}"):
        earlier_restore(asked, [WEB], dr.ports)
    forced = earlier_restore(asked.model_copy(update={"force": True}), [WEB], dr.ports)
    assert any("--force restores another one beside it" in w for w in forced)
    dr.ec2.instances[standing]["State"] = {"Name": "terminated"}
    assert earlier_restore(asked, [WEB], dr.ports) == []  # gone: nothing in the way


def test_a_database_point_records_its_security_groups_names_at_backup() -> None:
    from lifeboat.models import ResourceRef
    from lifeboat.observability import metrics
    from tests.worlds.backup import World as BackupWorld

    backup = BackupWorld()
    db = backup.rds.add_db("standard")
    backup.rds.dbs[db]["VpcSecurityGroups"] = [
        {"VpcSecurityGroupId": "sg-0f0db0000000001"},
        {"VpcSecurityGroupId": "sg-0f0ad0000000001"},  # deleted since: its name is unknown
    ]
    backup.ec2.group_names["sg-0f0db0000000001"] = "elearn-db"
    batch = backup.batch("daily", ResourceRef(type="db", id=db))
    try:
        backup.create(batch)
    finally:
        metrics.clear_metrics()  # outside Lambda nothing flushes them
    config = backup.point(batch, db, Kind.RDS).database
    assert config is not None and config.security_group_names == ["elearn-db", ""]


def test_the_dry_run_plan_says_the_copy_its_age_where_it_lands_and_what_is_not_done() -> None:
    from lifeboat.cli.restore import describe_plan

    dr = world()
    dr.ports.catalog.put_points([point(DR, 1), db_point(DR)])
    lines = "\n".join(describe_plan(plan(dr).model_dump(mode="json")))
    assert f"in {DR} from its copy there (us-east-1 presumed lost)" in lines
    assert f"(of {point(None, 1).recovery_point_id}), AMI ami-0dr0000000000001" in lines
    assert "old, the data lost if restored now (RPO)" in lines
    assert "subnet subnet-0d00eb0a of VPC vpc-0dr" in lines
    assert "security groups elearn-web (sg-0d0eb0000000001)" in lines
    assert "NOT done" in lines and "not fenced, stopped or even described" in lines
    assert "Elastic IP 203.0.113.1 stays in us-east-1" in lines
    db_lines = "\n".join(describe_plan(db_plan(dr).model_dump(mode="json")))
    assert "database elearn-db in us-west-2" in db_lines
    assert "DB subnet group elearn-db (VPC vpc-0dr)" in db_lines
    assert "security groups elearn-db (sg-0d0db0000000001)" in db_lines
    assert "not pointed at the new endpoint" in db_lines


def test_copies_deleted_outside_lifeboat_there_are_passed_over_or_refused_naming_them() -> None:
    # A server: its newest copy's AMI deregistered by hand there: the older copy is planned
    dr = world()
    dr.ports.catalog.put_points([point(DR, 1), point(DR, 3)])
    dr.reads.gone.add("ami-0dr0000000000001")
    found = plan(dr)
    assert found.image_id == "ami-0dr0000000000003"
    assert any("ami-0dr0000000000001" in w and "passed over" in w for w in found.warnings)
    # asked for by id: refused, naming it
    with pytest.raises(InvalidInputError, match="recovery_point: .*ami-0dr0000000000001"):
        plan(dr, recovery_point=point(DR, 1).recovery_point_id)
    # A database whose only copied snapshot is gone there: refused, naming it
    dr.ports.catalog.put_points([db_point(DR)])
    dr.reads.gone.add("lifeboat-elearn-db-dr")
    with pytest.raises(InvalidInputError, match="deleted outside Lifeboat.*lifeboat-elearn-db-dr"):
        db_plan(dr)
