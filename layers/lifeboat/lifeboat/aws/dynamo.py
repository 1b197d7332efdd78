"""DynamoDB's attribute-value shapes, both ways, and batch calls until nothing is left."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from lifeboat.errors import TransientAwsError

_ser = TypeSerializer()
_de = TypeDeserializer()


def _item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(_decimals(v)) for k, v in data.items()}


def _decimals(value: Any) -> Any:
    """Floats (a drill's measured RTO and RPO) as the Decimals DynamoDB takes."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def _ints(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the catalog stores integers (and a run's
    fractional create_started_at)."""
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if type(value).__name__ == "Decimal":
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _until_processed(
    call: Callable[[dict[str, Any]], dict[str, Any]],
    request: dict[str, Any],
    unprocessed: str,
    attempts: int = 8,
) -> list[dict[str, Any]]:
    """Send a batch request again with what DynamoDB left ``unprocessed`` (after a growing
    pause, as DynamoDB asks) until nothing is left; the responses, in order."""
    responses = []
    for attempt in range(attempts):
        responses.append(call(request))
        request = responses[-1].get(unprocessed) or {}
        if not request:
            return responses
        time.sleep(min(2.0, 0.05 * 2**attempt))
    raise TransientAwsError(f"DynamoDB left items unprocessed after {attempts} attempts")
