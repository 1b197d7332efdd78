"""Reading the fleet for the report, through the ports (client side: the CLI's credentials)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifeboat import tags as T
from lifeboat.alarms import PREFIX
from lifeboat.asg.members import standalone
from lifeboat.asg.membership import group_of
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.prune.decommissioned import GONE_PK
from lifeboat.report.models import DEFAULT_MARGIN_SECONDS, FleetInputs
from lifeboat.restore.lineage import lineage
from lifeboat.timeutil import parse_iso


def gather(
    ports: Ports,
    plans: PlanSet,
    plan_names: list[str],
    now: datetime,
    margin_seconds: int = DEFAULT_MARGIN_SECONDS,
) -> FleetInputs:
    found = sorted({i for plan in plan_names for i in ports.ec2.discover_instances(plan)})
    # Members of Auto Scaling groups are shown as their group, never one by one.
    instance_ids = standalone(found, ports)
    instances = {
        iid: described
        for iid, described in (
            ports.ec2.describe_instances(instance_ids) if instance_ids else {}
        ).items()
        if group_of(T.to_dict(described.get("Tags"))) is None
    }
    instance_ids = sorted(instances)
    volume_ids = [
        m["Ebs"]["VolumeId"]
        for d in instances.values()
        for m in d.get("BlockDeviceMappings", [])
        if m.get("Ebs")
    ]
    points = [
        p
        for plan in plan_names
        for p in ports.catalog.points_for_plan(plan, sorted(plans.plan(plan).rules))
    ]
    vpcs = sorted(
        {str(d["VpcId"]) for d in instances.values() if d.get("VpcId")}
        | {p.instance.vpc_id for p in points if p.instance and p.instance.vpc_id}
    )
    types = sorted({str(d["InstanceType"]) for d in instances.values()})
    protected_dbs = {
        db_id: (plan, kind) for plan in plan_names for kind, db_id in ports.rds.discover(plan)
    }
    clusters = {  # as DescribeDBClusters gives them: members, writer, AZs
        db_id: described
        for db_id, (_plan, kind) in sorted(protected_dbs.items())
        if kind == "cluster" and (described := ports.rds.describe_cluster(db_id)) is not None
    }
    snapshots: list[dict[str, Any]] = [
        s for plan in plan_names for s in ports.ec2.managed_snapshots(plan)
    ]
    return FleetInputs(
        now=now,
        plans=plans,
        plan_names=plan_names,
        instances=instances,
        volumes=ports.ec2.volumes(volume_ids) if volume_ids else {},
        subnets={vpc: ports.ec2.vpc_subnets(vpc) for vpc in vpcs},
        neighbours=ports.ec2.vpc_instances(vpcs),
        instance_storage=ports.ec2.instance_storage(types) if types else {},
        databases=ports.rds.databases(),
        protected_dbs=protected_dbs,
        points=points,
        alarms={a["AlarmName"] for a in ports.alarms.alarms(PREFIX)},
        drills={plan: ports.catalog.records(f"DRILL#{plan}") for plan in plan_names},
        snapshots=snapshots,
        margin_seconds=margin_seconds,
        # a replacement stands for the server: its recovery points are its lineage's
        lineages={iid: lineage(ports.catalog, iid) for iid in instance_ids},
        clusters=clusters,
        gone={str(r["sk"]): parse_iso(str(r["since"])) for r in ports.catalog.records(GONE_PK)},
        groups=[g for plan in plan_names for g in ports.groups.groups_for_plan(plan)]
        if ports.groups is not None
        else [],
    )
