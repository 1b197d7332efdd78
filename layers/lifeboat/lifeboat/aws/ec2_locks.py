"""EC2 for EBS Snapshot Lock: lock a snapshot, read the locks in place. Never unlock: Lifeboat
has no ``UnlockSnapshot`` call and the template grants it to no function."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.aws.clients import Retrier
from lifeboat.aws.ec2_shapes import chunks
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code
from lifeboat.models import SnapshotLock


def _lock(info: dict[str, Any]) -> SnapshotLock:
    expires = info.get("LockExpiresOn")
    return SnapshotLock(
        snapshot_id=info["SnapshotId"],
        state=info.get("LockState"),
        expires_on=expires if isinstance(expires, datetime) else None,
    )


class Ec2Locks:
    ec2: Any
    retrier: Retrier

    @needs("ec2:LockSnapshot")
    def lock_snapshots(
        self, ids: list[str], mode: str, days: int, cool_off_hours: int = 0
    ) -> dict[str, SnapshotLock]:
        """Lock each snapshot for ``days`` from now (``LockDuration``; ``CoolOffPeriod`` for
        compliance only): the lock EC2 reports, or the error code it refused with (each
        snapshot alone: one refusal does not stop the others). Locking a locked snapshot
        changes its lock: the caller decides when to (never to shorten one)."""
        results: dict[str, SnapshotLock] = {}
        for sid in ids:
            params: dict[str, Any] = {"SnapshotId": sid, "LockMode": mode, "LockDuration": days}
            if mode == "compliance" and cool_off_hours:
                params["CoolOffPeriod"] = cool_off_hours
            try:
                results[sid] = _lock(self.retrier.call(self.ec2.lock_snapshot, **params))
            except ClientError as exc:
                results[sid] = SnapshotLock(snapshot_id=sid, error=error_code(exc))
        return results

    @needs("ec2:DescribeLockedSnapshots")
    def snapshot_locks(self, ids: list[str]) -> dict[str, SnapshotLock]:
        """The locks in force on ``ids`` (governance, compliance or its cooling-off; expired
        locks left out). A snapshot that no longer exists is left out too."""
        found: dict[str, SnapshotLock] = {}
        for part in chunks(list(dict.fromkeys(ids))):
            found.update(self._existing(part))
        return {sid: lock for sid, lock in found.items() if lock.holds}

    def _existing(self, ids: list[str]) -> dict[str, SnapshotLock]:
        """The locks of ``ids``; on ``NotFound``, of each half (a snapshot deleted meanwhile
        costs a few calls, not one per snapshot), down to the snapshot that is gone."""
        try:
            return {lock.snapshot_id: lock for lock in self._locked_pages(ids)}
        except ClientError as exc:
            if error_code(exc) != "InvalidSnapshot.NotFound":
                raise
            if len(ids) == 1:
                return {}
        half = len(ids) // 2
        return {**self._existing(ids[:half]), **self._existing(ids[half:])}

    def _locked_pages(self, ids: list[str]) -> Iterator[SnapshotLock]:
        """``DescribeLockedSnapshots`` has no paginator in botocore: follow ``NextToken``."""
        kwargs: dict[str, Any] = {"SnapshotIds": ids}
        while True:
            response = self.ec2.describe_locked_snapshots(**kwargs)
            yield from (_lock(info) for info in response.get("Snapshots", []))
            token = response.get("NextToken")
            if not token:
                return
            kwargs["NextToken"] = token

    @needs("ec2:DescribeLockedSnapshots")
    def locked_snapshots(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` are under a lock in force (see :meth:`snapshot_locks`)."""
        return set(self.snapshot_locks(ids))
