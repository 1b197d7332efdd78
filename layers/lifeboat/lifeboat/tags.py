"""The ownership contract (docs/design/contracts.md#tags): tag keys and the tags Lifeboat writes
at creation. Every key is listed in docs/reference/tags.md (tools/gen_docs.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

PLAN = "lifeboat:plan"
MANAGED = "lifeboat:managed"
SOURCE = "lifeboat:source"
RULE = "lifeboat:rule"
RUN = "lifeboat:run"
KIND = "lifeboat:kind"
TIER = "lifeboat:tier"
REBOOT = "lifeboat:reboot"
FENCED = "lifeboat:fenced"
RESTORED_FROM = "lifeboat:restored-from"
RESTORE_EXECUTION = "lifeboat:restore-execution"
# A volume restore's mark on the volume it swapped out (kept detached for the rollback).
REPLACED_BY = "lifeboat:replaced-by"
# Drills: what a drill launches carries the drill execution's ARN and the resource it restores;
# the network a drill may use (subnets, security groups) carries the tier it stands in for.
DRILL = "lifeboat:drill"
DRILL_SOURCE = "lifeboat:drill-source"
DRILL_TIER = "lifeboat:drill-tier"
# Copies in another region: the artifact copied, the copy's catalog id, the home region.
COPY_OF = "lifeboat:copy-of"
COPY_POINT = "lifeboat:copy-point"
SOURCE_REGION = "lifeboat:source-region"
MAX_TAGS = 50

_AZ_SUFFIX = re.compile(r"^(?P<tier>.+?)[-_](?P<suffix>\d?[a-z]|[a-z]{2}(?:-[a-z]+)+-\d+[a-z])$")


def to_dict(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in tags or []}


def to_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def is_managed(tags: Mapping[str, str]) -> bool:
    return tags.get(MANAGED) == "true"


def copyable(source_tags: Mapping[str, str]) -> dict[str, str]:
    """User tags that may be copied onto a backup (never aws:* nor Lifeboat's own)."""
    return {
        k: v
        for k, v in source_tags.items()
        if not k.lower().startswith("aws:") and not k.startswith("lifeboat:")
    }


def backup_tags(
    *,
    source_id: str,
    plan: str,
    rule: str,
    run_id: str,
    kind: str,
    source_tags: Mapping[str, str],
) -> dict[str, str]:
    """Tags written at creation (in TagSpecifications) on every recovery point artifact."""
    own = {
        MANAGED: "true",
        SOURCE: source_id,
        PLAN: plan,
        RULE: rule,
        RUN: run_id,
        KIND: kind,
    }
    copies = copyable(source_tags)
    room = MAX_TAGS - len(own)
    kept = dict(list(copies.items())[:room])
    return {**kept, **own}


_AMI_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9()\[\] ./'@_-]")


def image_name(instance_id: str, run_id: str) -> str:
    """The deterministic name of an instance's (or an Auto Scaling group's) AMI in a run: AMI
    names are unique per account and region, so the name written in the catalog's intent
    identifies Lifeboat's AMI. Characters an AMI name cannot hold (a group's name may) become
    ``-``; at most 128 characters."""
    return _AMI_NAME_UNSAFE.sub("-", f"lifeboat-{instance_id}-{run_id}")[:128]


def subnet_tier(tags: Mapping[str, str], availability_zone: str) -> str | None:
    """A subnet's tier: its ``lifeboat:tier`` tag, else its Name without the AZ suffix
    (``web-a`` in ``eu-west-1a`` and ``web-1b`` in ``eu-west-1b`` are tier ``web``)."""
    if tags.get(TIER):
        return tags[TIER]
    name = tags.get("Name", "")
    match = _AZ_SUFFIX.match(name)
    if match and availability_zone.endswith(match.group("suffix")):
        return match.group("tier")
    return None


def snapshot_identifier(run_id: str, source_id: str) -> str:
    """A valid, deterministic RDS snapshot identifier for one run and source (letters, digits,
    single hyphens, starting with a letter, at most 255 characters)."""
    raw = f"lifeboat-{source_id}-{run_id}".lower()
    cleaned = re.sub(r"[^a-z0-9-]", "-", raw)
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-")
    return cleaned[:255].rstrip("-")
