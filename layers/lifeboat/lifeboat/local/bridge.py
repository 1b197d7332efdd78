"""The one place where local mode reaches into moto's internals, as context-manager patches.

Each concern is a module of its own, each patch a context manager (``mock.patch.object``):

* :mod:`~lifeboat.local.lambdas` — the template's functions run in-process by their handlers,
  each invocation in its own environment;
* :mod:`~lifeboat.local.waits` — Wait states and Retry back-offs compressed;
* :mod:`~lifeboat.local.asl` — each state machine definition parsed once, not per execution;
* :mod:`~lifeboat.local.gapfill` — what EC2 does and moto does not (CreateImage's snapshots and
  their tags, snapshot locks, indexed tag lookups, impaired status checks);
* :mod:`~lifeboat.local.sfn_gapfill` — the Step Functions integration's PascalCase request and
  answer (``startExecution.sync:2``);
* :mod:`~lifeboat.local.asg_gapfill` — what EC2 Auto Scaling does and moto does not (balanced
  launches from the group's template version, health replacement, instance refreshes);
* :mod:`~lifeboat.local.events` — EventBridge delivery to Lambda targets;
* :mod:`~lifeboat.local.meter` — measuring mode (latency, EC2's token buckets, call counts).

:meth:`Bridge.patches` enters them all in one :class:`contextlib.ExitStack`, so removing them is
the reverse of installing them, by construction. ``tests/integration/test_bridge.py`` fails
loudly if anything patched here changes in moto.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import moto.autoscaling.models as asg_models
import moto.autoscaling.models as autoscaling_models
import moto.awslambda.models as lambda_models
import moto.core.responses as core_responses
import moto.ec2.models.amis as ami_models
import moto.ec2.models.core as ec2_core
import moto.ec2.models.instances as instance_models
import moto.ec2.models.launch_templates as template_models
import moto.ec2.responses as ec2_responses
import moto.events.models as events_models
import moto.route53.models as route53_models
import moto.ssm.models as ssm_models
import moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function as wait_fn
from moto.core.config import default_user_config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from lifeboat.local import waits
from lifeboat.local.apps_gapfill import apps_gap_fills
from lifeboat.local.arc_gapfill import arc_gap_fills
from lifeboat.local.asg_gapfill import autoscaling_gap_fills
from lifeboat.local.asl import parsed_once
from lifeboat.local.copy_gapfill import copy_gap_fills
from lifeboat.local.dynamo_gapfill import dynamo_gap_fills
from lifeboat.local.events import lambda_targets
from lifeboat.local.gapfill import Impairments, ec2_gap_fills
from lifeboat.local.lambdas import (
    Functions,
    LocalContext,
    LocalFunction,
    bridged_invoke,
    per_invocation_environ,
)
from lifeboat.local.meter import Meter, metered
from lifeboat.local.rds_gapfill import rds_gap_fills
from lifeboat.local.sfn_gapfill import SfnTask, sfn_gap_fills
from lifeboat.local.ssm_gapfill import SsmFaults, ssm_gap_fills
from lifeboat.local.volume_gapfill import volume_gap_fills

__all__ = ["BRIDGE", "ORIGINALS", "PATCHED", "Bridge", "LocalContext", "LocalFunction", "Meter"]

# What local mode patches in moto (checked by the bridge test).
PATCHED = {
    "lambda invoke": (lambda_models.LambdaFunction, "invoke"),
    "wait state": (wait_fn.WaitFunction, "_wait_interval"),
    "create image": (ami_models.AmiBackend, "create_image"),
    "ec2 responses": (ec2_responses.EC2Response, "call_action"),
    "ami mappings": (ami_models.Ami, "block_device_mappings"),
    "ami filters": (ami_models.Ami, "get_filter_value"),
    "event targets": (events_models.Rule, "send_to_targets"),
    "ec2 tags": (ec2_core.TaggedEC2Resource, "get_tags"),
    "measure": (core_responses.BaseResponse, "call_action"),
    "system status": (instance_models.Instance, "system_status"),
    "instance status": (instance_models.Instance, "instance_status"),
    "asl parser": (AmazonStateLanguageParser, "parse"),
    "sfn integration request": (SfnTask, "_normalise_parameters"),
    "sfn integration answer": (SfnTask, "_normalise_response"),
    "asg launches": (asg_models.FakeAutoScalingGroup, "replace_autoscaling_group_instances"),
    "asg member template": (asg_models.InstanceState, "launch_template"),
    "asg instance health": (asg_models.AutoScalingBackend, "set_instance_health"),
    "launch template versions": (template_models.LaunchTemplate, "create_version"),
    "asg create": (asg_models.AutoScalingBackend, "create_auto_scaling_group"),
    "route53 zone ids": (route53_models, "create_route53_zone_id"),
    "group subnets": (autoscaling_models.AutoScalingBackend, "update_auto_scaling_group"),
    "arc zonal shift": (DomainDispatcherApplication, "get_application"),
    "ssm invocations": (ssm_models.Command, "invocation_response"),
}
# moto's own members, as imported (before any patch).
ORIGINALS = {name: getattr(owner, attribute) for name, (owner, attribute) in PATCHED.items()}


@dataclass
class Bridge:
    """Local mode's patches of moto and what they record; :data:`BRIDGE` is the one in use."""

    lambdas: Functions = field(default_factory=Functions)
    time_scale: float = 0.001  # Step Functions Wait states and Retry intervals
    sdk_time_scale: float = 1.0  # botocore's retry back-off (tests compress it)
    meter: Meter = field(default_factory=Meter)
    impairments: Impairments = field(default_factory=Impairments)
    ssm_faults: SsmFaults = field(default_factory=SsmFaults)  # agents offline, scripts failing
    _installed: ExitStack | None = None

    # The functions, their invocations and what the asynchronous ones answered.
    @property
    def functions(self) -> dict[str, LocalFunction]:
        return self.lambdas.functions

    @property
    def invocations(self) -> dict[str, int]:
        return self.lambdas.invocations

    @property
    def seconds(self) -> dict[str, float]:
        return self.lambdas.seconds

    @property
    def longest(self) -> dict[str, float]:
        return self.lambdas.longest

    @property
    def async_results(self) -> list[tuple[str, Any, bool]]:
        return self.lambdas.async_results

    @property
    def local_environment(self) -> dict[str, str]:
        """Applied over every function's own variables (local mode's compressed back-offs)."""
        return self.lambdas.local_environment

    def register(self, fn: LocalFunction) -> None:
        self.lambdas.register(fn)

    def invoke(self, name: str, event: Any) -> tuple[bytes, bool]:
        """Run the handler; returns (payload, errored) exactly as Lambda would."""
        return self.lambdas.invoke(name, event)

    def wait_async(self, timeout: float = 60) -> None:
        """Wait for every asynchronous invocation (EventBridge targets) started so far."""
        self.lambdas.wait_async(timeout)

    def impair(self, instance_id: str, check: str = "system", impaired: bool = True) -> None:
        """Make EC2 report ``check`` (``system`` or ``instance``) of a running instance as
        ``impaired`` (or ``ok`` again) in DescribeInstanceStatus."""
        self.impairments.set(instance_id, check, impaired)

    def forget_functions(self) -> None:
        """The emulator was reset: no function is deployed any more."""
        self.lambdas.clear()

    # --- the patches ------------------------------------------------------------------------
    @contextmanager
    def patches(self) -> Iterator[Bridge]:
        """Every patch of local mode, in place until exit (removed in reverse order)."""
        with ExitStack() as stack:
            stack.enter_context(
                mock.patch.dict(default_user_config["stepfunctions"], execute_state_machine=True)
            )
            stack.enter_context(per_invocation_environ(self.lambdas))
            stack.enter_context(bridged_invoke(self.lambdas))
            stack.enter_context(waits.compressed_state_machine_time(lambda: self.time_scale))
            stack.enter_context(waits.compressed_sdk_backoff(lambda: self.sdk_time_scale))
            stack.enter_context(parsed_once())
            stack.enter_context(ec2_gap_fills(self.impairments))
            stack.enter_context(copy_gap_fills())
            stack.enter_context(sfn_gap_fills())
            stack.enter_context(autoscaling_gap_fills())
            stack.enter_context(apps_gap_fills())
            stack.enter_context(arc_gap_fills())
            stack.enter_context(rds_gap_fills())
            stack.enter_context(dynamo_gap_fills())
            stack.enter_context(ssm_gap_fills(self.ssm_faults))
            stack.enter_context(volume_gap_fills())
            stack.enter_context(lambda_targets(self.lambdas))
            stack.enter_context(metered(self.meter))
            yield self

    def install(self) -> None:
        """Enter :meth:`patches` until :meth:`uninstall` (for owners that are not ``with``)."""
        if self._installed is not None:
            return
        stack = ExitStack()
        stack.enter_context(self.patches())
        self._installed = stack

    def uninstall(self) -> None:
        if self._installed is not None:
            stack, self._installed = self._installed, None
            stack.close()

    @property
    def installed(self) -> bool:
        return self._installed is not None


BRIDGE = Bridge()
