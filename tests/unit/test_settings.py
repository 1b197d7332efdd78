"""Settings and adapters are cached per environment: once per cold start on AWS, once per
function in local mode, where every handler runs in one process with its own environment."""

from __future__ import annotations

import pytest

from lifeboat import runtime
from lifeboat.settings import get_settings

pytestmark = pytest.mark.unit


def test_each_environment_gets_its_own_settings_and_adapters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALOG_TABLE", "catalog")
    monkeypatch.setenv("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:lifeboat")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("RESTORE_STATE_MACHINE_ARN", raising=False)
    runtime.reset()
    plain, ports = get_settings(), runtime.ports()
    assert get_settings() is plain and runtime.ports() is ports  # cached while nothing changes
    assert plain.restore_state_machine_arn == ""

    monkeypatch.setenv("RESTORE_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:1:stateMachine:r")
    router = get_settings()
    assert router.restore_state_machine_arn.endswith(":r") and runtime.ports() is not ports

    monkeypatch.delenv("RESTORE_STATE_MACHINE_ARN")
    assert get_settings() is plain and runtime.ports() is ports
    runtime.reset()
