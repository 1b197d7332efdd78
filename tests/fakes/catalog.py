"""The catalog in memory (implements ``CatalogPort``): ``fail_after_writes`` makes writes fail
like an unavailable table after N more."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.models import (
    PointStatus,
    RecoveryPoint,
    marked,
)
from lifeboat.ports import CatalogPort

# The pace's conditional write is atomic (tests run many tasks on one catalog in threads).
_CONDITIONAL_WRITE = threading.Lock()


class CatalogUnavailable(Exception):
    """DynamoDB refused a write (the table unavailable, throttled beyond retries)."""


@dataclass
class FakeCatalog:
    points: dict[tuple[str, str, str], RecoveryPoint] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locks: dict[str, dict[str, Any]] = field(default_factory=dict)
    holds: dict[str, dict[str, int]] = field(default_factory=dict)  # resource -> owner -> expiry
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    fail_after_writes: int | None = None  # writes that still succeed before the table fails
    pace_clock: Callable[[], float] = time.time  # the shared pace's clock
    record_reads: int = 0  # records handed out by records and records_from

    def _write(self) -> None:
        if self.fail_after_writes is None:
            return
        if self.fail_after_writes <= 0:
            raise CatalogUnavailable("InternalServerError")
        self.fail_after_writes -= 1

    @staticmethod
    def _key(p: RecoveryPoint) -> tuple[str, str, str]:
        kind = f"{p.kind.value}@{p.region}" if p.region else p.kind.value
        return (p.source_id, p.run_id, kind)

    def _home(self) -> list[RecoveryPoint]:
        return [p for p in self.points.values() if p.region is None]

    # runs
    def claim_run(self, run_id: str, owner: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        self._write()
        found = self.runs.get(run_id)
        if found is None or found["owner"] == owner:
            self.runs[run_id] = {"owner": owner, "status": "running", **attrs}
            return None
        return found

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        return self.runs.get(run_id)

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        self._write()
        self.runs.setdefault(run_id, {}).update(status=status, summary=summary)

    # locks
    def acquire_lock(
        self, resource_id: str, owner: str, now: int, ttl_seconds: int, attrs: dict[str, Any]
    ) -> dict[str, Any] | None:
        self._write()
        held = self.locks.get(resource_id)
        if held is None or held["owner"] == owner or held["expires_at"] < now:
            self.locks[resource_id] = {
                "pk": f"LOCK#{resource_id}",
                "owner": owner,
                "expires_at": now + ttl_seconds,
                **attrs,
            }
            return None
        return held

    def release_lock(self, resource_id: str, owner: str) -> bool:
        self._write()
        if self.locks.get(resource_id, {}).get("owner") == owner:
            del self.locks[resource_id]
            return True
        return False

    def active_locks(self, resource_ids: list[str], now: int) -> dict[str, dict[str, Any]]:
        held: dict[str, dict[str, Any]] = {}
        for r in set(resource_ids):
            holders = {o: t for o, t in self.holds.get(r, {}).items() if t >= now}
            if r in self.locks and self.locks[r]["expires_at"] >= now:
                held[r] = {"kind": "restore", **self.locks[r]}
            elif holders:
                held[r] = {"kind": "drill", "owner": min(holders), "holders": holders}
        return held

    def hold(self, resource_id: str, owner: str, expires_at: int) -> None:
        self._write()
        self.holds.setdefault(resource_id, {})[owner] = expires_at

    def release_hold(self, resource_id: str, owner: str) -> None:
        self._write()
        self.holds.get(resource_id, {}).pop(owner, None)

    # records (lineage, restore outcomes, executions)
    def delete_record(self, pk: str, sk: str) -> None:
        self._write()
        self.items.pop((pk, sk), None)

    def put_record(self, pk: str, sk: str, attrs: dict[str, Any]) -> None:
        self._write()
        self.items[(pk, sk)] = {"pk": pk, "sk": sk, **attrs}

    def records(self, pk: str) -> list[dict[str, Any]]:
        found = [dict(v) for (p, _), v in sorted(self.items.items()) if p == pk]
        self.record_reads += len(found)
        return found

    def records_from(self, pk: str, start: str, prefix: str) -> Iterator[dict[str, Any]]:
        for (p, sk), v in sorted(self.items.items()):
            if p == pk and sk.startswith(prefix) and (sk >= start or not start.startswith(prefix)):
                self.record_reads += 1
                yield dict(v)

    def reserve_pace(
        self, key: str, count: int, capacity: float, rate: float, not_after: float | None = None
    ) -> float:
        from lifeboat.pace import reserve

        return reserve(self, key, count, capacity, rate, self.pace_clock, not_after=not_after)

    def shift_pace(self, key: str, seconds: float) -> None:
        from lifeboat.pace import shift

        shift(self, key, seconds)

    def read_pace(self, key: str) -> float | None:
        found = self.items.get((f"PACE#{key}", "PACE"))
        return None if found is None else float(found["tat"])

    def write_pace(self, key: str, tat: float, expected: float | None) -> bool:
        with _CONDITIONAL_WRITE:  # one conditional write at a time, as DynamoDB's item is
            if self.read_pace(key) != expected:
                return False
            self.items[(f"PACE#{key}", "PACE")] = {"pk": f"PACE#{key}", "sk": "PACE", "tat": tat}
            return True

    # points
    def put_point(self, point: RecoveryPoint) -> None:
        self._write()
        self.points[self._key(point)] = point

    def put_points(self, points: list[RecoveryPoint]) -> None:
        if points:
            self._write()
        for p in points:
            self.points[self._key(p)] = p

    def get_point(self, source_id: str, run_id: str, kind: str) -> RecoveryPoint | None:
        return self.points.get((source_id, run_id, kind))

    def get_points(self, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str], RecoveryPoint]:
        return {(s, k): self.points[(s, r, k)] for s, r, k in keys if (s, r, k) in self.points}

    def points_for_run(self, run_id: str) -> list[RecoveryPoint]:
        return [p for p in self._home() if p.run_id == run_id]

    def points_for_resource(self, source_id: str) -> list[RecoveryPoint]:
        return sorted(
            (p for p in self._home() if p.source_id == source_id),
            key=lambda p: (p.run_id, p.kind.value),
        )

    def points_for_rule(self, plan: str, rule: str) -> list[RecoveryPoint]:
        return [p for p in self._home() if p.plan == plan and p.rule == rule]

    def points_for_plan(self, plan: str, rules: list[str]) -> list[RecoveryPoint]:
        return [p for r in rules for p in self.points_for_rule(plan, r)]

    def all_points(self) -> list[RecoveryPoint]:
        return self._home()

    # copies in other regions, and their queue
    def copies_for_rule(self, region: str, plan: str, rule: str) -> list[RecoveryPoint]:
        return [
            p
            for p in self.points.values()
            if p.region == region and p.plan == plan and p.rule == rule
        ]

    def copies_for_resource(self, source_id: str, region: str) -> list[RecoveryPoint]:
        return sorted(
            (p for p in self.points.values() if p.region == region and p.source_id == source_id),
            key=lambda p: (p.run_id, p.kind.value),
        )

    def get_copies(
        self, region: str, keys: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], RecoveryPoint]:
        found = {}
        for source, run, kind in keys:
            point = self.points.get((source, run, f"{kind}@{region}"))
            if point is not None:
                found[(source, run, kind)] = point
        return found

    def dequeue_copies(self, region: str, sort_keys: list[str]) -> None:
        if sort_keys:
            self._write()
        for key in sort_keys:
            self.items.pop((f"COPYQ#{region}", key), None)

    def mark_copies_started(self, region: str, items: list[dict[str, Any]]) -> None:
        if items:
            self._write()
        for item in items:
            self.items[(f"COPYQ#{region}", item["sk"])] = {**item, "pk": f"COPYQ#{region}"}

    def enqueue_copy(self, region: str, sort_key: str, attrs: dict[str, Any]) -> bool:
        self._write()
        key = (f"COPYQ#{region}", sort_key)
        if key in self.items:
            return False
        self.items[key] = {"pk": key[0], "sk": sort_key, **attrs}
        return True

    def enqueue_copies(self, region: str, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """As the catalog's: 100 per transaction, one write each; an item already queued is
        skipped, the rest of its chunk written all or nothing; the sort keys newly queued."""
        unique = dict(items)
        keys = sorted(unique)
        queued: list[str] = []
        for start in range(0, len(keys), 100):
            chunk = [
                k for k in keys[start : start + 100] if (f"COPYQ#{region}", k) not in self.items
            ]
            try:
                for _ in chunk:
                    self._write()  # a failing table fails the chunk before anything is written
            except CatalogUnavailable as exc:  # as boto3 raises it
                raise ClientError({"Error": {"Code": str(exc)}}, "TransactWriteItems") from exc
            for k in chunk:
                self.items[(f"COPYQ#{region}", k)] = {"pk": f"COPYQ#{region}", "sk": k, **unique[k]}
            queued.extend(chunk)
        return queued

    def transition(
        self,
        point: RecoveryPoint,
        old: PointStatus,
        new: PointStatus,
        extra: dict[str, str] | None = None,
    ) -> bool:
        self._write()
        current = self.points.get(self._key(point))
        if current is None or current.status is not old:
            return False
        changed = current.model_dump() | {"status": new, **(extra or {})}
        self.points[self._key(point)] = RecoveryPoint.model_validate(changed)
        return True

    def mark(
        self,
        point: RecoveryPoint,
        status: PointStatus,
        *,
        when: datetime,
        error: str | None = None,
        reason: str | None = None,
    ) -> RecoveryPoint:
        updated = marked(point, status, when=when, error=error, reason=reason)
        self.put_point(updated)
        return updated


_catalog: type[CatalogPort] = FakeCatalog  # the fake implements the port (checked by mypy)
