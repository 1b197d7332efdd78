"""Deletion guards that moto cannot emulate (snapshot locks), with botocore's Stubber: no
request leaves the process."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lifeboat.aws.clients import Retrier
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.pacing import Pacer

pytestmark = pytest.mark.unit
MANAGED = [
    {"Key": "lifeboat:managed", "Value": "true"},
    {"Key": "lifeboat:plan", "Value": "standard"},
    {"Key": "lifeboat:rule", "Value": "hourly"},
]
OWNER = {"lifeboat:plan": "standard", "lifeboat:rule": "hourly"}


def _gateway() -> tuple[Ec2Gateway, Stubber]:
    ec2 = boto3.client(
        "ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(ec2)
    gateway = Ec2Gateway(
        Retrier(sleep=lambda _s: None, pacer=Pacer(sleep=lambda _s: None)), ec2=ec2, elbv2=object()
    )
    return gateway, stubber


def _snap(sid: str, tags: list[dict[str, str]] = MANAGED) -> dict[str, Any]:
    return {
        "SnapshotId": sid,
        "State": "completed",
        "VolumeId": "vol-1",
        "VolumeSize": 8,
        "Tags": tags,
    }


def test_locked_and_in_use_snapshots_are_skipped_the_rest_deleted() -> None:
    gateway, stub = _gateway()
    ids = ["snap-locked", "snap-used", "snap-free", "snap-gone", "snap-theirs"]
    stub.add_response(
        "describe_snapshots",
        {
            "Snapshots": [
                _snap("snap-locked"),
                _snap("snap-used"),
                _snap("snap-free"),
                _snap("snap-theirs", [{"Key": "Name", "Value": "x"}]),
            ]
        },
    )
    candidates = ["snap-locked", "snap-used", "snap-free"]
    stub.add_response(
        "describe_locked_snapshots",
        {"Snapshots": [{"SnapshotId": "snap-locked", "LockState": "compliance"}]},
        {"SnapshotIds": candidates},
    )
    stub.add_response(
        "describe_images",
        {
            "Images": [
                {
                    "ImageId": "ami-someone",
                    "BlockDeviceMappings": [
                        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-used"}}
                    ],
                }
            ]
        },
    )
    stub.add_response("delete_snapshot", {}, {"SnapshotId": "snap-free"})
    with stub:
        outcome = gateway.delete_snapshots(ids, OWNER)
    stub.assert_no_pending_responses()
    assert outcome == {
        "snap-locked": "locked",
        "snap-used": "in-use",
        "snap-free": "deleted",
        "snap-gone": "gone",
        "snap-theirs": "not-owned",
    }


def test_expired_lock_does_not_block_and_races_are_absorbed() -> None:
    gateway, stub = _gateway()
    stub.add_response("describe_snapshots", {"Snapshots": [_snap("snap-a"), _snap("snap-b")]})
    stub.add_response(
        "describe_locked_snapshots",
        {"Snapshots": [{"SnapshotId": "snap-a", "LockState": "expired"}]},
    )
    stub.add_response("describe_images", {"Images": []})
    stub.add_client_error(
        "delete_snapshot", "InvalidSnapshot.NotFound", expected_params={"SnapshotId": "snap-a"}
    )
    stub.add_client_error(
        "delete_snapshot", "InvalidSnapshot.InUse", expected_params={"SnapshotId": "snap-b"}
    )
    with stub:
        outcome = gateway.delete_snapshots(["snap-a", "snap-b"], OWNER)
    assert outcome == {"snap-a": "gone", "snap-b": "in-use"}


def test_wrong_rule_is_not_owned() -> None:
    gateway, stub = _gateway()
    stub.add_response("describe_snapshots", {"Snapshots": [_snap("snap-a")]})
    with stub:
        outcome = gateway.delete_snapshots(
            ["snap-a"], {"lifeboat:plan": "standard", "lifeboat:rule": "daily"}
        )
    assert outcome == {"snap-a": "not-owned"}
