"""Recognising a group's members: the tag EC2 Auto Scaling puts on every instance it launches."""

from __future__ import annotations

from collections.abc import Mapping

GROUP_TAG = "aws:autoscaling:groupName"


def group_of(tags: Mapping[str, str]) -> str | None:
    """The name of the Auto Scaling group an instance belongs to, from its tags, or None.

    Members carry the group's propagated tags (``lifeboat:plan`` among them): they are never
    backed up, alarmed or restored one by one."""
    name = tags.get(GROUP_TAG)
    return name or None
