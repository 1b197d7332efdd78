"""SSM Run Command in local mode: what real SSM does and moto 5.2.x does not.

* ``DescribeInstanceInformation``: every running EC2 instance of the region is a managed
  instance whose agent is ``Online`` (as if each had the SSM agent and an instance profile with
  AmazonSSMManagedInstanceCore), except those :class:`SsmFaults` takes offline.
* ``ListCommandInvocations`` (by ``CommandId``, with ``CommandPlugins`` when ``Details``).
* Invocation results: moto answers ``Success`` for every instance of every command; here an
  instance's run of a command ends as :class:`SsmFaults` says (``Failed`` with exit code 1,
  ``TimedOut``, or ``InProgress`` forever: an agent that never answers), in
  ``GetCommandInvocation`` and ``ListCommandInvocations`` alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import moto.ec2.models as ec2_models
import moto.ssm.models as ssm_models
import moto.ssm.responses as ssm_responses
from moto.core.responses import ActionResult

ORIGINAL_INVOCATION = ssm_models.Command.invocation_response


@dataclass
class SsmFaults:
    """Instances whose agent is offline, and how an instance's next commands end."""

    offline: set[str] = field(default_factory=set)
    # instance id -> [(text the command's parameters contain, or "" for any; final status)]
    outcomes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def set_offline(self, instance_id: str, offline: bool = True) -> None:
        if offline:
            self.offline.add(instance_id)
        else:
            self.offline.discard(instance_id)

    def set_outcome(self, instance_id: str, status: str, when: str = "") -> None:
        """Commands sent to ``instance_id`` whose parameters contain ``when`` end ``status``
        (``Failed``, ``TimedOut``, ``InProgress``: never ends)."""
        self.outcomes.setdefault(instance_id, []).append((when, status))

    def clear(self) -> None:
        self.offline.clear()
        self.outcomes.clear()

    def status_of(self, instance_id: str, parameters: Any) -> str | None:
        text = json.dumps(parameters or {}, sort_keys=True)
        for when, status in self.outcomes.get(instance_id, []):
            if when in text:
                return status
        return None


def _invocation(faults: SsmFaults) -> Any:
    def invocation_response(command: Any, instance_id: str, plugin_name: str) -> dict[str, Any]:
        found: dict[str, Any] = ORIGINAL_INVOCATION(command, instance_id, plugin_name)
        status = faults.status_of(instance_id, command.parameters)
        if status is not None:
            code = {"Failed": 1, "TimedOut": 124, "InProgress": -1}.get(status, 1)
            found.update(
                Status=status,
                StatusDetails=status,
                ResponseCode=code,
                StandardErrorContent="" if status == "InProgress" else f"local mode: {status}",
            )
        return found

    return invocation_response


def _describe_instance_information(faults: SsmFaults) -> Any:
    def describe(response: Any) -> Any:
        wanted: set[str] | None = None
        for flt in response._get_param("Filters", []) or []:
            if flt.get("Key") == "InstanceIds":
                wanted = set(flt.get("Values", []))
        backend = ec2_models.ec2_backends[response.current_account][response.region]
        found = []
        for reservation in backend.all_reservations():
            for instance in reservation.instances:
                if instance.state != "running" or (
                    wanted is not None and instance.id not in wanted
                ):
                    continue
                found.append(
                    {
                        "InstanceId": instance.id,
                        "PingStatus": "ConnectionLost"
                        if instance.id in faults.offline
                        else "Online",
                        "PlatformType": "Linux",
                        "ResourceType": "EC2Instance",
                        "AgentVersion": "3.3.0.0",
                    }
                )
        return ActionResult({"InstanceInformationList": found})

    return describe


def _list_command_invocations(response: Any) -> Any:
    command_id = response._get_param("CommandId")
    details = bool(response._get_param("Details", False))
    backend = response.ssm_backend
    commands = [backend.get_command_by_id(command_id)] if command_id else backend._commands
    found = []
    for command in commands:
        for invocation in command.invocations:
            item = {
                "CommandId": command.command_id,
                "InstanceId": invocation["InstanceId"],
                "DocumentName": command.document_name,
                "Comment": command.comment,
                "Status": invocation["Status"],
                "StatusDetails": invocation["StatusDetails"],
            }
            if details:
                item["CommandPlugins"] = [
                    {
                        "Name": invocation["PluginName"],
                        "Status": invocation["Status"],
                        "ResponseCode": invocation["ResponseCode"],
                        "Output": invocation["StandardOutputContent"]
                        + invocation["StandardErrorContent"],
                    }
                ]
            found.append(item)
    return ActionResult({"CommandInvocations": found})


@contextmanager
def ssm_gap_fills(faults: SsmFaults) -> Iterator[None]:
    """Every SSM gap-fill above, in place until exit."""
    patches: list[Any] = [
        mock.patch.object(ssm_models.Command, "invocation_response", _invocation(faults)),
        mock.patch.object(
            ssm_responses.SimpleSystemManagerResponse,
            "describe_instance_information",
            _describe_instance_information(faults),
            create=True,
        ),
        mock.patch.object(
            ssm_responses.SimpleSystemManagerResponse,
            "list_command_invocations",
            _list_command_invocations,
            create=True,
        ),
    ]
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield
