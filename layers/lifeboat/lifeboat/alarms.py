"""Status-check alarms of protected instances, and routing their ALARM transitions to restores.

Lifeboat keeps, for every protected instance, a CloudWatch alarm on ``StatusCheckFailed_System``
(optionally ``StatusCheckFailed_Instance``) named ``lifeboat-<plan>-<instance>-system`` that
needs several consecutive failed periods. The template's EventBridge rule sends their ``ALARM``
transitions to the alarm-router function, which applies the guardrails and starts a restore.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from lifeboat import tags as T
from lifeboat.aws.clients import Retrier, client, error_code
from lifeboat.backup import Ports
from lifeboat.guardrails import Guardrails, Refused
from lifeboat.timeutil import iso

PREFIX = "lifeboat-"
SYNC_RESERVE_SECONDS = 20  # stop creating alarms this long before the Lambda's timeout
CHECKS = {"system": "StatusCheckFailed_System", "instance": "StatusCheckFailed_Instance"}
_NAME = re.compile(
    r"^lifeboat-(?P<plan>[a-z][a-z0-9-]*?)-(?P<instance>i-[0-9a-f]+)-(?P<check>system|instance)$"
)


def alarm_name(plan: str, instance_id: str, check: str = "system") -> str:
    return f"{PREFIX}{plan}-{instance_id}-{check}"


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    plan: str
    batches: list[list[dict[str, Any]]] = Field(default_factory=list)


def sync_alarms(
    request: SyncRequest,
    periods: int,
    instance_check: bool,
    cloudwatch: Any = None,
    retrier: Retrier | None = None,
    time_left: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Create missing alarms for the plan's protected instances, delete those of instances that
    are gone (only Lifeboat's own: name prefix and ``lifeboat:managed`` tag).

    Calls go through ``retrier``, whose pacer keeps them under CloudWatch's quotas
    (``PutMetricAlarm`` 3 per second per account): a first run over a large fleet takes minutes,
    so the run creates alarms after its recovery points, and stops creating when
    ``time_left()`` (seconds of the Lambda's time) nears the end: the rest are reported as
    ``pending`` and the next run goes on from there."""
    cw = cloudwatch or client("cloudwatch")
    calls = retrier or Retrier()
    instances = sorted(
        {r["id"] for batch in request.batches for r in batch if r.get("type") == "instance"}
    )
    checks = ["system", "instance"] if instance_check else ["system"]
    wanted = {alarm_name(request.plan, i, c): (i, c) for i in instances for c in checks}
    existing: dict[str, dict[str, Any]] = {}
    for page in cw.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=f"{PREFIX}{request.plan}-", AlarmTypes=["MetricAlarm"]
    ):
        for alarm in page["MetricAlarms"]:
            existing[alarm["AlarmName"]] = alarm
    missing = [name for name in sorted(wanted) if name not in existing]
    created: list[str] = []
    for name in missing:
        if time_left is not None and time_left() < SYNC_RESERVE_SECONDS:
            break
        instance_id, check = wanted[name]
        calls.call(
            cw.put_metric_alarm,
            AlarmName=name,
            AlarmDescription=(
                f"Lifeboat: {CHECKS[check]} of {instance_id} (plan {request.plan}); "
                "ALARM starts an automatic restore into another AZ"
            ),
            Namespace="AWS/EC2",
            MetricName=CHECKS[check],
            Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=periods,
            DatapointsToAlarm=periods,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="missing",
            Tags=T.to_list({T.MANAGED: "true", T.SOURCE: instance_id, T.PLAN: request.plan}),
        )
        created.append(name)
    stale = [name for name in existing if name not in wanted and _NAME.match(name)]
    deleted = []
    for name in stale:
        arn = existing[name]["AlarmArn"]
        tags = T.to_dict(calls.call(cw.list_tags_for_resource, ResourceARN=arn).get("Tags"))
        if T.is_managed(tags):
            deleted.append(name)
    for start in range(0, len(deleted), 100):  # DeleteAlarms takes up to 100 names
        calls.call(cw.delete_alarms, AlarmNames=deleted[start : start + 100])
    return {
        "plan": request.plan,
        "alarms": len(wanted),
        "created": len(created),
        "pending": len(missing) - len(created),
        "deleted": deleted,
    }


# --- the router -----------------------------------------------------------------------------------
class AlarmState(BaseModel):
    model_config = ConfigDict(extra="ignore")
    value: str
    reason: str = ""
    timestamp: str


class AlarmDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    alarm_name: str = Field(alias="alarmName")
    state: AlarmState
    previous_state: AlarmState | None = Field(None, alias="previousState")
    configuration: dict[str, Any] = Field(default_factory=dict)


