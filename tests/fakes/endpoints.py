"""Endpoints in memory (implements ``EndpointPort``): DNS records, parameters, clusters."""

from __future__ import annotations

from dataclasses import dataclass, field

from lifeboat.apps.ports import EndpointPort
from lifeboat.apps.resources import (
    DnsRecord,
    ParameterValue,
)


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


_endpoints: EndpointPort = FakeEndpoints()  # the fake implements the port (checked by mypy)
