"""What every stage of a backup run shares: recovery point ids, new points, failed points and
the snapshot sets an instance's volumes map to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.models import (
    CreateBatchEvent,
    InstanceConfig,
    PointStatus,
    RecoveryPoint,
    ResourceType,
    VolumeSnapshot,
)
from lifeboat.plans import Kind
from lifeboat.ports import CatalogPort

image_name = T.image_name


def point_id(run_id: str, source_id: str, kind: Kind) -> str:
    return f"{run_id}/{source_id}/{kind.value}"


def new_point(
    batch: CreateBatchEvent,
    source: str,
    source_type: ResourceType,
    kind: Kind,
    now: datetime,
    **fields: Any,
) -> RecoveryPoint:
    """A recovery point of ``batch``'s run, created ``now`` (``fields``: its status...)."""
    return RecoveryPoint(
        recovery_point_id=point_id(batch.run_id, source, kind),
        run_id=batch.run_id,
        plan=batch.plan,
        rule=batch.rule,
        kind=kind,
        source_id=source,
        source_type=source_type,
        created_at=now,
        **fields,
    )


def record_failure(catalog: CatalogPort, point: RecoveryPoint, error: str) -> None:
    catalog.put_point(point.model_copy(update={"status": PointStatus.FAILED, "error": error}))


def volume_snapshots(snaps: list[dict[str, Any]], config: InstanceConfig) -> list[VolumeSnapshot]:
    """EC2's snapshots of an instance's volumes, with what its configuration says of each."""
    devices = {d.volume_id: d for d in config.block_devices}
    out = []
    for snap in snaps:
        device = devices.get(snap.get("VolumeId", ""))
        out.append(
            VolumeSnapshot(
                volume_id=snap.get("VolumeId", ""),
                snapshot_id=snap["SnapshotId"],
                device_name=device.device_name if device else None,
                size_gb=int(snap.get("VolumeSize", 0)),
                volume_type=device.volume_type if device else None,
                iops=device.iops if device else None,
                throughput=device.throughput if device else None,
                encrypted=bool(snap.get("Encrypted", False)),
                kms_key_id=snap.get("KmsKeyId"),
                boot=bool(device and device.device_name == config.root_device_name),
            )
        )
    return out
