"""Resources that no longer exist (an instance terminated, a database or an Auto Scaling group
deleted; an instance now a member of a group, which is protected as its group): when each was
first seen gone, recorded in the catalog (``GONE``, one item per source) so that its points are
kept by retention for the plan's ``decommissioned_days`` from then, and expire after. A resource
seen again (it came back, or was only unreadable) is no longer gone: its record is removed and
the clock starts over if it goes again."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from lifeboat import tags as T
from lifeboat.asg.members import standalone
from lifeboat.asg.membership import group_of
from lifeboat.models import RecoveryPoint
from lifeboat.ports import Ports
from lifeboat.timeutil import iso, parse_iso

GONE_PK = "GONE"
GONE_STATES = frozenset({"shutting-down", "terminated"})


def existing(points: Iterable[RecoveryPoint], ports: Ports) -> dict[str, bool]:
    """Each source of ``points`` (home points only) → whether it exists now. A kind of source
    Lifeboat cannot read (no Auto Scaling adapter) counts as existing: never gone by doubt."""
    by_type: dict[str, set[str]] = {}
    for point in points:
        if not point.is_copy:
            by_type.setdefault(point.source_type, set()).add(point.source_id)
    found: dict[str, bool] = {}
    instances = sorted(by_type.get("instance", set()))
    if instances:
        described = ports.ec2.describe_instances(instances)
        # A member of an Auto Scaling group is no longer protected on its own (its group is):
        # the points it got before count as those of a resource that is gone.
        members = set(instances) - set(standalone(instances, ports))
        for iid in instances:
            state = described.get(iid, {}).get("State", {}).get("Name")
            tags = T.to_dict(described.get(iid, {}).get("Tags"))
            found[iid] = (
                iid in described
                and state not in GONE_STATES
                and iid not in members
                and group_of(tags) is None
            )
    for db in sorted(by_type.get("db", set())):
        found[db] = ports.rds.describe_db(db) is not None
    for cluster in sorted(by_type.get("cluster", set())):
        found[cluster] = ports.rds.describe_cluster(cluster) is not None
    groups = sorted(by_type.get("asg", set()))
    if groups:
        live = {g.name for g in ports.groups.groups(groups)} if ports.groups else set(groups)
        found.update({name: name in live for name in groups})
    return found


def gone_since(
    points: Iterable[RecoveryPoint], ports: Ports, now: datetime, dry_run: bool
) -> dict[str, datetime]:
    """Sources of ``points`` that no longer exist → when first seen gone (now, the first
    time: recorded unless ``dry_run``). Records of sources that exist again are removed."""
    exists = existing(points, ports)
    recorded = {str(r["sk"]): r for r in ports.catalog.records(GONE_PK)}
    gone: dict[str, datetime] = {}
    for source, alive in sorted(exists.items()):
        if alive:
            if source in recorded and not dry_run:
                ports.catalog.delete_record(GONE_PK, source)
            continue
        if source in recorded:
            gone[source] = parse_iso(str(recorded[source]["since"]))
            continue
        gone[source] = now
        if not dry_run:
            ports.catalog.put_record(GONE_PK, source, {"since": iso(now)})
    return gone
