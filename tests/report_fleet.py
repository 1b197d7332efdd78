"""A seeded fleet for the readiness report, in the in-memory fakes: protected servers in two
AZs, an unprotected server in a protected tier, an instance-store server, an unencrypted
volume, a stale rule, a tier with no subnet in another AZ, a drilled server, a protected
database, a single-AZ database without automated backups, and two Aurora clusters: one with its
writer in us-east-1a and a reader in us-east-1b, one whose only instance is in us-east-1b."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat import tags as T
from lifeboat.alarms import alarm_name
from lifeboat.models import (
    BlockDevice,
    InstanceConfig,
    PointStatus,
    RecoveryPoint,
    VolumeSnapshot,
)
from lifeboat.plans import Kind, default_plans
from lifeboat.ports import Ports
from lifeboat.report import FleetInputs, gather
from tests.fakes.alarms import FakeCloudWatch
from tests.fakes.catalog import FakeCatalog
from tests.fakes.ec2 import FakeEc2
from tests.fakes.ports import fake_ports
from tests.fakes.rds import FakeRds

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
VPC = "vpc-0e1ea4"
AZ_A, AZ_B = "us-east-1a", "us-east-1b"
SUBNETS = {  # name -> (id, AZ); batch has no subnet in another AZ
    "web-a": ("subnet-0000000a", AZ_A),
    "web-b": ("subnet-0000000b", AZ_B),
    "app-a": ("subnet-000000a1", AZ_A),
    "app-b": ("subnet-000000b1", AZ_B),
    "batch-b": ("subnet-000000b2", AZ_B),
}


@dataclass
class Fleet:
    ports: Ports
    ids: dict[str, str]  # name -> instance id
    rds: FakeRds  # the fleet's databases and clusters (also in ports)

    def inputs(self) -> FleetInputs:
        return gather(self.ports, default_plans(), ["standard"], NOW)


def _instance(name: str, subnet: str, plan: str | None, kind: str = "t3.medium") -> dict[str, Any]:
    number = sum(ord(c) for c in name)
    iid = f"i-{number:017x}"
    tags = [{"Key": "Name", "Value": name}] + ([{"Key": T.PLAN, "Value": plan}] if plan else [])
    subnet_id, az = SUBNETS[subnet]
    return {
        "InstanceId": iid,
        "InstanceType": kind,
        "State": {"Name": "running"},
        "Placement": {"AvailabilityZone": az},
        "VpcId": VPC,
        "SubnetId": subnet_id,
        "RootDeviceName": "/dev/xvda",
        "Tags": tags,
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": f"vol-{number:08x}0"}},
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeId": f"vol-{number:08x}1"}},
        ],
    }


def _points(
    described: dict[str, Any], tier: str, ami_age: timedelta, ebs_age: timedelta
) -> list[RecoveryPoint]:
    iid = described["InstanceId"]
    volumes = [m["Ebs"]["VolumeId"] for m in described["BlockDeviceMappings"]]
    devices = [m["DeviceName"] for m in described["BlockDeviceMappings"]]
    config = InstanceConfig(
        instance_type=described["InstanceType"],
        availability_zone=described["Placement"]["AvailabilityZone"],
        subnet_id=described["SubnetId"],
        subnet_tier=tier,
        vpc_id=VPC,
        root_device_name="/dev/xvda",
        tags=T.to_dict(described["Tags"]),
        block_devices=[
            BlockDevice(device_name=d, volume_id=v, size_gb=8)
            for d, v in zip(devices, volumes, strict=True)
        ],
    )

    def snaps(run: str) -> list[VolumeSnapshot]:
        return [
            VolumeSnapshot(volume_id=v, snapshot_id=f"snap-{run}-{v[4:]}", device_name=d, size_gb=8)
            for d, v in zip(devices, volumes, strict=True)
        ]

    base = {
        "plan": "standard",
        "source_id": iid,
        "source_type": "instance",
        "status": PointStatus.COMPLETED,
    }
    ami_run, ebs_run = f"d{int(ami_age.total_seconds())}", f"h{int(ebs_age.total_seconds())}"
    return [
        RecoveryPoint(
            recovery_point_id=f"{ami_run}/{iid}/ami", run_id=ami_run, rule="daily", kind=Kind.AMI,
            created_at=NOW - ami_age, image_id=f"ami-{iid[2:]}", snapshots=snaps(ami_run),
            instance=config, **base,
        ),
        RecoveryPoint(
            recovery_point_id=f"{ebs_run}/{iid}/ebs", run_id=ebs_run, rule="hourly", kind=Kind.EBS,
            created_at=NOW - ebs_age, snapshots=snaps(ebs_run)[1:], **base,
        ),
    ]  # fmt: skip


def seed_fleet() -> Fleet:
    catalog = FakeCatalog()
    ec2 = FakeEc2(clock=lambda: NOW, storage={"m5d.large": 75})
    rds = FakeRds()
    alarms = FakeCloudWatch()
    ec2.subnet_list = [
        {"SubnetId": sid, "AvailabilityZone": az, "VpcId": VPC, "State": "available",
         "Tags": [{"Key": "Name", "Value": name}]}
        for name, (sid, az) in SUBNETS.items()
    ]  # fmt: skip
    fleet = {
        "web-1": (_instance("web-1", "web-a", "standard"), "web"),
        "web-2": (_instance("web-2", "web-b", "standard"), "web"),
        "app-1": (_instance("app-1", "app-a", "standard", "m5d.large"), "app"),
        "batch-1": (_instance("batch-1", "batch-b", "standard"), "batch"),
        "bastion": (_instance("bastion", "web-a", None), "web"),
    }
    ids = {name: described["InstanceId"] for name, (described, _tier) in fleet.items()}
    for name, (described, tier) in fleet.items():
        ec2.instances[described["InstanceId"]] = described
        for mapping in described["BlockDeviceMappings"]:
            encrypted = not (name == "web-2" and mapping["DeviceName"] == "/dev/sdf")
            ec2.volume_attrs[mapping["Ebs"]["VolumeId"]] = {"Encrypted": encrypted}
        if name == "bastion":
            continue
        # app-1's hourly sets stopped five hours ago: the hourly rule is stale
        ebs_age = timedelta(hours=5) if name == "app-1" else timedelta(minutes=15)
        catalog.put_points(_points(described, tier, timedelta(hours=7), ebs_age))
        if name != "app-1":
            alarms.plant(
                alarm_name("standard", ids[name], "system"), ids[name], {T.MANAGED: "true"}
            )
    rds.dbs["elearn-db"] = {
        "Engine": "mysql", "AvailabilityZone": AZ_A, "MultiAZ": False, "BackupRetentionPeriod": 7,
        "LatestRestorableTime": NOW - timedelta(minutes=5),
        "DBSubnetGroup": {"Subnets": [
            {"SubnetAvailabilityZone": {"Name": AZ_A}}, {"SubnetAvailabilityZone": {"Name": AZ_B}},
        ]},
        "TagList": [{"Key": T.PLAN, "Value": "standard"}, {"Key": "Name", "Value": "elearn-db"}],
    }  # fmt: skip
    rds.dbs["analytics-db"] = {
        "Engine": "postgres", "AvailabilityZone": AZ_B, "MultiAZ": False,
        "BackupRetentionPeriod": 0, "TagList": [],
    }  # fmt: skip
    catalog.put_point(
        RecoveryPoint(
            recovery_point_id="d1/elearn-db/rds", run_id="d1", plan="standard", rule="daily",
            kind=Kind.RDS, source_id="elearn-db", source_type="db",
            status=PointStatus.COMPLETED, created_at=NOW - timedelta(hours=7),
            db_snapshot_id=T.snapshot_identifier("20261127T0230Z-standard-daily", "elearn-db"),
        )
    )  # fmt: skip
    _aurora(rds, catalog)
    catalog.put_record(
        "DRILL#standard",
        f"{(NOW - timedelta(days=2)).isoformat()}#drill-1",
        {
            "status": "succeeded",
            "started_at": (NOW - timedelta(days=2)).isoformat(),
            "finished_at": (NOW - timedelta(days=2, minutes=-9)).isoformat(),
            "resources": [
                {"id": ids["web-1"], "type": "instance", "result": "healthy",
                 "rto_seconds": 312, "rpo_seconds": 1800, "error": None},
                {"id": "elearn-db", "type": "db", "result": "healthy",
                 "rto_seconds": 540, "rpo_seconds": 3600, "error": None},
            ],
        },
    )  # fmt: skip
    ports = fake_ports(catalog=catalog, ec2=ec2, rds=rds, alarms=alarms)
    return Fleet(ports=ports, ids=ids, rds=rds)


AURORA = {  # cluster -> its instances: (id, AZ, writer)
    "orders-aurora": [("orders-aurora-1", AZ_A, True), ("orders-aurora-2", AZ_B, False)],
    "ledger-aurora": [("ledger-aurora-1", AZ_B, True)],
}
AURORA_RUN = "20261127T0230Z-standard-daily"


def _aurora(rds: FakeRds, catalog: FakeCatalog) -> None:
    """Each cluster as DescribeDBClusters gives it, its instances as DescribeDBInstances does,
    a completed daily cluster snapshot 7 h old and, for ledger-aurora, a newer failed one."""
    group = {"DBSubnetGroupName": "aurora", "Subnets": [
        {"SubnetAvailabilityZone": {"Name": AZ_A}}, {"SubnetAvailabilityZone": {"Name": AZ_B}},
    ]}  # fmt: skip
    for cluster_id, members in AURORA.items():
        rds.clusters[cluster_id] = {
            "DBClusterIdentifier": cluster_id, "Engine": "aurora-mysql", "DBSubnetGroup": "aurora",
            "AvailabilityZones": [AZ_A, AZ_B, "us-east-1c"], "BackupRetentionPeriod": 1,
            "LatestRestorableTime": NOW - timedelta(minutes=5),
            "DBClusterMembers": [
                {"DBInstanceIdentifier": db_id, "IsClusterWriter": writer, "PromotionTier": 1}
                for db_id, _az, writer in members
            ],
            "TagList": [{"Key": T.PLAN, "Value": "standard"}, {"Key": "Name", "Value": cluster_id}],
        }  # fmt: skip
        for db_id, az, _writer in members:
            rds.dbs[db_id] = {
                "Engine": "aurora-mysql", "DBClusterIdentifier": cluster_id,
                "AvailabilityZone": az, "MultiAZ": False, "DBSubnetGroup": group, "TagList": [],
            }  # fmt: skip
        runs = [(AURORA_RUN, timedelta(hours=7), PointStatus.COMPLETED)]
        if cluster_id == "ledger-aurora":
            runs.append(("20261127T0830Z-standard-daily", timedelta(hours=1), PointStatus.FAILED))
        for run_id, age, status in runs:
            catalog.put_point(
                RecoveryPoint(
                    recovery_point_id=f"{run_id}/{cluster_id}/rds", run_id=run_id,
                    plan="standard", rule="daily", kind=Kind.RDS, source_id=cluster_id,
                    source_type="cluster", status=status, created_at=NOW - age,
                    db_cluster_snapshot_id=T.snapshot_identifier(run_id, cluster_id),
                )
            )  # fmt: skip
