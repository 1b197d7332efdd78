"""Planning an AZ evacuation: which members the failed AZ affects, one recovery time T for the
application, and what each member gets (today's restore for an instance, a point-in-time
restore or a failover for the database, a zonal shift or fewer subnets for a group).

T, by default, is the newest instant every affected resource can be brought back to: the
newest data of each instance (its AMI and the newest EBS set over it, as a restore takes
them), the database's latest restorable time (its newest snapshot without automated
backups); ``at`` chooses another. Each instance then comes back from its newest set at or
before T and the database to T exactly when its automated backups cover T. What keeps its
data (a Multi-AZ failover, an Aurora failover, a group) does not bound T."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from lifeboat import tags as T
from lifeboat.apps.evacuation import (
    Action,
    EndpointPlan,
    EvacuateInput,
    EvacuationPlan,
    MemberStep,
    TierPlan,
)
from lifeboat.apps.history import replaced_by
from lifeboat.apps.members import Found, application, check_application, find_members
from lifeboat.apps.models import Application, Member, MemberKind
from lifeboat.apps.moves import cluster_move, group_move
from lifeboat.errors import InvalidInputError
from lifeboat.models import PointStatus, RecoveryPoint
from lifeboat.plans import Kind, PlanSet
from lifeboat.ports import Ports
from lifeboat.restore import planner
from lifeboat.restore.lineage import lineage
from lifeboat.restore.models import DatabasePlan, InstancePlan, RestoreInput
from lifeboat.timeutil import iso

NOT_AUTOMATED = [
    "writes made after each resource's point are not brought back (the plan shows each point)",
    "the originals in the failed AZ are fenced and stopped, never terminated: delete them (and a "
    "replaced single-AZ database) yourself once the AZ is back and nothing is missing",
    "a restored database is kept when the evacuation is rolled back (never deleted by Lifeboat)",
    "the application's own health (HTTP checks, logins) is not verified: EC2 status checks and "
    "RDS availability only",
]


def member_identity(execution_name: str, execution_arn: str, resource_id: str) -> tuple[str, str]:
    """A member's own execution name and ARN inside the evacuation (fence tag, client tokens,
    the replacement's ``lifeboat:restore-execution`` tag)."""
    digest = hashlib.sha256(resource_id.encode()).hexdigest()[:8]
    return f"{execution_name[:71]}-{digest}", f"{execution_arn}/{resource_id}"


def plan_evacuation(
    request: EvacuateInput,
    plans: PlanSet,
    ports: Ports,
    now: datetime,
    execution_name: str,
    execution_arn: str,
) -> EvacuationPlan:
    plan_name, app = application(plans, request.app, request.plan)
    zones = ports.ec2_restore.availability_zones()
    if request.az not in zones:
        raise InvalidInputError("az", f"{request.az} is not an AZ of this region: {zones}")
    if request.at is not None and request.at > now:
        raise InvalidInputError("at", f"{iso(request.at)} is in the future")
    found = find_members(plan_name, app, ports)
    check_application(request.app, app, found.members, ports)
    planning = _Planning(request, plans, ports, now, execution_name, execution_arn, found)
    steps, unaffected = planning.steps(app)
    recovery_time = planning.recovery_time
    tiers = []
    for tier in app.order:
        members = [s for s in steps if s.tier == tier]
        if members:
            points = [s.point_at for s in members if s.point_at is not None]
            tiers.append(TierPlan(tier=tier, steps=members, point_at=min(points, default=None)))
    tier_points = [t.point_at for t in tiers if t.point_at is not None]
    skew = int((max(tier_points) - min(tier_points)).total_seconds()) if tier_points else 0
    return EvacuationPlan(
        app=request.app,
        plan=plan_name,
        az=request.az,
        execution_name=execution_name,
        recovery_time=recovery_time,
        recovery_time_chosen="at" if request.at else "newest",
        skew_seconds=skew,
        tiers=tiers,
        unaffected=unaffected,
        endpoint=planning.endpoint,
        not_automated=[*NOT_AUTOMATED, *planning.not_automated],
        warnings=planning.warnings,
        dry_run=request.dry_run,
        proposed=request.dry_run and request.notify,
        command=f"lifeboat recover --app {request.app} --az {request.az}"
        + (f" --plan {plan_name}" if request.plan else ""),
    )