class AlarmStateChange(BaseModel):
    """The "CloudWatch Alarm State Change" event EventBridge delivers."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    time: str
    region: str
    resources: list[str] = Field(default_factory=list)
    detail: AlarmDetail

    def instance_id(self) -> str | None:
        for metric in self.detail.configuration.get("metrics", []):
            dimensions = metric.get("metricStat", {}).get("metric", {}).get("dimensions", {})
            if dimensions.get("InstanceId"):
                return str(dimensions["InstanceId"])
        match = _NAME.match(self.detail.alarm_name)
        return match.group("instance") if match else None


def route(
    event: AlarmStateChange, ports: Ports, guard: Guardrails, restore_arn: str, now: datetime
) -> dict[str, Any]:
    name = event.detail.alarm_name
    base = {"alarm": name, "state": event.detail.state.value}
    if event.detail.state.value != "ALARM" or not _NAME.match(name):
        return {
            **base,
            "action": "ignored",
            "reason": "not an ALARM transition of a Lifeboat alarm",
        }
    instance_id = event.instance_id()
    if instance_id is None:
        return {**base, "action": "ignored", "reason": "no InstanceId in the alarm"}
    if not guard.first_delivery(f"{name}#{event.detail.state.timestamp}", now):
        return {**base, "action": "duplicate", "instance_id": instance_id}
    sfn = client("stepfunctions")
    execution_name = (
        f"alarm-{instance_id}-{re.sub(r'[^0-9]', '', event.detail.state.timestamp)[:14]}"
    )
    try:
        guard.check_breaker()
        guard.check_cooldown(instance_id, now)
        guard.take_slots(execution_name, now, lambda n: _running(sfn, restore_arn, n))
    except Refused as refused:
        return _refuse(base, instance_id, refused, ports, guard, now)
    payload = {
        "instance_id": instance_id,
        "trigger": "alarm",
        "reason": f"{name}: {event.detail.state.reason}"[:500],
        "requested_by": f"alarm:{name}",
        "avoid_azs": impaired_azs(ports, exclude=instance_id),
    }
    import json

    try:
        response = sfn.start_execution(
            stateMachineArn=restore_arn, name=execution_name, input=json.dumps(payload)
        )
    except ClientError:
        guard.release_running(execution_name)
        raise
    return {
        **base,
        "action": "started",
        "instance_id": instance_id,
        "execution_arn": response["executionArn"],
        "avoid_azs": payload["avoid_azs"],
    }


def _running(sfn: Any, restore_arn: str, execution_name: str) -> bool:
    arn = restore_arn.replace(":stateMachine:", ":execution:") + f":{execution_name}"
    try:
        return str(sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING"
    except ClientError as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return False
        raise


def _refuse(
    base: dict[str, Any],
    instance_id: str,
    refused: Refused,
    ports: Ports,
    guard: Guardrails,
    now: datetime,
) -> dict[str, Any]:
    result = {
        **base,
        "action": "refused",
        "instance_id": instance_id,
        "guard": refused.guard,
        "reason": refused.reason,
    }
    from lifeboat.observability import logger

    logger.warning("automatic restore refused", extra=result)
    if ports.notifier is not None and guard.notify_once(
        f"{instance_id}#{refused.guard}", now, guard.config.cooldown_minutes or 30
    ):
        ports.notifier.publish(
            f"Lifeboat refused an automatic restore of {instance_id} ({refused.guard})",
            {**result, "at": iso(now)},
        )
    return result


def impaired_azs(ports: Ports, exclude: str) -> list[str]:
    """AZs of other protected instances whose Lifeboat alarms are in ALARM: several alarms in
    one AZ mean AZ-wide trouble, so restores avoid it."""
    cw = client("cloudwatch")
    instances: list[str] = []
    for page in cw.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=PREFIX, StateValue="ALARM"
    ):
        for alarm in page["MetricAlarms"]:
            match = _NAME.match(alarm["AlarmName"])
            if alarm.get("StateValue") != "ALARM":
                continue
            if match and match.group("instance") != exclude:
                instances.append(match.group("instance"))
    zones = (
        {
            i.get("Placement", {}).get("AvailabilityZone")
            for i in ports.ec2.describe_instances(instances).values()
        }
        if instances
        else set()
    )
    own = (
        ports.ec2.describe_instances([exclude])
        .get(exclude, {})
        .get("Placement", {})
        .get("AvailabilityZone")
    )
    return sorted(z for z in zones | ({own} if own else set()) if z)
