"""A restore in another region (README "Region lost: runbook"): from the copies of the
server's (or database's) recovery points in that region, into a same-tier subnet of a VPC
there, with the security groups of the same names in that VPC (or those asked for).

The home region is presumed lost: its original is never described, fenced, stopped or
touched, and addresses, target groups and DNS are not moved across regions (the plan says so
in its warnings). Every later stage works in the plan's region (:func:`in_region`)."""

from __future__ import annotations

from datetime import datetime

from lifeboat import tags as T
from lifeboat.errors import InvalidInputError, NoTargetError
from lifeboat.models import InstanceConfig, RecoveryPoint
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.restore import planner
from lifeboat.restore.models import DatabasePlan, InstancePlan, RestoreInput

NOT_MOVED = (
    "restored in {region} from copies: the original in {home} is not fenced or stopped, and "
    "its Elastic IP, target groups and DNS are not moved across regions (see the runbook)"
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
    if not any(p.status.value == "completed" for p in points):
        raise InvalidInputError(
            "region",
            f"{request.resource_id} has no completed copy in {region}: its rule's copy_to "
            f"must name {region} (lifeboat copies status)",
        )
    if request.db_instance_id:
        zones = there.ec2_restore.availability_zones() if request.target_az is None else []
        database = planner.plan_database(request, None, points, zones, execution_name, now)
        plan: InstancePlan | DatabasePlan = database.model_copy(
            update={
                "security_group_ids": list(request.security_groups),
                "multi_az": False,
                "parameter_group": None,
                "warnings": [*database.warnings, *_database_warnings(request, region)],
            }
        )
    else:
        plan = _plan_instance(request, plans, there, points)
    home = ports.home_region
    return plan.model_copy(
        update={
            "region": region,
            "same_az": False,
            "warnings": [NOT_MOVED.format(region=region, home=home), *plan.warnings],
        }
    )


def _database_warnings(request: RestoreInput, region: str) -> list[str]:
    if request.security_groups:
        return []
    return [
        f"no --security-group given: the database gets the default security group of its "
        f"DB subnet group's VPC in {region}"
    ]


def _plan_instance(
    request: RestoreInput, plans: PlanSet, there: Ports, points: list[RecoveryPoint]
) -> InstancePlan:
    chosen, config = planner.image_point(request, None, points)
    subnets = there.ec2_restore.region_subnets()
    vpc_id = _vpc(request, config, subnets, request.region or "")
    groups = _groups(request, config, there.ec2_restore.security_groups(vpc_id), vpc_id)
    moved = config.model_copy(
        update={
            "vpc_id": vpc_id,
            "subnet_id": None,
            "security_group_ids": groups,
            "elastic_ip": None,
            "target_groups": [],
            "key_name": None,
        }
    )
    translated = [p.model_copy(update={"instance": moved}) if p is chosen else p for p in points]
    in_vpc = [s for s in subnets if s.get("VpcId") == vpc_id]
    plan = planner.plan_instance(request, None, translated, in_vpc, plans)
    warning = (
        f"launched without the key pair {config.key_name!r} (key pairs are per region): "
        "connect with SSM Session Manager"
        if config.key_name
        else None
    )
    return plan.model_copy(update={"warnings": [w for w in [*plan.warnings, warning] if w]})


def _vpc(
    request: RestoreInput, config: InstanceConfig, subnets: list[dict[str, str]], region: str
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
    vpcs = sorted(
        {
            s["VpcId"]
            for s in subnets
            if T.subnet_tier(T.to_dict(s.get("Tags")), s["AvailabilityZone"]) == tier  # type: ignore[arg-type]
        }
    )
    if len(vpcs) != 1:
        found = f"VPCs {vpcs} have" if vpcs else "no VPC has"
        raise NoTargetError(
            f"{found} a subnet of tier {tier!r} in {region}: nothing was launched. "
            "Pass --target-subnet SUBNET (a subnet of that region)."
        )
    return vpcs[0]


def _groups(
    request: RestoreInput, config: InstanceConfig, groups: list[dict[str, str]], vpc_id: str
) -> list[str]:
    """The security groups asked for (they must be of the VPC), else the VPC's groups named
    as the original's were."""
    ids = {g["GroupId"]: g["GroupName"] for g in groups}
    if request.security_groups:
        foreign = [g for g in request.security_groups if g not in ids]
        if foreign:
            raise InvalidInputError(
                "security_groups", f"{foreign} are not security groups of {vpc_id}"
            )
        return list(request.security_groups)
    if not config.security_group_names:
        raise InvalidInputError(
            "security_groups",
            "this recovery point predates recorded security group names: pass "
            f"--security-group with groups of {vpc_id}",
        )
    by_name = {name: gid for gid, name in ids.items()}
    missing = [n for n in config.security_group_names if n not in by_name]
    if missing:
        raise InvalidInputError(
            "security_groups",
            f"no security group named {missing} in {vpc_id}: create it, or pass "
            "--security-group with groups of that VPC",
        )
    return [by_name[n] for n in config.security_group_names]
