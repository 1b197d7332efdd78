"""What EC2 Auto Scaling does and moto 5.2.x does not, filled in for local mode.

* A group launches its instances across its subnets' AZs, balanced (moto puts every instance in
  the first subnet), from the launch template version the group names (a number, ``$Latest`` or
  ``$Default``, resolved at launch), and reports each member's version as the one it was
  launched from (moto reports the template's default version for every member).
* ``CreateLaunchTemplateVersion`` keeps ``UserData`` as the base64 text it is (moto stores it
  unwrapped there, and its own launches from that version then fail).
* ``CreateAutoScalingGroup`` with the name of a group that exists answers ``AlreadyExists``
  (moto replaces the group).
* A member set ``Unhealthy`` (``SetInstanceHealth``, or the group's own health check) is
  terminated and replaced, as Auto Scaling does (moto only records the status).
* Instance refreshes (``StartInstanceRefresh``, ``DescribeInstanceRefreshes``,
  ``CancelInstanceRefresh``): moto has none. A refresh replaces the members whose template and
  version differ from the group's (``SkipMatching``; all members otherwise), in steps: each
  ``DescribeInstanceRefreshes`` moves it to its next checkpoint percentage (a pause at each
  checkpoint, as ``CheckpointPercentages`` asks), then ``Successful``. One refresh at a time per
  group (``InstanceRefreshInProgress``); cancelling one that is not running answers
  ``ActiveInstanceRefreshNotFound``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import moto.autoscaling.models as asg_models
import moto.autoscaling.responses as asg_responses
import moto.ec2.models.launch_templates as template_models
from moto.autoscaling.exceptions import AutoscalingClientError
from moto.core.responses import ActionResult
from moto.core.types import Base64EncodedString
from moto.elbv2.models import elbv2_backends

ORIGINAL_SET_HEALTH = asg_models.AutoScalingBackend.set_instance_health
ORIGINAL_CREATE_GROUP = asg_models.AutoScalingBackend.create_auto_scaling_group
ORIGINAL_CREATE_VERSION = template_models.LaunchTemplate.create_version
ACTIVE = ("Pending", "InProgress")


class InstanceRefreshInProgressError(AutoscalingClientError):  # type: ignore[misc]
    code = "InstanceRefreshInProgress"


class AlreadyExistsError(AutoscalingClientError):  # type: ignore[misc]
    code = "AlreadyExists"


class ActiveInstanceRefreshNotFoundError(AutoscalingClientError):  # type: ignore[misc]
    code = "ActiveInstanceRefreshNotFound"


@dataclass
class _Refresh:
    refresh_id: str
    group: str
    checkpoints: list[int]
    preferences: dict[str, Any]
    to_update: list[str]
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None
    replaced: list[str] = field(default_factory=list)
    status: str = "Pending"
    reason: str = ""

    @property
    def percentage(self) -> int:
        if not self.to_update:
            return 100
        return 100 * len(self.replaced) // len(self.to_update)

    def view(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "InstanceRefreshId": self.refresh_id,
            "AutoScalingGroupName": self.group,
            "Status": self.status,
            "StatusReason": self.reason,
            "StartTime": self.started,
            "PercentageComplete": self.percentage,
            "InstancesToUpdate": len(self.to_update) - len(self.replaced),
            "Preferences": self.preferences,
        }
        if self.ended is not None:
            found["EndTime"] = self.ended
        return found


def _refreshes(backend: Any) -> dict[str, list[_Refresh]]:
    found: dict[str, list[_Refresh]] | None = getattr(backend, "lifeboat_refreshes", None)
    if found is None:
        found = {}
        backend.lifeboat_refreshes = found
    return found


def _desired(group: Any) -> tuple[str, int] | None:
    template = group.ec2_launch_template
    if template is None:
        return None
    return template.id, template.get_version(group.launch_template_version).number


def _launched_from(instance: Any) -> tuple[str, int] | None:
    found: tuple[str, int] | None = getattr(instance, "lifeboat_launched_from", None)
    return found


# --- launches: balanced over the group's AZs, from the group's version ---------------------
def _replace(group: Any, count_needed: int, propagated_tags: dict[str, str]) -> None:
    propagated_tags[asg_models.ASG_NAME_TAG] = group.name
    propagated_tags.update(group.instance_tags)
    ec2 = group.autoscaling_backend.ec2_backend
    subnet_ids = [s for s in (group.vpc_zone_identifier or "").split(",") if s]
    subnets = ec2.describe_subnets(subnet_ids=subnet_ids) if subnet_ids else []
    desired = _desired(group)
    template = None
    if desired is not None:
        template = {"LaunchTemplateId": desired[0], "Version": str(desired[1])}
    for _ in range(count_needed):
        counts: dict[str, int] = {}
        for state in group.active_instances():
            zone = state.instance.placement.zone
            counts[zone] = counts.get(zone, 0) + 1
        subnet = min(subnets, key=lambda s: counts.get(s.availability_zone, 0)) if subnets else None
        zone = subnet.availability_zone if subnet is not None else group.availability_zones[0]
        reservation = ec2.run_instances(
            group.image_id,
            1,
            group.user_data,
            group.security_groups,
            instance_type=group.instance_type,
            tags={"instance": dict(propagated_tags)},
            placement=zone,
            launch_config=group.launch_config,
            launch_template=template,
            is_instance_type_default=False,
            associate_public_ip=None,
            subnet_id=subnet.id if subnet is not None else None,
        )
        for instance in reservation.instances:
            instance.autoscaling_group = group
            instance.lifeboat_launched_from = desired
            group.instance_states.append(
                asg_models.InstanceState(
                    instance, protected_from_scale_in=group.new_instances_protected_from_scale_in
                )
            )


def _create_group(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    if name in backend.autoscaling_groups:
        raise AlreadyExistsError(f"AutoScalingGroup by this name already exists - {name}")
    return ORIGINAL_CREATE_GROUP(backend, name, *args, **kwargs)


def _create_version(template: Any, data: dict[str, Any], description: str) -> Any:
    user_data = data.get("UserData")
    if isinstance(user_data, str):
        data = {**data, "UserData": Base64EncodedString(user_data)}
    return ORIGINAL_CREATE_VERSION(template, data, description)


def _member_template(state: Any) -> dict[str, Any] | None:
    group = state.auto_scaling_group
    if group is None or group.ec2_launch_template is None:
        return None
    launched = _launched_from(state.instance)
    template = group.ec2_launch_template
    if launched is not None and launched[0] != template.id:
        found = group.autoscaling_backend.ec2_backend.launch_templates.get(launched[0])
        template = found or template
    version = launched[1] if launched is not None else template.default_version_number
    return {
        "LaunchTemplateId": template.id,
        "LaunchTemplateName": template.name,
        "Version": str(version),
    }


def _terminate(backend: Any, instance_ids: list[str]) -> None:
    """Terminate members as Auto Scaling does: EC2 terminates them, the group launches their
    replacements and load balancers forget them (moto does the last two in its EC2 API
    handler, not its backend)."""
    backend.ec2_backend.terminate_instances(instance_ids)
    backend.notify_terminate_instances(instance_ids)
    elbv2_backends[backend.account_id][backend.region_name].notify_terminate_instances(instance_ids)


def _set_instance_health(backend: Any, instance_id: str, health_status: str) -> None:
    """Auto Scaling terminates an unhealthy member and launches its replacement."""
    ORIGINAL_SET_HEALTH(backend, instance_id, health_status)
    if health_status == "Unhealthy":
        _terminate(backend, [instance_id])


# --- instance refresh -------------------------------------------------------------------------
def _advance(backend: Any, refresh: _Refresh) -> None:
    """One step of a refresh: replace members up to its next checkpoint (then it pauses)."""
    if refresh.status not in ACTIVE:
        return
    refresh.status = "InProgress"
    group = backend.autoscaling_groups.get(refresh.group)
    if group is None:
        refresh.status, refresh.reason = "Failed", "the group was deleted"
        refresh.ended = datetime.now(UTC)
        return
    done = len(refresh.replaced)
    total = len(refresh.to_update)
    upcoming = [c for c in refresh.checkpoints if math.ceil(total * c / 100) > done] or [100]
    target = math.ceil(total * upcoming[0] / 100)
    members = {s.instance.id for s in group.instance_states}
    for instance_id in refresh.to_update[done:target]:
        if instance_id in members:
            _terminate(backend, [instance_id])
        refresh.replaced.append(instance_id)
    if len(refresh.replaced) >= total:
        refresh.status, refresh.reason = "Successful", ""
        refresh.ended = datetime.now(UTC)


def _start_instance_refresh(response: Any) -> ActionResult:
    backend = response.autoscaling_backend
    name = response._get_param("AutoScalingGroupName")
    preferences = response._get_param("Preferences") or {}
    group = backend.autoscaling_groups.get(name)
    if group is None:
        raise AutoscalingClientError("ValidationError", f"AutoScalingGroup name not found - {name}")
    refreshes = _refreshes(backend).setdefault(name, [])
    if any(r.status in ACTIVE for r in refreshes):
        raise InstanceRefreshInProgressError(
            f"An Instance Refresh is already in progress and blocks the execution of this "
            f"Instance Refresh for group {name}."
        )
    desired = _desired(group)
    skip = bool(preferences.get("SkipMatching", False))
    to_update = [
        s.instance.id
        for s in group.instance_states
        if not skip or _launched_from(s.instance) != desired
    ]
    checkpoints = sorted(int(c) for c in preferences.get("CheckpointPercentages") or [100])
    refresh = _Refresh(str(uuid.uuid4()), name, checkpoints, dict(preferences), to_update)
    refreshes.insert(0, refresh)
    return ActionResult({"InstanceRefreshId": refresh.refresh_id})


def _describe_instance_refreshes(response: Any) -> ActionResult:
    backend = response.autoscaling_backend
    name = response._get_param("AutoScalingGroupName")
    wanted = set(response._get_param("InstanceRefreshIds") or [])
    found = [r for r in _refreshes(backend).get(name, []) if not wanted or r.refresh_id in wanted]
    for refresh in found:
        _advance(backend, refresh)
    return ActionResult({"InstanceRefreshes": [r.view() for r in found]})


def _cancel_instance_refresh(response: Any) -> ActionResult:
    backend = response.autoscaling_backend
    name = response._get_param("AutoScalingGroupName")
    active = [r for r in _refreshes(backend).get(name, []) if r.status in ACTIVE]
    if not active:
        raise ActiveInstanceRefreshNotFoundError(
            f"No in progress or pending Instance Refresh for {name}"
        )
    active[0].status, active[0].ended = "Cancelled", datetime.now(UTC)
    return ActionResult({"InstanceRefreshId": active[0].refresh_id})


@contextmanager
def autoscaling_gap_fills() -> Iterator[None]:
    """Every Auto Scaling gap-fill above, in place until exit."""
    patches: list[Any] = [
        mock.patch.object(
            asg_models.FakeAutoScalingGroup, "replace_autoscaling_group_instances", _replace
        ),
        mock.patch.object(asg_models.InstanceState, "launch_template", property(_member_template)),
        mock.patch.object(
            asg_models.AutoScalingBackend, "set_instance_health", _set_instance_health
        ),
        mock.patch.object(template_models.LaunchTemplate, "create_version", _create_version),
        mock.patch.object(
            asg_models.AutoScalingBackend, "create_auto_scaling_group", _create_group
        ),
    ]
    for action, fill in (
        ("start_instance_refresh", _start_instance_refresh),
        ("describe_instance_refreshes", _describe_instance_refreshes),
        ("cancel_instance_refresh", _cancel_instance_refresh),
    ):
        patches.append(
            mock.patch.object(asg_responses.AutoScalingResponse, action, fill, create=True)
        )
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield
