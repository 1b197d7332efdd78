"""Retries: boto3 retries throttles, Lifeboat retries EC2's per-volume limits, and the
fault-injection hook produces the real error responses (no socket is opened: every attempt is
answered by the hook)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lifeboat.aws import clients
from lifeboat.aws.clients import Retrier
from lifeboat.errors import TransientAwsError
from lifeboat.faults import FaultInjector, FaultRule

pytestmark = pytest.mark.unit


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "CreateSnapshots")


def test_retrier_retries_per_volume_limits_then_succeeds() -> None:
    sleeps: list[float] = []
    calls = iter(
        [
            _error("SnapshotCreationPerVolumeRateExceeded"),
            _error("ConcurrentSnapshotLimitExceeded"),
            "ok",
        ]
    )

    def flaky() -> str:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return str(item)

    retrier = Retrier(attempts=3, base_seconds=1.0, sleep=sleeps.append)
    assert retrier.call(flaky) == "ok"
    assert retrier.retried == 2 and len(sleeps) == 2 and all(0 <= s <= 2 for s in sleeps)


def test_retrier_gives_up_with_a_transient_error_for_step_functions() -> None:
    def always() -> None:
        raise _error("SnapshotCreationPerVolumeRateExceeded")

    with pytest.raises(TransientAwsError):
        Retrier(attempts=2, sleep=lambda _s: None).call(always)


def test_retrier_does_not_retry_real_failures() -> None:
    attempts = []

    def gone() -> None:
        attempts.append(1)
        raise _error("InvalidInstanceID.NotFound")

    with pytest.raises(ClientError):
        Retrier(attempts=5, sleep=lambda _s: None).call(gone)
    assert len(attempts) == 1


def _offline_ec2() -> object:
    return clients.client("ec2")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on port 9: a request that escaped the hook would fail loudly.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients.reset_clients()


@pytest.mark.usefixtures("offline")
def test_injected_throttle_is_the_real_ec2_error_and_boto3_retries_it() -> None:
    rule = FaultRule("DescribeInstances", "RequestLimitExceeded", times=99, status=503)
    with FaultInjector([rule]):
        with pytest.raises(ClientError) as err:
            clients.client("ec2").describe_instances()
    assert err.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert rule.injected == 5  # boto3 standard mode: 5 attempts
    assert err.value.response["ResponseMetadata"]["RetryAttempts"] == 4


@pytest.mark.usefixtures("offline")
def test_injected_rds_error_parses_as_rds_sends_it() -> None:
    rule = FaultRule(
        "CreateDBSnapshot", "InvalidDBInstanceState", match={"DBInstanceIdentifier": "db1"}
    )
    with FaultInjector([rule]) as injector:
        with pytest.raises(ClientError) as err:
            clients.client("rds").create_db_snapshot(
                DBSnapshotIdentifier="s", DBInstanceIdentifier="db1"
            )
    assert err.value.response["Error"]["Code"] == "InvalidDBInstanceState"
    assert injector.injected("CreateDBSnapshot") == 1


def test_unmatched_rule_does_not_fire() -> None:
    rule = FaultRule("CreateImage", "InvalidInstanceID.NotFound", match={"InstanceId": "i-1"})
    assert not rule.matches("CreateImage", {"InstanceId": "i-2"})
    assert rule.matches("CreateImage", {"InstanceId": "i-1"})
    assert boto3 is not None


def test_what_dynamodb_leaves_unprocessed_is_sent_again_after_a_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lifeboat.aws import catalog

    pauses: list[float] = []
    monkeypatch.setattr("lifeboat.aws.catalog.time.sleep", pauses.append)
    sent: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = [{"UnprocessedItems": {"t": ["b"]}}, {"UnprocessedItems": {}}]

    def call(request: dict[str, Any]) -> dict[str, Any]:
        sent.append(request)
        return answers[len(sent) - 1]

    responses = catalog._until_processed(call, {"t": ["a", "b"]}, "UnprocessedItems")
    assert sent == [{"t": ["a", "b"]}, {"t": ["b"]}] and len(responses) == 2
    assert len(pauses) == 1 and pauses[0] > 0

    with pytest.raises(TransientAwsError):
        catalog._until_processed(
            lambda r: {"UnprocessedItems": r}, {"t": ["c"]}, "UnprocessedItems"
        )
