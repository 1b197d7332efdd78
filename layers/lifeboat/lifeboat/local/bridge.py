"""The one place where local mode reaches into moto's internals.

moto runs Lambda functions in Docker, which local mode does not have, so invocations of the
functions that ``template.yaml`` declares are bridged to their real handlers, in-process. Wait
states and Retry back-offs of moto's Step Functions engine are compressed so a demo takes
seconds. moto 5.2.x cannot tag an AMI's snapshots in CreateImage (``TagSpecifications`` with
``ResourceType: snapshot``, which real EC2 supports and Lifeboat relies on): that is filled in.
moto's CreateImage snapshots only the root volume; the bridge snapshots every attached EBS
volume as EC2 does, lists them in the image's block-device mappings, and answers DescribeImages'
``block-device-mapping.snapshot-id`` filter. moto has no snapshot locks at all:
``DescribeLockedSnapshots`` answers, truthfully for the emulator, that no snapshot is locked (the
locked path is tested with botocore's Stubber). moto's EventBridge matches rules but cannot
deliver to Lambda targets: a matching rule's Lambda targets are invoked here, asynchronously as
EventBridge does, with the event moto matched. moto looks a resource's tags up by scanning every
tag it holds (tens of seconds per filtered Describe over thousands of snapshots): the lookup is
answered from moto's own per-resource tag dict instead. moto's status checks are always ``ok``:
the harness marks an instance's system or instance check ``impaired`` (:meth:`Bridge.impair`),
as EC2 reports when a status-check alarm fires.

Measuring mode (off by default, on in the benchmark) makes the emulator AWS-shaped: a fixed
latency per API call and EC2's published token buckets enforced per API, answering
``RequestLimitExceeded`` exactly as EC2 does when a bucket is empty; it counts every call.

``tests/integration/test_bridge.py`` fails loudly if anything patched here changes in moto.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import moto.awslambda.models as lambda_models
import moto.core.responses as core_responses
import moto.ec2.models.amis as ami_models
import moto.ec2.models.core as ec2_core
import moto.ec2.models.instances as instance_models
import moto.ec2.models.tags as ec2_tags
import moto.ec2.responses as ec2_responses
import moto.events.models as events_models
import moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function as wait_fn
from moto.core.config import default_user_config
from moto.core.responses import ActionResult
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

# What this module patches (checked by the bridge test).
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
}


@dataclass
class LocalFunction:
    name: str
    code_dir: Path
    handler: str
    timeout: int = 300
    memory: int = 512
    arn: str = ""
    _module: ModuleType | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def entry_point(self) -> Callable[[Any, Any], Any]:
        module_name, func_name = self.handler.rsplit(".", 1)
        with self._lock:
            if self._module is None:
                path = self.code_dir / f"{module_name.replace('.', '/')}.py"
                spec = importlib.util.spec_from_file_location(f"lifeboat_fn_{self.name}", path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load handler {self.handler} from {self.code_dir}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                self._module = module
        handler: Callable[[Any, Any], Any] = getattr(self._module, func_name)
        return handler


class LocalContext:
    """The parts of a Lambda context object that handlers and Powertools read."""

    def __init__(self, fn: LocalFunction) -> None:
        self.function_name = fn.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.arn
        self.memory_limit_in_mb = fn.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{fn.name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + fn.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


EC2_THROTTLE_BODY = (
    "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
    "exceeded.</Message></Error></Errors><RequestID>lifeboat-measure</RequestID></Response>"
)


@dataclass
class Meter:
    """What the emulator answered, per API action, while measuring."""

    latency: float = 0.05
    enforce: bool = True
    active: bool = False
    calls: dict[str, int] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)
    times: dict[str, list[float]] = field(default_factory=dict)  # epoch seconds of each call
    buckets: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, latency: float = 0.05, enforce: bool = True) -> None:
        from lifeboat.pacing import AWS_BUCKETS, TokenBucket

        with self._lock:
            self.latency, self.enforce, self.active = latency, enforce, True
            self.calls, self.throttled, self.times = {}, {}, {}
            self.buckets = {name: TokenBucket(b, r) for name, (b, r) in AWS_BUCKETS.items()}

    def stop(self) -> None:
        self.active = False

    def admit(self, action: str, is_ec2: bool) -> bool:
        """Count the call; False when EC2 would throttle it."""
        now = time.time()  # wall clock, like the run's create_started_at
        with self._lock:
            self.calls[action] = self.calls.get(action, 0) + 1
            self.times.setdefault(action, []).append(now)
            bucket = self.buckets.get(action) if is_ec2 and self.enforce else None
            if bucket is not None and bucket.delay() > 0:
                bucket.tokens += 1  # a refused call takes no token
                self.throttled[action] = self.throttled.get(action, 0) + 1
                return False
        return True


@dataclass
class Bridge:
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    time_scale: float = 0.001
    invocations: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    _async: list[threading.Thread] = field(default_factory=list)
    async_results: list[tuple[str, Any, bool]] = field(default_factory=list)
    meter: Meter = field(default_factory=Meter)
    _originals: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    impaired: dict[str, set[str]] = field(default_factory=dict)  # instance id -> checks

    def impair(self, instance_id: str, check: str = "system", impaired: bool = True) -> None:
        """Make EC2 report ``check`` (``system`` or ``instance``) of a running instance as
        ``impaired`` (or ``ok`` again) in DescribeInstanceStatus."""
        checks = self.impaired.setdefault(instance_id, set())
        if impaired:
            checks.add(check)
        else:
            checks.discard(check)

    def register(self, fn: LocalFunction) -> None:
        self.functions[fn.name] = fn

    def invoke(self, name: str, event: Any) -> tuple[bytes, bool]:
        """Run the handler; returns (payload, errored) exactly as Lambda would."""
        fn = self.functions[name]
        with self._lock:
            self.invocations[name] = self.invocations.get(name, 0) + 1
        started = time.monotonic()
        try:
            result = fn.entry_point()(event, LocalContext(fn))
            return json.dumps(result, default=str).encode(), False
        except Exception as exc:  # noqa: BLE001 - reported as Lambda does: errorType + message
            payload = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
            }
            return json.dumps(payload).encode(), True
        finally:
            with self._lock:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started

    def invoke_async(self, name: str, event: Any) -> None:
        """An asynchronous invocation (EventBridge targets): runs in its own thread."""

        def run() -> None:
            payload, errored = self.invoke(name, event)
            with self._lock:
                self.async_results.append((name, json.loads(payload), errored))

        thread = threading.Thread(target=run, daemon=True)
        with self._lock:
            self._async.append(thread)
        thread.start()

    def wait_async(self, timeout: float = 60) -> None:
        """Wait for every asynchronous invocation started so far."""
        with self._lock:
            threads, self._async = self._async, []
        for thread in threads:
            thread.join(timeout)

    def install(self) -> None:
        if self._originals:
            return
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        self._patch_lambda_and_waits()
        self._patch_ec2()

    def _patch_lambda_and_waits(self) -> None:
        bridge = self
        original_invoke = lambda_models.LambdaFunction.invoke
        original_wait = wait_fn.WaitFunction._wait_interval
        original_create_image = ami_models.AmiBackend.create_image
        self._originals = {
            "invoke": original_invoke,
            "wait": original_wait,
            "create_image": original_create_image,
            "retrier_time": retrier_decl.time,
        }

        def invoke(fn_self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
            if fn_self.function_name not in bridge.functions:
                return original_invoke(fn_self, body, request_headers, response_headers)
            event = json.loads(body) if body else {}
            payload, errored = bridge.invoke(fn_self.function_name, event)
            if errored:
                response_headers["x-amz-function-error"] = "Unhandled"
            return payload

        def wait_interval(wf_self: Any, env: Any, wait_seconds: int) -> None:
            scaled = wait_seconds * bridge.time_scale
            if scaled > 0:
                time.sleep(min(scaled, 5.0))

        lambda_models.LambdaFunction.invoke = invoke
        wait_fn.WaitFunction._wait_interval = wait_interval
        real_sleep = time.sleep
        retrier_decl.time = SimpleNamespace(
            sleep=lambda seconds: real_sleep(min(seconds * bridge.time_scale, 5.0)),
            time=time.time,
        )

    def _patch_ec2(self) -> None:
        original_create_image = self._originals["create_image"]

        def create_image(
            backend: Any, instance_id: str, name: str, description: str, tag_specifications: Any
        ) -> Any:
            image_specs = [s for s in tag_specifications if s["ResourceType"] != "snapshot"]
            snapshot_tags = [
                t for s in tag_specifications if s["ResourceType"] == "snapshot" for t in s["Tags"]
            ]
            ami = original_create_image(backend, instance_id, name, description, image_specs)
            instance = backend.get_instance(instance_id)
            extra = []
            for device, mapping in instance.get_block_device_mapping:
                if device == instance.root_device_name:
                    continue
                volume = backend.get_volume(mapping.volume_id)
                snapshot = backend.create_snapshot(
                    volume.id,
                    f"Created by CreateImage({instance_id}) for {ami.id}",
                    from_ami=ami.id,
                )
                extra.append(
                    {
                        "DeviceName": device,
                        "Ebs": {
                            "SnapshotId": snapshot.id,
                            "VolumeSize": volume.size,
                            "DeleteOnTermination": False,
                            "VolumeType": volume.volume_type,
                        },
                    }
                )
                for tag in snapshot_tags:
                    snapshot.add_tag(tag["Key"], tag["Value"])
            ami.lifeboat_mappings = extra
            for tag in snapshot_tags:
                ami.ebs_snapshot.add_tag(tag["Key"], tag["Value"])
            return ami

        original_mappings = ami_models.Ami.block_device_mappings
        original_filter = ami_models.Ami.get_filter_value

        def block_device_mappings(ami: Any) -> list[dict[str, Any]]:
            mappings: list[dict[str, Any]] = original_mappings.fget(ami)
            return mappings + list(getattr(ami, "lifeboat_mappings", []))

        def get_filter_value(ami: Any, filter_name: str, method_name: str | None = None) -> Any:
            if filter_name == "block-device-mapping.snapshot-id":
                return [m["Ebs"]["SnapshotId"] for m in block_device_mappings(ami)]
            return original_filter(ami, filter_name, method_name)

        self._originals["mappings"] = original_mappings
        self._originals["filter"] = original_filter
        ami_models.Ami.block_device_mappings = property(block_device_mappings)
        ami_models.Ami.get_filter_value = get_filter_value

        def describe_locked_snapshots(response: Any) -> Any:
            return ActionResult({"Snapshots": []})

        ec2_responses.EC2Response.describe_locked_snapshots = describe_locked_snapshots
        ami_models.AmiBackend.create_image = create_image
        self._patch_event_targets()
        self._originals["tags"] = ec2_core.TaggedEC2Resource.get_tags

        def get_tags(resource: Any) -> list[dict[str, str]]:
            resource_id = getattr(resource, "id", None)
            if not resource_id:
                return []
            kind = ec2_tags.EC2_PREFIX_TO_RESOURCE.get(ec2_tags.get_prefix(resource_id), "")
            return [
                {"resource_id": resource_id, "key": k, "value": v, "resource_type": kind}
                for k, v in resource.ec2_backend.tags.get(resource_id, {}).items()
            ]

        ec2_core.TaggedEC2Resource.get_tags = get_tags
        self._patch_status_checks()
        self._patch_meter()

    def _patch_status_checks(self) -> None:
        bridge = self
        for check in ("system", "instance"):
            original = getattr(instance_models.Instance, f"{check}_status")
            self._originals[f"{check}_status"] = original

            def status(instance: Any, check: str = check, original: Any = original) -> Any:
                found: dict[str, Any] = original.fget(instance)
                if found.get("Status") == "ok" and check in bridge.impaired.get(instance.id, ()):
                    return {
                        "Details": [{"Name": "reachability", "Status": "failed"}],
                        "Status": "impaired",
                    }
                return found

            setattr(instance_models.Instance, f"{check}_status", property(status))

    def _patch_meter(self) -> None:
        meter = self.meter
        original_call = core_responses.BaseResponse.call_action
        self._originals["call_action"] = original_call

        def call_action(response: Any) -> Any:
            if not meter.active:
                return original_call(response)
            action = response._get_action() or "unknown"
            is_ec2 = isinstance(response, ec2_responses.EC2Response)
            if meter.latency:
                time.sleep(meter.latency)
            if not meter.admit(action, is_ec2):
                return 503, {"Content-Type": "text/xml"}, EC2_THROTTLE_BODY
            return original_call(response)

        core_responses.BaseResponse.call_action = call_action

    def _patch_event_targets(self) -> None:
        bridge = self
        original_send = events_models.Rule.send_to_targets
        self._originals["send"] = original_send

        def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
            lambdas = [t for t in rule.targets if ":lambda:" in t["Arn"]]
            others = [t for t in rule.targets if ":lambda:" not in t["Arn"]]
            if lambdas and rule.event_pattern.matches_event(original_event):
                for target in lambdas:
                    name = target["Arn"].split(":function:")[-1].split(":")[0]
                    if name in bridge.functions:
                        bridge.invoke_async(name, _as_delivered(original_event))
            if others:
                kept = rule.targets
                rule.targets = others
                try:
                    original_send(rule, original_event, transform_input)
                finally:
                    rule.targets = kept

        events_models.Rule.send_to_targets = send_to_targets

    def uninstall(self) -> None:
        if not self._originals:
            return
        lambda_models.LambdaFunction.invoke = self._originals["invoke"]
        wait_fn.WaitFunction._wait_interval = self._originals["wait"]
        ami_models.AmiBackend.create_image = self._originals["create_image"]
        retrier_decl.time = self._originals["retrier_time"]
        ami_models.Ami.block_device_mappings = self._originals["mappings"]
        ami_models.Ami.get_filter_value = self._originals["filter"]
        events_models.Rule.send_to_targets = self._originals["send"]
        ec2_core.TaggedEC2Resource.get_tags = self._originals["tags"]
        core_responses.BaseResponse.call_action = self._originals["call_action"]
        instance_models.Instance.system_status = self._originals["system_status"]
        instance_models.Instance.instance_status = self._originals["instance_status"]
        if hasattr(ec2_responses.EC2Response, "describe_locked_snapshots"):
            del ec2_responses.EC2Response.describe_locked_snapshots
        self._originals = {}


def _as_delivered(event: Any) -> dict[str, Any]:
    """The event as EventBridge delivers it to Lambda (``time`` as an ISO-8601 string)."""
    delivered: dict[str, Any] = json.loads(json.dumps(event, default=str))
    moment = event.get("time")
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    if isinstance(moment, datetime):
        delivered["time"] = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return delivered


BRIDGE = Bridge()
