"""Drill holds in the catalog: a read lock per resource (``pk=LOCK#<resource>``, ``sk=HOLD``)
beside a restore's lock (``sk=LOCK``). One item holds every holder as an attribute
``held_by:<execution ARN>`` = its expiry (epoch seconds), so that any number of drills hold a
resource at once, each taken and released in one write, and prune reads a resource's restore
lock and holds in the same BatchGetItem."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lifeboat.aws.dynamo import _item
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code

HOLD = "HOLD"
HOLDER = "held_by:"
# The item's TTL (DynamoDB deletes it some time after): a day after the latest holder's expiry
# written, later than any holder's own expiry whatever order they were written in.
TTL_SLACK = 86400


def live_holders(item: dict[str, Any], now: int) -> dict[str, int]:
    """The holders of a HOLD item (plain values) whose hold has not lapsed."""
    return {
        key.removeprefix(HOLDER): int(value)
        for key, value in item.items()
        if key.startswith(HOLDER) and int(value) >= now
    }


class CatalogHolds:
    table: str
    ddb: Any

    @needs("dynamodb:UpdateItem")
    def hold(self, resource_id: str, owner: str, expires_at: int) -> None:
        """Hold ``resource_id``'s recovery points for ``owner`` until ``expires_at`` (prune
        keeps them meanwhile); repeating it is harmless. A restore's lock is another item: a
        hold never stands in a restore's way, nor a restore in a drill's."""
        self.ddb.update_item(
            TableName=self.table,
            Key=_item({"pk": f"LOCK#{resource_id}", "sk": HOLD}),
            UpdateExpression="SET #h = :e, expires_at = :ttl",
            ExpressionAttributeNames={"#h": HOLDER + owner},
            ExpressionAttributeValues={
                ":e": {"N": str(expires_at)},
                ":ttl": {"N": str(expires_at + TTL_SLACK)},
            },
        )

    @needs("dynamodb:UpdateItem")
    def release_hold(self, resource_id: str, owner: str) -> None:
        """Release ``owner``'s hold (other holders keep theirs); safe to repeat."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=_item({"pk": f"LOCK#{resource_id}", "sk": HOLD}),
                UpdateExpression="REMOVE #h",
                ConditionExpression="attribute_exists(pk)",  # never create an empty item
                ExpressionAttributeNames={"#h": HOLDER + owner},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
