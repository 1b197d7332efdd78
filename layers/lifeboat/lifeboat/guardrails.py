"""Guardrails of automatic recovery, each a DynamoDB item changed only by conditional writes:

* dedupe: the same alarm transition delivered again starts nothing;
* cooldown: no automatic restore of an instance restored in the last N minutes;
* caps: at most M automatic restores running at once, and H per hour, fleet-wide;
* circuit breaker: opens after K failed automatic restores in a row, and stays open until a
  person closes it (``lifeboat breaker reset``).

Manual restores are held to the cooldown and the caps too, unless forced (``--force``); the
per-resource lock is never bypassed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.aws.catalog import Catalog, _ints, _item, _plain
from lifeboat.aws.clients import error_code
from lifeboat.timeutil import iso, parse_iso

RUNNING_KEY = {"pk": "GUARD#running", "sk": "GUARD"}
BREAKER_KEY = {"pk": "GUARD#breaker", "sk": "GUARD"}


@dataclass(frozen=True)
class GuardConfig:
    cooldown_minutes: int = 30
    max_concurrent: int = 2
    max_per_hour: int = 5
    breaker_threshold: int = 3


class Refused(Exception):
    """A guardrail refused an automatic (or unforced manual) restore."""

    def __init__(self, guard: str, reason: str) -> None:
        super().__init__(f"{guard}: {reason}")
        self.guard = guard
        self.reason = reason


class Guardrails:
    def __init__(self, catalog: Catalog, config: GuardConfig) -> None:
        self.catalog = catalog
        self.ddb = catalog.ddb
        self.table = catalog.table
        self.config = config

    def _conditional_put(
        self, item: dict[str, Any], condition: str, values: dict[str, Any] | None = None
    ) -> bool:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Item": _item(item),
            "ConditionExpression": condition,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = _item(values)
        try:
            self.ddb.put_item(**kwargs)
            return True
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False

    # --- dedupe -------------------------------------------------------------------------------
    def first_delivery(self, key: str, now: datetime) -> bool:
        """True the first time ``key`` is seen (kept for a day)."""
        item = {
            "pk": f"DEDUPE#{key}",
            "sk": "DEDUPE",
            "seen_at": iso(now),
            "expires_at": int((now + timedelta(days=1)).timestamp()),
        }
        return self._conditional_put(item, "attribute_not_exists(pk)")

    def notify_once(self, key: str, now: datetime, minutes: int) -> bool:
        """True if no notification with ``key`` went out in the last ``minutes`` (anti-flood)."""
        until = int((now + timedelta(minutes=minutes)).timestamp())
        item = {"pk": f"NOTIFIED#{key}", "sk": "NOTIFIED", "expires_at": until}
        return self._conditional_put(
            item, "attribute_not_exists(pk) OR expires_at < :now", {":now": int(now.timestamp())}
        )

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
    def take_slots(self, execution_name: str, now: datetime, is_running: Any) -> None:
        """Take a running slot and an hourly slot for ``execution_name``, or refuse."""
        if not self._take_running(execution_name):
            self._forget_finished(is_running)
            if not self._take_running(execution_name):
                raise Refused(
                    "max_concurrent",
                    f"{self.config.max_concurrent} automatic restores already running",
                )
        hour = now.strftime("%Y%m%d%H")
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=_item({"pk": f"GUARD#hour#{hour}", "sk": "GUARD"}),
                UpdateExpression="ADD #c :one SET expires_at = :exp",
                ConditionExpression="attribute_not_exists(#c) OR #c < :max",
                ExpressionAttributeNames={"#c": "count"},
                ExpressionAttributeValues=_item(
                    {
                        ":one": 1,
                        ":max": self.config.max_per_hour,
                        ":exp": int((now + timedelta(days=2)).timestamp()),
                    }
                ),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            self.release_running(execution_name)
            raise Refused(
                "max_per_hour",
                f"{self.config.max_per_hour} automatic restores already started this hour",
            ) from exc

    def _take_running(self, execution_name: str) -> bool:
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=_item(RUNNING_KEY),
                UpdateExpression="ADD active :name",
                ConditionExpression=(
                    "attribute_not_exists(active) OR size(active) < :max OR contains(active, :one)"
                ),
                ExpressionAttributeValues={
                    ":name": {"SS": [execution_name]},
                    ":one": {"S": execution_name},
                    ":max": {"N": str(self.config.max_concurrent)},
                },
            )
            return True
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False

    def running(self) -> list[str]:
        found = self.ddb.get_item(
            TableName=self.table, Key=_item(RUNNING_KEY), ConsistentRead=True
        ).get("Item")
        return sorted(_plain(found).get("active", set())) if found else []

    def _forget_finished(self, is_running: Any) -> None:
        """Drop slots of executions that ended without releasing them (timed out)."""
        for name in self.running():
            if not is_running(name):
                self.release_running(name)

    def release_running(self, execution_name: str) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key=_item(RUNNING_KEY),
            UpdateExpression="DELETE active :name",
            ExpressionAttributeValues={":name": {"SS": [execution_name]}},
        )

    # --- circuit breaker ----------------------------------------------------------------------
    def breaker(self) -> dict[str, Any]:
        found = self.ddb.get_item(
            TableName=self.table, Key=_item(BREAKER_KEY), ConsistentRead=True
        ).get("Item")
        state = _ints(_plain(found)) if found else {}
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
            try:
                self.ddb.update_item(
                    TableName=self.table,
                    Key=_item(BREAKER_KEY),
                    UpdateExpression="SET consecutive_failures = :zero",
                    ConditionExpression="attribute_not_exists(#s) OR #s = :closed",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues=_item({":zero": 0, ":closed": "closed"}),
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
            return self.breaker()
        response = self.ddb.update_item(
            TableName=self.table,
            Key=_item(BREAKER_KEY),
            UpdateExpression="ADD consecutive_failures :one SET last_failure = :detail",
            ExpressionAttributeValues=_item({":one": 1, ":detail": detail[:500]}),
            ReturnValues="ALL_NEW",
        )
        failures = int(_ints(_plain(response["Attributes"])).get("consecutive_failures", 0))
        if failures >= self.config.breaker_threshold:
            self.ddb.update_item(
                TableName=self.table,
                Key=_item(BREAKER_KEY),
                UpdateExpression="SET #s = :open, opened_at = if_not_exists(opened_at, :now)",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues=_item({":open": "open", ":now": iso(now)}),
            )
        return self.breaker()

    def reset_breaker(self, by: str, now: datetime) -> dict[str, Any]:
        self.ddb.put_item(
            TableName=self.table,
            Item=_item(
                {
                    **BREAKER_KEY,
                    "state": "closed",
                    "consecutive_failures": 0,
                    "reset_by": f"{by} at {iso(now)}",
                }
            ),
        )
        return self.breaker()
