"""Retries, one job per layer (``lifeboat/aws/clients.py``): botocore retries throttles,
Lifeboat retries EC2's per-volume limits only and hands what persists to the state machine as
``TransientAwsError``; the fault-injection hook produces the real error responses (no socket is
opened: every attempt is answered by the hook)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lifeboat.aws import clients
from lifeboat.aws.clients import Retrier
from lifeboat.errors import TransientAwsError
from tests.faults import FaultInjector, FaultRule

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


@pytest.mark.parametrize("code", sorted(clients.THROTTLES))
def test_a_throttle_botocore_gave_up_on_goes_to_the_state_machine_at_once(code: str) -> None:
    attempts: list[int] = []
    sleeps: list[float] = []

    def throttled() -> None:
        attempts.append(1)
        raise _error(code)

    with pytest.raises(TransientAwsError, match=code):
        Retrier(attempts=6, sleep=sleeps.append).call(throttled)
    assert len(attempts) == 1 and sleeps == []


def test_the_retrier_retries_only_what_botocore_standard_mode_does_not() -> None:
    from botocore.retries import standard

    throttled: set[str] = set(standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES)  # type: ignore[attr-defined]
    transient: set[str] = set(standard.TransientRetryableChecker._TRANSIENT_ERROR_CODES)  # type: ignore[attr-defined]
    assert clients.THROTTLES <= throttled
    assert not clients.RETRIED_HERE & (throttled | transient)
    retries: dict[str, object] = clients._CONFIG.retries  # type: ignore[attr-defined]
    assert retries == {"mode": "standard", "total_max_attempts": clients.SDK_MAX_ATTEMPTS}
    assert clients.SDK_MAX_ATTEMPTS == 5


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
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from lifeboat.local.waits import compressed_sdk_backoff

    # Nothing listens on port 9: a request that escaped the hook would fail loudly.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients.reset_clients()
    with compressed_sdk_backoff(lambda: 0.0):  # botocore's back-off is not what is tested
        yield


@pytest.mark.usefixtures("offline")
def test_injected_throttle_is_the_real_ec2_error_and_boto3_retries_it() -> None:
    rule = FaultRule("DescribeInstances", "RequestLimitExceeded", times=99, status=503)
    with FaultInjector([rule]):
        with pytest.raises(ClientError) as err:
            clients.client("ec2").describe_instances()
    assert err.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert rule.injected == clients.SDK_MAX_ATTEMPTS  # boto3 standard mode: 5 attempts
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
    from lifeboat.aws import dynamo

    pauses: list[float] = []
    monkeypatch.setattr("lifeboat.aws.dynamo.time.sleep", pauses.append)
    sent: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = [{"UnprocessedItems": {"t": ["b"]}}, {"UnprocessedItems": {}}]

    def call(request: dict[str, Any]) -> dict[str, Any]:
        sent.append(request)
        return answers[len(sent) - 1]

    responses = dynamo._until_processed(call, {"t": ["a", "b"]}, "UnprocessedItems")
    assert sent == [{"t": ["a", "b"]}, {"t": ["b"]}] and len(responses) == 2
    assert len(pauses) == 1 and pauses[0] > 0

    with pytest.raises(TransientAwsError):
        dynamo._until_processed(lambda r: {"UnprocessedItems": r}, {"t": ["c"]}, "UnprocessedItems")
