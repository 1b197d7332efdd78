"""Status-check alarms of protected instances, and routing their ALARM transitions to restores.

Lifeboat keeps, for every protected instance, a CloudWatch alarm on ``StatusCheckFailed_System``
(optionally ``StatusCheckFailed_Instance``) named ``lifeboat-<plan>-<instance>-system`` that
needs several consecutive failed periods. The template's EventBridge rule sends their ``ALARM``
transitions to the alarm-router function, which checks that the alarm is exactly the one
Lifeboat made for a protected instance, applies the guardrails and starts a restore.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lifeboat import tags as T
from lifeboat.apps.storm import StormConfig, detect, route_storm
from lifeboat.asg.members import ignored_member
from lifeboat.asg.membership import group_of
from lifeboat.guardrails import Guardrails, Refused
from lifeboat.models import ResourceRef
from lifeboat.plans import Kind, Name, PlanSet, default_plans
from lifeboat.ports import Ports
from lifeboat.timeutil import iso

PREFIX = "lifeboat-"
SYNC_RESERVE_SECONDS = 20  # stop creating alarms this long before the Lambda's timeout
CHECKS = {"system": "StatusCheckFailed_System", "instance": "StatusCheckFailed_Instance"}
INSTANCE_KINDS = frozenset({Kind.AMI, Kind.EBS})
GONE = frozenset({"shutting-down", "terminated"})
# The instance id is the last "-i-<hex>" before the check, so the plan parses unambiguously
# (plan "standard-eu" is never read as plan "standard").
_NAME = re.compile(
    r"^lifeboat-(?P<plan>[a-z][a-z0-9-]*)-(?P<instance>i-[0-9a-f]+)-(?P<check>system|instance)$"
)
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")  # Step Functions execution names: 1-80 of these


def alarm_name(plan: str, instance_id: str, check: str = "system") -> str:
    return f"{PREFIX}{plan}-{instance_id}-{check}"


def parse_alarm_name(name: str) -> tuple[str, str, str] | None:
    """(plan, instance id, check) of a name Lifeboat gives its alarms, else None."""
    match = _NAME.match(name)
    if match is None:
        return None
    return match.group("plan"), match.group("instance"), match.group("check")


class SyncRequest(BaseModel):
    """Input of the sync-alarms function (the backup run's plan, rule and batches)."""

    model_config = ConfigDict(extra="forbid")
    plan: Name
    rule: Name
    batches: list[list[ResourceRef]] = Field(min_length=1, max_length=10_000)


def _live(instance: dict[str, Any] | None, plan: str) -> bool:
    """Protected by ``plan`` now: exists, not terminated, tagged with the plan, not fenced,
    not a member of an Auto Scaling group (the group replaces a failed member itself)."""
    if instance is None or instance.get("State", {}).get("Name") in GONE:
        return False
    tags = T.to_dict(instance.get("Tags"))
    return tags.get(T.PLAN) == plan and T.FENCED not in tags and group_of(tags) is None


def sync_alarms(
    request: SyncRequest,
    periods: int,
    instance_check: bool,
    ports: Ports,
    plans: PlanSet | None = None,
    time_left: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Create missing alarms for the plan's protected instances, delete those of instances that
    are no longer protected by the plan (gone, untagged, of another plan, or fenced) — only
    Lifeboat's own: exact name of this plan and ``lifeboat:managed`` tag.

    The batches say which instances the run found; EC2 (``ports.ec2.describe_instances``) has
    the last word: an alarm is created only for an instance that carries the plan's tag and is
    not fenced, and deleted only when EC2 says the instance is not (so a partial or hostile
    batch list deletes nothing). A rule without instance kinds (``ami``/``ebs``) touches no
    alarm.

    The alarms adapter paces its calls under CloudWatch's quotas (``PutMetricAlarm`` 3 per
    second per account): a first run over a large fleet takes minutes, so the run creates
    alarms after its recovery points, and stops creating when ``time_left()`` (seconds of the
    Lambda's time) nears the end: the rest are reported as ``pending`` and the next run goes on
    from there."""
    _plan, rule = (plans or default_plans()).rule(request.plan, request.rule)
    base = {"plan": request.plan, "rule": request.rule}
    if not INSTANCE_KINDS & set(rule.kinds):
        return {**base, "alarms": 0, "created": 0, "pending": 0, "deleted": [], "skipped": True}
    listed = {
        r.id
        for batch in request.batches
        for r in batch
        if r.type == "instance" and INSTANCE_ID.match(r.id)
    }
    existing = _plan_alarms(ports, request.plan)
    alarmed = {instance_id for instance_id, _arn in existing.values()}
    live = ports.ec2.describe_instances(sorted(listed | alarmed))
    protected = sorted(i for i in listed if _live(live.get(i), request.plan))
    checks = ["system", "instance"] if instance_check else ["system"]
    wanted = {alarm_name(request.plan, i, c): (i, c) for i in protected for c in checks}
    missing = [name for name in sorted(wanted) if name not in existing]
    created = _create(ports, request.plan, missing, wanted, periods, time_left)
    stale = [
        name
        for name, (instance_id, _arn) in sorted(existing.items())
        if name not in wanted and not _live(live.get(instance_id), request.plan)
    ]
    deleted = [name for name in stale if _ours(ports, existing[name][1], request.plan)]
    ports.alarms.delete_alarms(deleted)
    return {
        **base,
        "alarms": len(wanted),
        "created": created,
        "pending": len(missing) - created,
        "deleted": deleted,
    }


def _plan_alarms(ports: Ports, plan: str) -> dict[str, tuple[str, str]]:
    """Lifeboat-named alarms of exactly ``plan`` (not of a plan it is a prefix of): name ->
    (instance id, alarm ARN)."""
    found: dict[str, tuple[str, str]] = {}
    for alarm in ports.alarms.alarms(f"{PREFIX}{plan}-"):
        parsed = parse_alarm_name(alarm["AlarmName"])
        if parsed is not None and parsed[0] == plan:
            found[alarm["AlarmName"]] = (parsed[1], alarm["AlarmArn"])
    return found


def _create(
    ports: Ports,
    plan: str,
    missing: list[str],
    wanted: dict[str, tuple[str, str]],
    periods: int,
    time_left: Callable[[], float] | None,
) -> int:
    created = 0
    for name in missing:
        if time_left is not None and time_left() < SYNC_RESERVE_SECONDS:
            break
        instance_id, check = wanted[name]
        ports.alarms.put_status_alarm(
            name,
            f"Lifeboat: {CHECKS[check]} of {instance_id} (plan {plan}); "
            "ALARM starts an automatic restore into another AZ",
            CHECKS[check],
            instance_id,
            periods,
            {T.MANAGED: "true", T.SOURCE: instance_id, T.PLAN: plan},
        )
        created += 1
    return created


def _ours(ports: Ports, alarm_arn: str, plan: str) -> bool:
    """Made by Lifeboat for ``plan``: tagged ``lifeboat:managed`` (and not another plan)."""
    tags = ports.alarms.tags(alarm_arn)
    return T.is_managed(tags) and tags.get(T.PLAN, plan) == plan


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


def execution_name(alarm: str, timestamp: str) -> str:
    """The restore's execution name, derived from the alarm transition alone (alarm name and the
    state's timestamp), so that the same transition delivered again maps to the same execution
    and ``StartExecution`` itself is the dedupe. Step Functions names: at most 80 characters of
    letters, digits, ``-`` and ``_``; the digest keeps names distinct after sanitizing."""
    parsed = parse_alarm_name(alarm)
    who = parsed[1] if parsed else _UNSAFE.sub("-", alarm)[:19]
    digits = re.sub(r"[^0-9]", "", timestamp)[:17]
    digest = hashlib.sha256(f"{alarm}\n{timestamp}".encode()).hexdigest()[:12]
    return f"alarm-{who}-{digits}-{digest}"[:80]


def route(
    event: AlarmStateChange,
    ports: Ports,
    guard: Guardrails,
    restore_arn: str,
    now: datetime,
    storm: StormConfig | None = None,
) -> dict[str, Any]:
    """Start a restore for an ALARM transition of a Lifeboat alarm, or say why not.

    Order: a Lifeboat alarm name → already started (dedupe by execution name) → the alarm is
    exactly the one Lifeboat made for that instance and plan, and the instance still carries
    the plan's tag → breaker → cooldown → not fenced, and EC2 reports its status checks
    impaired → caps (a slot taken only now, so a refusal consumes none) → provenance record →
    ``StartExecution``. A failed ``StartExecution`` raises, so EventBridge delivers the event
    again; the retry finds its own slot and record (same execution name)."""
    name = event.detail.alarm_name
    base = {"alarm": name, "state": event.detail.state.value}
    parsed = parse_alarm_name(name)
    if event.detail.state.value != "ALARM" or parsed is None:
        return {
            **base,
            "action": "ignored",
            "reason": "not an ALARM transition of a Lifeboat alarm",
        }
    plan, instance_id, check = parsed
    execution = execution_name(name, event.detail.state.timestamp)
    arn = restore_arn.replace(":stateMachine:", ":execution:") + f":{execution}"
    if ports.executions.status(arn) is not None:
        return {**base, "action": "duplicate", "instance_id": instance_id, "execution_arn": arn}
    try:
        instance = _identify(event, ports, plan, instance_id, check)
        early = ignored_member(base, instance_id, T.to_dict(instance.get("Tags")), ports)
        # Servers of one application failing together in one AZ: one evacuation, not N restores.
        found = (
            detect(instance, plan, default_plans(), ports, now, storm.window_minutes)
            if storm and early is None
            else None
        )
        if storm and found:
            early = route_storm(found, name, ports, guard, storm, now)
        if early is not None:
            return early
        guard.check_breaker()
        guard.check_cooldown(instance_id, now)
        _check_impaired(instance, ports, instance_id)
        prefix = arn.rsplit(":", 1)[0]
        guard.take_slots(execution, now, lambda n: ports.executions.status(f"{prefix}:{n}"))
    except Refused as refused:
        return _refuse(base, instance_id, refused, ports, guard, now)
    payload = {
        "instance_id": instance_id,
        "reason": f"{name}: {event.detail.state.reason}"[:500],
        "requested_by": f"alarm:{name}"[:300],
        "avoid_azs": impaired_azs(ports, exclude=instance_id),
    }
    guard.record_alarm_execution(execution, instance_id, name, now)
    # A failed start raises: the slot stays "starting" for the redelivery (or is reclaimed
    # after the grace period).
    started = ports.executions.start(restore_arn, execution, payload)
    if started is None:  # started by an earlier delivery
        return {**base, "action": "duplicate", "instance_id": instance_id, "execution_arn": arn}
    return {
        **base,
        "action": "started",
        "instance_id": instance_id,
        "execution_arn": started,
        "avoid_azs": payload["avoid_azs"],
    }


def _identify(
    event: AlarmStateChange, ports: Ports, plan: str, instance_id: str, check: str
) -> dict[str, Any]:
    """The instance, if the alarm is exactly the one Lifeboat made for it and its plan: the
    name is ``alarm_name(plan, instance, check)`` for the instance of its ``InstanceId``
    dimension (in the event and in CloudWatch), on the right metric, tagged
    ``lifeboat:managed``; and the instance still carries ``lifeboat:plan=<plan>``."""
    dimension = event.instance_id()
    if dimension != instance_id:
        raise Refused(
            "not_lifeboat_alarm",
            f"the alarm's InstanceId dimension is {dimension!r}, not {instance_id}",
        )
    alarm = ports.alarms.alarm(event.detail.alarm_name) or {}
    dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
    if (
        alarm.get("Namespace") != "AWS/EC2"
        or alarm.get("MetricName") != CHECKS[check]
        or dimensions != {"InstanceId": instance_id}
    ):
        raise Refused(
            "not_lifeboat_alarm",
            f"{event.detail.alarm_name} is not Lifeboat's {CHECKS[check]} alarm of {instance_id}",
        )
    if not T.is_managed(ports.alarms.tags(alarm["AlarmArn"])):
        raise Refused("not_lifeboat_alarm", f"{event.detail.alarm_name} was not made by Lifeboat")
    instance = ports.ec2.describe_instances([instance_id]).get(instance_id)
    if instance is None or instance.get("State", {}).get("Name") in GONE:
        raise Refused("not_protected", f"{instance_id} does not exist (or is terminated)")
    carried = T.to_dict(instance.get("Tags")).get(T.PLAN)
    if carried != plan:
        raise Refused(
            "not_protected",
            f"{instance_id} carries {T.PLAN}={carried!r}, not {plan!r}: not protected by it",
        )
    return instance


def _check_impaired(instance: dict[str, Any], ports: Ports, instance_id: str) -> None:
    """EC2 must itself report a failed status check (``DescribeInstanceStatus``)."""
    if T.FENCED in T.to_dict(instance.get("Tags")):
        raise Refused("fenced", f"{instance_id} is fenced (already replaced by a restore)")
    status = ports.ec2_restore.status(instance_id)
    system, own = status["system"], status["instance"]
    if "impaired" not in (system, own):
        raise Refused(
            "not_impaired",
            f"EC2 reports {instance_id}'s status checks as system {system}, instance {own}",
        )


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
    instances: list[str] = []
    for alarm in ports.alarms.alarms(PREFIX, state="ALARM"):
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
