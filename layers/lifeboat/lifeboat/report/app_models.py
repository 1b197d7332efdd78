"""The report's applications section, as ``lifeboat report --json`` gives it (keys stable):
what an evacuation of each application from each of its AZs would do now."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class EvacuationStep(BaseModel):
    tier: str
    resource_id: str
    name: str = ""
    action: str
    point: str
    behind_seconds: int | None = None
    rto_seconds: float | None = None


class ApplicationEvacuation(BaseModel):
    """One application, one AZ: what ``lifeboat recover --app A --az AZ`` would do now."""

    app: str
    plan: str
    availability_zone: str
    status: str = Field(description="green: plannable; red: refused (see error)")
    recovery_time: datetime | None = None
    skew_seconds: int | None = None
    tiers: list[str] = Field(default_factory=list)
    steps: list[EvacuationStep] = Field(default_factory=list)
    expected_rto_seconds: float | None = None
    rto_unmeasured: list[str] = Field(default_factory=list)
    not_automated: list[str] = Field(default_factory=list)
    command: str = ""
    error: str | None = None
