"""In-memory implementations of the application ports (lifeboat/apps/ports.py) and of the
Auto Scaling reads an evacuation uses."""

from __future__ import annotations

from dataclasses import dataclass, field

from lifeboat.apps.ports import EvacuationPort
from lifeboat.apps.resources import (
    ClusterState,
    DatabaseState,
    ZonalShift,
)
from tests.fakes.autoscaling import FakeAutoScaling


@dataclass
class FakeEvacuation:
    autoscaling: FakeAutoScaling
    zones: dict[str, str] = field(
        default_factory=lambda: {"us-east-1a": "use1-az1", "us-east-1b": "use1-az2"}
    )
    subnets: dict[str, str] = field(default_factory=dict)  # subnet -> AZ
    databases: dict[str, DatabaseState] = field(default_factory=dict)
    clusters: dict[str, ClusterState] = field(default_factory=dict)
    shifts: dict[str, ZonalShift] = field(default_factory=dict)

    def zone_ids(self) -> dict[str, str]:
        return dict(self.zones)

    def subnet_zones(self, subnet_ids: list[str]) -> dict[str, str]:
        return {s: self.subnets[s] for s in subnet_ids if s in self.subnets}

    def set_group_subnets(self, group_name: str, subnet_ids: list[str]) -> None:
        group = self.autoscaling.groups_by_name[group_name]
        self.autoscaling.groups_by_name[group_name] = group.model_copy(
            update={"subnet_ids": tuple(subnet_ids)}
        )

    def start_zonal_shift(self, resource_arn: str, away_from: str, comment: str) -> ZonalShift:
        shift = ZonalShift(
            shift_id=f"shift-{len(self.shifts) + 1}",
            resource_identifier=resource_arn,
            away_from=away_from,
            status="ACTIVE",
            comment=comment,
        )
        self.shifts[shift.shift_id] = shift
        return shift

    def cancel_zonal_shift(self, shift_id: str) -> ZonalShift | None:
        found = self.shifts.get(shift_id)
        if found is None:
            return None
        self.shifts[shift_id] = found.model_copy(update={"status": "CANCELED"})
        return self.shifts[shift_id]

    def zonal_shifts(self, resource_arn: str) -> list[ZonalShift]:
        return [
            s
            for s in self.shifts.values()
            if s.resource_identifier == resource_arn and s.status == "ACTIVE"
        ]

    def database(self, identifier: str) -> DatabaseState | None:
        return self.databases.get(identifier)

    def cluster(self, identifier: str) -> ClusterState | None:
        return self.clusters.get(identifier)

    def failover_cluster(self, identifier: str, target_instance: str) -> None:
        cluster = self.clusters[identifier]
        members = tuple(
            m.model_copy(update={"writer": m.identifier == target_instance})
            for m in cluster.members
        )
        self.clusters[identifier] = cluster.model_copy(update={"members": members})


# the fake implements the port (checked by mypy)
_evacuation: EvacuationPort = FakeEvacuation(FakeAutoScaling())
