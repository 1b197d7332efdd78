"""In memory, no sockets: the guard store (``GuardStorePort``; each method atomic, like the
conditional DynamoDB write it stands for)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifeboat.ports import (
    GuardStorePort,
)


@dataclass
class FakeGuardStore:
    notified: dict[str, int] = field(default_factory=dict)
    slots: dict[str, int] = field(default_factory=dict)
    hours: dict[str, set[str]] = field(default_factory=dict)
    autos: dict[str, dict[str, Any]] = field(default_factory=dict)
    breaker_item: dict[str, Any] = field(default_factory=dict)

    def put_once(self, key: str, expires_at: int, now: int) -> bool:
        if key in self.notified and self.notified[key] >= now:
            return False
        self.notified[key] = expires_at
        return True

    def take_running(self, name: str, now: int, max_slots: int) -> bool:
        if name not in self.slots and len(self.slots) >= max_slots:
            return False
        self.slots.setdefault(name, now)
        return True

    def running(self) -> dict[str, int]:
        return dict(self.slots)

    def release_running(self, name: str, taken: int | None = None) -> None:
        if taken is None or self.slots.get(name) == taken:
            self.slots.pop(name, None)

    def take_hourly(self, hour: str, name: str, max_per_hour: int, expires_at: int) -> bool:
        started = self.hours.setdefault(hour, set())
        if name not in started and len(started) >= max_per_hour:
            return False
        started.add(name)
        return True

    def put_auto(self, name: str, record: dict[str, Any]) -> None:
        self.autos[name] = dict(record)

    def auto(self, name: str) -> dict[str, Any] | None:
        found = self.autos.get(name)
        return dict(found) if found is not None else None

    def breaker(self) -> dict[str, Any]:
        return dict(self.breaker_item)

    def breaker_succeeded(self) -> None:
        if self.breaker_item.get("state", "closed") == "closed":
            self.breaker_item["consecutive_failures"] = 0

    def breaker_failed(self, detail: str) -> int:
        failures = int(self.breaker_item.get("consecutive_failures", 0)) + 1
        self.breaker_item.update(consecutive_failures=failures, last_failure=detail)
        return failures

    def open_breaker(self, at: str) -> None:
        self.breaker_item["state"] = "open"
        self.breaker_item.setdefault("opened_at", at)

    def reset_breaker(self, by: str) -> None:
        self.breaker_item = {"state": "closed", "consecutive_failures": 0, "reset_by": by}


_guards: GuardStorePort = FakeGuardStore()  # the fake implements the port (checked by mypy)
