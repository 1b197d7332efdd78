"""A drill's holds on the recovery points it restores: a read lock per resource (any number of
drills at once, never in a restore's way) that prune honours like a restore's lock. Taken in
PlanDrill, before the points are read again consistently; released by FinishDrill, on success
and failure alike; lapsing by themselves a little after the drill's time-out when FinishDrill
never runs (the execution stopped or timed out)."""

from __future__ import annotations

from datetime import datetime

from lifeboat.drill.models import DRILL_TIMEOUT, HOLD_MARGIN
from lifeboat.ports import CatalogPort


def expiry(started_at: datetime) -> int:
    """When a drill's holds lapse (epoch seconds): after its time-out, whatever happened."""
    return int((started_at + DRILL_TIMEOUT + HOLD_MARGIN).timestamp())


def take(catalog: CatalogPort, resource_ids: list[str], owner: str, started_at: datetime) -> None:
    until = expiry(started_at)
    for resource_id in dict.fromkeys(resource_ids):
        catalog.hold(resource_id, owner, until)


def release(catalog: CatalogPort, resource_ids: list[str], owner: str) -> None:
    """Release this drill's holds (safe to repeat; other drills' holds stay)."""
    for resource_id in dict.fromkeys(resource_ids):
        catalog.release_hold(resource_id, owner)


def recorded(catalog: CatalogPort, pk: str, sk: str) -> list[str]:
    """What the drill's record says it holds (written before the holds were taken): for a
    finish whose PlanDrill failed after taking them."""
    found = next((r for r in catalog.records(pk) if r.get("sk") == sk), None)
    return [str(r) for r in (found or {}).get("held") or []]
