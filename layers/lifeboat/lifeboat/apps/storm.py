"""Alarm storm → one evacuation: when servers of one application fail together in one AZ, the
alarm router starts one evacuation of the application (``AutoEvacuate=true``) instead of one
restore per server, or (the default) proposes it: a dry run of the evacuation that sends the
on-call its plan and the exact ``lifeboat recover`` command (docs/runbooks/alarm-storm.md).

Several servers fail together when, at an alarm, two or more instances of the application in
the alarm's AZ are impaired (EC2's status checks) or have their Lifeboat alarm in ALARM since
at most the storm window (``AlarmStormWindowMinutes``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifeboat import tags as T
from lifeboat.apps.models import Application
from lifeboat.apps.stages import router_resource
from lifeboat.asg.membership import group_of
from lifeboat.guardrails import Guardrails, Refused
from lifeboat.plans import PlanSet
from lifeboat.ports import Ports

PREFIX = "lifeboat-"
_INSTANCE = re.compile(r"-(i-[0-9a-f]+)-(system|instance)$")


@dataclass(frozen=True)
class StormConfig:
    evacuate_arn: str
    window_minutes: int = 5
    auto_evacuate: bool = False


@dataclass(frozen=True)
class Storm:
    app: str
    az: str
    servers: tuple[str, ...]


def _application(tags: dict[str, str], plan: str, plans: PlanSet) -> tuple[str, Application] | None:
    declared = plans.plans.get(plan)
    for name, app in sorted((declared.applications if declared else {}).items()):
        if all(tags.get(k) == v for k, v in app.select.items()):
            return name, app
    return None


def detect(
    instance: dict[str, Any], plan: str, plans: PlanSet, ports: Ports, now: datetime, window: int
) -> Storm | None:
    """The storm the alarmed ``instance`` is part of, or None (then one restore, as before)."""
    tags = T.to_dict(instance.get("Tags"))
    found = _application(tags, plan, plans)
    az = instance.get("Placement", {}).get("AvailabilityZone")
    if found is None or az is None or group_of(tags) is not None:
        return None
    name, app = found
    members = {
        i: d
        for i, d in ports.ec2.describe_instances(ports.ec2.discover_instances(plan)).items()
        if d.get("Placement", {}).get("AvailabilityZone") == az
        and group_of(T.to_dict(d.get("Tags"))) is None
        and all(T.to_dict(d.get("Tags")).get(k) == v for k, v in app.select.items())
    }
    since = now - timedelta(minutes=window)
    alarmed = set()
    for alarm in ports.alarms.alarms(PREFIX, state="ALARM"):
        match = _INSTANCE.search(alarm["AlarmName"])
        updated = alarm.get("StateUpdatedTimestamp")
        if match and match.group(1) in members and (updated is None or updated >= since):
            alarmed.add(match.group(1))
    impaired = {
        i
        for i in members
        if i not in alarmed and "impaired" in ports.ec2_restore.status(i).values()
    }
    failing = alarmed | impaired | {instance["InstanceId"]}
    return Storm(name, az, tuple(sorted(failing))) if len(failing) >= 2 else None


def evacuation_name(storm: Storm, now: datetime, window: int, earlier: int = 0) -> str:
    """One name per application, AZ and storm window: every alarm of the storm maps to the
    same execution (``StartExecution`` is the dedupe); ``earlier`` windows back."""
    bucket = int(now.timestamp()) // (max(window, 1) * 60) - earlier
    return f"evacuate-{storm.app}-{storm.az}-{bucket}"[:80]


def route_storm(
    storm: Storm,
    alarm: str,
    ports: Ports,
    guard: Guardrails,
    config: StormConfig,
    now: datetime,
) -> dict[str, Any]:
    name = evacuation_name(storm, now, config.window_minutes)
    arn = config.evacuate_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    base = {"alarm": alarm, "app": storm.app, "az": storm.az, "servers": list(storm.servers)}
    if ports.executions.status(arn) is not None:
        return {**base, "action": "duplicate", "execution_arn": arn}
    # Alarms of one storm straddling two windows (14:04:59 and 14:05:01): the previous
    # window's evacuation is this storm's.
    previous = arn.rsplit(":", 1)[0] + ":" + evacuation_name(storm, now, config.window_minutes, 1)
    if ports.executions.status(previous) is not None:
        return {**base, "action": "duplicate", "execution_arn": previous}
    payload: dict[str, Any] = {
        "app": storm.app,
        "az": storm.az,
        "reason": f"alarm storm: servers of {storm.app} failing together in {storm.az}",
        "requested_by": "alarm-router",
    }
    if not config.auto_evacuate:
        # AutoEvacuate=false: a dry run whose plan goes to the on-call with the command.
        payload.update({"dry_run": True, "notify": True})
        started = ports.executions.start(config.evacuate_arn, name, payload)
        return {**base, "action": "evacuation_proposed", "execution_arn": started or arn}
    try:
        guard.check_breaker()
        prefix = arn.rsplit(":", 1)[0]
        # The evacuation counts as one automatic restore (one slot, one of the hour's).
        guard.take_slots(name, now, lambda n: ports.executions.status(f"{prefix}:{n}"))
    except Refused as refused:
        return {**base, "action": "refused", "guard": refused.guard, "reason": refused.reason}
    guard.record_alarm_execution(name, router_resource(storm.app, storm.az), alarm, now)
    started = ports.executions.start(config.evacuate_arn, name, payload)
    return {**base, "action": "evacuation_started", "execution_arn": started or arn}
