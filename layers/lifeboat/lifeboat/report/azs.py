""" "If this AZ failed now": for each AZ, the protected servers and databases in it, whether
each can be restored elsewhere, the RPO it would get and the RTO last measured. Servers go
through the restore planner itself (:mod:`lifeboat.restore.planner`: its AMI point, volume
overlay and same-tier subnet matching), so the report says what a restore would do. An Aurora
cluster with an instance in the AZ fails over to a reader in another AZ, or, when all its
instances are there, is restored from its newest cluster snapshot into another AZ."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from lifeboat.errors import InvalidInputError, NoTargetError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind
from lifeboat.report.models import AzFailure, AzRow, Drill, FleetInputs, Rag
from lifeboat.restore.models import RestoreInput
from lifeboat.restore.planner import (
    SourceInstance,
    completed,
    data_not_restored,
    image_point,
    plan_candidates,
    plan_volumes,
)
from lifeboat.tags import PLAN, to_dict


def az_failures(
    inputs: FleetInputs,
    points: Mapping[str, list[RecoveryPoint]],
    drills: Mapping[str, list[Drill]],
) -> list[AzFailure]:
    failures: list[AzFailure] = []
    databases = {d.get("DBInstanceIdentifier"): d for d in inputs.databases}
    members = {cid: cluster_members(c, databases) for cid, c in sorted(inputs.clusters.items())}
    for az in _zones(inputs, members):
        servers = [
            _with_drill(
                server_row(iid, described, az, inputs, points.get(iid, []), drills.get(iid, [])),
                list(drills.get(iid, [])),
            )
            for iid, described in sorted(inputs.instances.items())
            if described.get("Placement", {}).get("AvailabilityZone") == az
        ]
        dbs = [
            _with_drill(
                database_row(db_id, databases[db_id], az, inputs, points.get(db_id, []), drills),
                list(drills.get(db_id, [])),
            )
            for db_id, (_plan, kind) in sorted(inputs.protected_dbs.items())
            if kind == "db" and db_id in databases and _in_az(databases[db_id], az)
        ]
        dbs += [
            _with_drill(
                cluster_row(
                    cid, inputs.clusters[cid], mine, az, inputs, points.get(cid, []), drills
                ),
                list(drills.get(cid, [])),
            )
            for cid, mine in members.items()
            if any(m.availability_zone == az for m in mine)
        ]
        failures.append(
            AzFailure(
                availability_zone=az, status=_rag(servers + dbs), servers=servers, databases=dbs
            )
        )
    return failures


def _zones(inputs: FleetInputs, members: Mapping[str, list[Member]]) -> list[str]:
    zones = {s["AvailabilityZone"] for subnets in inputs.subnets.values() for s in subnets}
    zones |= {d.get("Placement", {}).get("AvailabilityZone", "") for d in inputs.instances.values()}
    for db in inputs.databases:
        if db.get("DBInstanceIdentifier") in inputs.protected_dbs:
            zones |= {db.get("AvailabilityZone") or "", db.get("SecondaryAvailabilityZone") or ""}
    zones |= {m.availability_zone for mine in members.values() for m in mine}
    return sorted(z for z in zones if z)


def _in_az(db: dict[str, Any], az: str) -> bool:
    return az in (db.get("AvailabilityZone"), db.get("SecondaryAvailabilityZone"))


def _rag(rows: list[AzRow]) -> Rag:
    """Red: a row cannot be restored, or its newest drill failed (the last time it was tried,
    it did not come back); amber: no RTO measured, or a problem; green otherwise."""
    if any(not r.restorable or r.last_drill in FAILED_DRILL for r in rows):
        return "red"
    if any(r.rto_seconds is None or r.problems for r in rows):
        return "amber"
    return "green"


FAILED_DRILL = ("failed", "unhealthy")


def _rto(drills: list[Drill]) -> float | None:
    """The RTO of the newest drill of the resource, and only of that one: a drill that failed
    after an older one passed says the restore does not work now (no RTO)."""
    newest = drills[0] if drills else None
    return newest.rto_seconds if newest is not None and newest.result == "healthy" else None


def drill_verdict(drills: list[Drill]) -> dict[str, Any]:
    """The newest drill's result, and its failure as a problem of the row."""
    newest = drills[0] if drills else None
    if newest is None:
        return {"last_drill": None, "rto_seconds": None}
    verdict: dict[str, Any] = {"last_drill": newest.result, "rto_seconds": _rto(drills)}
    if newest.result in FAILED_DRILL:
        when = f" on {newest.started_at:%Y-%m-%d %H:%M}" if newest.started_at else ""
        why = f": {newest.error}" if newest.error else ""
        verdict["problem"] = f"latest drill {newest.result}{when} ({newest.execution}){why}"
    return verdict


