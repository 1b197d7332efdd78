"""The catalog's copies in other regions and the copy queue (docs/concepts/copies.md).

* a copy: ``pk=RES#<source id>``, ``sk=CP#<region>#<run id>#<kind>`` (beside the point it copies,
  never matched by a query of home points, which begin ``RP#``); ``gsi2pk=COPY#<region>#<plan>#
  <rule>`` (prune of the copies by their own retention); not in ``gsi1`` (points of a run).
* the queue of a destination region: ``pk=COPYQ#<region>``, ``sk=<queued at>#<source id>#<run
  id>#<kind>``; an item stays until its copy completes or fails, so the queue survives runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.aws.dynamo import _ints, _item, _plain, _until_processed
from lifeboat.aws.permissions import needs
from lifeboat.errors import TransientAwsError, error_code
from lifeboat.models import RecoveryPoint
from lifeboat.timeutil import iso

TRANSACTION_ITEMS = 100  # DynamoDB's limit of actions per TransactWriteItems
TRANSACTION_ATTEMPTS = 8
# per-item cancellation reasons worth sending the chunk again (nothing of it was written)
_RETRIED_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_RETRIED_CODES = {
    "TransactionConflictException",
    "TransactionInProgressException",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
}


def copy_keys(point: RecoveryPoint) -> dict[str, str]:
    region = point.region or ""
    return {
        "pk": f"RES#{point.source_id}",
        "sk": f"CP#{region}#{point.run_id}#{point.kind.value}",
        "gsi2pk": f"COPY#{region}#{point.plan}#{point.rule}",
        "gsi2sk": f"{iso(point.created_at)}#{point.source_id}#{point.kind.value}",
    }


def queue_key(region: str) -> str:
    return f"COPYQ#{region}"


class CopyQueries:
    """Mixed into :class:`~lifeboat.aws.catalog.Catalog` (its table and client)."""

    table: str
    ddb: Any

    def _query(self, **kwargs: Any) -> Iterator[RecoveryPoint]:
        raise NotImplementedError  # pragma: no cover (the catalog's)

    def _batch_get(self, keys: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError  # pragma: no cover (the catalog's)

    @needs("dynamodb:Query")
    def copies_for_rule(self, region: str, plan: str, rule: str) -> list[RecoveryPoint]:
        return list(
            self._query(
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :p",
                ExpressionAttributeValues={":p": {"S": f"COPY#{region}#{plan}#{rule}"}},
            )
        )

    @needs("dynamodb:Query")
    def copies_for_resource(self, source_id: str, region: str) -> list[RecoveryPoint]:
        """A resource's copies in ``region``, read consistently (as its home points are)."""
        return list(
            self._query(
                ConsistentRead=True,
                KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                ExpressionAttributeValues={
                    ":p": {"S": f"RES#{source_id}"},
                    ":s": {"S": f"CP#{region}#"},
                },
            )
        )

    @needs("dynamodb:Scan")
    def all_copies(self) -> list[RecoveryPoint]:
        """Every copy in the catalog, of every region (the CLI's listing)."""
        found: list[RecoveryPoint] = []
        for page in self.ddb.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="begins_with(sk, :s)",
            ExpressionAttributeValues={":s": {"S": "CP#"}},
        ):
            found.extend(RecoveryPoint.model_validate(_ints(_plain(i))) for i in page["Items"])
        return found

    @needs("dynamodb:BatchGetItem")
    def get_copies(
        self, region: str, keys: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], RecoveryPoint]:
        """Copies in ``region`` by (source id, run id, kind)."""
        wanted = [
            {"pk": f"RES#{source}", "sk": f"CP#{region}#{run}#{kind}"}
            for source, run, kind in sorted(set(keys))
        ]
        found: dict[tuple[str, str, str], RecoveryPoint] = {}
        for item in self._batch_get(wanted):
            point = RecoveryPoint.model_validate(_ints(_plain(item)))
            found[(point.source_id, point.run_id, point.kind.value)] = point
        return found

    @needs("dynamodb:PutItem")
    def enqueue_copy(self, region: str, sort_key: str, attrs: dict[str, Any]) -> bool:
        """Queue a copy once (False: already queued; a repeated finalize queues nothing)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=_item({"pk": queue_key(region), "sk": sort_key, **attrs}),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    @needs("dynamodb:PutItem")  # TransactWriteItems is authorized as each item's PutItem
    def enqueue_copies(self, region: str, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Queue many copies once each, up to 100 per ``TransactWriteItems`` (each a Put on
        ``attribute_not_exists``): the sort keys newly queued. A cancelled transaction is read
        per item: an item already queued (``ConditionalCheckFailed``) is dropped and the rest
        of its chunk sent again (a cancelled transaction wrote nothing), so an item is never
        queued twice and a repeated finalize queues nothing; conflicts and throttling are
        retried after a growing pause; anything else raises (the caller notifies)."""
        unique = dict(items)  # one operation per item in a transaction
        keys = sorted(unique)
        queued: list[str] = []
        for start in range(0, len(keys), TRANSACTION_ITEMS):
            chunk = keys[start : start + TRANSACTION_ITEMS]
            queued.extend(self._enqueue_chunk(region, chunk, unique))
        return queued

    def _enqueue_chunk(
        self, region: str, keys: list[str], attrs: dict[str, dict[str, Any]]
    ) -> list[str]:
        pending = list(keys)
        for attempt in range(TRANSACTION_ATTEMPTS):
            if not pending:
                return []
            try:
                self.ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": _item({"pk": queue_key(region), "sk": k, **attrs[k]}),
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        }
                        for k in pending
                    ]
                )
                return pending
            except ClientError as exc:
                code = error_code(exc)
                if code == "TransactionCanceledException":
                    reasons = [
                        str(r.get("Code") or "None")
                        for r in exc.response.get("CancellationReasons") or []
                    ]
                    if len(reasons) != len(pending):
                        raise
                    unexpected = (
                        set(reasons) - _RETRIED_REASONS - {"ConditionalCheckFailed", "None"}
                    )
                    if unexpected:
                        raise
                    pending = [
                        k
                        for k, r in zip(pending, reasons, strict=True)
                        if r != "ConditionalCheckFailed"
                    ]
                    if "ConditionalCheckFailed" in reasons and not set(reasons) & _RETRIED_REASONS:
                        continue  # only items already queued: send the rest at once
                elif code not in _RETRIED_CODES:
                    raise
            time.sleep(min(2.0, 0.05 * 2**attempt))
        raise TransientAwsError(
            f"copy queue writes to {region} still conflicting after {TRANSACTION_ATTEMPTS} attempts"
        )

    @needs("dynamodb:BatchWriteItem")
    def dequeue_copies(self, region: str, sort_keys: list[str]) -> None:
        """Remove settled items from the queue, 25 per BatchWriteItem."""
        self._batch_write(
            [
                {"DeleteRequest": {"Key": _item({"pk": queue_key(region), "sk": k})}}
                for k in sort_keys
            ]
        )

    @needs("dynamodb:BatchWriteItem")
    def mark_copies_started(self, region: str, items: list[dict[str, Any]]) -> None:
        """Rewrite queue items (with their ``started_at``), 25 per BatchWriteItem."""
        self._batch_write(
            [{"PutRequest": {"Item": _item({**i, "pk": queue_key(region)})}} for i in items]
        )

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            _until_processed(
                lambda request: self.ddb.batch_write_item(RequestItems=request),
                {self.table: requests[start : start + 25]},
                "UnprocessedItems",
            )
