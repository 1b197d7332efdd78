"""Volume restore and its rollback through the real ASL (statemachines/volume_restore.asl.json)
and the real handler, in the emulator (CreateReplaceRootVolumeTask: local/volume_gapfill.py)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from lifeboat import executions
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.cli.restore_volume import start_volume_rollback
from lifeboat.pace import WAKE_LEAD
from tests.faults import FaultInjector, FaultRule, RequestRecorder

pytestmark = pytest.mark.integration

REPLACED_BY = T.REPLACED_BY


def _run(stack: Any, payload: dict[str, Any]) -> dict[str, Any]:
    arn = executions.start(
        stack.outputs["VolumeRestoreStateMachineArn"], payload, f"vol-{uuid.uuid4().hex[:8]}"
    )
    return executions.wait(arn, timeout=120, poll=0.05)


def _rollback(stack: Any, restored: str) -> dict[str, Any]:
    arn = start_volume_rollback(stack.outputs["VolumeRestoreStateMachineArn"], restored)
    return executions.wait(arn, timeout=120, poll=0.05)


def _instance(instance_id: str) -> dict[str, Any]:
    found = client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return dict(found[0]["Instances"][0])


def _devices(instance_id: str) -> dict[str, str]:
    return {
        m["DeviceName"]: m["Ebs"]["VolumeId"] for m in _instance(instance_id)["BlockDeviceMappings"]
    }


def _volume(volume_id: str) -> dict[str, Any] | None:
    found = client("ec2").describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])[
        "Volumes"
    ]
    return dict(found[0]) if found else None


def test_a_volume_restored_beside_the_original_then_rolled_back(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    before = _devices(web1)
    with RequestRecorder("CreateVolume", "StopInstances") as sent:
        result = _run(stack, {"instance_id": web1, "device": "/dev/sdf"})
    assert result["status"] == "SUCCEEDED", result
    output = result["output"]
    assert output["status"] == "completed" and output["mode"] == "attach"
    new = output["new_volume_id"]
    # At the first free device, the original untouched and the instance never stopped.
    assert _devices(web1) == {**before, "/dev/sdg": new}
    assert sent.requests("StopInstances") == []
    (create,) = sent.requests("CreateVolume")
    assert create["AvailabilityZone"] == _instance(web1)["Placement"]["AvailabilityZone"]
    volume = _volume(new)
    assert volume is not None
    tags = T.to_dict(volume["Tags"])
    assert tags[T.RESTORED_FROM] == output["recovery_point_id"]
    assert tags[T.RESTORE_EXECUTION] == result["execution_arn"] and T.MANAGED not in tags
    assert volume["SnapshotId"] == output["snapshot_id"]

    rolled = _rollback(stack, result["execution_arn"])
    assert rolled["status"] == "SUCCEEDED", rolled
    assert rolled["output"]["status"] == "rolled-back"
    assert _devices(web1) == before and _volume(new) is None


def test_the_create_step_waits_for_the_shared_pace_in_the_loop(stack: Any, backed_up: Any) -> None:
    # Given other executions of the stack that have just taken a minute of CreateVolume
    table, ddb = stack.outputs["CatalogTableName"], client("dynamodb")
    key = {"pk": {"S": "PACE#us-east-1#CreateVolume"}, "sk": {"S": "PACE"}}
    ahead = time.time() + 60
    ddb.put_item(TableName=table, Item={**key, "tat": {"N": f"{ahead:.3f}"}})
    web1 = backed_up.protected_instances["web-1"]
    with RequestRecorder("CreateVolume") as sent:
        result = _run(stack, {"instance_id": web1, "device": "/dev/sdf"})
    # Then the create step stopped once for the pace (WaitForVolumeStep waited the seconds it
    # said, rounded up), then created the volume once, spending the call it had reserved
    assert result["status"] == "SUCCEEDED", result
    assert result["output"]["status"] == "completed"
    assert len(sent.requests("CreateVolume")) == 1
    waits = [
        json.loads(e["taskSucceededEventDetails"]["output"])["Payload"]
        for e in executions.HistoryReader(result["execution_arn"]).new_events()
        if e["type"] == "TaskSucceeded"
    ]
    paced = [w for w in waits if isinstance(w, dict) and w.get("pace")]
    assert len(paced) == 1 and paced[0]["stage"] == "create"
    # the call is handed out 60 s + 1/4 s − 80/4 s after the drain (80 at once, 4 a second);
    # the step is woken WAKE_LEAD before it (to prepare its call, then sleep what is left)
    assert 40 - WAKE_LEAD - 1 <= paced[0]["wait_seconds"] <= 41 - WAKE_LEAD
    assert paced[0]["pace"]["reserved_at"] == pytest.approx(ahead + 0.25 - 20, abs=0.01)
    tat = float(ddb.get_item(TableName=table, Key=key)["Item"]["tat"]["N"])
    assert tat == pytest.approx(ahead + 1 / 4.0, abs=0.01)


def test_a_data_volume_replaced_in_place_then_rolled_back(stack: Any, backed_up: Any) -> None:
    app1 = backed_up.protected_instances["app-1"]
    before = _devices(app1)
    original = before["/dev/sdf"]
    with RequestRecorder("StopInstances", "StartInstances", "DetachVolume") as sent:
        result = _run(stack, {"instance_id": app1, "device": "/dev/sdf", "replace": True})
    assert result["status"] == "SUCCEEDED", result
    new = result["output"]["new_volume_id"]
    # stop -> detach -> attach -> start: the new volume at /dev/sdf, the old kept and marked.
    assert [len(sent.requests(op)) for op in ("StopInstances", "DetachVolume")] == [1, 1]
    assert len(sent.requests("StartInstances")) == 1
    assert _devices(app1) == {**before, "/dev/sdf": new}
    assert _instance(app1)["State"]["Name"] == "running"
    kept = _volume(original)
    assert kept is not None and kept["State"] == "available"
    assert T.to_dict(kept["Tags"])[REPLACED_BY] == result["execution_arn"]

    rolled = _rollback(stack, result["execution_arn"])
    assert rolled["status"] == "SUCCEEDED", rolled
    assert _devices(app1) == before and _volume(new) is None
    assert _instance(app1)["State"]["Name"] == "running"
    # A second rollback of the same restore is refused: it was rolled back.
    again = _rollback(stack, result["execution_arn"])
    assert again["status"] == "REFUSED"


def test_a_root_volume_replaced_with_a_replace_root_task_then_rolled_back(
    stack: Any, backed_up: Any
) -> None:
    web2 = backed_up.protected_instances["web-2"]
    before = _devices(web2)
    old_root = before["/dev/sda1"]
    with RequestRecorder("CreateReplaceRootVolumeTask", "StopInstances") as sent:
        result = _run(stack, {"instance_id": web2, "device": "/dev/sda1", "replace": True})
    assert result["status"] == "SUCCEEDED", result
    (task,) = sent.requests("CreateReplaceRootVolumeTask")
    assert task["DeleteReplacedRootVolume"] is False
    new_root = _devices(web2)["/dev/sda1"]
    # The restore's own volume (from the point's snapshot, tagged) took the root's place.
    assert task["VolumeId"] == new_root == result["output"]["new_volume_id"] != old_root
    restored = _volume(new_root)
    assert restored is not None and restored["SnapshotId"] == result["output"]["snapshot_id"]
    assert T.to_dict(restored["Tags"])[T.RESTORE_EXECUTION] == result["execution_arn"]
    assert sent.requests("StopInstances") == []  # EC2 reboots it; Lifeboat does not stop it
    kept = _volume(old_root)
    assert kept is not None and T.to_dict(kept["Tags"])[REPLACED_BY] == result["execution_arn"]

    rolled = _rollback(stack, result["execution_arn"])
    assert rolled["status"] == "SUCCEEDED", rolled
    assert _devices(web2) == before and _volume(new_root) is None


def test_dry_run_changes_nothing_and_unprotected_instances_are_refused(
    stack: Any, backed_up: Any
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    before = _devices(web1)
    with RequestRecorder("CreateVolume", "AttachVolume", "PutItem") as sent:
        result = _run(stack, {"instance_id": web1, "device": "/dev/sdf", "dry_run": True})
    assert result["status"] == "SUCCEEDED", result
    assert result["output"]["status"] == "dry-run"
    assert result["output"]["plan"]["attach_as"] == "/dev/sdg"
    assert sent.calls == [] and _devices(web1) == before
    bastion = backed_up.other_instances["bastion (untagged)"]
    refused = _run(stack, {"instance_id": bastion, "device": "/dev/sdf"})
    assert refused["status"] == "REFUSED"
    assert "does not protect" in refused["cause"]
    unknown = _run(stack, {"instance_id": web1, "device": "/dev/sdf", "point": "nope"})
    assert unknown["status"] == "REFUSED" and "point" in unknown["cause"]


def test_a_time_chooses_the_newest_point_at_or_before_it(stack: Any, backed_up: Any) -> None:
    web1 = backed_up.protected_instances["web-1"]
    points = sorted(
        Catalog(stack.outputs["CatalogTableName"]).points_for_resource(web1),
        key=lambda p: p.created_at,
    )
    oldest, newest = points[0], points[-1]
    assert oldest.recovery_point_id != newest.recovery_point_id
    at = oldest.created_at.isoformat()
    result = _run(stack, {"instance_id": web1, "device": "/dev/sdf", "point": at, "dry_run": True})
    assert result["output"]["recovery_point_id"] == oldest.recovery_point_id
    latest = _run(stack, {"instance_id": web1, "device": "/dev/sdf", "dry_run": True})
    assert latest["output"]["recovery_point_id"] == newest.recovery_point_id


def test_a_replace_that_fails_half_way_puts_the_original_back(stack: Any, backed_up: Any) -> None:
    app1 = backed_up.protected_instances["app-1"]
    before = _devices(app1)
    # The original is detached, then attaching the restored volume is refused.
    with FaultInjector([FaultRule("AttachVolume", "InvalidParameterValue", times=1)]):
        result = _run(stack, {"instance_id": app1, "device": "/dev/sdf", "replace": True})
    assert result["status"] == "FAILED", result
    # Undone: the original at its device again, the instance running, the new volume deleted.
    assert _devices(app1) == before
    assert _instance(app1)["State"]["Name"] == "running"
    made = client("ec2").describe_volumes(
        Filters=[{"Name": f"tag:{T.RESTORE_EXECUTION}", "Values": [result["execution_arn"]]}]
    )["Volumes"]
    assert made == []
    # The lock was released: another restore of the instance runs.
    again = _run(stack, {"instance_id": app1, "device": "/dev/sdf"})
    assert again["status"] == "SUCCEEDED", again


def test_the_restore_lock_refuses_a_second_restore_of_the_instance(
    stack: Any, backed_up: Any
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    catalog = Catalog(stack.outputs["CatalogTableName"])
    held = catalog.acquire_lock(web1, "arn:other-restore", int(time.time()), 3600, {})
    assert held is None
    refused = _run(stack, {"instance_id": web1, "device": "/dev/sdf"})
    assert refused["status"] == "REFUSED"
    assert "already running" in refused["cause"]
    assert set(_devices(web1)) == {"/dev/sda1", "/dev/sdf"}  # nothing attached
