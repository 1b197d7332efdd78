"""How the members that keep their data leave a failed AZ: an Aurora cluster fails over to a
reader in a healthy AZ; an Auto Scaling group (never restored member by member) is shifted
away by ARC where its zonal shift is enabled, else loses its subnets in the AZ."""

from __future__ import annotations

from typing import Any

from lifeboat.apps.evacuation import Action
from lifeboat.apps.models import Member
from lifeboat.asg.models import AutoScalingGroup
from lifeboat.errors import InvalidInputError
from lifeboat.ports import Ports


def cluster_move(member: Member, az: str, ports: Ports) -> dict[str, Any] | None:
    """The failover of an Aurora cluster whose writer is in ``az`` (None: it is not)."""
    state = ports.evacuation.cluster(member.resource_id) if ports.evacuation else None
    writer = state.writer if state else None
    if state is None or writer is None or writer.availability_zone != az:
        return None
    readers = [
        m
        for m in state.members
        if not m.writer and m.availability_zone not in (None, az) and m.status == "available"
    ]
    if not readers:
        raise InvalidInputError(
            "az",
            f"Aurora cluster {member.resource_id} has no available reader outside {az} to "
            "fail over to: add one, or restore the cluster with lifeboat restore",
        )
    target = sorted(readers, key=lambda m: m.identifier)[0]
    return {
        "target_instance": target.identifier,
        "point": "live: an Aurora failover keeps every committed write (same endpoints)",
        "notes": [f"FailoverDBCluster to {target.identifier} in {target.availability_zone}"],
    }


def group_move(group: AutoScalingGroup, az: str, ports: Ports) -> dict[str, Any] | None:
    """A group with subnets in ``az``: its zonal shift, or its subnets there removed."""
    if ports.evacuation is None:
        return None
    zones = ports.evacuation.subnet_zones(list(group.subnet_ids))
    drop = [s for s in group.subnet_ids if zones.get(s) == az]
    if not drop:
        return None  # nothing of the group runs in that AZ
    stateless = "stateless: the group launches from its launch template"
    if group.zonal_shift_enabled:
        zone_id = ports.evacuation.zone_ids().get(az)
        return {
            "action": Action.SHIFT_GROUP,
            "group_arn": group.arn,
            "away_from_zone_id": zone_id,
            "point": stateless,
            "notes": [f"ARC zonal shift away from {az} ({zone_id})"],
        }
    keep = [s for s in group.subnet_ids if s not in drop]
    if not keep:
        raise InvalidInputError(
            "az",
            f"Auto Scaling group {group.name} has subnets only in {az}: add a subnet in "
            "another AZ (or enable zonal shift)",
        )
    return {
        "action": Action.SHRINK_GROUP,
        "group_arn": group.arn,
        "keep_subnets": keep,
        "drop_subnets": drop,
        "point": stateless,
        "notes": [f"subnets {drop} removed (recorded; lifeboat recover --undo puts them back)"],
    }
