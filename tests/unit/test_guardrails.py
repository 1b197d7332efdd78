"""Guardrails of automatic recovery: every scenario on the in-memory guard store (unit tier) and
on the DynamoDB adapter against moto in process (integration tier), which keeps the fake honest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lifeboat.aws.catalog import Catalog
from lifeboat.aws.guard_store import DynamoGuardStore
from lifeboat.guardrails import START_GRACE_SECONDS, GuardConfig, Guardrails, Refused
from lifeboat.timeutil import iso
from tests.fakes.catalog import FakeCatalog
from tests.fakes.guards import FakeGuardStore

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
Make = Callable[..., Guardrails]


def _in_memory(**config: int) -> Guardrails:
    return Guardrails(FakeGuardStore(), FakeCatalog(), GuardConfig(**config))


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.unit),
        pytest.param("dynamodb", marks=pytest.mark.integration),
    ]
)
def guardrails(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Make]:
    if request.param == "memory":
        yield _in_memory
        return
    # moto in-process answers only requests to AWS's own endpoints: an emulator's endpoint left
    # in the environment by an integration test on the same worker would send these calls to a
    # socket (refused in this folder) or, worse, into that emulator.
    import os

    for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(key)
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

        def make(**config: int) -> Guardrails:
            store = DynamoGuardStore("catalog", ddb=ddb)
            return Guardrails(store, Catalog("catalog", ddb=ddb), GuardConfig(**config))

        yield make


def unknown(_: str) -> str | None:
    return None


def test_cooldown_refuses_a_recent_restore_and_allows_an_old_one(guardrails: Make) -> None:
    guard = guardrails(cooldown_minutes=30)
    guard.catalog.put_record(
        "RESTORE#i-1", "EXEC#a", {"status": "restored", "finished_at": iso(NOW)}
    )
    guard.catalog.put_record(
        "RESTORE#i-2",
        "EXEC#b",
        {"status": "restored", "finished_at": iso(NOW - timedelta(hours=1))},
    )
    guard.catalog.put_record("RESTORE#i-3", "EXEC#c", {"status": "failed", "finished_at": iso(NOW)})
    with pytest.raises(Refused, match="cooldown"):
        guard.check_cooldown("i-1", NOW + timedelta(minutes=29))
    guard.check_cooldown("i-1", NOW + timedelta(minutes=31))
    guard.check_cooldown("i-2", NOW)
    guard.check_cooldown("i-3", NOW)  # a failed restore does not cool anything down


def test_concurrency_cap_is_idempotent_per_execution_and_reclaims_ended(
    guardrails: Make,
) -> None:
    guard = guardrails(max_concurrent=2, max_per_hour=10)
    guard.take_slots("a", NOW, unknown)
    guard.take_slots("a", NOW, unknown)  # a redelivered alarm retakes its own slot
    guard.take_slots("b", NOW, unknown)
    with pytest.raises(Refused, match="max_concurrent"):
        guard.take_slots("c", NOW, lambda name: "RUNNING")
    assert guard.running() == ["a", "b"]
    # a ended without releasing (timed out): its slot is reclaimed for c
    guard.take_slots("c", NOW, lambda name: "TIMED_OUT" if name == "a" else "RUNNING")
    assert guard.running() == ["b", "c"]


def test_a_starting_slot_is_kept_for_its_grace_period_then_reclaimed(guardrails: Make) -> None:
    guard = guardrails(max_concurrent=1, max_per_hour=10)
    guard.take_slots("starting", NOW, unknown)
    with pytest.raises(Refused, match="max_concurrent"):
        guard.take_slots("late", NOW + timedelta(seconds=START_GRACE_SECONDS - 1), unknown)
    guard.take_slots("late", NOW + timedelta(seconds=START_GRACE_SECONDS + 1), unknown)
    assert guard.running() == ["late"]


def test_hourly_cap_refuses_and_gives_the_running_slot_back(guardrails: Make) -> None:
    guard = guardrails(max_concurrent=5, max_per_hour=2)
    for name in ("a", "b"):
        guard.take_slots(name, NOW, unknown)
        guard.release_running(name)
    with pytest.raises(Refused, match="max_per_hour"):
        guard.take_slots("c", NOW + timedelta(minutes=10), unknown)
    assert guard.running() == []
    guard.take_slots("a", NOW, unknown)  # the same execution again is not a new start
    guard.take_slots("d", NOW + timedelta(hours=1), unknown)  # the next hour


def test_release_with_a_stale_taken_time_leaves_a_newer_slot_alone(guardrails: Make) -> None:
    guard = guardrails(max_concurrent=2)
    guard.take_slots("a", NOW, unknown)
    taken = guard.slots()["a"]
    guard.release_running("a", taken - 1)
    assert guard.running() == ["a"]
    guard.release_running("a", taken)
    assert guard.running() == []


def test_only_a_recorded_execution_for_its_resource_is_alarm_triggered(
    guardrails: Make,
) -> None:
    guard = guardrails()
    guard.record_alarm_execution("alarm-x", "i-1", "lifeboat-standard-i-1-system", NOW)
    assert guard.is_alarm_execution("alarm-x", "i-1")
    assert not guard.is_alarm_execution("alarm-x", "i-2")  # a forged input naming another
    assert not guard.is_alarm_execution("manual-y", "i-1")


def test_breaker_opens_at_the_threshold_and_only_a_person_closes_it(guardrails: Make) -> None:
    guard = guardrails(breaker_threshold=3)
    guard.record_outcome(False, "one", NOW)
    guard.record_outcome(True, "ok", NOW)  # a success resets the count
    for n in range(3):
        state = guard.record_outcome(False, f"fail {n}", NOW + timedelta(minutes=n))
    assert state["state"] == "open"
    assert state["opened_at"] == iso(NOW + timedelta(minutes=2))
    assert state["last_failure"] == "fail 2"
    guard.record_outcome(True, "ok", NOW)  # a success while open does not close it
    with pytest.raises(Refused, match="circuit_breaker"):
        guard.check_breaker()
    state = guard.reset_breaker("alice", NOW)
    assert state["state"] == "closed"
    assert state["consecutive_failures"] == 0
    assert state["reset_by"].startswith("alice at ")
    guard.check_breaker()


def test_notify_once_holds_back_repeats_until_the_window_ends(guardrails: Make) -> None:
    guard = guardrails()
    assert guard.notify_once("breaker", NOW, 60)
    assert not guard.notify_once("breaker", NOW + timedelta(minutes=59), 60)
    assert guard.notify_once("other", NOW, 60)
    assert guard.notify_once("breaker", NOW + timedelta(minutes=61), 60)
