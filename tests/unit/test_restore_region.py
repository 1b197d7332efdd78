"""Planning a restore in another region, on fakes: only the copies in that region are used
(never a home point), the subnet is of the server's tier in the region's one VPC with that tier,
the security groups are those of the same names there (or those asked for, of that VPC), the
original is never described or touched and nothing is moved across regions; each refusal names
its field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat.errors import InvalidInputError, NoTargetError
from lifeboat.models import InstanceConfig, PointStatus, RecoveryPoint
from lifeboat.plans import Kind
from lifeboat.ports import Ports
from lifeboat.restore.models import InstancePlan, RestoreInput
from lifeboat.restore.region import check_region, in_region, plan_in_region
from tests.fakes import FakeEc2Restore
from tests.fakes_ops import fake_ports
from tests.unit.test_copies import plans

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
DR = "us-west-2"
WEB = "i-00000000000000eb1"


def subnet(sid: str, vpc: str, az: str, name: str) -> dict[str, Any]:
    tags = [{"Key": "Name", "Value": name}]
    return {
        "SubnetId": sid,
        "VpcId": vpc,
        "AvailabilityZone": az,
        "State": "available",
        "Tags": tags,
    }


def world(extra_subnets: list[dict[str, Any]] | None = None) -> tuple[Ports, FakeEc2Restore]:
    dr = FakeEc2Restore(zones=["us-west-2a", "us-west-2b"])
    dr.subnets = [
        subnet("subnet-0d00eb0a", "vpc-0dr", "us-west-2a", "web-a"),
        subnet("subnet-0d00eb0b", "vpc-0dr", "us-west-2b", "web-b"),
        subnet("subnet-0d00a00a", "vpc-0dr", "us-west-2a", "app-a"),
        *(extra_subnets or []),
    ]
    dr.security_group_list = [
        {"GroupId": "sg-0d0eb0000000001", "GroupName": "elearn-web", "VpcId": "vpc-0dr"},
        {"GroupId": "sg-0d0a00000000001", "GroupName": "elearn-app", "VpcId": "vpc-0dr"},
    ]
    home = FakeEc2Restore()
    ports = fake_ports(ec2_restore=home, home_region="us-east-1")
    ports.regional = lambda region: replace(ports, ec2_restore=dr, regional=None)
    return ports, dr


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


def plan(ports: Ports, **asked: Any) -> InstancePlan:
    request = RestoreInput.model_validate({"instance_id": WEB, "region": DR, **asked})
    found = plan_in_region(request, plans(), ports, [WEB], "exec-1", NOW)
    assert isinstance(found, InstancePlan)
    return found


def test_only_the_copies_in_that_region_are_used_and_nothing_is_moved() -> None:
    ports, _dr = world()
    ports.catalog.put_points([point(None, 0), point(DR, 1), point(DR, 3)])  # home is newer
    found = plan(ports)
    assert found.region == DR and found.image_id == "ami-0dr0000000000001"  # the newest copy
    assert {c.subnet_id for c in found.candidates} == {"subnet-0d00eb0a", "subnet-0d00eb0b"}
    assert found.security_group_ids == ["sg-0d0eb0000000001"]
    assert found.elastic_ip is None and found.target_groups == [] and found.key_name is None
    assert found.source_state == "gone"  # the home original is never described
    assert any("not fenced or stopped" in w for w in found.warnings)
    assert any("key pair 'elearn-ops'" in w for w in found.warnings)


def test_security_groups_asked_for_must_be_of_that_vpc() -> None:
    ports, _dr = world()
    ports.catalog.put_points([point(DR, 1)])
    assert plan(ports, security_groups=["sg-0d0a00000000001"]).security_group_ids == [
        "sg-0d0a00000000001"
    ]
    with pytest.raises(InvalidInputError, match="security_groups"):
        plan(ports, security_groups=["sg-0f0eb0000000001"])


def test_a_group_name_missing_there_or_never_recorded_is_refused_naming_the_field() -> None:
    ports, _dr = world()
    ports.catalog.put_points([point(DR, 1, names=["elearn-cache"])])
    with pytest.raises(InvalidInputError, match=r"no security group named \['elearn-cache'\]"):
        plan(ports)
    ports.catalog.put_points([point(DR, 1, names=[])])
    with pytest.raises(InvalidInputError, match="predates recorded security group names"):
        plan(ports)


def test_two_vpcs_with_the_tier_ask_for_a_target_subnet() -> None:
    other = subnet("subnet-0f0ee0eb", "vpc-0other", "us-west-2b", "web-b")
    ports, _dr = world([other])
    ports.catalog.put_points([point(DR, 1)])
    with pytest.raises(NoTargetError, match="--target-subnet"):
        plan(ports)
    chosen = plan(ports, target_subnet="subnet-0d00eb0a")
    assert [c.subnet_id for c in chosen.candidates] == ["subnet-0d00eb0a"]


def test_no_copy_there_and_the_home_region_are_refused() -> None:
    ports, _dr = world()
    ports.catalog.put_points([point(None, 0)])
    with pytest.raises(InvalidInputError, match="no completed copy in us-west-2"):
        plan(ports)
    home = RestoreInput(instance_id=WEB, region="us-east-1")
    with pytest.raises(InvalidInputError, match="this stack's own region"):
        check_region(home, ports)
    assert in_region(ports, None) is ports and in_region(ports, "us-east-1") is ports
    with pytest.raises(ValueError, match="point-in-time"):
        RestoreInput.model_validate(
            {"db_instance_id": "elearn-db", "region": DR, "restore_time": "2026-11-28T00:00:00Z"}
        )
