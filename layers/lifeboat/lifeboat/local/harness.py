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


STATUS_METRICS = {"StatusCheckFailed_System": "system", "StatusCheckFailed_Instance": "instance"}


def alarm_state_change(
    alarm_name: str, value: str, reason: str, when: datetime, impair: bool = True
) -> dict[str, Any]:
    """Move a CloudWatch alarm to ``value`` and deliver the "CloudWatch Alarm State Change"
    event AWS sends (shape of ``events/alarm_state_change.json``) to the default event bus,
    where the template's own rule matches it and targets the alarm router. A status-check
    alarm fires because EC2's check failed: with ``impair`` (the default) the instance of its
    ``InstanceId`` dimension is reported ``impaired`` by DescribeInstanceStatus from then on
    (``ok`` again when the alarm returns to ``OK``)."""
    from lifeboat.local.bridge import BRIDGE

    cloudwatch = client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
    check = STATUS_METRICS.get(alarm.get("MetricName", ""))
    instance_id = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}.get("InstanceId")
    if impair and check and instance_id and value in ("ALARM", "OK"):
        BRIDGE.impair(instance_id, check, impaired=value == "ALARM")
    previous = alarm.get("StateValue", "INSUFFICIENT_DATA")
    cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue=value, StateReason=reason)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"
    detail = {
        "alarmName": alarm_name,
        "state": {"value": value, "reason": reason, "timestamp": stamp},
        "previousState": {"value": previous, "reason": "", "timestamp": stamp},
        "configuration": {
            "description": alarm.get("AlarmDescription", ""),
            "metrics": [
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm["AlarmArn"])),
                    "metricStat": {
                        "metric": {
                            "namespace": alarm["Namespace"],
                            "name": alarm["MetricName"],
                            "dimensions": {
                                d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])
                            },
                        },
                        "period": alarm["Period"],
                        "stat": alarm.get("Statistic", "Maximum"),
                    },
                    "returnData": True,
                }
            ],
        },
    }
    entry = {
        "Source": "aws.cloudwatch",
        "DetailType": "CloudWatch Alarm State Change",
        "Resources": [alarm["AlarmArn"]],
        "Detail": json.dumps(detail),
        "Time": when,
    }
    response = client("events").put_events(Entries=[entry])
    return {"event_id": response["Entries"][0].get("EventId"), "detail": detail}


def execution_status_change(execution_arn: str, status: str | None = None) -> dict[str, Any]:
    """Deliver the "Step Functions Execution Status Change" event AWS sends when an execution
    ends (shape of ``events/restore_execution_aborted.json``) to the default event bus, where
    the template's rule for unfinished restores matches it (``status`` overrides the
    execution's own, e.g. TIMED_OUT, which the emulator cannot reach in seconds)."""
    sfn = client("stepfunctions")
    found = sfn.describe_execution(executionArn=execution_arn)
    started = found["startDate"]
    stopped = found.get("stopDate") or started
    detail = {
        "executionArn": execution_arn,
        "stateMachineArn": found["stateMachineArn"],
        "name": found["name"],
        "status": status or found["status"],
        "startDate": int(started.timestamp() * 1000),
        "stopDate": int(stopped.timestamp() * 1000),
        "input": found.get("input", "{}"),
        "output": None,
    }
    entry = {
        "Source": "aws.states",
        "DetailType": "Step Functions Execution Status Change",
        "Resources": [execution_arn],
        "Detail": json.dumps(detail),
    }
    response = client("events").put_events(Entries=[entry])
    return {"event_id": response["Entries"][0].get("EventId"), "detail": detail}
