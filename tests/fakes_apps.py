"""In-memory implementations of the application ports (lifeboat/apps/ports.py) and of the
Auto Scaling reads an evacuation uses."""

from __future__ import annotations

from dataclasses import dataclass, field

from lifeboat.apps.ports import EndpointPort, EvacuationPort
from lifeboat.apps.resources import (
    ClusterState,
    DatabaseState,
    DnsRecord,
    ParameterValue,
    ZonalShift,
)
from lifeboat.asg.models import AutoScalingGroup
from lifeboat.asg.ports import AutoScalingPort


@dataclass
class FakeEndpoints:
    zones: dict[str, dict[str, DnsRecord]] = field(default_factory=dict)  # zone -> name -> record
    parameters: dict[str, ParameterValue] = field(default_factory=dict)
    changes: list[tuple[str, DnsRecord]] = field(default_factory=list)
    public: set[str] = field(default_factory=set)  # zones that are not private

    def zone_private(self, zone_id: str) -> bool | None:
        return None if zone_id not in self.zones else zone_id not in self.public

    def record(self, zone_id: str, name: str) -> DnsRecord | None:
        return self.zones.get(zone_id, {}).get(name.rstrip(".").lower() + ".")

    def _write(self, zone_id: str, record: DnsRecord) -> str:
        name = record.name.rstrip(".").lower() + "."
        self.zones[zone_id][name] = record.model_copy(update={"name": name})
        self.changes.append((zone_id, record))
        return f"/change/C{len(self.changes)}"

    def replace_record(
        self, zone_id: str, expected: DnsRecord | None, record: DnsRecord, comment: str
    ) -> str | None:
        current = self.record(zone_id, record.name)
        same = (current is None and expected is None) or (
            current is not None
            and expected is not None
            and (current.type, current.ttl, current.values)
            == (expected.type, expected.ttl, expected.values)
        )
        return self._write(zone_id, record) if same else None

    def change_status(self, change_id: str) -> str:
        return "INSYNC"

    def parameter(self, name: str) -> ParameterValue | None:
        return self.parameters.get(name)

    def put_parameter(self, name: str, value: str) -> int:
        version = self.parameters[name].version + 1 if name in self.parameters else 1
        self.parameters[name] = ParameterValue(name=name, value=value, version=version)
        return version


@dataclass
class FakeAutoScaling:
    groups_by_name: dict[str, AutoScalingGroup] = field(default_factory=dict)

    def groups(self, names: list[str] | None = None) -> list[AutoScalingGroup]:
        return [g for n, g in sorted(self.groups_by_name.items()) if names is None or n in names]

    def groups_for_plan(self, plan: str) -> list[AutoScalingGroup]:
        return [g for g in self.groups() if g.tags.get("lifeboat:plan") == plan]

    def group_names_of(self, instance_ids: list[str]) -> dict[str, str]:
        return {
            m.instance_id: g.name
            for g in self.groups()
            for m in g.members
            if m.instance_id in instance_ids
        }


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


# The fakes implement the ports (checked by mypy).
_endpoints: EndpointPort = FakeEndpoints()
_autoscaling: AutoScalingPort = FakeAutoScaling()
_evacuation: EvacuationPort = FakeEvacuation(FakeAutoScaling())
