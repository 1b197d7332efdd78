"""The ports an AZ evacuation needs beyond :mod:`lifeboat.ports` (full: feature ports live in
their package): where the application finds its database (Route 53 or SSM), and the moves of
groups and databases (ARC zonal shift, a group's subnets, RDS failovers)."""

from __future__ import annotations

from typing import Protocol

from lifeboat.apps.resources import (
    ClusterState,
    DatabaseState,
    DnsRecord,
    ParameterValue,
    ZonalShift,
)


class EndpointPort(Protocol):
    """Route 53 (the declared private zone only) and SSM (the declared parameter only)
    (:class:`lifeboat.aws.dns.EndpointGateway`)."""

    def zone_private(self, zone_id: str) -> bool | None:
        """Whether the hosted zone is private (None: there is no such zone)."""
        ...

    def record(self, zone_id: str, name: str) -> DnsRecord | None:
        """The simple record ``name`` of the zone (CNAME or A), or None."""
        ...

    def replace_record(
        self, zone_id: str, expected: DnsRecord | None, record: DnsRecord, comment: str
    ) -> str | None:
        """Compare-and-set: ``record`` in place of exactly ``expected`` (None: where there is
        no record), in one change batch; the change id, or None when the record is no longer
        ``expected``. ``GetChange`` says when it is INSYNC."""
        ...

    def change_status(self, change_id: str) -> str:
        """PENDING or INSYNC."""
        ...

    def parameter(self, name: str) -> ParameterValue | None: ...
    def put_parameter(self, name: str, value: str) -> int:
        """Overwrite the parameter's value; its new version."""
        ...


class EvacuationPort(Protocol):
    """What moves groups and databases out of an AZ (:class:`lifeboat.aws.evacuation_ops.
    EvacuationOps`)."""

    def zone_ids(self) -> dict[str, str]:
        """AZ name → AZ id (ARC names AZs by id: ``use1-az1``)."""
        ...

    def subnet_zones(self, subnet_ids: list[str]) -> dict[str, str]:
        """subnet id → its AZ name."""
        ...

    def set_group_subnets(self, group_name: str, subnet_ids: list[str]) -> None:
        """``UpdateAutoScalingGroup`` with VPCZoneIdentifier set to ``subnet_ids``."""
        ...

    def start_zonal_shift(self, resource_arn: str, away_from: str, comment: str) -> ZonalShift: ...

    def cancel_zonal_shift(self, shift_id: str) -> ZonalShift | None:
        """Cancel the shift (None: it is no longer there)."""
        ...

    def zonal_shifts(self, resource_arn: str) -> list[ZonalShift]:
        """Active zonal shifts of the resource."""
        ...

    def database(self, identifier: str) -> DatabaseState | None: ...
    def cluster(self, identifier: str) -> ClusterState | None: ...
    def failover_cluster(self, identifier: str, target_instance: str) -> None:
        """``FailoverDBCluster`` to the reader ``target_instance``."""
        ...
