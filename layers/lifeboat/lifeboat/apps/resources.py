"""What the evacuation adapters return (typed models, never response dicts): DNS records and
their changes, SSM parameters, databases and Aurora clusters as a failover sees them, zonal
shifts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DnsRecord(BaseModel):
    """One simple record of a hosted zone (a database's endpoint: a CNAME, or an A record)."""

    model_config = ConfigDict(frozen=True)
    name: str
    type: str
    ttl: int = 60
    values: tuple[str, ...] = ()

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""


class ParameterValue(BaseModel):
    """An SSM parameter's value and version."""

    model_config = ConfigDict(frozen=True)
    name: str
    value: str
    version: int = 0
    type: str = "String"  # String | StringList | SecureString


class DatabaseState(BaseModel):
    """An RDS DB instance as an evacuation sees it."""

    model_config = ConfigDict(frozen=True)
    identifier: str
    status: str
    availability_zone: str | None = None
    secondary_availability_zone: str | None = None
    multi_az: bool = False
    endpoint: str | None = None
    cluster: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class ClusterMember(BaseModel):
    model_config = ConfigDict(frozen=True)
    identifier: str
    writer: bool
    availability_zone: str | None = None
    status: str = "available"


class ClusterState(BaseModel):
    """An Aurora DB cluster: its writer and readers, each in its AZ."""

    model_config = ConfigDict(frozen=True)
    identifier: str
    status: str
    endpoint: str | None = None
    members: tuple[ClusterMember, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def writer(self) -> ClusterMember | None:
        return next((m for m in self.members if m.writer), None)


class ZonalShift(BaseModel):
    """An ARC zonal shift of one resource away from one AZ (by AZ id, e.g. use1-az1)."""

    model_config = ConfigDict(frozen=True)
    shift_id: str
    resource_identifier: str
    away_from: str
    status: str  # ACTIVE | EXPIRED | CANCELED
    comment: str = ""
