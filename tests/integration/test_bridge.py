"""Local mode leans on a few moto internals; fail loudly here if moto changes them."""

from __future__ import annotations

import inspect

import moto
import pytest

from lifeboat.local import bridge
from lifeboat.local.bridge import retrier_decl  # type: ignore[attr-defined]
from tests.conftest import load_event

pytestmark = pytest.mark.integration


def test_moto_is_the_pinned_version() -> None:
    assert moto.__version__ == "5.2.5", (
        "local mode was verified against moto 5.2.5; re-check bridge.py"
    )


@pytest.mark.parametrize("name", sorted(bridge.PATCHED))
def test_patched_members_exist_with_expected_signatures(name: str) -> None:
    owner, attribute = bridge.PATCHED[name]
    member = getattr(owner, attribute, None)
    if isinstance(member, property):
        assert member.fget is not None
        return
    assert callable(member), f"moto no longer has {owner.__name__}.{attribute}"
    expected = {
        "lambda invoke": ["self", "body", "request_headers", "response_headers"],
        "wait state": ["self", "env", "wait_seconds"],
        "create image": ["self", "instance_id", "name", "description", "tag_specifications"],
        "ec2 responses": ["self"],
        "ami mappings": [],
        "ami filters": ["self", "filter_name", "method_name"],
        "event targets": ["self", "original_event", "transform_input"],
        "ec2 tags": ["self"],
        "measure": ["self"],
    }[name]
    keys = {
        "lambda invoke": "invoke",
        "wait state": "wait",
        "create image": "create_image",
        "ami filters": "filter",
        "event targets": "send",
        "ec2 tags": "tags",
        "measure": "call_action",
        "ec2 responses": "call_action",
    }
    original = bridge.BRIDGE._originals.get(keys.get(name, ""), member)
    assert list(inspect.signature(original).parameters) == expected


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
