"""The restore-in-a-copy-region world: the DR region's subnets, security groups and DB subnet
group in the fakes, its reads of the copies, and ports whose ``regional`` gives them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from lifeboat.ports import Ports
from tests.fakes.dr_reads import DrReads
from tests.fakes.ports import fake_ports
from tests.fakes.rds import FakeRds
from tests.fakes.restore import FakeEc2Restore, FakeRdsRestore

DR = "us-west-2"


def subnet(sid: str, vpc: str, az: str, name: str) -> dict[str, Any]:
    tags = [{"Key": "Name", "Value": name}]
    return {
        "SubnetId": sid,
        "VpcId": vpc,
        "AvailabilityZone": az,
        "State": "available",
        "Tags": tags,
    }


@dataclass
class Dr:
    ports: Ports
    ec2: FakeEc2Restore
    rds: FakeRds
    rds_restore: FakeRdsRestore
    reads: DrReads = field(default_factory=DrReads)


def world(extra_subnets: list[dict[str, Any]] | None = None) -> Dr:
    ec2 = FakeEc2Restore(zones=["us-west-2a", "us-west-2b"])
    ec2.subnets = [
        subnet("subnet-0d00eb0a", "vpc-0dr", "us-west-2a", "web-a"),
        subnet("subnet-0d00eb0b", "vpc-0dr", "us-west-2b", "web-b"),
        subnet("subnet-0d00a00a", "vpc-0dr", "us-west-2a", "app-a"),
        *(extra_subnets or []),
    ]
    ec2.security_group_list = [
        {"GroupId": "sg-0d0eb0000000001", "GroupName": "elearn-web", "VpcId": "vpc-0dr"},
        {"GroupId": "sg-0d0a00000000001", "GroupName": "elearn-app", "VpcId": "vpc-0dr"},
        {"GroupId": "sg-0d0db0000000001", "GroupName": "elearn-db", "VpcId": "vpc-0dr"},
    ]
    rds = FakeRds()
    rds_restore = FakeRdsRestore(rds)
    rds_restore.subnet_groups["elearn-db"] = {
        "DBSubnetGroupName": "elearn-db",
        "VpcId": "vpc-0dr",
        "Subnets": [
            {"SubnetAvailabilityZone": {"Name": "us-west-2a"}},
            {"SubnetAvailabilityZone": {"Name": "us-west-2b"}},
        ],
    }
    ports = fake_ports(ec2_restore=FakeEc2Restore(), home_region="us-east-1")
    reads = DrReads()
    rds.snapshot = with_copies(rds, reads)  # type: ignore[method-assign,assignment]
    ports.regional = lambda region: replace(
        ports,
        ec2=cast(Any, reads),
        ec2_restore=ec2,
        rds=rds,
        rds_restore=rds_restore,
        regional=None,
    )
    return Dr(ports, ec2, rds, rds_restore, reads)


def with_copies(rds: FakeRds, reads: DrReads) -> Callable[[str, str], dict[str, Any] | None]:
    """RDS there: a snapshot it holds, or a copy the catalog records (unless gone)."""
    own = rds.snapshot

    def snapshot(kind: str, snapshot_id: str) -> dict[str, Any] | None:
        return own(kind, snapshot_id) or reads.db_snapshot(kind, snapshot_id)

    return snapshot