def _with_drill(row: AzRow, drills: list[Drill]) -> AzRow:
    verdict = drill_verdict(drills)
    problems = [*row.problems, *([verdict["problem"]] if "problem" in verdict else [])]
    return row.model_copy(
        update={
            "last_drill": verdict["last_drill"],
            "rto_seconds": verdict["rto_seconds"],
            "problems": problems,
        }
    )


def server_row(
    iid: str,
    described: dict[str, Any],
    az: str,
    inputs: FleetInputs,
    points: list[RecoveryPoint],
    drills: list[Drill],
) -> AzRow:
    """What the restore planner would do for ``iid`` if ``az`` failed now."""
    tags = to_dict(described.get("Tags"))
    plan = inputs.plans.plans.get(tags.get(PLAN, ""))
    row = AzRow(
        id=iid,
        type="instance",
        name=tags.get("Name", iid),
        restorable=False,
        how="",
        fallback_instance_types=list(plan.fallback_instance_types) if plan else [],
        rto_seconds=_rto(drills),
    )
    request = RestoreInput(instance_id=iid)
    try:
        chosen, config = image_point(request, SourceInstance.of(described), points)
    except InvalidInputError as exc:
        return row.model_copy(
            update={"how": "no restore possible", "problems": [f"no AMI: {exc.message}"]}
        )
    volumes = plan_volumes(chosen, completed(points), overlay=True)
    data = bool(volumes) and all(v.snapshot_id for v in volumes)
    data_volumes = [v for v in volumes if v.device_name != config.root_device_name] or volumes
    taken = min((v.taken_at for v in data_volumes), default=chosen.created_at)
    problems = [] if data else ["the AMI point has no complete volume set"]
    # Data a restore would not bring back (a volume attached after the newest backup, …)
    problems += data_not_restored(chosen, points, volumes, described)
    try:
        subnets = inputs.subnets.get(config.vpc_id or "", [])
        candidates = plan_candidates(request, config, az, subnets)
    except (NoTargetError, InvalidInputError) as exc:
        candidates = []
        problems.append(str(exc).split(": nothing was launched")[0])
    if not row.fallback_instance_types:
        problems.append("no capacity fallbacks configured in the plan (fallback_instance_types)")
    target_azs = list(dict.fromkeys(c.availability_zone for c in candidates))
    first = candidates[0] if candidates else None
    return row.model_copy(
        update={
            "restorable": bool(candidates) and data,
            "how": (
                f"restore {chosen.image_id} into {first.availability_zone} ({first.subnet_id})"
                if first
                else "no same-tier subnet in another AZ"
            ),
            "target_azs": target_azs,
            "image": True,
            "data": data,
            "rpo_seconds": int((inputs.now - taken).total_seconds()),
            "problems": problems,
            "artifacts": [a for a in [chosen.image_id, *(v.snapshot_id for v in volumes)] if a],
        }
    )


def database_row(
    db_id: str,
    db: dict[str, Any],
    az: str,
    inputs: FleetInputs,
    points: list[RecoveryPoint],
    drills: Mapping[str, list[Drill]],
) -> AzRow:
    """A Multi-AZ database fails over; a single-AZ one is restored from its newest snapshot
    (or its automated backups) into another AZ of its subnet group."""
    name = to_dict(db.get("TagList")).get("Name", db_id)
    rto = _rto(list(drills.get(db_id, [])))
    if db.get("MultiAZ"):
        return AzRow(
            id=db_id, type="db", name=name, restorable=True, how="Multi-AZ failover to the standby",
            target_azs=[z for z in _group_zones(db) if z != az], data=True, rpo_seconds=0,
            rto_seconds=rto,
        )  # fmt: skip
    snapshots = [
        p for p in points
        if p.kind is Kind.RDS and p.status is PointStatus.COMPLETED and p.db_snapshot_id
    ]  # fmt: skip
    ages = [int((inputs.now - p.created_at).total_seconds()) for p in snapshots]
    latest = db.get("LatestRestorableTime")
    if int(db.get("BackupRetentionPeriod") or 0) > 0 and latest is not None:
        ages.append(int((inputs.now - latest).total_seconds()))
    others = [z for z in _group_zones(db) if z != az]
    problems = [] if ages else ["no completed snapshot and no automated backups"]
    if not others:
        problems.append(f"the DB subnet group has no subnet outside {az}")
    newest = max(snapshots, key=lambda p: p.created_at) if snapshots else None
    return AzRow(
        id=db_id,
        type="db",
        name=name,
        restorable=bool(ages) and bool(others),
        how=(
            f"restore {newest.db_snapshot_id if newest else 'to the latest restorable time'}"
            f" into {others[0]}"
            if others
            else "no other AZ in the DB subnet group"
        ),
        target_azs=others,
        image=bool(snapshots),
        data=bool(ages),
        rpo_seconds=max(0, min(ages)) if ages else None,
        rto_seconds=rto,
        problems=problems,
        artifacts=[newest.db_snapshot_id] if newest and newest.db_snapshot_id else [],
    )


