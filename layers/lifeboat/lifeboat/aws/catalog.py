"""DynamoDB catalog of recovery points and backup runs.

Single table, keys ``pk``/``sk``:

* recovery point: ``pk=RES#<source id>``, ``sk=RP#<run id>#<kind>`` (run ids start with their
  UTC timestamp, so a resource's points sort by time); ``gsi1`` by run, ``gsi2`` by plan and rule.
* a copy in another region (:mod:`lifeboat.aws.catalog_copies`): ``sk=CP#<region>#<run id>#
  <kind>`` beside its source's points, outside ``gsi1``, ``gsi2`` by region, plan and rule; so
  every query of home points (``sk`` beginning ``RP#``) never sees a copy.
* backup run: ``pk=RUN#<run id>``, ``sk=RUN`` (the dedupe record of scheduled triggers), expiring
  through the ``expires_at`` TTL attribute.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.aws.catalog_copies import CopyQueries, copy_keys
from lifeboat.aws.catalog_holds import HOLD, CatalogHolds, live_holders
from lifeboat.aws.catalog_pace import CatalogPace
from lifeboat.aws.clients import client
from lifeboat.aws.dynamo import _ints, _item, _plain, _until_processed
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code
from lifeboat.models import PointStatus, RecoveryPoint, marked
from lifeboat.timeutil import iso

# Records read per page by records_from (a prune batch is about 10 KB: a few at a time).
RECORDS_PAGE = 4


def point_keys(point: RecoveryPoint) -> dict[str, str]:
    if point.region is not None:
        return copy_keys(point)
    return {
        "pk": f"RES#{point.source_id}",
        "sk": f"RP#{point.run_id}#{point.kind.value}",
        "gsi1pk": f"RUN#{point.run_id}",
        "gsi1sk": f"{point.source_id}#{point.kind.value}",
        "gsi2pk": f"RULE#{point.plan}#{point.rule}",
        "gsi2sk": f"{iso(point.created_at)}#{point.source_id}#{point.kind.value}",
    }


class Catalog(CopyQueries, CatalogHolds, CatalogPace):
    def __init__(self, table: str, ddb: Any = None) -> None:
        self.table = table
        self.ddb = ddb or client("dynamodb")

    # --- runs (dedupe of scheduled triggers) ----------------------------------------------
    @needs("dynamodb:PutItem", "dynamodb:GetItem")
    def claim_run(self, run_id: str, owner: str, attrs: dict[str, Any]) -> dict[str, Any] | None:
        """Claim ``run_id`` for execution ``owner``. Returns None when claimed (or already ours),
        else the record of the execution that claimed it first."""
        item = {"pk": f"RUN#{run_id}", "sk": "RUN", "owner": owner, "status": "running", **attrs}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=_item(item),
                ConditionExpression="attribute_not_exists(pk) OR #o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": {"S": owner}},
            )
            return None
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
        return self.get_run(run_id)

    @needs("dynamodb:GetItem")
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        found = self.ddb.get_item(
            TableName=self.table,
            Key=_item({"pk": f"RUN#{run_id}", "sk": "RUN"}),
            ConsistentRead=True,
        ).get("Item")
        return _ints(_plain(found)) if found else None

    @needs("dynamodb:UpdateItem")
    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key=_item({"pk": f"RUN#{run_id}", "sk": "RUN"}),
            UpdateExpression="SET #s = :s, summary = :m",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_item({":s": status, ":m": summary}),
        )

    # --- locks (one restore per resource at a time) ----------------------------------------
    @needs("dynamodb:PutItem", "dynamodb:GetItem")
    def acquire_lock(
        self, resource_id: str, owner: str, now: int, ttl_seconds: int, attrs: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Take the lock of ``resource_id`` for ``owner`` (idempotent for the same owner; an
        expired lock is taken over). Returns None when held, else the current holder's record."""
        item = {
            "pk": f"LOCK#{resource_id}",
            "sk": "LOCK",
            "owner": owner,
            "acquired_at": now,
            "expires_at": now + ttl_seconds,
            **attrs,
        }
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=_item(item),
                ConditionExpression="attribute_not_exists(pk) OR #o = :o OR expires_at < :now",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": {"S": owner}, ":now": {"N": str(now)}},
            )
            return None
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
        found = self.ddb.get_item(
            TableName=self.table,
            Key=_item({"pk": f"LOCK#{resource_id}", "sk": "LOCK"}),
            ConsistentRead=True,
        ).get("Item")
        return _ints(_plain(found)) if found else {"owner": "unknown"}

    @needs("dynamodb:DeleteItem")
    def release_lock(self, resource_id: str, owner: str) -> bool:
        """Release the lock if ``owner`` holds it (safe to repeat)."""
        try:
            self.ddb.delete_item(
                TableName=self.table,
                Key=_item({"pk": f"LOCK#{resource_id}", "sk": "LOCK"}),
                ConditionExpression="attribute_not_exists(pk) OR #o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": {"S": owner}},
            )
            return True
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False

    @needs("dynamodb:BatchGetItem")
    def active_locks(self, resource_ids: list[str], now: int) -> dict[str, dict[str, Any]]:
        """The restore locks and drill holds live (not expired) on any of ``resource_ids``, by
        resource (a restore's lock first); consistent reads, 100 keys per BatchGetItem (prune
        reads them after marking its points ``deleting``; a restore takes its lock, a drill its
        holds, before choosing a point: one of the two sees the other)."""
        held: dict[str, dict[str, Any]] = {}
        ids = sorted(set(resource_ids))
        keys = [{"pk": f"LOCK#{rid}", "sk": sk} for rid in ids for sk in ("LOCK", HOLD)]
        items = [_ints(_plain(item)) for item in self._batch_get(keys)]
        for item in sorted(items, key=lambda i: i["sk"] != "LOCK"):
            rid = str(item["pk"]).removeprefix("LOCK#")
            if item["sk"] == "LOCK" and int(item.get("expires_at", 0)) >= now:
                held[rid] = {"kind": "restore", **item}
            elif item["sk"] == HOLD and rid not in held and (holders := live_holders(item, now)):
                owner = min(holders)
                held[rid] = {"pk": item["pk"], "kind": "drill", "owner": owner, "holders": holders}
        return held

    @needs("dynamodb:DeleteItem")
    def delete_record(self, pk: str, sk: str) -> None:
        self.ddb.delete_item(TableName=self.table, Key=_item({"pk": pk, "sk": sk}))

    @needs("dynamodb:PutItem")
    def put_record(self, pk: str, sk: str, attrs: dict[str, Any]) -> None:
        self.ddb.put_item(TableName=self.table, Item=_item({"pk": pk, "sk": sk, **attrs}))

    @needs("dynamodb:Query")
    def records(self, pk: str) -> list[dict[str, Any]]:
        paginator = self.ddb.get_paginator("query")
        found: list[dict[str, Any]] = []
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": pk}},
            ConsistentRead=True,  # lineage and plans written moments ago must be seen
        ):
            found.extend(_ints(_plain(item)) for item in page["Items"])
        return found

    @needs("dynamodb:Query")
    def records_from(self, pk: str, start: str, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.ddb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :p AND sk BETWEEN :s AND :e",
            ExpressionAttributeValues={
                ":p": {"S": pk},
                ":s": {"S": start if start.startswith(prefix) else prefix},
                # The prefix's last character, one higher: after every key with the prefix
                ":e": {"S": prefix[:-1] + chr(ord(prefix[-1]) + 1)},
            },
            ConsistentRead=True,
            PaginationConfig={"PageSize": RECORDS_PAGE},  # read as consumed, not all at once
        ):
            for item in page["Items"]:
                if str(item["sk"]["S"]).startswith(prefix):
                    yield _ints(_plain(item))

    # --- recovery points ------------------------------------------------------------------
    @needs("dynamodb:PutItem")
    def put_point(self, point: RecoveryPoint) -> None:
        self.ddb.put_item(TableName=self.table, Item=_point_item(point))

    @needs("dynamodb:BatchWriteItem")
    def put_points(self, points: list[RecoveryPoint]) -> None:
        """Write many points, 25 per BatchWriteItem (unprocessed items are sent again)."""
        for start in range(0, len(points), 25):
            part = points[start : start + 25]
            pending: dict[str, Any] = {
                self.table: [{"PutRequest": {"Item": _point_item(p)}} for p in part]
            }
            _until_processed(
                lambda request: self.ddb.batch_write_item(RequestItems=request),
                pending,
                "UnprocessedItems",
            )

    @needs("dynamodb:GetItem")
    def get_point(self, source_id: str, run_id: str, kind: str) -> RecoveryPoint | None:
        found = self.ddb.get_item(
            TableName=self.table,
            Key=_item({"pk": f"RES#{source_id}", "sk": f"RP#{run_id}#{kind}"}),
            ConsistentRead=True,
        ).get("Item")
        return _to_point(found) if found else None

    @needs("dynamodb:BatchGetItem")
    def get_points(self, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str], RecoveryPoint]:
        """Points by (source id, run id, kind), 100 keys per BatchGetItem (one call per batch
        of resources instead of one per resource and kind)."""
        found: dict[tuple[str, str], RecoveryPoint] = {}
        wanted = [
            {"pk": f"RES#{source}", "sk": f"RP#{run}#{kind}"}
            for source, run, kind in sorted(set(keys))
        ]
        for item in self._batch_get(wanted):
            point = _to_point(item)
            found[(point.source_id, point.kind.value)] = point
        return found

    def _batch_get(self, keys: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        """Items by key, 100 keys per BatchGetItem, consistent reads (unprocessed keys sent
        again)."""
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [_item(k) for k in keys[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            for response in _until_processed(
                lambda request: self.ddb.batch_get_item(RequestItems=request),
                request,
                "UnprocessedKeys",
            ):
                yield from response.get("Responses", {}).get(self.table, [])

    def _query(self, **kwargs: Any) -> Iterator[RecoveryPoint]:
        paginator = self.ddb.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, **kwargs):
            for item in page["Items"]:
                yield _to_point(item)

    @needs("dynamodb:Query")
    def points_for_run(self, run_id: str) -> list[RecoveryPoint]:
        return list(
            self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :p",
                ExpressionAttributeValues={":p": {"S": f"RUN#{run_id}"}},
            )
        )

    @needs("dynamodb:Query")
    def points_for_resource(self, source_id: str) -> list[RecoveryPoint]:
        """A resource's points, read consistently (a restore reads them after taking its lock:
        it must see a prune's 'deleting' mark written just before)."""
        return list(
            self._query(
                ConsistentRead=True,
                KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                ExpressionAttributeValues={":p": {"S": f"RES#{source_id}"}, ":s": {"S": "RP#"}},
            )
        )

    @needs("dynamodb:Query")
    def points_for_rule(self, plan: str, rule: str) -> list[RecoveryPoint]:
        return list(
            self._query(
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :p",
                ExpressionAttributeValues={":p": {"S": f"RULE#{plan}#{rule}"}},
            )
        )

    @needs("dynamodb:Query")
    def points_for_plan(self, plan: str, rules: list[str]) -> list[RecoveryPoint]:
        """Every point of the plan's ``rules``, whatever its status (provenance for prune)."""
        return [p for rule in rules for p in self.points_for_rule(plan, rule)]

    @needs("dynamodb:UpdateItem")
    def transition(
        self,
        point: RecoveryPoint,
        old: PointStatus,
        new: PointStatus,
        extra: dict[str, str] | None = None,
    ) -> bool:
        """Move ``point`` from ``old`` to ``new`` status (and set the ``extra`` attributes) only
        if the catalog still says ``old`` (a conditional write); False when it does not
        (someone else moved it first)."""
        names = {"#s": "status", **{f"#a{i}": k for i, k in enumerate(extra or {})}}
        values = {":new": {"S": new.value}, ":old": {"S": old.value}}
        values.update({f":a{i}": {"S": v} for i, v in enumerate((extra or {}).values())})
        sets = ["#s = :new", *(f"#a{i} = :a{i}" for i in range(len(extra or {})))]
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=_item({k: v for k, v in point_keys(point).items() if k in ("pk", "sk")}),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#s = :old",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    @needs("dynamodb:Scan")
    def all_points(self) -> list[RecoveryPoint]:
        paginator = self.ddb.get_paginator("scan")
        points: list[RecoveryPoint] = []
        for page in paginator.paginate(
            TableName=self.table,
            FilterExpression="begins_with(sk, :s)",
            ExpressionAttributeValues={":s": {"S": "RP#"}},
        ):
            points.extend(_to_point(item) for item in page["Items"])
        return points

    @needs("dynamodb:PutItem")
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


def _point_item(point: RecoveryPoint) -> dict[str, Any]:
    return _item({**point.model_dump(mode="json", exclude_none=True), **point_keys(point)})


def _to_point(item: dict[str, Any]) -> RecoveryPoint:
    return RecoveryPoint.model_validate(_ints(_plain(item)))
