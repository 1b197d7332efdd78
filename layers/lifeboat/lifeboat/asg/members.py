"""Members of Auto Scaling groups are never backed up, alarmed or restored one by one: the group
replaces a failed member from its launch template by itself (docs: Concepts, Auto Scaling
groups). These helpers find them, by the tag Auto Scaling puts on every instance it launches
and, where the tag may be missing, by asking Auto Scaling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lifeboat.asg.membership import group_of
from lifeboat.ports import Ports


def standalone(instance_ids: list[str], ports: Ports) -> list[str]:
    """``instance_ids`` without the members of a group (Auto Scaling's own answer: an
    instance attached to a group by hand may lack the group's tag)."""
    if not instance_ids or ports.autoscaling is None:
        return instance_ids
    members = ports.autoscaling.group_names_of(instance_ids)
    return [i for i in instance_ids if i not in members]


def group_of_instance(instance_id: str, tags: Mapping[str, str], ports: Ports) -> str | None:
    """The group ``instance_id`` is a member of (its tag, else Auto Scaling's answer), or
    None."""
    found = group_of(tags)
    if found is None and ports.autoscaling is not None:
        found = ports.autoscaling.group_names_of([instance_id]).get(instance_id)
    return found


def member_refusal(instance_id: str, group: str) -> str:
    """Why a member is not restored as a standalone server, and what to run instead."""
    return (
        f"{instance_id} is a member of Auto Scaling group {group}: the group replaces a failed "
        f"member from its launch template by itself, and a standalone replacement would run "
        f"outside the group. Restore the group instead: 'lifeboat restore start --asg {group} "
        f"--dry-run' (its launch template and image from a recovery point), or 'lifeboat "
        f"recovery-points list --resource {group}' to see its points"
    )


def ignored_member(
    base: dict[str, Any], instance_id: str, tags: Mapping[str, str], ports: Ports
) -> dict[str, Any] | None:
    """The alarm router's answer for a member of an Auto Scaling group (never replaced by a
    standalone server outside the group: the group replaces it), or None for any other
    instance."""
    group = group_of_instance(instance_id, tags, ports)
    if group is None:
        return None
    return {
        **base,
        "action": "ignored",
        "instance_id": instance_id,
        "group": group,
        "reason": f"{instance_id} is a member of Auto Scaling group {group}, which replaces a "
        "failed member by itself",
    }
