"""Which volumes a restore brings back, pure: the AMI's volumes, each data volume replaced by the
newest completed EBS snapshot of its device (at or before the point asked for), and every
volume of the newest EBS set the AMI lacks (a volume attached after the AMI), created from its
snapshot at its device name. :func:`volume_gaps` names what a restore would *not* bring back;
the restore plan warns or refuses with it, and the readiness report lists it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from lifeboat.models import PointStatus, RecoveryPoint, VolumeSnapshot
from lifeboat.plans import Kind
from lifeboat.restore.models import VolumePlan


def plan_volumes(
    chosen: RecoveryPoint,
    points: Sequence[RecoveryPoint],
    overlay: bool,
    until: datetime | None = None,
) -> list[VolumePlan]:
    """The volumes of a replacement launched from ``chosen`` (an AMI point). With ``overlay``,
    each data volume comes from the newest EBS set taken after the AMI (and at or before
    ``until``), and the volumes the AMI lacks from the newest such set; a volume with no
    recorded device name cannot be attached and is left out (:func:`volume_gaps` names it)."""
    planned = _ami_volumes(chosen)
    if overlay:
        root = chosen.instance.root_device_name if chosen.instance else None
        sets = newer_sets(chosen, points, until)
        _overlay(planned, sets, root)
        if sets:
            _add_missing(planned, sets[-1], root)
    return [planned[k] for k in sorted(planned)]


def newer_sets(
    chosen: RecoveryPoint, points: Sequence[RecoveryPoint], until: datetime | None = None
) -> list[RecoveryPoint]:
    """The completed EBS sets taken after the AMI of ``chosen`` (at or before ``until``),
    oldest first."""
    return sorted(
        (
            p
            for p in points
            if p.kind is Kind.EBS
            and p.status is PointStatus.COMPLETED
            and p.created_at > chosen.created_at
            and (until is None or p.created_at.replace(microsecond=0) <= until)
        ),
        key=lambda p: (p.created_at, p.recovery_point_id),
    )


def _ami_volumes(chosen: RecoveryPoint) -> dict[str, VolumePlan]:
    config = chosen.instance
    layout = {d.device_name: d for d in (config.block_devices if config else [])}
    planned: dict[str, VolumePlan] = {}
    for snap in chosen.snapshots:
        device = layout.get(snap.device_name or "")
        planned[snap.device_name or ""] = VolumePlan(
            device_name=snap.device_name or "",
            snapshot_id=snap.snapshot_id,
            size_gb=device.size_gb if device else snap.size_gb,
            volume_type=device.volume_type if device else snap.volume_type,
            iops=device.iops if device else None,
            throughput=device.throughput if device else None,
            delete_on_termination=device.delete_on_termination if device else True,
            source=f"AMI {chosen.image_id}",
            taken_at=chosen.created_at,
        )
    return planned


def _overlay(
    planned: dict[str, VolumePlan], sets: list[RecoveryPoint], root_device: str | None
) -> None:
    for point in sets:
        for snap in point.snapshots:
            name = snap.device_name or ""
            if name and name != root_device and name in planned:
                planned[name] = planned[name].model_copy(
                    update={
                        "snapshot_id": snap.snapshot_id,
                        "source": f"EBS set {point.recovery_point_id}",
                        "taken_at": point.created_at,
                    }
                )


def _add_missing(planned: dict[str, VolumePlan], newest: RecoveryPoint, root: str | None) -> None:
    """The volumes of the newest set that the AMI lacks: created from their snapshots in the
    target AZ (encrypted as the snapshot is) and attached at their device names."""
    layout = {d.device_name: d for d in (newest.instance.block_devices if newest.instance else [])}
    for snap in newest.snapshots:
        name = snap.device_name or ""
        if not name or name == root or snap.boot or name in planned:
            continue
        device = layout.get(name)
        planned[name] = VolumePlan(
            device_name=name,
            snapshot_id=snap.snapshot_id,
            size_gb=snap.size_gb or (device.size_gb if device else 0),
            volume_type=snap.volume_type or (device.volume_type if device else None),
            iops=snap.iops or (device.iops if device else None),
            throughput=snap.throughput or (device.throughput if device else None),
            # As the original had it (a volume attached by hand: kept when the instance ends);
            # a rollback or abort deletes the replacement's volumes whatever this says.
            delete_on_termination=device.delete_on_termination if device else False,
            source=f"EBS set {newest.recovery_point_id}",
            taken_at=newest.created_at,
            not_in_image=True,
        )


def volume_gaps(
    chosen: RecoveryPoint,
    points: Sequence[RecoveryPoint],
    volumes: Sequence[VolumePlan],
    attached: Mapping[str, str] | None = None,
    until: datetime | None = None,
) -> tuple[list[str], list[str]]:
    """What a restore of ``volumes`` would not bring back: ``(refusals, warnings)``. Refusals:
    a volume of the newest EBS set that cannot be attached (no recorded device name).
    Warnings: a volume attached to the instance now (``attached``: device → volume id) that
    no recovery point holds (attached after the newest backup)."""
    sets = newer_sets(chosen, points, until)
    unnamed: list[VolumeSnapshot] = [
        s for s in (sets[-1].snapshots if sets else []) if not s.device_name and not s.boot
    ]
    refusals = [
        f"volume {s.volume_id} (snapshot {s.snapshot_id}) of EBS set "
        f"{sets[-1].recovery_point_id} has no recorded device name, so it cannot be attached"
        for s in unnamed
    ]
    planned = {v.device_name for v in volumes}
    warnings = [
        f"{device} ({volume_id}) is attached now but is in no recovery point: a restore would "
        "not bring its data back (the original's volume is left as it is)"
        for device, volume_id in sorted((attached or {}).items())
        if device not in planned
    ]
    return refusals, warnings
