"""The shared pace's buckets in the catalog (:mod:`lifeboat.pace`): one item per region and
API, ``pk=PACE#<region>#<api>``, ``sk=PACE``, holding the bucket's theoretical arrival time
(``tat``, epoch seconds). Each reservation is one conditional write on the value read (an
optimistic lock), so concurrent executions never hand out the same calls twice."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat.aws.dynamo import _item
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code
from lifeboat.pace.bucket import reserve, shift

PACE = "PACE#"
# The item outlives any reservation: a day after the last one (then it is a full bucket).
PACE_TTL = 86400


class CatalogPace:
    table: str
    ddb: Any

    @needs("dynamodb:GetItem", "dynamodb:PutItem")
    def reserve_pace(
        self, key: str, count: int, capacity: float, rate: float, not_after: float | None = None
    ) -> float:
        """Reserve ``count`` calls of bucket ``key`` (``<region>#<api>``); the epoch second
        from which they may go (later than ``not_after``: nothing reserved)."""
        return reserve(_Items(self), key, count, capacity, rate, not_after=not_after)

    @needs("dynamodb:GetItem", "dynamodb:PutItem")
    def shift_pace(self, key: str, seconds: float) -> None:
        """Move bucket ``key``'s arrival time ``seconds`` later (a grant's calls went late)."""
        shift(_Items(self), key, seconds)

    def _read_pace(self, key: str) -> float | None:
        found = self.ddb.get_item(
            TableName=self.table,
            Key=_item({"pk": PACE + key, "sk": "PACE"}),
            ConsistentRead=True,
        ).get("Item")
        return float(found["tat"]["N"]) if found and "tat" in found else None

    def _write_pace(self, key: str, tat: float, expected: float | None) -> bool:
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if expected is None
            else {
                "ConditionExpression": "tat = :old",
                "ExpressionAttributeValues": {":old": {"N": f"{expected:.3f}"}},
            }
        )
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    **_item({"pk": PACE + key, "sk": "PACE"}),
                    "tat": {"N": f"{tat:.3f}"},
                    "expires_at": {"N": str(int(tat) + PACE_TTL)},
                },
                **condition,
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True


class _Items:
    """The catalog as the bucket's :class:`~lifeboat.pace.CasStore`."""

    def __init__(self, catalog: CatalogPace) -> None:
        self.catalog = catalog

    def read_pace(self, key: str) -> float | None:
        return self.catalog._read_pace(key)  # noqa: SLF001 - its own adapter's helper

    def write_pace(self, key: str, tat: float, expected: float | None) -> bool:
        return self.catalog._write_pace(key, tat, expected)  # noqa: SLF001
