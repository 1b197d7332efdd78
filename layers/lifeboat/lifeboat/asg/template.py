"""A recorded ``LaunchTemplateData`` put back: the same data with the point's AMI (and, in
another region, that region's security groups). The data is AWS's own shape, kept whole so that
a restore writes back exactly what was recorded; this module is the one place that reads or
changes fields of it."""

from __future__ import annotations

import copy
from typing import Any


def security_group_ids(data: dict[str, Any]) -> list[str]:
    """The security groups a template's instances get (its own, or its interfaces')."""
    found = list(data.get("SecurityGroupIds") or [])
    for interface in data.get("NetworkInterfaces") or []:
        found += [g for g in interface.get("Groups") or [] if g not in found]
    return found


def with_image(
    data: dict[str, Any], image_id: str, security_groups: list[str] | None = None
) -> dict[str, Any]:
    """``data`` launching ``image_id``; with ``security_groups``, those instead of the
    recorded ones (another region: its groups of the same names), and without what names
    resources of the home region only (subnets, a placement group, addresses)."""
    out = copy.deepcopy(data)
    out["ImageId"] = image_id
    if security_groups is None:
        return out
    out.pop("SecurityGroups", None)
    out.pop("Placement", None)
    interfaces = out.get("NetworkInterfaces") or []
    if interfaces:
        for interface in interfaces:
            interface.pop("SubnetId", None)
            interface.pop("NetworkInterfaceId", None)
            interface.pop("PrivateIpAddress", None)
            interface.pop("PrivateIpAddresses", None)
            interface["Groups"] = list(security_groups)
        out.pop("SecurityGroupIds", None)
    else:
        out["SecurityGroupIds"] = list(security_groups)
    # Block devices restored from the AMI's own snapshots (a snapshot id of the home region
    # means nothing there).
    for mapping in out.get("BlockDeviceMappings") or []:
        mapping.get("Ebs", {}).pop("SnapshotId", None)
        mapping.get("Ebs", {}).pop("KmsKeyId", None)
    return out