class _Planning:
    def __init__(
        self,
        request: EvacuateInput,
        plans: PlanSet,
        ports: Ports,
        now: datetime,
        execution_name: str,
        execution_arn: str,
        found: Found,
    ) -> None:
        self.request = request
        self.plans = plans
        self.ports = ports
        self.now = now
        self.name = execution_name
        self.arn = execution_arn
        self.found = found
        self.endpoint: EndpointPlan | None = None
        self.not_automated: list[str] = []
        self.warnings: list[str] = []
        self.recovery_time = request.at or now

    def identity(self, resource_id: str) -> tuple[str, str]:
        return member_identity(self.name, self.arn, resource_id)

    def base(self, member: Member, action: Action, **extra: object) -> MemberStep:
        name, arn = self.identity(member.resource_id)
        return MemberStep.model_validate(
            {
                "resource_id": member.resource_id,
                "kind": member.kind,
                "tier": member.tier,
                "name": member.name,
                "action": action,
                "source_az": self.request.az,
                "execution_name": name,
                "execution_arn": arn,
                **extra,
            }
        )

    # --- which members, and what each gets -------------------------------------------------
    def steps(self, app: Application) -> tuple[list[MemberStep], list[str]]:
        az = self.request.az
        instances: list[Member] = []
        databases: list[Member] = []
        steps: list[MemberStep] = []
        unaffected: list[str] = []
        for member in self.found.members:
            if member.kind is MemberKind.INSTANCE and az in member.availability_zones:
                instances.append(member)
            elif (
                member.kind is MemberKind.DB
                and az in member.availability_zones
                and not self.replaced(member, app)
            ):
                databases.append(member)
            elif member.kind is MemberKind.CLUSTER:
                step = self.cluster_step(member)
                (steps.append(step) if step else unaffected.append(member.resource_id))
            elif member.kind is MemberKind.ASG:
                step = self.group_step(member)
                (steps.append(step) if step else unaffected.append(member.resource_id))
            else:
                unaffected.append(member.resource_id)
        # T: the newest instant every affected instance and restored database can reach.
        newest = {m.resource_id: self.newest_instance(m) for m in instances}
        single = [m for m in databases if not self.found.databases[m.resource_id].get("MultiAZ")]
        newest.update({m.resource_id: self.newest_database(m) for m in single})
        if self.request.at is None and newest:
            self.recovery_time = min(newest.values())
        steps += [self.instance_step(m) for m in instances]
        for member in databases:
            if member in single:
                steps.append(self.database_step(member, app))
            else:
                steps.append(self.failover_step(member))
        order = {tier: i for i, tier in enumerate(app.order)}
        steps.sort(key=lambda s: (order[s.tier], s.resource_id))
        for step in steps:
            if step.point_at is not None:
                behind = int((self.recovery_time - step.point_at).total_seconds())
                step.behind_seconds = max(behind, 0)
        return steps, sorted(unaffected)

    def replaced(self, member: Member, app: Application) -> bool:
        by = replaced_by(self.request.app, self.request.az, member.resource_id, app, self.ports)
        if by is not None:
            self.warnings.append(
                f"{member.resource_id} was replaced by evacuation {by} (the application's "
                "endpoint names its restored copy, which holds the writes since): not "
                "restored again"
            )
        return by is not None

    # --- instances: today's restore, from the newest set at or before T --------------------
    def _instance_inputs(
        self, member: Member
    ) -> tuple[RestoreInput, list[str], list[RecoveryPoint], planner.SourceInstance]:
        chain = lineage(self.ports.catalog, member.resource_id)
        points = [p for s in chain for p in self.ports.catalog.points_for_resource(s)]
        request = RestoreInput(
            instance_id=member.resource_id,
            avoid_azs=[self.request.az],
            reason=self.request.reason,
            requested_by=self.request.requested_by,
        )
        original = planner.SourceInstance.of(self.found.instances[member.resource_id])
        return request, chain, points, original

    def _plan_instance(self, member: Member, before: datetime | None) -> InstancePlan:
        request, _chain, points, original = self._instance_inputs(member)
        if before is not None:
            points = [p for p in points if p.created_at <= before]
            if not any(p.kind is Kind.AMI and p.status is PointStatus.COMPLETED for p in points):
                raise InvalidInputError(
                    "at",
                    f"{member.name or member.resource_id} has no recovery point at or before "
                    f"{iso(before)}: choose a later --at",
                )
        _, config = planner.image_point(request, original, points)
        subnets = self.ports.ec2_restore.vpc_subnets(config.vpc_id) if config.vpc_id else []
        return planner.plan_instance(request, original, points, subnets, self.plans)

    def newest_instance(self, member: Member) -> datetime:
        return self._plan_instance(member, self.request.at).data_taken_at

    def instance_step(self, member: Member) -> MemberStep:
        plan = self._plan_instance(member, self.recovery_time)
        _request, chain, _points, _original = self._instance_inputs(member)
        plan = plan.model_copy(update={"lineage": chain, "locked": chain})
        sources = sorted({v.source for v in plan.volumes})
        return self.base(
            member,
            Action.RESTORE_INSTANCE,
            restore=plan,
            point_at=plan.data_taken_at,
            point=f"{iso(plan.data_taken_at)} ({', '.join(sources)})",
        )

    # --- databases --------------------------------------------------------------------------
    def _source_database(self, member: Member) -> planner.SourceDatabase:
        described = self.found.databases[member.resource_id]
        return planner.SourceDatabase(
            config=self.ports.rds.db_config(described),
            tags=T.to_dict(described.get("TagList")),
            backup_retention_days=described.get("BackupRetentionPeriod") or 0,
            latest_restorable=described.get("LatestRestorableTime"),
        )

    def _snapshots(self, member: Member) -> list[RecoveryPoint]:
        return [
            p
            for p in self.ports.catalog.points_for_resource(member.resource_id)
            if p.kind is Kind.RDS and p.status is PointStatus.COMPLETED and p.db_snapshot_id
        ]

    def newest_database(self, member: Member) -> datetime:
        source = self._source_database(member)
        if source.backup_retention_days and source.latest_restorable is not None:
            latest = source.latest_restorable
            return latest if self.request.at is None else min(latest, self.request.at)
        ceiling = self.request.at or self.now
        snapshots = [p.created_at for p in self._snapshots(member) if p.created_at <= ceiling]
        if not snapshots:
            raise InvalidInputError(
                "db_instance_id",
                f"{member.resource_id} has neither automated backups nor a snapshot at or "
                f"before {iso(ceiling)}",
            )
        return max(snapshots)

    def _covers(self, source: planner.SourceDatabase, moment: datetime) -> bool:
        latest = source.latest_restorable
        if not source.backup_retention_days or latest is None:
            return False
        earliest = self.now - timedelta(days=source.backup_retention_days)
        return earliest <= moment <= latest

    def _healthy_zone(self, config_subnet_group: str | None) -> str | None:
        group = (
            self.ports.rds_restore.subnet_group(config_subnet_group)
            if config_subnet_group
            else None
        )
        zones = sorted(
            {
                s.get("SubnetAvailabilityZone", {}).get("Name", "")
                for s in (group or {}).get("Subnets", [])
            }
            - {"", self.request.az}
        )
        return zones[0] if zones else None

    def database_step(self, member: Member, app: Application) -> MemberStep:
        source = self._source_database(member)
        name, _arn = self.identity(member.resource_id)
        zone = self._healthy_zone(source.config.subnet_group)
        if zone is None:
            raise InvalidInputError(
                "db_instance_id",
                f"DB subnet group {source.config.subnet_group} of {member.resource_id} has no "
                f"subnet outside {self.request.az}: add one in another AZ",
            )
        moment = self.recovery_time
        latest = source.latest_restorable
        if latest is not None and self._covers(source, min(moment, latest)):
            # T after its latest restorable time (--at): its newest instant before T, as an
            # instance comes back from its newest set before T (never an older snapshot).
            reached = min(moment, latest)
            request = RestoreInput(db_instance_id=member.resource_id, restore_time=reached)
            point = (
                f"{iso(reached)} (point-in-time restore, exactly T)"
                if reached == moment
                else f"{iso(reached)} (point-in-time restore, its latest restorable time)"
            )
        else:
            snapshots = [p for p in self._snapshots(member) if p.created_at <= moment]
            if not snapshots:
                raise InvalidInputError(
                    "at", f"{member.resource_id} cannot be restored to {iso(moment)}"
                )
            chosen = max(snapshots, key=lambda p: p.created_at)
            request = RestoreInput(
                db_instance_id=member.resource_id, recovery_point=chosen.recovery_point_id
            )
            point = f"{iso(chosen.created_at)} (snapshot {chosen.db_snapshot_id})"
        request = request.model_copy(update={"target_az": zone})
        points = self.ports.catalog.points_for_resource(member.resource_id)
        plan: DatabasePlan = planner.plan_database(request, source, points, [], name, self.now)
        plan = plan.model_copy(update={"locked": [member.resource_id]})
        endpoint = self.endpoint_plan(app)
        if endpoint is None:
            self.not_automated.append(
                f"{member.resource_id} comes back as {plan.new_identifier} with a new endpoint "
                "and the application declares no database_endpoint: point it at the new one"
            )
        self.not_automated.append(
            f"{member.resource_id} in {self.request.az} is left as it is: if it comes back, "
            "its writes after T are not in the restored database"
        )
        return self.base(
            member,
            Action.RESTORE_DATABASE,
            restore=plan,
            endpoint=endpoint,
            point_at=plan.data_taken_at,
            point=point,
        )

    def endpoint_plan(self, app: Application) -> EndpointPlan | None:
        declared = app.database_endpoint
        if declared is None or self.ports.endpoints is None:
            return None
        if declared.route53 is not None:
            record = self.ports.endpoints.record(declared.route53.zone_id, declared.route53.name)
            if record is not None and record.type != "CNAME":
                raise InvalidInputError(
                    "database_endpoint.route53.name",
                    f"{declared.route53.name} is an {record.type} record: an RDS endpoint is a "
                    "host name, held by a CNAME record; make it a CNAME",
                )
            self.endpoint = EndpointPlan(
                route53=declared.route53,
                current=record.value if record else None,
                record_type=record.type if record else "CNAME",
                ttl=record.ttl if record else 60,
            )
        else:
            parameter = self.ports.endpoints.parameter(declared.ssm_parameter or "")
            self.endpoint = EndpointPlan(
                ssm_parameter=declared.ssm_parameter,
                current=parameter.value if parameter else None,
            )
        return self.endpoint

    def failover_step(self, member: Member) -> MemberStep:
        return self.base(
            member,
            Action.AWAIT_FAILOVER,
            point="live: a Multi-AZ failover keeps every committed write (same endpoint)",
            notes=["RDS fails a Multi-AZ instance over by itself: verified, nothing restored"],
        )

    def cluster_step(self, member: Member) -> MemberStep | None:
        found = cluster_move(member, self.request.az, self.ports)
        return self.base(member, Action.FAIL_OVER_CLUSTER, **found) if found else None

    def group_step(self, member: Member) -> MemberStep | None:
        group = self.found.groups[member.resource_id]
        found = group_move(group, self.request.az, self.ports)
        return self.base(member, found.pop("action"), **found) if found else None
