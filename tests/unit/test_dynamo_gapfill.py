"""Local mode's DynamoDB gap-fill (lifeboat.local.dynamo_gapfill): a transaction copies each
table once for its roll-back, not once per item, and behaves as moto (and DynamoDB) does."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lifeboat.local.dynamo_gapfill import dynamo_gap_fills

pytestmark = pytest.mark.unit


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(key)  # moto in-process answers only AWS's own endpoints
    with mock_aws(), dynamo_gap_fills():
        client: Any = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="catalog",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(50):
            client.put_item(TableName="catalog", Item={"pk": {"S": f"old-{n}"}})
        yield client


def _puts(names: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "Put": {
                "TableName": "catalog",
                "Item": {"pk": {"S": name}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        for name in names
    ]


def _count(ddb: Any) -> int:
    return int(ddb.scan(TableName="catalog", Select="COUNT")["Count"])


def test_a_transaction_copies_its_table_once_and_writes_all_its_items(ddb: Any) -> None:
    real = copy.deepcopy
    copies: list[int] = []

    def counting(obj: Any, memo: Any = None) -> Any:
        made = real(obj, memo)
        if type(obj).__name__ == "Table":
            copies.append(id(made))
        return made

    with mock.patch("moto.dynamodb.models.copy.deepcopy", counting):
        ddb.transact_write_items(TransactItems=_puts([f"new-{n}" for n in range(100)]))
    # moto asks for a copy of the table for each of the 100 items; the first is made, the
    # other 99 are that same copy (a table is copied once), and every item is written
    assert len(copies) == 100 and len(set(copies)) == 1
    assert _count(ddb) == 150


def test_a_cancelled_transaction_still_rolls_everything_back_with_its_reasons(ddb: Any) -> None:
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=_puts(["new-a", "old-3", "new-b"]))
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed", "None"]
    assert _count(ddb) == 50  # nothing of it written
    ddb.transact_write_items(TransactItems=_puts(["new-a", "new-b"]))
    assert _count(ddb) == 52