class Member(NamedTuple):
    """One DB instance of an Aurora cluster, where it runs."""

    id: str
    availability_zone: str
    writer: bool
    promotion_tier: int
    subnet_zones: list[str]


def cluster_members(
    cluster: dict[str, Any], databases: Mapping[Any, dict[str, Any]]
) -> list[Member]:
    """The cluster's instances (``DBClusterMembers``) with their AZs (``DescribeDBInstances``);
    an instance not described (being deleted) is left out."""
    found: list[Member] = []
    for member in cluster.get("DBClusterMembers") or []:
        described = databases.get(member.get("DBInstanceIdentifier"))
        if described is None or not described.get("AvailabilityZone"):
            continue
        found.append(
            Member(
                id=str(member["DBInstanceIdentifier"]),
                availability_zone=str(described["AvailabilityZone"]),
                writer=bool(member.get("IsClusterWriter")),
                promotion_tier=int(member.get("PromotionTier", 1)),
                subnet_zones=_group_zones(described),
            )
        )
    return sorted(found, key=lambda m: m.id)


def cluster_row(
    cluster_id: str,
    cluster: dict[str, Any],
    members: list[Member],
    az: str,
    inputs: FleetInputs,
    points: list[RecoveryPoint],
    drills: Mapping[str, list[Drill]],
) -> AzRow:
    """With an instance outside ``az`` the cluster goes on: its writer there keeps serving, or
    Aurora promotes a reader there (the lowest promotion tier first); with all its instances in
    ``az`` it is restored from its newest completed cluster snapshot into another AZ."""
    row = AzRow(
        id=cluster_id,
        type="cluster",
        name=to_dict(cluster.get("TagList")).get("Name", cluster_id),
        restorable=False,
        how="",
        rto_seconds=_rto(list(drills.get(cluster_id, []))),
    )
    lost = [m for m in members if m.availability_zone == az]
    survivors = [m for m in members if m.availability_zone != az]
    if not survivors:
        return _cluster_restore(row, cluster, members, az, inputs, points)
    writer = next((m for m in survivors if m.writer), None)
    if writer is not None:
        how = (
            f"the writer {writer.id} in {writer.availability_zone} is not affected; "
            f"it loses {', '.join(m.id for m in lost)}"
        )
    else:
        reader = min(survivors, key=lambda m: (m.promotion_tier, m.id))
        how = f"Aurora fails over to reader {reader.id} in {reader.availability_zone}"
    return row.model_copy(
        update={
            "restorable": True,
            "how": how,
            "target_azs": sorted({m.availability_zone for m in survivors}),
            "data": True,
            "rpo_seconds": 0,
        }
    )


def _cluster_restore(
    row: AzRow,
    cluster: dict[str, Any],
    members: list[Member],
    az: str,
    inputs: FleetInputs,
    points: list[RecoveryPoint],
) -> AzRow:
    snapshots = [
        p for p in points
        if p.kind is Kind.RDS and p.status is PointStatus.COMPLETED and p.db_cluster_snapshot_id
    ]  # fmt: skip
    newest = max(snapshots, key=lambda p: p.created_at) if snapshots else None
    zones = {z for m in members for z in m.subnet_zones} or set(
        cluster.get("AvailabilityZones") or []
    )
    others = sorted(z for z in zones if z != az)
    problems = [] if others else [f"the DB subnet group has no subnet outside {az}"]
    if newest is None:
        latest = cluster.get("LatestRestorableTime")
        problems.insert(
            0,
            "no completed cluster snapshot"
            + (f" (Aurora's own backups reach {latest:%Y-%m-%d %H:%M}: a point-in-time "
               "restore by hand)" if latest is not None else ""),
        )  # fmt: skip
    else:
        problems.append(
            "lifeboat restore restores DB instances, not Aurora clusters: restore by hand "
            "(RestoreDBClusterFromSnapshot, then CreateDBInstance)"
        )
    return row.model_copy(
        update={
            "restorable": newest is not None and bool(others),
            "how": (
                f"restore {newest.db_cluster_snapshot_id if newest else 'a cluster snapshot'}"
                f" into {others[0]}"
                if others
                else "no other AZ in the DB subnet group"
            ),
            "target_azs": others,
            "image": newest is not None,
            "data": newest is not None,
            "rpo_seconds": (
                int((inputs.now - newest.created_at).total_seconds()) if newest else None
            ),
            "problems": problems,
            "artifacts": [newest.db_cluster_snapshot_id]
            if newest and newest.db_cluster_snapshot_id
            else [],
        }
    )


def _group_zones(db: dict[str, Any]) -> list[str]:
    subnets = (db.get("DBSubnetGroup") or {}).get("Subnets", [])
    return sorted(
        {
            str(s.get("SubnetAvailabilityZone", {}).get("Name"))
            for s in subnets
            if s.get("SubnetAvailabilityZone", {}).get("Name")
        }
    )
