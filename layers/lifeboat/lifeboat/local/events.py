"""EventBridge delivery to Lambda targets.

moto's EventBridge matches rules but cannot deliver to Lambda targets (``PutEvents`` raises
``NotImplementedError``): a matching rule's Lambda targets that local mode runs are invoked
here, asynchronously as EventBridge does, with the event moto matched. Every other target is
left to moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import moto.events.models as events_models

from lifeboat.local.lambdas import Functions


def as_delivered(event: Any) -> dict[str, Any]:
    """The event as EventBridge delivers it to Lambda (``time`` as an ISO-8601 string)."""
    delivered: dict[str, Any] = json.loads(json.dumps(event, default=str))
    moment = event.get("time")
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    if isinstance(moment, datetime):
        delivered["time"] = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return delivered


@contextmanager
def lambda_targets(functions: Functions) -> Iterator[None]:
    """Rules deliver to the local functions (asynchronous invocations)."""
    original_send = events_models.Rule.send_to_targets

    def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
        lambdas = [t for t in rule.targets if ":lambda:" in t["Arn"]]
        others = [t for t in rule.targets if ":lambda:" not in t["Arn"]]
        if lambdas and rule.event_pattern.matches_event(original_event):
            for target in lambdas:
                name = target["Arn"].split(":function:")[-1].split(":")[0]
                if name in functions.functions:
                    functions.invoke_async(name, as_delivered(original_event))
        if others:
            kept = rule.targets
            rule.targets = others
            try:
                original_send(rule, original_event, transform_input)
            finally:
                rule.targets = kept

    with mock.patch.object(events_models.Rule, "send_to_targets", send_to_targets):
        yield
