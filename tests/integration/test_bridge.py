"""Local mode leans on a few moto internals; fail loudly here if moto changes them."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

import moto
import pytest
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from lifeboat.local import bridge, lambdas
from tests.events import load_event

pytestmark = pytest.mark.integration


def test_moto_is_the_pinned_version() -> None:
    assert moto.__version__ == "5.2.5", (
        "local mode was verified against moto 5.2.5; re-check bridge.py"
    )


@pytest.mark.parametrize("name", sorted(bridge.PATCHED))
def test_patched_members_exist_with_expected_signatures(name: str) -> None:
    member = bridge.ORIGINALS[name]
    if isinstance(member, property):
        assert member.fget is not None
        return
    owner, attribute = bridge.PATCHED[name]
    assert callable(member), f"moto no longer has {owner.__name__}.{attribute}"
    expected = {
        "lambda invoke": ["self", "body", "request_headers", "response_headers"],
        "wait state": ["self", "env", "wait_seconds"],
        "create image": ["self", "instance_id", "name", "description", "tag_specifications"],
        "ec2 responses": ["self"],
        "ami filters": ["self", "filter_name", "method_name"],
        "event targets": ["self", "original_event", "transform_input"],
        "ec2 tags": ["self"],
        "measure": ["self"],
        "asl parser": ["definition"],
        "sfn integration request": [
            "self",
            "parameters",
            "boto_service_name",
            "service_action_name",
        ],
        "sfn integration answer": ["self", "response", "boto_service_name", "service_action_name"],
        "asg launches": ["self", "count_needed", "propagated_tags"],
        "asg instance health": ["self", "instance_id", "health_status"],
        "launch template versions": ["self", "data", "description"],
        "asg create": [
            "self",
            "name",
            "availability_zones",
            "desired_capacity",
            "max_size",
            "min_size",
            "launch_config_name",
            "launch_template",
            "vpc_zone_identifier",
            "default_cooldown",
            "health_check_period",
            "health_check_type",
            "load_balancers",
            "target_group_arns",
            "placement_group",
            "termination_policies",
            "tags",
            "capacity_rebalance",
            "new_instances_protected_from_scale_in",
            "instance_id",
            "mixed_instances_policy",
        ],
        "route53 zone ids": ["resource_identifier", "existing_ids", "tags", "kwargs"],
        "arc zonal shift": ["self", "environ"],
        "group subnets": [
            "self",
            "name",
            "availability_zones",
            "desired_capacity",
            "max_size",
            "min_size",
            "launch_config_name",
            "launch_template",
            "vpc_zone_identifier",
            "health_check_period",
            "health_check_type",
            "new_instances_protected_from_scale_in",
            "mixed_instances_policy",
        ],
        "ssm invocations": ["self", "instance_id", "plugin_name"],
    }[name]
    assert list(inspect.signature(member).parameters) == expected


def test_patches_are_removed_in_full_on_exit() -> None:
    # Given whatever is in place now (the session's emulator may have installed the bridge)
    def current() -> dict[str, object]:
        return {name: owner.__dict__.get(attr) for name, (owner, attr) in bridge.PATCHED.items()}

    before, environ = current(), os.environ
    # When another bridge's patches are entered and left
    with bridge.Bridge().patches():
        assert current() != before and os.environ is not environ
    # Then every member, and os.environ, is exactly what it was
    assert current() == before and os.environ is environ


def test_each_invocation_runs_in_its_own_environment(emulator: object, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import os\n"
        "from lifeboat.settings import get_settings\n"
        "def handler(event, context):\n"
        "    return {'only': os.environ.get('ONLY_HERE'),\n"
        "            'arn': get_settings().restore_state_machine_arn}\n",
        encoding="utf-8",
    )
    common = {"CATALOG_TABLE": "table", "TOPIC_ARN": "arn:aws:sns:us-east-1:1:t"}
    router = {**common, "ONLY_HERE": "router", "RESTORE_STATE_MACHINE_ARN": "arn:restore"}
    for name, env in (("env-router", router), ("env-other", common)):
        bridge.BRIDGE.register(bridge.LocalFunction(name, tmp_path, "app.handler", environment=env))
    try:
        answers = {
            name: json.loads(bridge.BRIDGE.invoke(name, {})[0])
            for name in ("env-router", "env-other", "env-router")
        }
    finally:
        for name in ("env-router", "env-other"):
            bridge.BRIDGE.functions.pop(name, None)
    assert answers["env-router"] == {"only": "router", "arn": "arn:restore"}
    assert answers["env-other"] == {"only": None, "arn": ""}
    assert "ONLY_HERE" not in os.environ  # the process environment never saw it


def test_each_function_keeps_its_time_and_its_longest_invocation(tmp_path: Path) -> None:
    # The benchmark's GB-s and its "no task near its time-out" are read from these
    (tmp_path / "app.py").write_text(
        "import time\ndef handler(event, context):\n    time.sleep(event['s'])\n    return {}\n",
        encoding="utf-8",
    )
    functions = lambdas.Functions()
    functions.register(lambdas.LocalFunction("timed", tmp_path, "app.handler"))
    for seconds in (0.05, 0.2, 0.1):
        functions.invoke("timed", {"s": seconds})
    assert functions.invocations == {"timed": 3}
    assert 0.35 <= functions.seconds["timed"] < 1.0
    assert 0.2 <= functions.longest["timed"] < 0.3


def test_retrier_still_sleeps_through_time_module() -> None:
    source = inspect.getsource(retrier_decl)
    assert "time.sleep(" in source


def test_handlers_run_in_process(stack: object) -> None:
    assert "lifeboat-BackupBeginFunction" in bridge.BRIDGE.functions
    check = load_event("backup_check")  # the ASL's payload: the run's state and execution
    check["state"]["run"]["run_id"] = "nothing"
    payload, errored = bridge.BRIDGE.invoke("lifeboat-BackupCheckFunction", check)
    assert not errored and b'"pending": 0' in payload
    payload, errored = bridge.BRIDGE.invoke("lifeboat-BackupCheckFunction", {**check, "bogus": 1})
    assert errored and b"InvalidInputError" in payload


def test_indexed_tag_lookup_matches_moto(stack: object) -> None:
    from lifeboat.aws.clients import client

    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    snap = ec2.create_snapshot(
        VolumeId=volume,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "a", "Value": "1"}]}],
    )["SnapshotId"]
    found = ec2.describe_snapshots(Filters=[{"Name": "tag:a", "Values": ["1"]}])["Snapshots"]
    assert [s["SnapshotId"] for s in found] == [snap] and found[0]["Tags"] == [
        {"Key": "a", "Value": "1"}
    ]


def test_measuring_mode_throttles_like_ec2(stack: object) -> None:
    from botocore.exceptions import ClientError

    from lifeboat.aws.clients import client

    ec2 = client("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    bridge.BRIDGE.meter.start(latency=0.0)
    try:
        bridge.BRIDGE.meter.buckets["CreateSnapshot"].tokens = 1
        bridge.BRIDGE.meter.buckets["CreateSnapshot"].rate = 0.001
        ec2.create_snapshot(VolumeId=volume)
        try:
            ec2.create_snapshot(VolumeId=volume)
            raise AssertionError("expected RequestLimitExceeded")
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "RequestLimitExceeded"
        assert bridge.BRIDGE.meter.throttled["CreateSnapshot"] == 5  # boto3 tried 5 times
        assert (
            bridge.BRIDGE.meter.calls["CreateVolume"]
            if "CreateVolume" in bridge.BRIDGE.meter.calls
            else True
        )
    finally:
        bridge.BRIDGE.meter.stop()


def test_a_fresh_stack_keeps_the_stack_and_empties_the_rest(emulator: Any, stack: Any) -> None:
    from lifeboat.aws.catalog import Catalog
    from lifeboat.aws.clients import client
    from lifeboat.local.seed import seed_elearn
    from tests.integration.helpers import run_schedule

    # Given a backed-up fleet, its catalog, Lifeboat's alarms and an alarm of the template in ALARM
    seed_elearn()
    assert run_schedule(stack, "hourly")["status"] == "SUCCEEDED"
    cloudwatch = client("cloudwatch")
    template_alarm = next(iter(stack.alarms))
    deployed = {a["StateValue"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    cloudwatch.set_alarm_state(AlarmName=template_alarm, StateValue="ALARM", StateReason="test")
    assert Catalog(stack.outputs["CatalogTableName"]).all_points()
    # When the next test asks for a fresh stack
    again = emulator.fresh_stack()
    # Then it is the same deployment, in an account holding nothing else
    assert again is stack and "lifeboat-BackupBeginFunction" in bridge.BRIDGE.functions
    assert client("ec2").describe_instances()["Reservations"] == []
    assert client("rds").describe_db_instances()["DBInstances"] == []
    assert Catalog(stack.outputs["CatalogTableName"]).all_points() == []
    sfn = client("stepfunctions")
    machine = stack.outputs["BackupStateMachineArn"]
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    alarms = cloudwatch.describe_alarms()["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} == set(stack.alarms)
    assert {a["StateValue"] for a in alarms} == deployed != {"ALARM"}  # as deployed
    assert bridge.BRIDGE.invocations == {}
