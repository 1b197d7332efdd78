"""The port of a copy destination region (kept beside the copies; :mod:`lifeboat.ports` wires
it into ``Ports.copies``)."""

from __future__ import annotations

from typing import Any, Protocol

from lifeboat.copies.provenance import CopyArtifact
from lifeboat.models import SnapshotLock


class CopyPort(Protocol):
    """EC2 and RDS in one copy destination region (:class:`lifeboat.aws.copy_ops.CopyOps`)."""

    region: str

    def copy_image(
        self,
        source_region: str,
        image_id: str,
        name: str,
        kms_key: str,
        client_token: str,
        tags: dict[str, str],
    ) -> str: ...
    def copy_snapshot(
        self, source_region: str, snapshot_id: str, kms_key: str, tags: dict[str, str]
    ) -> str: ...
    def copy_db_snapshot(
        self,
        kind: str,
        source_region: str,
        source_arn: str,
        target_id: str,
        kms_key: str | None,
        tags: dict[str, str],
    ) -> str: ...
    def find(self, copy_point_id: str) -> dict[str, dict[str, Any]]: ...
    def images(self, ids: list[str]) -> dict[str, dict[str, Any]]: ...
    def snapshots(self, ids: list[str]) -> dict[str, dict[str, Any]]: ...
    def db_snapshot(self, kind: str, snapshot_id: str) -> dict[str, Any] | None: ...
    def delete_image(self, image_id: str, copy_point_id: str) -> dict[str, str]: ...
    def delete_snapshot(self, snapshot_id: str, copy_point_id: str) -> str: ...
    def delete_db_snapshot(self, kind: str, snapshot_id: str, copy_point_id: str) -> str: ...
    def snapshot_locks(self, ids: list[str]) -> dict[str, SnapshotLock]: ...
    def inventory(self) -> list[CopyArtifact]: ...
    def snapshots_in_flight(self) -> int: ...
