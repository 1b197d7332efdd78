"""Guardrails of automatic recovery, each a DynamoDB item changed only by conditional writes:

* dedupe: the same alarm transition delivered again starts nothing (the router names the
  execution after the transition, so ``StartExecution`` itself is the dedupe);
* cooldown: no automatic restore of an instance restored in the last N minutes;
* caps: at most M automatic restores starting or running at once, and H started per hour,
  fleet-wide. A slot is taken before ``StartExecution`` and counts as *starting* until its
  execution is seen (at most :data:`START_GRACE_SECONDS`), then as running until the execution
  ends; finishing (or aborting) releases it, and a slot of an execution that ended without
  releasing it (timed out, stopped) is reclaimed;
* circuit breaker: opens after K failed automatic restores in a row (a success resets the
  count), and stays open until a person closes it (``lifeboat breaker reset``);
* provenance: the router records each execution it starts (``AUTO#<execution name>``) before
  starting it; a restore is alarm-triggered only if that record exists for its own execution
  name and resource (never because its input says so).

Manual restores are held to the cooldown unless forced (``--force``); the per-resource lock is
never bypassed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifeboat.ports import CatalogPort, GuardStorePort
from lifeboat.timeutil import iso, parse_iso

START_GRACE_SECONDS = 600  # a slot whose execution is not seen yet counts as starting this long
AUTO_RECORD_DAYS = 30  # provenance of an alarm-triggered execution (above any restore's length)
ENDED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
ExecutionStatus = Callable[[str], str | None]


@dataclass(frozen=True)
class GuardConfig:
    cooldown_minutes: int = 30
    max_concurrent: int = 2
    max_per_hour: int = 5
    breaker_threshold: int = 3

    @classmethod
    def from_environment(cls) -> GuardConfig:
        """The deploy parameters, as the function's environment carries them."""
        from lifeboat.settings import get_settings

        settings = get_settings()
        return cls(
            cooldown_minutes=settings.cooldown_minutes,
            max_concurrent=settings.max_concurrent_auto_restores,
            max_per_hour=settings.max_auto_restores_per_hour,
            breaker_threshold=settings.breaker_threshold,
        )


class Refused(Exception):
    """A guardrail refused an automatic (or unforced manual) restore."""

    def __init__(self, guard: str, reason: str) -> None:
        super().__init__(f"{guard}: {reason}")
        self.guard = guard
        self.reason = reason


class Guardrails:
    def __init__(self, store: GuardStorePort, catalog: CatalogPort, config: GuardConfig) -> None:
        self.store = store
        self.catalog = catalog
        self.config = config

    # --- anti-flood ---------------------------------------------------------------------------
    def notify_once(self, key: str, now: datetime, minutes: int) -> bool:
        """True if no notification with ``key`` went out in the last ``minutes`` (anti-flood)."""
        until = int((now + timedelta(minutes=minutes)).timestamp())
        return self.store.put_once(key, until, int(now.timestamp()))

    # --- cooldown -----------------------------------------------------------------------------
    def check_cooldown(self, resource_id: str, now: datetime) -> None:
        since = now - timedelta(minutes=self.config.cooldown_minutes)
        for record in self.catalog.records(f"RESTORE#{resource_id}"):
            finished = parse_iso(str(record.get("finished_at", "1970-01-01T00:00:00Z")))
            if record.get("status") == "restored" and finished >= since:
                raise Refused(
                    "cooldown",
                    f"{resource_id} was restored at {iso(finished)} (cooldown "
                    f"{self.config.cooldown_minutes} min); use --force to restore it again",
                )

    # --- caps ---------------------------------------------------------------------------------
    def take_slots(self, execution_name: str, now: datetime, status: ExecutionStatus) -> None:
        """Take a slot (starting or running) and an hourly slot for ``execution_name``, or
        refuse. Idempotent for the same name (a redelivered alarm retakes its own slots).
        ``status(name)`` is the execution's status, None while it does not exist."""
        epoch = int(now.timestamp())
        cap = self.config.max_concurrent
        if not self.store.take_running(execution_name, epoch, cap):
            self._forget_finished(now, status)
            if not self.store.take_running(execution_name, epoch, cap):
                raise Refused(
                    "max_concurrent",
                    f"{self.config.max_concurrent} automatic restores already starting or running",
                )
        hour = now.strftime("%Y%m%d%H")
        expires = int((now + timedelta(days=2)).timestamp())
        if not self.store.take_hourly(hour, execution_name, self.config.max_per_hour, expires):
            self.release_running(execution_name)
            raise Refused(
                "max_per_hour",
                f"{self.config.max_per_hour} automatic restores already started this hour",
            )

    def slots(self) -> dict[str, int]:
        """Slots held: execution name -> when it was taken (epoch seconds)."""
        return self.store.running()

    def running(self) -> list[str]:
        return sorted(self.slots())

    def _forget_finished(self, now: datetime, status: ExecutionStatus) -> None:
        """Reclaim slots of executions that ended without releasing them (timed out, stopped)
        and of executions never started within the grace period. A slot whose execution is not
        seen yet but was taken less than :data:`START_GRACE_SECONDS` ago is *starting*: kept."""
        for name, taken in self.slots().items():
            state = status(name)
            if state in ENDED or (state is None and now.timestamp() - taken > START_GRACE_SECONDS):
                self.release_running(name, taken)

    def release_running(self, execution_name: str, taken: int | None = None) -> None:
        """Release ``execution_name``'s slot (only if still taken at ``taken``, when given)."""
        self.store.release_running(execution_name, taken)

    # --- provenance of alarm-triggered executions ---------------------------------------------
    def record_alarm_execution(
        self, execution_name: str, resource_id: str, alarm: str, now: datetime
    ) -> None:
        """Written by the router before ``StartExecution`` (idempotent)."""
        self.store.put_auto(
            execution_name,
            {
                "resource_id": resource_id,
                "alarm": alarm,
                "recorded_at": iso(now),
                "expires_at": int((now + timedelta(days=AUTO_RECORD_DAYS)).timestamp()),
            },
        )

    def is_alarm_execution(self, execution_name: str, resource_id: str) -> bool:
        """True only if the router recorded ``execution_name`` for ``resource_id``."""
        found = self.store.auto(execution_name)
        return found is not None and found.get("resource_id") == resource_id

    # --- circuit breaker ----------------------------------------------------------------------
    def breaker(self) -> dict[str, Any]:
        state = self.store.breaker()
        return {
            "state": state.get("state", "closed"),
            "consecutive_failures": int(state.get("consecutive_failures", 0)),
            "threshold": self.config.breaker_threshold,
            "opened_at": state.get("opened_at"),
            "last_failure": state.get("last_failure"),
            "reset_by": state.get("reset_by"),
        }

    def check_breaker(self) -> None:
        state = self.breaker()
        if state["state"] == "open":
            raise Refused(
                "circuit_breaker",
                f"open since {state['opened_at']} after {state['consecutive_failures']} failed "
                "automatic restores in a row; a person must check and run 'lifeboat breaker reset'",
            )

    def record_outcome(self, succeeded: bool, detail: str, now: datetime) -> dict[str, Any]:
        """Count an automatic restore's outcome; open the breaker at the threshold."""
        if succeeded:
            self.store.breaker_succeeded()
        elif self.store.breaker_failed(detail[:500]) >= self.config.breaker_threshold:
            self.store.open_breaker(iso(now))
        return self.breaker()

    def reset_breaker(self, by: str, now: datetime) -> dict[str, Any]:
        self.store.reset_breaker(f"{by} at {iso(now)}")
        return self.breaker()
