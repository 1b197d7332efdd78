"""A restore's locks (one per instance of the server's lineage, or the database), its EXEC#
record (what an execution that never reaches Abort must release), and the guardrails."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lifeboat.errors import RestoreInProgressError
from lifeboat.guardrails import GuardConfig, Guardrails
from lifeboat.ports import CatalogPort, Ports

# Deadlines, nested: a replacement's health deadline (instances 1 h, databases 6 h by default,
# at most 7 h: health.MAX_HEALTH_DEADLINE) < the restore state machine's TimeoutSeconds (8 h)
# < a lock's expiry (9 h), so every deadline is met by the rollback path and no lock outlives
# its execution unnoticed.
RESTORE_TIMEOUT = timedelta(hours=8)  # statemachines/restore.asl.json TimeoutSeconds
LOCK_SECONDS = 9 * 3600
RECORD_DAYS = 30


def guardrails_for(ports: Ports) -> Guardrails:
    """The guardrails over this task's catalog, configured from the function's environment."""
    return Guardrails(ports.guards, ports.catalog, GuardConfig.from_environment())


def execution_record(execution_name: str) -> str:
    return f"EXEC#{execution_name}"


def record_expiry(now: datetime) -> int:
    return int((now + timedelta(days=RECORD_DAYS)).timestamp())


def lock_all(
    catalog: CatalogPort, ids: list[str], owner: str, now: datetime, attrs: dict[str, Any]
) -> None:
    """Lock every instance of the server's lineage (their points may be chosen), or none."""
    taken: list[str] = []
    for resource_id in ids:
        holder = catalog.acquire_lock(resource_id, owner, int(now.timestamp()), LOCK_SECONDS, attrs)
        if holder is not None:
            for done in taken:
                catalog.release_lock(done, owner)
            raise RestoreInProgressError(
                f"a restore of {resource_id} is already running: {holder.get('owner')} "
                f"(requested by {holder.get('requested_by', 'unknown')}); wait for it or stop it"
            )
        taken.append(resource_id)


def release_all(
    catalog: CatalogPort,
    locked: list[str] | None,
    resource_id: str,
    owner: str,
    execution_name: str | None = None,
) -> None:
    """Release every lock the execution took: as its plan says (``locked``), else as it
    recorded before taking them (it may have failed or been stopped before it had a plan)."""
    if not locked and execution_name:
        found = catalog.records(execution_record(execution_name))
        locked = found[0].get("locked") if found else None
    for resource in dict.fromkeys([*(locked or []), resource_id]):
        catalog.release_lock(str(resource), owner)
