"""A restore in another region (docs/runbooks/region-lost.md): from the copies of the
server's (or database's) recovery points in that region, into a same-tier subnet of a VPC
there (a database: into the DB subnet group of the same name), with the security groups of the
same names in that VPC (or those asked for).

The home region is presumed lost: its original is never described, fenced, stopped or
touched, and addresses, target groups and DNS are not moved across regions (the plan lists what
is not done). Every later stage works in the plan's region (:func:`in_region`); the cut-over
moves nothing, and a failed restore removes only what it launched there. The server's lineage
at home is left as it was: a restore in another region is recorded apart
(:func:`record_restored_in`), and a second one while the first's replacement still stands
there is refused unless forced."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.copies.census import vanished
from lifeboat.errors import InvalidInputError, NoTargetError
from lifeboat.models import InstanceConfig, PointStatus, RecoveryPoint
from lifeboat.plans import Kind, PlanSet
from lifeboat.ports import CatalogPort, Ports
from lifeboat.restore import planner
from lifeboat.restore.models import DatabasePlan, InstancePlan, Launched, RestoreInput
from lifeboat.timeutil import iso

GONE = ("terminated", "shutting-down", "deleting")
NOT_CUT_OVER = (
    "restored in {region} from its copy: the original is not fenced, and no address, target "
    "group or DNS record is moved across regions (runbook: region lost)"
)


def in_region(ports: Ports, region: str | None) -> Ports:
    """The ports of a restore's region: the home ports, or those of ``region``."""
    if region is None or region == ports.home_region:
        return ports
    if ports.regional is None:
        raise RuntimeError("no adapters for other regions configured")
    return ports.regional(region)


def check_region(request: RestoreInput, ports: Ports) -> None:
    if request.region == ports.home_region:
        raise InvalidInputError(
            "region",
            f"{request.region} is this stack's own region: remove --region to restore from "
            "the home recovery points",
        )


def plan_in_region(
    request: RestoreInput,
    plans: PlanSet,
    ports: Ports,
    chain: list[str],
    execution_name: str,
    now: datetime,
) -> InstancePlan | DatabasePlan:
    region = request.region or ""
    there = in_region(ports, region)
    points = [c for s in chain for c in ports.catalog.copies_for_resource(s, region)]
    if not any(p.status is PointStatus.COMPLETED for p in points):
        raise InvalidInputError(
            "region",
            f"{request.resource_id} has no completed copy in {region}: its rule's copy_to "
            f"must name {region} (lifeboat copies status)",
        )
    points, passed_over = _existing(request, points, there, region)
    home = ports.home_region
    plan: InstancePlan | DatabasePlan
    if request.db_instance_id:
        plan = _plan_database(request, there, points, home, execution_name, now)
    else:
        plan = _plan_instance(request, plans, there, points, home)
    chosen = next((p for p in points if p.recovery_point_id == plan.recovery_point_id), None)
    return plan.model_copy(
        update={
            "region": region,
            "home_region": home,
            "copy_of": chosen.copy_of if chosen else None,
            "same_az": False,
            "warnings": [*passed_over, *plan.warnings],
        }
    )


def _existing(
    request: RestoreInput, points: list[RecoveryPoint], there: Ports, region: str
) -> tuple[list[RecoveryPoint], list[str]]:
    """The copies whose artifacts the region still has (read in batched Describe calls), and
    a warning for each newer one passed over; a copy asked for by id whose artifacts are gone,
    or none left, is refused naming what vanished."""
    done = [p for p in points if p.status is PointStatus.COMPLETED]
    gone = vanished(done, there.ec2.images, there.ec2.snapshots, there.rds.snapshot)
    if not gone:
        return points, []
    asked = request.recovery_point
    for copy_id, missing in gone.items():
        copy = next(p for p in done if p.recovery_point_id == copy_id)
        if asked != "latest" and asked in (copy_id, *copy.artifact_ids()):
            raise InvalidInputError(
                "recovery_point",
                f"{copy_id}: its artifacts {missing} are gone from {region} (deleted outside "
                "Lifeboat); choose another copy (lifeboat copies list --resource "
                f"{request.resource_id} --region {region})",
            )
    left = [p for p in points if p.recovery_point_id not in gone]
    if not any(p.status is PointStatus.COMPLETED for p in left):
        named = "; ".join(f"{c}: {m}" for c, m in sorted(gone.items()))
        raise InvalidInputError(
            "region",
            f"every copy of {request.resource_id} in {region} was deleted outside Lifeboat "
            f"({named}): nothing to restore from there",
        )
    notes = [
        f"copy {c} passed over: its artifacts {m} are gone from {region} (deleted outside Lifeboat)"
        for c, m in sorted(gone.items())
    ]
    return left, notes


