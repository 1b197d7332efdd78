"""An application as a plan declares it (the plans-file contract), and its members as found.

```yaml
plans:
  standard:
    applications:
      elearn:
        select: {app: elearn}        # members: instances, Auto Scaling groups and databases
                                     # carrying these tags (and the plan's tag)
        order: [db, app, web]        # tiers by each member's `tier` tag (a database without
                                     # one is tier `db`); recovered in this order
        database_endpoint:           # how the application finds its database (one of)
          route53: {zone_id: Z0123456789, name: db.elearn.internal}
          # ssm_parameter: /elearn/db/endpoint
```
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

TIER_TAG = "tier"
DEFAULT_DB_TIER = "db"
TierName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_SSM_NAME = re.compile(r"^/[A-Za-z0-9_.\-/]{1,1010}$")


class Route53Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zone_id: str = Field(description="the private hosted zone's id, e.g. Z0123456789")
    name: str = Field(
        min_length=1, max_length=253, description="the record, e.g. db.elearn.internal"
    )

    @field_validator("zone_id")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not _ZONE_ID.match(value):
            raise ValueError(f"{value!r} is not a hosted zone id (Z followed by letters/digits)")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return value.rstrip(".").lower()


class DatabaseEndpoint(BaseModel):
    """Exactly one of a Route 53 record or an SSM parameter holds the database's endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    route53: Route53Endpoint | None = None
    ssm_parameter: str | None = Field(None, description="e.g. /elearn/db/endpoint")

    @field_validator("ssm_parameter")
    @classmethod
    def _parameter(cls, value: str | None) -> str | None:
        if value is not None and not _SSM_NAME.match(value):
            raise ValueError(f"{value!r} is not an SSM parameter name (starts with /)")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> DatabaseEndpoint:
        if (self.route53 is None) == (self.ssm_parameter is None):
            raise ValueError("give exactly one of route53 {zone_id, name} or ssm_parameter")
        return self


class Application(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    select: dict[str, str] = Field(min_length=1, description="tags every member carries")
    order: tuple[TierName, ...] = Field(min_length=1, description="tiers, recovered in order")
    database_endpoint: DatabaseEndpoint | None = None

    @field_validator("order")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"tiers repeat in order: {list(value)}")
        return value


class MemberKind(StrEnum):
    INSTANCE = "instance"
    ASG = "asg"
    DB = "db"  # an RDS DB instance
    CLUSTER = "cluster"  # an Aurora DB cluster


class Member(BaseModel):
    """One resource of an application, as found by its tags."""

    model_config = ConfigDict(frozen=True)
    kind: MemberKind
    resource_id: str  # instance id, group name, DB instance or cluster identifier
    tier: str
    availability_zones: tuple[str, ...] = ()
    name: str = ""
