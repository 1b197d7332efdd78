"""What a drill samples: what is protected **now**, never the catalog's memory of it. Instances
as a backup run discovers them (carrying the plan tag, live, a fenced original that a restore
replaced left out), each with its lineage (a restored replacement drills from the points of every
instance that stood for its server); DB instances and Aurora clusters carrying the plan tag. A
terminated or untagged server is not protected, so never drilled, whatever points it left. A
member of an Auto Scaling group (it carries ``aws:autoscaling:groupName``, and the group's
propagated plan tag) is never drilled one by one: it is listed as not drilled, with its group;
the group itself, carrying the plan tag, is drilled as one instance from its point."""

from __future__ import annotations

from typing import Any

from lifeboat import tags as T
from lifeboat.asg.membership import group_of
from lifeboat.drill.planner import Protected
from lifeboat.ports import Ports
from lifeboat.restore.lineage import lineage


def protected_now(ports: Ports, plan: str) -> list[Protected]:
    ids = ports.ec2.discover_instances(plan)
    described = ports.ec2.describe_instances(ids) if ids else {}
    found = [
        Protected(iid, "instance", tuple(lineage(ports.catalog, iid)), excluded=_member_of_group(d))
        for iid in ids
        if (d := described.get(iid)) is not None  # gone since it was listed: not protected
    ]
    for kind, db_id in ports.rds.discover(plan):
        details = cluster_details(ports, db_id) if kind == "cluster" else {}
        found.append(Protected(db_id, kind, (db_id,), details))
    if ports.groups is not None:  # a group is drilled as one instance from its point
        found += [Protected(g.name, "asg", (g.name,)) for g in ports.groups.groups_for_plan(plan)]
    return sorted(found, key=lambda p: (p.type, p.id))


def cluster_details(ports: Ports, cluster_id: str) -> dict[str, Any]:
    """The cluster's engine and version, and its writer's instance class and AZ: what a drill
    copy of it is created with."""
    cluster = ports.rds.describe_cluster(cluster_id) or {}
    members = cluster.get("DBClusterMembers") or []
    writer = next((m for m in members if m.get("IsClusterWriter")), members[0] if members else {})
    described = (
        ports.rds.describe_db(str(writer["DBInstanceIdentifier"])) if writer else None
    ) or {}
    return {
        "engine": cluster.get("Engine"),
        "engine_version": cluster.get("EngineVersion"),
        "instance_class": described.get("DBInstanceClass"),
        "availability_zone": described.get("AvailabilityZone"),
    }


def _member_of_group(described: dict[str, Any]) -> str | None:
    group = group_of(T.to_dict(described.get("Tags")))
    if group is None:
        return None
    return (
        f"a member of Auto Scaling group {group}: a group's members are never drilled one by "
        "one (their instances come and go with the group)"
    )
