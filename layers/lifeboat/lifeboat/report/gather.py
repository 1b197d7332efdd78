"""Reading the fleet for the report, through the ports (client side: the CLI's credentials)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifeboat.alarms import PREFIX
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports
from lifeboat.report.models import DEFAULT_MARGIN_SECONDS, FleetInputs
from lifeboat.restore.lineage import lineage


def gather(
    ports: Ports,
    plans: PlanSet,
    plan_names: list[str],
    now: datetime,
    margin_seconds: int = DEFAULT_MARGIN_SECONDS,
) -> FleetInputs:
    instance_ids = sorted({i for plan in plan_names for i in ports.ec2.discover_instances(plan)})
    instances = ports.ec2.describe_instances(instance_ids) if instance_ids else {}
    volume_ids = [
        m["Ebs"]["VolumeId"]
        for d in instances.values()
        for m in d.get("BlockDeviceMappings", [])
        if m.get("Ebs")
    ]
    points = [
        p
        for plan in plan_names
        for p in ports.catalog.points_for_plan(plan, sorted(plans.plans[plan].rules))
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
    )
