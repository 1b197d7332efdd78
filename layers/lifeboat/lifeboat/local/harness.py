"""Triggers moto does not fire, delivered by the local harness with AWS's own payloads."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from lifeboat.aws.clients import client
from lifeboat.timeutil import iso


def fire_schedule(name: str, scheduled_time: datetime, attempt: int = 1) -> str:
    """Deliver one trigger of an EventBridge Scheduler schedule the way Scheduler does: its
    target's Input with the context attributes substituted, to StartExecution."""
    schedule: dict[str, Any] = client("scheduler").get_schedule(Name=name)
    target = schedule["Target"]
    payload = target.get("Input", "{}")
    context = {
        "<aws.scheduler.schedule-arn>": schedule["Arn"],
        "<aws.scheduler.scheduled-time>": iso(scheduled_time),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": str(attempt),
    }
    for key, value in context.items():
        payload = payload.replace(key, value)
    json.loads(payload)
    # Scheduler starts executions without a name (AWS then picks a UUID); moto 5.2 would name
    # every such execution "None", so the harness passes the UUID itself.
    response = client("stepfunctions").start_execution(
        stateMachineArn=target["Arn"], input=payload, name=str(uuid.uuid4())
    )
    return str(response["executionArn"])