# --- instances ----------------------------------------------------------------------------------
def _plan_instance(
    request: RestoreInput,
    plans: PlanSet,
    there: Ports,
    points: list[RecoveryPoint],
    home: str,
) -> InstancePlan:
    chosen, config = planner.image_point(request, None, points)
    region = request.region or ""
    subnets = there.ec2_restore.region_subnets()
    vpc_id = _vpc(request, config, subnets, region)
    found = there.ec2_restore.security_groups(vpc_id)
    groups = _groups(request, config.security_group_ids, config.security_group_names, found, vpc_id)
    key = config.key_name
    if key and not there.ec2_restore.key_pair_exists(key):
        key = None
    moved = config.model_copy(
        update={
            "vpc_id": vpc_id,
            "subnet_id": None,
            "security_group_ids": groups,
            "elastic_ip": None,
            "target_groups": [],
            "key_name": key,
        }
    )
    translated = [p.model_copy(update={"instance": moved}) if p is chosen else p for p in points]
    in_vpc = [s for s in subnets if s.get("VpcId") == vpc_id]
    plan = planner.plan_instance(request, None, translated, in_vpc, plans)
    warnings = list(plan.warnings)
    if config.key_name and key is None:
        warnings.append(
            f"launched without the key pair {config.key_name!r}: {region} has no key pair of "
            "that name (key pairs are per region); connect with SSM Session Manager, or import "
            "the key there and restore again"
        )
    return plan.model_copy(
        update={
            "source_state": f"not checked ({home} presumed lost)",
            "vpc_id": vpc_id,
            "security_group_names": _names_of(groups, found),
            "not_done": _not_done_instance(config, home, region),
            "warnings": warnings,
        }
    )


def _not_done_instance(config: InstanceConfig, home: str, region: str) -> list[str]:
    not_done = [f"the original in {home} is not fenced, stopped or even described"]
    if config.elastic_ip:
        not_done.append(
            f"Elastic IP {config.elastic_ip.get('public_ip')} stays in {home} (addresses are "
            "regional): point DNS at the new instance"
        )
    if config.target_groups:
        arns = ", ".join(g.target_group_arn for g in config.target_groups)
        not_done.append(
            f"target groups {arns} are not changed: register the new instance with a load "
            f"balancer in {region}"
        )
    not_done.append("no DNS record or application configuration is changed (runbook)")
    return not_done


def _vpc(
    request: RestoreInput, config: InstanceConfig, subnets: list[dict[str, Any]], region: str
) -> str:
    """The VPC of the subnet asked for, else the one VPC of the region with a subnet of the
    server's tier (two such VPCs: the engineer chooses with --target-subnet)."""
    if request.target_subnet:
        match = [s for s in subnets if s["SubnetId"] == request.target_subnet]
        if not match:
            raise InvalidInputError(
                "target_subnet", f"{request.target_subnet} is not a subnet of {region}"
            )
        return str(match[0]["VpcId"])
    tier = config.subnet_tier
    if tier is None:
        raise NoTargetError(
            f"the server's subnet had no tier (no {T.TIER} tag, no Name with an AZ suffix): "
            f"nothing was launched. Pass --target-subnet SUBNET (a subnet of {region})."
        )
    vpcs = sorted(
        {
            str(s["VpcId"])
            for s in subnets
            if T.subnet_tier(T.to_dict(s.get("Tags")), s["AvailabilityZone"]) == tier
        }
    )
    if len(vpcs) != 1:
        found = f"VPCs {vpcs} have" if vpcs else "no VPC has"
        raise NoTargetError(
            f"{found} a subnet of tier {tier!r} in {region}: nothing was launched. "
            "Pass --target-subnet SUBNET (a subnet of that region)."
        )
    return vpcs[0]


