"""EC2's and RDS's reads in a copy region, in memory (for a restore there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DrReads:
    """EC2's and RDS's reads in a copy region for a restore there: every artifact asked about
    exists (the copier made what the catalog records), except those deleted outside Lifeboat
    (``gone``). Used as the regional ports' ``ec2`` and to answer ``rds.snapshot``."""

    gone: set[str] = field(default_factory=set)

    def images(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: {"ImageId": i, "State": "available"} for i in ids if i not in self.gone}

    def snapshots(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: {"SnapshotId": i, "State": "completed"} for i in ids if i not in self.gone}

    def db_snapshot(self, kind: str, snapshot_id: str) -> dict[str, Any] | None:
        if snapshot_id in self.gone:
            return None
        return {"DBSnapshotIdentifier": snapshot_id, "Status": "available"}
