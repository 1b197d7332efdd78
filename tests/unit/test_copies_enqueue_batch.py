"""Finalize queues copies in batches (TransactWriteItems of up to 100 conditional Puts) and
still queues each copy exactly once: a repeated finalize, a partly cancelled transaction,
conflicts retried, a refused write notified (docs/development/scale.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lifeboat.aws.catalog import Catalog
from lifeboat.copies.enqueue import queue_and_start, queue_copies
from lifeboat.plans import Kind
from tests.fakes import FakeCatalog
from tests.worlds.copies import NOW, home, plans, point, queue, world

pytestmark = pytest.mark.unit


def items(n: int, prefix: str = "k") -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{prefix}{i:04d}", {"source_id": f"i-{i}", "run_id": "r", "kind": "ebs"})
        for i in range(n)
    ]


def test_a_repeated_finalize_queues_nothing_twice_on_the_fakes() -> None:
    ports, catalog, _ = world()
    points = [point(f"i-0web{i}", Kind.EBS) for i in range(150)]  # two chunks
    home(ports, points)
    assert queue_copies(points, plans(), ports, NOW) == {"us-west-2": 150}
    assert queue_copies(points, plans(), ports, NOW) == {"us-west-2": 0}
    assert len(queue(catalog)) == 150


def test_the_fake_catalog_writes_a_chunk_all_or_nothing() -> None:
    catalog = FakeCatalog()
    catalog.fail_after_writes = 120  # the table fails within the second chunk
    with pytest.raises(ClientError):
        catalog.enqueue_copies("us-west-2", items(150))
    assert len(catalog.records("COPYQ#us-west-2")) == 100  # the first chunk, none of the second
    catalog.fail_after_writes = None
    assert len(catalog.enqueue_copies("us-west-2", items(150))) == 50


def test_a_refused_batch_is_notified_and_the_run_goes_on() -> None:
    ports, catalog, _ = world()
    tonight = point("i-0web1", Kind.EBS)
    home(ports, [tonight])
    catalog.fail_after_writes = 0
    result = queue_and_start([tonight], plans(), ports, NOW, "run-1", None)
    assert "copies not queued" in result["error"] and result["notified"]
    assert queue(catalog) == []


class Cancelling:
    """A DynamoDB client whose TransactWriteItems answers from a script of per-item reasons
    (None: the transaction commits), recording what each call sent."""

    def __init__(self, script: list[list[str] | None]) -> None:
        self.script = script
        self.sent: list[list[str]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.sent.append([t["Put"]["Item"]["sk"]["S"] for t in TransactItems])
        assert all(
            t["Put"]["ConditionExpression"] == "attribute_not_exists(pk)" for t in TransactItems
        )
        reasons = self.script.pop(0)
        if reasons is None:
            return {}
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException"},
                "CancellationReasons": [{"Code": r} for r in reasons],
            },
            "TransactWriteItems",
        )


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("lifeboat.aws.catalog_copies.time.sleep", slept.append)
    return slept


def test_a_partly_cancelled_transaction_is_sent_again_without_the_items_already_queued(
    no_sleep: list[float],
) -> None:
    ddb = Cancelling([["None", "ConditionalCheckFailed", "None"], None])
    queued = Catalog("catalog", ddb=ddb).enqueue_copies("us-west-2", items(3))
    assert ddb.sent == [["k0000", "k0001", "k0002"], ["k0000", "k0002"]]
    assert queued == ["k0000", "k0002"] and no_sleep == []  # no pause for items already queued


def test_conflicts_and_throttling_are_retried_after_a_pause(no_sleep: list[float]) -> None:
    ddb = Cancelling(
        [["TransactionConflict", "None"], ["ConditionalCheckFailed", "ThrottlingError"], None]
    )
    queued = Catalog("catalog", ddb=ddb).enqueue_copies("us-west-2", items(2))
    assert ddb.sent == [["k0000", "k0001"], ["k0000", "k0001"], ["k0001"]]
    assert queued == ["k0001"] and len(no_sleep) == 2


def test_a_validation_failure_raises_for_finalize_to_notify(no_sleep: list[float]) -> None:
    ddb = Cancelling([["ValidationError", "None"]])
    with pytest.raises(ClientError):
        Catalog("catalog", ddb=ddb).enqueue_copies("us-west-2", items(2))


def test_chunks_hold_at_most_100_items_and_duplicates_are_sent_once(no_sleep: list[float]) -> None:
    ddb = Cancelling([None, None, None])
    queued = Catalog("catalog", ddb=ddb).enqueue_copies("us-west-2", items(250) + items(5))
    assert [len(c) for c in ddb.sent] == [100, 100, 50] and len(queued) == 250


@pytest.fixture
def moto_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[Catalog]:
    for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(key)  # moto in-process answers only AWS's own endpoints
    with mock_aws():
        ddb: Any = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="catalog",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield Catalog("catalog", ddb=ddb)


def test_against_moto_an_item_already_queued_is_never_queued_twice(moto_catalog: Catalog) -> None:
    assert moto_catalog.enqueue_copy("us-west-2", "k0101", {"source_id": "i-101", "run_id": "r"})
    queued = moto_catalog.enqueue_copies("us-west-2", items(150))
    assert len(queued) == 149 and "k0101" not in queued  # cancelled once, sent again without it
    assert moto_catalog.enqueue_copies("us-west-2", items(150)) == []  # a repeated finalize
    left = moto_catalog.ddb.query(
        TableName="catalog",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "COPYQ#us-west-2"}},
        Select="COUNT",
    )
    assert left["Count"] == 150