# --- databases ----------------------------------------------------------------------------------
def _plan_database(
    request: RestoreInput,
    there: Ports,
    points: list[RecoveryPoint],
    home: str,
    execution_name: str,
    now: datetime,
) -> DatabasePlan:
    """The newest copied snapshot (or the one asked for), restored into the DB subnet group of
    the same name in that region, with the security groups of the same names in its VPC (or
    those asked for) and the parameter group of the same name when there is one."""
    region = request.region or ""
    plan = planner.plan_database(request, None, points, [], execution_name, now)
    snapshots = [p for p in points if p.kind is Kind.RDS and p.database is not None]
    chosen = next((p for p in snapshots if p.recovery_point_id == plan.recovery_point_id), None)
    config = chosen.database if chosen and chosen.database else None
    name = plan.subnet_group
    group = there.rds_restore.subnet_group(name) if name else None
    if group is None:
        raise NoTargetError(
            f"no DB subnet group named {name!r} in {region}: nothing was restored. Create it "
            f"there (aws rds create-db-subnet-group --region {region} --db-subnet-group-name "
            f"{name} ..., with subnets of the DR VPC), then restore again."
        )
    vpc_id = str(group["VpcId"])
    zones = sorted({str(s["SubnetAvailabilityZone"]["Name"]) for s in group.get("Subnets", [])})
    if request.target_az is not None and request.target_az not in zones:
        raise InvalidInputError(
            "target_az",
            f"{request.target_az} has no subnet of DB subnet group {name} in {region}; "
            f"choose one of {zones}",
        )
    found = there.ec2_restore.security_groups(vpc_id)
    ids = config.security_group_ids if config else []
    names = config.security_group_names if config else []
    groups = _groups(request, ids, names, found, vpc_id)
    warnings = list(plan.warnings)
    parameter_group = plan.parameter_group
    if parameter_group and not there.rds_restore.parameter_group_exists(parameter_group):
        warnings.append(
            f"no DB parameter group named {parameter_group!r} in {region}: the engine's "
            "default parameter group is used; create it there and modify the database"
        )
        parameter_group = None
    if plan.multi_az:
        warnings.append("restored single-AZ: make it Multi-AZ once it runs (modify-db-instance)")
    return plan.model_copy(
        update={
            "target_az": request.target_az or (zones[0] if zones else None),
            "multi_az": False,
            "parameter_group": parameter_group,
            "security_group_ids": groups,
            "security_group_names": _names_of(groups, found),
            "vpc_id": vpc_id,
            "warnings": warnings,
            "not_done": [
                f"the original {plan.source_id} in {home} is not touched",
                "the application is not pointed at the new endpoint, and no DNS record is "
                "changed (runbook)",
            ],
        }
    )


# --- security groups ----------------------------------------------------------------------------
def _groups(
    request: RestoreInput,
    home_ids: list[str],
    home_names: list[str],
    groups: list[dict[str, Any]],
    vpc_id: str,
) -> list[str]:
    """The security groups asked for (they must be of the VPC), else the VPC's groups named
    as the original's were at backup."""
    ids = {g["GroupId"]: g["GroupName"] for g in groups}
    if request.security_groups:
        foreign = [g for g in request.security_groups if g not in ids]
        if foreign:
            raise InvalidInputError(
                "security_groups", f"{foreign} are not security groups of {vpc_id}"
            )
        return list(request.security_groups)
    if home_ids and (len(home_names) != len(home_ids) or not all(home_names)):
        raise InvalidInputError(
            "security_groups",
            "the names of the original's security groups were not recorded with this "
            f"recovery point: pass --security-group with groups of {vpc_id}",
        )
    by_name = {name: gid for gid, name in ids.items()}
    missing = [n for n in home_names if n not in by_name]
    if missing:
        raise InvalidInputError(
            "security_groups",
            f"no security group named {missing} in {vpc_id}: create it, or pass "
            "--security-group with groups of that VPC",
        )
    return [by_name[n] for n in home_names]


def _names_of(group_ids: list[str], groups: list[dict[str, Any]]) -> list[str]:
    names = {g["GroupId"]: str(g.get("GroupName", "")) for g in groups}
    return [names.get(g, "") for g in group_ids]


# --- an earlier restore there -------------------------------------------------------------------
def restored_in_key(region: str, resource_id: str) -> str:
    return f"RESTORED-IN#{region}#{resource_id}"


def record_restored_in(
    catalog: CatalogPort,
    plan: InstancePlan | DatabasePlan,
    launched: Launched,
    execution_arn: str,
    now: datetime,
) -> None:
    """What stands for the server (or database) in that region now (the home lineage is left
    as it is: the home original was never replaced there)."""
    catalog.put_record(
        restored_in_key(plan.region or "", plan.source_id),
        "LATEST",
        {"by": launched.id, "kind": launched.kind, "execution_arn": execution_arn, "at": iso(now)},
    )


def earlier_restore(request: RestoreInput, chain: list[str], ports: Ports) -> list[str]:
    """A finished restore of this server (or database) in that region whose replacement still
    stands there is refused (a second one would run beside it), unless forced (then a
    warning). Checked before the cooldown: its message says more."""
    region = request.region or ""
    there = in_region(ports, region)
    for member in chain:
        for record in ports.catalog.records(restored_in_key(region, member)):
            replacement, kind = str(record.get("by")), record.get("kind")
            state = _state_there(there, kind, replacement)
            if state is None:
                continue
            message = (
                f"{request.resource_id} was already restored in {region} as {replacement} "
                f"({state}; {record.get('at')}, {record.get('execution_arn')})"
            )
            if request.force:
                return [f"{message}: --force restores another one beside it"]
            raise InvalidInputError(
                "region", f"{message}: use it, or pass --force to restore another one beside it"
            )
    return []


def _state_there(there: Ports, kind: Any, resource_id: str) -> str | None:
    """The state of an earlier replacement in that region; None when it is gone."""
    if kind == "db":
        db = there.rds.describe_db(resource_id)
        state = str(db.get("DBInstanceStatus", "unknown")) if db else None
    else:
        instance = there.ec2_restore.instance(resource_id)
        state = str(instance["State"]["Name"]) if instance else None
    return None if state is None or state in GONE else state
