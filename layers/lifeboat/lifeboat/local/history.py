"""Back-dated history for the emulator: real AMIs and snapshot sets, tagged exactly as a backup
run tags them, with catalog entries dated in the past, as if the schedules had run for months.
Used by the demo and the pruning tests (EC2 cannot make a snapshot in the past)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.models import PointStatus, RecoveryPoint, VolumeSnapshot
from lifeboat.plans import Kind


def _tag_specs(resource_types: list[str], tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": r, "Tags": T.to_list(tags)} for r in resource_types]


def fabricate(
    catalog: Catalog,
    instance_id: str,
    rule: str,
    kind: Kind,
    created_at: datetime,
    plan: str = "standard",
) -> RecoveryPoint:
    run_id = f"{created_at:%Y%m%dT%H%MZ}-{plan}-{rule}"
    tags = T.backup_tags(
        source_id=instance_id, plan=plan, rule=rule, run_id=run_id, kind=kind.value, source_tags={}
    )
    ec2 = client("ec2")
    point = RecoveryPoint(
        recovery_point_id=f"{run_id}/{instance_id}/{kind.value}",
        run_id=run_id,
        plan=plan,
        rule=rule,
        kind=kind,
        source_id=instance_id,
        source_type="instance",
        status=PointStatus.COMPLETED,
        created_at=created_at,
        completed_at=created_at + timedelta(minutes=5),
    )
    if kind is Kind.AMI:
        image_id = ec2.create_image(
            InstanceId=instance_id,
            Name=f"lifeboat-{instance_id}-{run_id}",
            NoReboot=True,
            TagSpecifications=_tag_specs(["image", "snapshot"], tags),
        )["ImageId"]
        image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
        snaps = [
            VolumeSnapshot(
                volume_id="",
                snapshot_id=m["Ebs"]["SnapshotId"],
                device_name=m["DeviceName"],
                size_gb=8,
            )
            for m in image["BlockDeviceMappings"]
            if "Ebs" in m
        ]
        point = point.model_copy(update={"image_id": image_id, "snapshots": snaps, "size_gb": 8})
    else:
        made = ec2.create_snapshots(
            InstanceSpecification={"InstanceId": instance_id},
            TagSpecifications=_tag_specs(["snapshot"], tags),
        )["Snapshots"]
        snaps = [
            VolumeSnapshot(
                volume_id=s["VolumeId"], snapshot_id=s["SnapshotId"], size_gb=int(s["VolumeSize"])
            )
            for s in made
        ]
        point = point.model_copy(
            update={"snapshots": snaps, "size_gb": sum(s.size_gb for s in snaps)}
        )
    catalog.put_point(point)
    return point


def last_slots(now: datetime) -> tuple[datetime, datetime]:
    """The newest daily (02:45 UTC) and hourly (minute 15) slots at or before ``now``."""
    last_daily = now.replace(hour=2, minute=45, second=0, microsecond=0)
    if last_daily > now:
        last_daily -= timedelta(days=1)
    last_hourly = now.replace(minute=15, second=0, microsecond=0)
    if last_hourly > now:
        last_hourly -= timedelta(hours=1)
    return last_daily, last_hourly


def fabricate_history(
    catalog: Catalog, instance_ids: list[str], now: datetime, days: int = 30, hours: int = 36
) -> list[RecoveryPoint]:
    """``days`` daily AMIs (at 02:45 UTC) and ``hours`` hourly snapshot sets per instance."""
    made: list[RecoveryPoint] = []
    last_daily, last_hourly = last_slots(now)
    for instance_id in instance_ids:
        for day in range(days):
            made.append(
                fabricate(catalog, instance_id, "daily", Kind.AMI, last_daily - timedelta(days=day))
            )
        for hour in range(hours):
            made.append(
                fabricate(
                    catalog, instance_id, "hourly", Kind.EBS, last_hourly - timedelta(hours=hour)
                )
            )
    return made
