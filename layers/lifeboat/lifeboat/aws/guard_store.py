"""The guardrails' state in the catalog table, each change one conditional DynamoDB write."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat.aws.clients import client
from lifeboat.aws.dynamo import _ints, _item, _plain
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code

RUNNING_KEY = {"pk": "GUARD#slots", "sk": "GUARD"}
BREAKER_KEY = {"pk": "GUARD#breaker", "sk": "GUARD"}
CONFLICT = "ConditionalCheckFailedException"


class DynamoGuardStore:
    def __init__(self, table: str, ddb: Any = None) -> None:
        self.table = table
        self.ddb = ddb or client("dynamodb")

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        found = self.ddb.get_item(TableName=self.table, Key=_item(key), ConsistentRead=True).get(
            "Item"
        )
        return dict(_ints(_plain(found))) if found else None

    def _update(self, key: dict[str, str], **kwargs: Any) -> bool:
        """An UpdateItem; False when its condition failed."""
        try:
            self.ddb.update_item(TableName=self.table, Key=_item(key), **kwargs)
            return True
        except ClientError as exc:
            if error_code(exc) != CONFLICT:
                raise
            return False

    @needs("dynamodb:PutItem")
    def put_once(self, key: str, expires_at: int, now: int) -> bool:
        """Write ``key`` unless a copy of it that has not expired exists."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=_item({"pk": f"NOTIFIED#{key}", "sk": "NOTIFIED", "expires_at": expires_at}),
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
            return True
        except ClientError as exc:
            if error_code(exc) != CONFLICT:
                raise
            return False

    @needs("dynamodb:PutItem", "dynamodb:UpdateItem")
    def take_running(self, name: str, now: int, max_slots: int) -> bool:
        # The slots live in one item (a map name -> taken_at), so the cap is one conditional
        # write; the item is created empty first (a map path cannot be set in a missing map).
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=_item({**RUNNING_KEY, "slots": {}}),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if error_code(exc) != CONFLICT:
                raise
        return self._update(
            RUNNING_KEY,
            UpdateExpression="SET slots.#n = if_not_exists(slots.#n, :now)",
            ConditionExpression="size(slots) < :max OR attribute_exists(slots.#n)",
            ExpressionAttributeNames={"#n": name},
            ExpressionAttributeValues={
                ":now": {"N": str(now)},
                ":max": {"N": str(max_slots)},
            },
        )

    @needs("dynamodb:GetItem")
    def running(self) -> dict[str, int]:
        found = self._get(RUNNING_KEY) or {}
        return {str(k): int(v) for k, v in found.get("slots", {}).items()}

    @needs("dynamodb:UpdateItem")
    def release_running(self, name: str, taken: int | None = None) -> None:
        kwargs: dict[str, Any] = {}
        if taken is not None:
            kwargs = {
                "ConditionExpression": "slots.#n = :t",
                "ExpressionAttributeValues": {":t": {"N": str(taken)}},
            }
        try:
            self._update(
                RUNNING_KEY,
                UpdateExpression="REMOVE slots.#n",
                ExpressionAttributeNames={"#n": name},
                **kwargs,
            )
        except ClientError as exc:
            if error_code(exc) != "ValidationException":  # no slots map yet
                raise

    @needs("dynamodb:UpdateItem")
    def take_hourly(self, hour: str, name: str, max_per_hour: int, expires_at: int) -> bool:
        return self._update(
            {"pk": f"GUARD#hour#{hour}", "sk": "GUARD"},
            UpdateExpression="ADD started :name SET expires_at = :exp",
            ConditionExpression=(
                "attribute_not_exists(started) OR size(started) < :max OR contains(started, :one)"
            ),
            ExpressionAttributeValues={
                ":name": {"SS": [name]},
                ":one": {"S": name},
                ":max": {"N": str(max_per_hour)},
                ":exp": {"N": str(expires_at)},
            },
        )

    @needs("dynamodb:PutItem")
    def put_auto(self, name: str, record: dict[str, Any]) -> None:
        self.ddb.put_item(
            TableName=self.table, Item=_item({"pk": f"AUTO#{name}", "sk": "AUTO", **record})
        )

    @needs("dynamodb:GetItem")
    def auto(self, name: str) -> dict[str, Any] | None:
        return self._get({"pk": f"AUTO#{name}", "sk": "AUTO"})

    @needs("dynamodb:GetItem")
    def breaker(self) -> dict[str, Any]:
        return self._get(BREAKER_KEY) or {}

    @needs("dynamodb:UpdateItem")
    def breaker_succeeded(self) -> None:
        self._update(
            BREAKER_KEY,
            UpdateExpression="SET consecutive_failures = :zero",
            ConditionExpression="attribute_not_exists(#s) OR #s = :closed",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues=_item({":zero": 0, ":closed": "closed"}),
        )

    @needs("dynamodb:UpdateItem")
    def breaker_failed(self, detail: str) -> int:
        response = self.ddb.update_item(
            TableName=self.table,
            Key=_item(BREAKER_KEY),
            UpdateExpression="ADD consecutive_failures :one SET last_failure = :detail",
            ExpressionAttributeValues=_item({":one": 1, ":detail": detail}),
            ReturnValues="ALL_NEW",
        )
        return int(_ints(_plain(response["Attributes"])).get("consecutive_failures", 0))

    @needs("dynamodb:UpdateItem")
    def open_breaker(self, at: str) -> None:
        self._update(
            BREAKER_KEY,
            UpdateExpression="SET #s = :open, opened_at = if_not_exists(opened_at, :now)",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues=_item({":open": "open", ":now": at}),
        )

    @needs("dynamodb:PutItem")
    def reset_breaker(self, by: str) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item=_item(
                {**BREAKER_KEY, "state": "closed", "consecutive_failures": 0, "reset_by": by}
            ),
        )
