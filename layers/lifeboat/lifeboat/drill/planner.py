"""Planning a drill, pure: the plan's recovery points and the drill network in, one target per
resource out. The restore planner chooses what to restore (the newest completed AMI point with
the newer EBS set; the newest DB snapshot); this module chooses where: never a production subnet
or security group, never the original's AZ."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.asg.membership import group_of
from lifeboat.drill.cluster_plan import cluster_target
from lifeboat.drill.models import DB_PREFIX, DrillInput, DrillRefusedError, DrillTarget
from lifeboat.errors import InvalidInputError
from lifeboat.models import RecoveryPoint
from lifeboat.plans import DrillRule, Kind
from lifeboat.restore import planner
from lifeboat.restore.models import DatabasePlan, InstancePlan, RestoreInput

Network = dict[str, Any]  # DescribeSubnets' / DescribeSecurityGroups' items
DB_TIER = "db"


@dataclass(frozen=True)
class Protected:
    """A resource protected now (carrying the plan tag, not fenced): ``chain`` is its lineage,
    oldest first, itself last (a restored replacement stands for its server, and drills from
    the points of every instance that stood for it)."""

    id: str
    type: str  # "instance" | "db" | "cluster" | "asg" (an Auto Scaling group)
    chain: tuple[str, ...]
    # a cluster's engine, engine_version, and its writer's instance_class and availability_zone
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # why it is never drilled on its own (a member of an Auto Scaling group), or None
    excluded: str | None = None


def not_drilled(
    live: Sequence[Protected], points: Sequence[RecoveryPoint], rule: DrillRule
) -> list[dict[str, str]]:
    """The protected resources a drill leaves out, each with why (never silently)."""
    usable = {p.source_id for p in planner.completed(points)}
    out: list[dict[str, str]] = []
    for source in live:
        if source.excluded is not None:
            out.append({"id": source.id, "type": source.type, "reason": source.excluded})
        elif not usable.intersection(source.chain):
            out.append(
                {"id": source.id, "type": source.type, "reason": "no completed recovery point"}
            )
        elif source.type not in ("instance", "asg") and not rule.databases:
            reason = "the plan's drill rule has databases: false"
            out.append({"id": source.id, "type": source.type, "reason": reason})
    return out


@dataclass(frozen=True)
class ProductionNetwork:
    """Every subnet, security group and VPC a protected resource uses: what a drill never
    launches into."""

    subnets: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    vpcs: frozenset[str] = frozenset()


def production_network(
    points: Sequence[RecoveryPoint], live: Mapping[str, Iterable[str]] | None = None
) -> ProductionNetwork:
    """From the catalog (``points``: of every plan, the resource gone or not) and from what
    runs now (``live``: :meth:`DrillPort.production`, every resource carrying a plan tag)."""
    found: dict[str, set[str]] = {k: set((live or {}).get(k, ())) for k in _KINDS}
    for point in points:
        if point.instance is not None:
            found["subnets"].update([point.instance.subnet_id] if point.instance.subnet_id else [])
            found["vpcs"].update([point.instance.vpc_id] if point.instance.vpc_id else [])
            found["groups"].update(point.instance.security_group_ids)
        if point.database is not None:
            found["groups"].update(point.database.security_group_ids)
    return ProductionNetwork(**{k: frozenset(v - {""}) for k, v in found.items()})


_KINDS = ("subnets", "groups", "vpcs")


def check_network(
    subnets: Sequence[Network], groups: Sequence[Network], production: ProductionNetwork
) -> None:
    """Refuse the whole drill when a drill-tagged subnet or security group is one a protected
    resource uses, or lies in a VPC that holds a protected resource (a subnet there has the
    VPC's local route to production). A tag is a hint anyone may write; the catalog and the
    plan tags say what production is."""
    used = sorted({s["SubnetId"] for s in subnets} & production.subnets) + sorted(
        {g["GroupId"] for g in groups} & production.groups
    )
    if used:
        raise DrillRefusedError(
            "drill",
            f"{', '.join(used)} carry {T.DRILL_TIER} but protected resources use them: a drill "
            "never launches into production. Remove the tag, or give the drill its own "
            "subnets and security groups",
        )
    shared = sorted(
        f"{item.get('SubnetId') or item.get('GroupId')} ({item['VpcId']})"
        for item in [*subnets, *groups]
        if item.get("VpcId") in production.vpcs
    )
    if shared:
        raise DrillRefusedError(
            "drill",
            f"{', '.join(shared)} carry {T.DRILL_TIER} but lie in a VPC that holds protected "
            "resources: a drill copy there would reach production over the VPC's local route. "
            "Put the drill network in a VPC of its own (docs/concepts/drills.md)",
        )


def plan_drill(
    request: DrillInput,
    rule: DrillRule,
    points: Sequence[RecoveryPoint],
    network: tuple[Sequence[Network], Sequence[Network]],
    zones: Sequence[str],
    execution_name: str,
    production: ProductionNetwork | None = None,
    instance_profile: str = "",
    live: Sequence[Protected] | None = None,
) -> tuple[list[DrillTarget], list[str]]:
    """The targets (one per resource, in id order) and the resources the sample leaves out.
    ``live``: what is protected now (:meth:`DrillPort`-independent discovery, each with its
    lineage), drilled from its lineage's points; without it, every source of ``points``.
    ``production`` defaults to what ``points`` use; ``instance_profile`` (the stack's
    DrillInstanceProfileArn) goes only to copies whose tier has an application check."""
    subnets, groups = network
    check_network(subnets, groups, production or production_network(points))
    usable = planner.completed(points)
    known = sorted({(p.source_id, p.source_type) for p in usable})
    sources = list(live) if live is not None else [Protected(i, t, (i,)) for i, t in known]
    if request.resource is not None:
        sources = [s for s in sources if s.id == request.resource]
        if sources and sources[0].excluded is not None:
            raise InvalidInputError("resource", f"{request.resource} is {sources[0].excluded}")
        if not sources or not any(p.source_id in sources[0].chain for p in usable):
            raise InvalidInputError(
                "resource",
                f"{request.resource} is not protected now or has no completed recovery point "
                f"in {request.plan}",
            )
    targets: list[DrillTarget] = []
    for source in sources:
        mine = [p for p in usable if p.source_id in source.chain]
        off = source.type not in ("instance", "asg") and not rule.databases
        if source.excluded is not None or not mine or off:
            continue  # not_drilled() says why
        if source.type == "instance":
            if not _group_member(mine):  # a member's old points: its group is drilled
                target = _instance_target(source.id, mine, subnets, groups)
                targets.append(_with_check(target, rule, instance_profile))
        elif source.type == "asg":
            # A group's drill: one instance from its point, in the drill network.
            group_point = newest_group_point(mine)
            if group_point is not None:
                target = _instance_target(source.id, mine, subnets, groups, chosen=group_point)
                targets.append(_with_check(target, rule, instance_profile))
        elif source.type == "db":
            targets.append(
                _db_target(source.id, mine, rule, subnets, groups, zones, execution_name)
            )
        else:
            targets.append(
                cluster_target(source.id, mine, rule, groups, zones, execution_name, source.details)
            )
    kept, skipped = _sample(targets, rule)
    unchecked = sorted(t.id for t in kept if t.check is not None and t.instance is not None)
    if unchecked and not instance_profile:
        raise InvalidInputError(
            "DrillInstanceProfileArn",
            f"plans.yaml {request.plan}.drill.checks needs an instance profile for the drill "
            f"copies of {', '.join(unchecked)} (SSM runs the check on them): the stack parameter "
            "is empty. Set it to a profile whose role has AmazonSSMManagedInstanceCore, or "
            "remove the check",
        )
    return kept, skipped


def _with_check(target: DrillTarget, rule: DrillRule, profile: str) -> DrillTarget:
    """The tier's application check, and the drill's instance profile for it (SSM only)."""
    check = rule.checks.get(target.tier or "")
    if check is None or target.instance is None:
        return target
    plan = target.instance.model_copy(update={"iam_instance_profile_arn": profile or None})
    return target.model_copy(update={"check": check, "instance": plan})


def _sample(targets: list[DrillTarget], rule: DrillRule) -> tuple[list[DrillTarget], list[str]]:
    kept: list[DrillTarget] = []
    skipped: list[str] = []
    per_tier: dict[str, int] = {}
    for target in targets:
        tier = target.tier or ""
        limit = rule.sample.get(tier)
        if limit is not None and per_tier.get(tier, 0) >= limit:
            skipped.append(target.id)
            continue
        per_tier[tier] = per_tier.get(tier, 0) + 1
        kept.append(target)
    return kept, skipped


def _placement(
    tier: str | None, original_az: str | None, subnets: Sequence[Network], groups: Sequence[Network]
) -> tuple[Network | None, list[str], str | None]:
    """A drill subnet of ``tier`` outside ``original_az`` and the tier's drill security groups
    of its VPC, or why there is none."""
    if tier is None:
        return None, [], "its subnet has no tier (lifeboat:tier or a web-a/web-b style Name)"
    found = sorted(
        (
            s
            for s in subnets
            if T.to_dict(s.get("Tags")).get(T.DRILL_TIER) == tier
            and s["AvailabilityZone"] != original_az
        ),
        key=lambda s: (s["AvailabilityZone"], s["SubnetId"]),
    )
    if not found:
        return None, [], f"no subnet tagged {T.DRILL_TIER}={tier} outside {original_az}"
    subnet = found[0]
    sgs = sorted(
        g["GroupId"]
        for g in groups
        if T.to_dict(g.get("Tags")).get(T.DRILL_TIER) == tier and g.get("VpcId") == subnet["VpcId"]
    )
    if not sgs:
        return None, [], f"no security group tagged {T.DRILL_TIER}={tier} in {subnet['VpcId']}"
    return subnet, sgs, None


def _group_member(points: list[RecoveryPoint]) -> bool:
    """Points an Auto Scaling group's member got before groups were protected as a whole: the
    member is not drilled one by one (its group is)."""
    return any(p.instance is not None and group_of(p.instance.tags) for p in points)


def newest_group_point(points: list[RecoveryPoint]) -> RecoveryPoint | None:
    found = [p for p in points if p.kind is Kind.ASG and p.image_id and p.instance is not None]
    return max(found, key=lambda p: p.created_at) if found else None


def _instance_target(
    source_id: str,
    points: list[RecoveryPoint],
    subnets: Sequence[Network],
    groups: Sequence[Network],
    chosen: RecoveryPoint | None = None,
) -> DrillTarget:
    if chosen is not None and chosen.instance is not None:  # a group's point: its member's
        config = chosen.instance
    else:
        request = RestoreInput(instance_id=source_id)
        try:
            chosen, config = planner.image_point(request, None, points)
        except InvalidInputError as exc:
            return DrillTarget(id=source_id, type="instance", error=str(exc))
    volumes = [
        v.model_copy(update={"delete_on_termination": True})  # nothing outlives the drill
        for v in planner.plan_volumes(chosen, points, overlay=True)
    ]
    subnet, sgs, error = _placement(config.subnet_tier, config.availability_zone, subnets, groups)
    data = [v for v in volumes if v.device_name != config.root_device_name] or volumes
    taken = min(v.taken_at for v in data) if data else chosen.created_at
    target = DrillTarget(
        id=source_id, type="instance", tier=config.subnet_tier, data_taken_at=taken, error=error
    )
    if subnet is None:
        return target
    plan = InstancePlan(
        source_id=source_id,
        name=config.tags.get("Name", source_id),
        source_az=config.availability_zone,
        source_state="drill",
        recovery_point_id=chosen.recovery_point_id,
        image_id=chosen.image_id or "",
        image_taken_at=chosen.created_at,
        data_taken_at=taken,
        root_device_name=config.root_device_name,
        volumes=volumes,
        candidates=[],
        instance_types=[config.instance_type],
        security_group_ids=sgs,
        # no production role: a copy gets no production credentials (with an application
        # check, the drill's own SSM-only profile: _with_check)
        iam_instance_profile_arn=None,
        key_name=None,  # never the production key pair: nothing may log in to a copy
        ebs_optimized=config.ebs_optimized,
        tags={},  # no user tags: nothing may mistake a drill copy for production
    )
    return target.model_copy(
        update={
            "subnet_id": subnet["SubnetId"],
            "availability_zone": subnet["AvailabilityZone"],
            "security_group_ids": sgs,
            "instance": plan,
        }
    )


def _db_target(
    source_id: str,
    points: list[RecoveryPoint],
    rule: DrillRule,
    subnets: Sequence[Network],
    groups: Sequence[Network],
    zones: Sequence[str],
    execution_name: str,
) -> DrillTarget:
    snapshots = [p for p in points if p.kind is Kind.RDS and p.db_snapshot_id and p.database]
    if not snapshots:
        return DrillTarget(id=source_id, type="db", tier=DB_TIER, error="no DB snapshot point")
    point = max(snapshots, key=lambda p: p.created_at)
    config = point.database
    assert config is not None
    original_az = config.availability_zone
    sgs = sorted(
        g["GroupId"] for g in groups if T.to_dict(g.get("Tags")).get(T.DRILL_TIER) == DB_TIER
    )
    target = DrillTarget(id=source_id, type="db", tier=DB_TIER, data_taken_at=point.created_at)
    if not sgs:
        return target.model_copy(
            update={"error": f"no security group tagged {T.DRILL_TIER}={DB_TIER}"}
        )
    drill_azs = sorted({s["AvailabilityZone"] for s in subnets} | set(zones))
    others = [z for z in drill_azs if z != original_az]
    plan = DatabasePlan(
        source_id=source_id,
        source_az=original_az,
        recovery_point_id=point.recovery_point_id,
        snapshot_id=point.db_snapshot_id,
        restore_time=None,
        data_taken_at=point.created_at,
        new_identifier=drill_identifier(source_id, execution_name),
        target_az=others[0] if others else None,
        instance_class=config.instance_class,
        multi_az=False,  # a drill proves the data restores; one AZ is enough and costs half
        subnet_group=rule.db_subnet_group,
        parameter_group=config.parameter_group,
        security_group_ids=sgs,
        tags={},
    )
    return target.model_copy(
        update={"availability_zone": plan.target_az, "security_group_ids": sgs, "database": plan}
    )


def drill_identifier(source_id: str, execution_name: str) -> str:
    """``lifeboat-drill-<source>-<hash>``: a valid DB identifier (at most 63 characters)."""
    digest = hashlib.sha256(f"{execution_name}/{source_id}".encode()).hexdigest()[:8]
    base = re.sub(r"[^a-z0-9-]", "-", source_id.lower())[:36]
    base = re.sub(r"-{2,}", "-", base).strip("-")
    return f"{DB_PREFIX}{base}-{digest}"


def drill_tags(execution_arn: str, source_id: str, name: str) -> dict[str, str]:
    """Tags of everything a drill launches: never the plan (no backups, no alarms of a drill
    copy), never ``lifeboat:managed`` nor ``lifeboat:restored-from``."""
    return {
        "Name": f"lifeboat-drill {name}"[:255],
        T.DRILL: execution_arn,
        T.DRILL_SOURCE: source_id,
    }


def as_of(moment: datetime | None, since: datetime | None) -> float | None:
    return None if moment is None or since is None else round((moment - since).total_seconds(), 1)
