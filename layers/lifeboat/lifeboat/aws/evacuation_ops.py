"""What an AZ evacuation changes besides today's restores: an Auto Scaling group's subnets
(``UpdateAutoScalingGroup``), ARC zonal shifts of a group, Aurora failovers; and the reads it
needs (AZ ids, subnets' AZs, databases and clusters as typed models)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.apps.resources import (
    ClusterMember,
    ClusterState,
    DatabaseState,
    ZonalShift,
)
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code

# An evacuation's zonal shift lasts until `recover --undo` cancels it; ARC allows at most
# three days, after which the shift expires by itself (the group then uses every AZ again).
SHIFT_EXPIRY = "3d"


def _shift(raw: dict[str, Any]) -> ZonalShift:
    return ZonalShift(
        shift_id=raw["zonalShiftId"],
        resource_identifier=raw.get("resourceIdentifier", ""),
        away_from=raw.get("awayFrom", ""),
        status=raw.get("status", "ACTIVE"),
        comment=raw.get("comment", ""),
    )


class EvacuationOps:
    def __init__(
        self,
        retrier: Retrier | None = None,
        ec2: Any = None,
        rds: Any = None,
        autoscaling: Any = None,
        arc: Any = None,
    ) -> None:
        self._clients = {"ec2": ec2, "rds": rds, "autoscaling": autoscaling, "arc": arc}
        self.retrier = retrier or Retrier()

    def _client(self, key: str, service: str) -> Any:
        # Made when first used: most tasks never call ARC or Auto Scaling.
        if self._clients[key] is None:
            self._clients[key] = client(service)
        return self._clients[key]

    @property
    def ec2(self) -> Any:
        return self._client("ec2", "ec2")

    @property
    def rds(self) -> Any:
        return self._client("rds", "rds")

    @property
    def autoscaling(self) -> Any:
        return self._client("autoscaling", "autoscaling")

    @property
    def arc(self) -> Any:
        return self._client("arc", "arc-zonal-shift")

    # --- reads -----------------------------------------------------------------------------
    @needs("ec2:DescribeAvailabilityZones")
    def zone_ids(self) -> dict[str, str]:
        zones = self.ec2.describe_availability_zones()["AvailabilityZones"]
        return {z["ZoneName"]: z["ZoneId"] for z in zones if z.get("ZoneId")}

    @needs("ec2:DescribeSubnets")
    def subnet_zones(self, subnet_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(subnet_ids), 200):
            pages = self.ec2.get_paginator("describe_subnets").paginate(
                SubnetIds=subnet_ids[start : start + 200]
            )
            for page in pages:
                found.update({s["SubnetId"]: s["AvailabilityZone"] for s in page["Subnets"]})
        return found

    @needs("rds:DescribeDBInstances")
    def database(self, identifier: str) -> DatabaseState | None:
        try:
            found = self.rds.describe_db_instances(DBInstanceIdentifier=identifier)
        except ClientError as exc:
            if error_code(exc) == "DBInstanceNotFound":
                return None
            raise
        db = found["DBInstances"][0]
        return DatabaseState(
            identifier=identifier,
            status=db.get("DBInstanceStatus", "unknown"),
            availability_zone=db.get("AvailabilityZone"),
            secondary_availability_zone=db.get("SecondaryAvailabilityZone"),
            multi_az=bool(db.get("MultiAZ")),
            endpoint=(db.get("Endpoint") or {}).get("Address"),
            cluster=db.get("DBClusterIdentifier"),
            tags=T.to_dict(db.get("TagList")),
        )

    @needs("rds:DescribeDBClusters", "rds:DescribeDBInstances")
    def cluster(self, identifier: str) -> ClusterState | None:
        try:
            found = self.rds.describe_db_clusters(DBClusterIdentifier=identifier)
        except ClientError as exc:
            if error_code(exc) == "DBClusterNotFoundFault":
                return None
            raise
        raw = found["DBClusters"][0]
        members = []
        for member in raw.get("DBClusterMembers", []):
            db = self.database(member["DBInstanceIdentifier"])
            members.append(
                ClusterMember(
                    identifier=member["DBInstanceIdentifier"],
                    writer=bool(member.get("IsClusterWriter")),
                    availability_zone=db.availability_zone if db else None,
                    status=db.status if db else "missing",
                )
            )
        return ClusterState(
            identifier=identifier,
            status=raw.get("Status", "unknown"),
            endpoint=raw.get("Endpoint"),
            members=tuple(members),
            tags=T.to_dict(raw.get("TagList")),
        )

    @needs("arc-zonal-shift:ListZonalShifts")
    def zonal_shifts(self, resource_arn: str) -> list[ZonalShift]:
        shifts: list[ZonalShift] = []
        pages = self.arc.get_paginator("list_zonal_shifts").paginate(
            status="ACTIVE", resourceIdentifier=resource_arn
        )
        for page in pages:
            shifts += [_shift(s) for s in page.get("items", [])]
        return shifts

    # --- changes ---------------------------------------------------------------------------
    @needs("autoscaling:UpdateAutoScalingGroup")
    def set_group_subnets(self, group_name: str, subnet_ids: list[str]) -> None:
        self.retrier.call(
            self.autoscaling.update_auto_scaling_group,
            AutoScalingGroupName=group_name,
            VPCZoneIdentifier=",".join(subnet_ids),
        )

    @needs("arc-zonal-shift:StartZonalShift")
    def start_zonal_shift(self, resource_arn: str, away_from: str, comment: str) -> ZonalShift:
        response = self.retrier.call(
            self.arc.start_zonal_shift,
            resourceIdentifier=resource_arn,
            awayFrom=away_from,
            expiresIn=SHIFT_EXPIRY,
            comment=comment[:128],
        )
        return _shift(response)

    @needs("arc-zonal-shift:CancelZonalShift")
    def cancel_zonal_shift(self, shift_id: str) -> ZonalShift | None:
        try:
            response = self.retrier.call(self.arc.cancel_zonal_shift, zonalShiftId=shift_id)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        return _shift(response)

    @needs("rds:FailoverDBCluster")
    def failover_cluster(self, identifier: str, target_instance: str) -> None:
        self.retrier.call(
            self.rds.failover_db_cluster,
            DBClusterIdentifier=identifier,
            TargetDBInstanceIdentifier=target_instance,
        )
