"""Pure decisions of a volume restore: which point, which snapshot, which device."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lifeboat.errors import InvalidInputError
from lifeboat.models import PointStatus, RecoveryPoint, VolumeSnapshot
from lifeboat.plans import Kind

# Devices offered for a restored volume beside the original, in order (EC2's recommended
# names for EBS data volumes on Linux).
FREE_DEVICES = tuple(f"/dev/sd{c}" for c in "fghijklmnop")


@dataclass(frozen=True)
class PointSpec:
    """``--point``: ``latest``, a recovery point id, or a time (the newest point at or before)."""

    latest: bool = False
    point_id: str | None = None
    at: datetime | None = None


def parse_point(text: str) -> PointSpec:
    """``ID|TIME|latest`` (one function, so that the CLI's shared point parser can replace it).
    An id is a recovery point id or one of its artifacts' (AMI, snapshot) ids."""
    value = text.strip()
    if value in ("", "latest"):
        return PointSpec(latest=True)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return PointSpec(point_id=value)
    if moment.tzinfo is None:
        raise InvalidInputError(
            "point", f"{value!r} has no time zone: write it as e.g. 2026-12-05T09:30:00Z"
        )
    return PointSpec(at=moment.astimezone(UTC))


def same_device(a: str | None, b: str) -> bool:
    """``/dev/sdf`` and ``/dev/xvdf`` name the same attachment on Xen instances."""
    return a is not None and a.replace("/dev/xvd", "/dev/sd") == b.replace("/dev/xvd", "/dev/sd")


def snapshot_for(point: RecoveryPoint, device: str) -> VolumeSnapshot | None:
    return next((s for s in point.snapshots if same_device(s.device_name, device)), None)


def choose(
    points: list[RecoveryPoint], device: str, spec: PointSpec
) -> tuple[RecoveryPoint, VolumeSnapshot]:
    """The point to restore ``device`` from, and its snapshot of that device; an error naming
    the flag and what can be chosen otherwise."""
    usable = sorted(
        (
            p
            for p in points
            if p.status is PointStatus.COMPLETED
            and p.region is None
            and p.kind in (Kind.AMI, Kind.EBS)
            and snapshot_for(p, device) is not None
        ),
        key=lambda p: p.created_at,
        reverse=True,
    )
    if not usable:
        raise InvalidInputError("device", f"no completed recovery point has a snapshot of {device}")
    if spec.point_id is not None:  # a recovery point id, or one of its AMI or snapshot ids
        chosen = next(
            (p for p in usable if spec.point_id in (p.recovery_point_id, *p.artifact_ids())),
            None,
        )
        if chosen is None:
            newest = ", ".join(p.recovery_point_id for p in usable[:3])
            raise InvalidInputError(
                "point",
                f"{spec.point_id!r} is not a completed point with a snapshot of {device} "
                f"(newest: {newest}); see lifeboat recovery-points list --resource INSTANCE",
            )
    elif spec.at is not None:
        at = spec.at
        # To the second, as times are written and listed (02:45:07.4 is at or before 02:45:07)
        chosen = next(
            (p for p in usable if p.created_at.astimezone(UTC).replace(microsecond=0) <= at), None
        )
        if chosen is None:
            raise InvalidInputError(
                "point",
                f"no point of {device} at or before {at.isoformat()} (oldest: "
                f"{usable[-1].created_at.isoformat()})",
            )
    else:
        chosen = usable[0]
    found = snapshot_for(chosen, device)
    assert found is not None
    return chosen, found


def free_device(used: set[str]) -> str:
    taken = {d.replace("/dev/xvd", "/dev/sd") for d in used}
    for device in FREE_DEVICES:
        if device not in taken:
            return device
    raise InvalidInputError("attach_as", "no free device from /dev/sdf to /dev/sdp: give one")
