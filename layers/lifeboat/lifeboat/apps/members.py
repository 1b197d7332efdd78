"""An application's members, found by their tags, and the application checked against them
(a tier in ``order`` no member has, a member whose tier is not in ``order``, a Route 53 zone or
SSM parameter that does not exist: one error naming it). Checked when an evacuation is planned
(and by the report), never when the plans file is parsed: plans never depend on live
resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifeboat import tags as T
from lifeboat.apps.models import (
    DEFAULT_DB_TIER,
    TIER_TAG,
    Application,
    Member,
    MemberKind,
)
from lifeboat.asg.membership import group_of
from lifeboat.asg.models import AutoScalingGroup
from lifeboat.errors import InvalidInputError
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports


@dataclass
class Found:
    """The members, and what was read to find them (the planner needs it again)."""

    members: list[Member] = field(default_factory=list)
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, AutoScalingGroup] = field(default_factory=dict)
    databases: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)


def application(plans: PlanSet, app: str, plan: str | None = None) -> tuple[str, Application]:
    """The plan declaring ``app``, and the application; an error naming the choices."""
    declaring = [
        name
        for name, declared in sorted(plans.plans.items())
        if app in declared.applications and plan in (None, name)
    ]
    if not declaring:
        known = sorted({a for p in plans.plans.values() for a in p.applications})
        raise InvalidInputError(
            "app", f"no plan declares application {app!r}; declared applications: {known}"
        )
    if len(declaring) > 1:
        raise InvalidInputError(
            "plan", f"plans {declaring} all declare {app!r}: name one with --plan"
        )
    return declaring[0], plans.plans[declaring[0]].applications[app]


def _selected(tags: dict[str, str], plan: str, app: Application) -> bool:
    return tags.get(T.PLAN) == plan and all(tags.get(k) == v for k, v in app.select.items())


def find_members(plan: str, app: Application, ports: Ports) -> Found:
    """Instances (not members of a group), Auto Scaling groups, DB instances and Aurora
    clusters carrying the plan's tag and every ``select`` tag; a member's tier is its ``tier``
    tag (a database without one: ``db``)."""
    found = Found()
    ids = ports.ec2.discover_instances(plan)
    for instance_id, instance in sorted(ports.ec2.describe_instances(ids).items()):
        tags = T.to_dict(instance.get("Tags"))
        if group_of(tags) is not None or not _selected(tags, plan, app):
            continue
        found.instances[instance_id] = instance
        found.members.append(
            Member(
                kind=MemberKind.INSTANCE,
                resource_id=instance_id,
                tier=tags.get(TIER_TAG, ""),
                availability_zones=(instance.get("Placement", {}).get("AvailabilityZone", ""),),
                name=tags.get("Name", ""),
            )
        )
    groups = ports.autoscaling.groups_for_plan(plan) if ports.autoscaling else []
    for group in groups:
        if not _selected(group.tags, plan, app):
            continue
        found.groups[group.name] = group
        found.members.append(
            Member(
                kind=MemberKind.ASG,
                resource_id=group.name,
                tier=group.tags.get(TIER_TAG, ""),
                availability_zones=group.availability_zones,
                name=group.name,
            )
        )
    for kind, identifier in ports.rds.discover(plan):
        described = (
            ports.rds.describe_db(identifier)
            if kind == "db"
            else ports.rds.describe_cluster(identifier)
        )
        tags = T.to_dict((described or {}).get("TagList"))
        if described is None or not _selected(tags, plan, app):
            continue
        if kind == "db":
            found.databases[identifier] = described
            zones = (described.get("AvailabilityZone") or "",)
        else:
            found.clusters[identifier] = described
            zones = tuple(described.get("AvailabilityZones", []))
        found.members.append(
            Member(
                kind=MemberKind.DB if kind == "db" else MemberKind.CLUSTER,
                resource_id=identifier,
                tier=tags.get(TIER_TAG) or DEFAULT_DB_TIER,
                availability_zones=zones,
                name=tags.get("Name", identifier),
            )
        )
    return found


def check_application(name: str, app: Application, members: list[Member], ports: Ports) -> None:
    """The application's declaration against what exists: one error naming the first problem."""
    if not members:
        raise InvalidInputError(
            f"applications.{name}.select",
            f"no instance, group or database carries {app.select} and the plan's tag",
        )
    for member in members:
        if member.tier not in app.order:
            raise InvalidInputError(
                f"applications.{name}.order",
                f"{member.kind.value} {member.resource_id} has tier {member.tier or '(none)'!r} "
                f"(its {TIER_TAG!r} tag), which is not in order {list(app.order)}: tag it with "
                f"one of them, or add its tier to order",
            )
    tiers = {m.tier for m in members}
    for tier in app.order:
        if tier not in tiers:
            raise InvalidInputError(
                f"applications.{name}.order",
                f"no member has tier {tier!r}: tag a member {TIER_TAG}={tier}, or remove it "
                f"from order",
            )
    _check_endpoint(name, app, ports)


def _check_endpoint(name: str, app: Application, ports: Ports) -> None:
    endpoint = app.database_endpoint
    if endpoint is None:
        return
    if ports.endpoints is None:
        raise InvalidInputError("database_endpoint", "no Route 53 / SSM adapter in this task")
    if endpoint.route53 is not None:
        zone = endpoint.route53.zone_id
        private = ports.endpoints.zone_private(zone)
        if private is None:
            raise InvalidInputError(
                f"applications.{name}.database_endpoint.route53.zone_id",
                f"hosted zone {zone} does not exist (or Lifeboat may not read it)",
            )
        if not private:
            raise InvalidInputError(
                f"applications.{name}.database_endpoint.route53.zone_id",
                f"hosted zone {zone} is public: Lifeboat switches a record of a private hosted "
                "zone only (a database endpoint is internal); declare a private zone",
            )
        if ports.endpoints.record(zone, endpoint.route53.name) is None:
            raise InvalidInputError(
                f"applications.{name}.database_endpoint.route53.name",
                f"{endpoint.route53.name} has no CNAME or A record in zone {zone}: create it "
                "(pointing at the database's endpoint)",
            )
    elif endpoint.ssm_parameter is not None:
        found = ports.endpoints.parameter(endpoint.ssm_parameter)
        if found is None:
            raise InvalidInputError(
                f"applications.{name}.database_endpoint.ssm_parameter",
                f"SSM parameter {endpoint.ssm_parameter} does not exist",
            )
        if found.type == "SecureString":
            # Read without decryption its value is ciphertext: the old value could not be
            # recorded, compared or put back.
            raise InvalidInputError(
                f"applications.{name}.database_endpoint.ssm_parameter",
                f"SSM parameter {endpoint.ssm_parameter} is a SecureString: a database "
                "endpoint is no secret; make it a String parameter",
            )
