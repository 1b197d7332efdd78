"""Volume restores (and their rollbacks) in ``lifeboat restore list``: the same rows as the
restores of whole servers, ``kind`` ``volume``, the restored volume in ``replacement_id``."""

from __future__ import annotations

from datetime import datetime

from lifeboat.ports import CatalogPort
from lifeboat.restore.listing import RECENT, ExecutionSummary, RestoreExecutionsPort, RestoreRow

CLI_PREFIXES = ("volume-", "rollback-")  # the CLI's execution names (cli/restore_volume.py)


def _status(summary: ExecutionSummary, catalog: CatalogPort) -> str:
    output = summary.output or {}
    if summary.status == "RUNNING":
        return "running"
    if summary.status != "SUCCEEDED":
        return summary.status.lower().replace("_", "-")
    if output.get("status") in ("refused", "dry-run", "rolled-back"):
        return str(output["status"])
    record = next(
        (r for r in catalog.records(f"VOLRESTORE#{summary.name}") if r.get("sk") == "RESTORE"),
        {},
    )
    return "rolled-back" if record.get("status") == "rolled-back" else "restored"


def volume_rows(
    history: RestoreExecutionsPort, catalog: CatalogPort, state_machine_arn: str, now: datetime
) -> list[RestoreRow]:
    """The volume restore machine's executions running now or started in the last 24 hours."""
    rows = []
    for summary in history.executions(state_machine_arn, now - RECENT):
        output = summary.output or {}
        status = _status(summary, catalog)
        stage = (
            (history.current_state(summary.arn) or "starting") if status == "running" else status
        )
        rows.append(
            RestoreRow(
                execution_arn=summary.arn,
                name=summary.name,
                trigger="cli" if summary.name.startswith(CLI_PREFIXES) else "api",
                requested_by=str(summary.input.get("requested_by") or "unknown"),
                resource_id=str(
                    summary.input.get("instance_id") or output.get("instance_id") or "?"
                ),
                kind="volume",
                status=status,
                stage=stage,
                started_at=summary.started_at,
                age_seconds=max(0, int((now - summary.started_at).total_seconds())),
                stopped_at=summary.stopped_at,
                replacement_id=output.get("new_volume_id"),
                reason=str(summary.input.get("reason") or ""),
            )
        )
    return rows
