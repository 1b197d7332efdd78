"""The on-call CLI through the real restore state machine (issue 23): an older point restored,
``restore list`` (trigger, resource, status, ARN), ``restore rollback`` of an instance and of a
database restore (refused while a later restore stands), Name tags where an instance is named."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.aws.guard_store import DynamoGuardStore
from lifeboat.cli import EXIT_INPUT, EXIT_OK, main
from lifeboat.timeutil import iso
from tests.integration.helpers import address, instance, restore, run_schedule, targets

pytestmark = pytest.mark.integration


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def volume_snapshot(instance_id: str, device: str) -> str:
    found = client("ec2").describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["Volumes"]
    return str(next(v["SnapshotId"] for v in found if v["Attachments"][0]["Device"] == device))


# --- any point ---------------------------------------------------------------------------------
def test_an_older_point_is_restored(
    stack: Any, elearn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two days of backups: AMI 1, EBS set A, AMI 2, EBS set B
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for rule, minutes in (("daily", 240), ("hourly", 180), ("daily", 120), ("hourly", 60)):
        assert run_schedule(stack, rule, now - timedelta(minutes=minutes))["status"] == "SUCCEEDED"
        # points are dated when made, and times compare to the second: keep the runs apart
        time.sleep(1.05)
    web1 = elearn.protected_instances["web-1"]
    points = sorted(
        Catalog(stack.outputs["CatalogTableName"]).points_for_resource(web1),
        key=lambda p: p.created_at,
    )
    ami1, set_a, ami2, set_b = points
    assert [p.kind.value for p in points] == ["ami", "ebs", "ami", "ebs"]
    sdf_a = next(s.snapshot_id for s in set_a.snapshots if s.device_name == "/dev/sdf")

    # When set A is named (by one of its snapshots), and when its time is given
    by_id = restore(stack, {"instance_id": web1, "recovery_point": sdf_a, "dry_run": True}, "a")
    by_time = restore(
        stack,
        {"instance_id": web1, "point_time": set_a.created_at.isoformat(), "dry_run": True},
        "t",
    )
    # Then both plan AMI 1 with set A's data volume, never the newer AMI 2 or set B
    for planned in (by_id["output"], by_time["output"]):
        assert planned["image_id"] == ami1.image_id and planned["image_id"] != ami2.image_id
        sdf = next(v for v in planned["volumes"] if v["device_name"] == "/dev/sdf")
        assert sdf["snapshot_id"] == sdf_a and sdf["source"] == f"EBS set {set_a.recovery_point_id}"
    assert by_time["output"]["point_note"].startswith("as of ")
    # the CLI: --point TIME (and --recovery-point, its older name, with an id), by Name tag
    for option, value in (("--point", iso(set_a.created_at)), ("--recovery-point", sdf_a)):
        argv = ["restore", "start", "--instance", "web-1", option, value, "--dry-run"]
        assert main([*argv, "--poll", "0.05"]) == EXIT_OK
        text = capsys.readouterr().out
        assert f"from {ami1.image_id}" in text
        assert f"/dev/sdf: gp3 20 GiB from EBS set {set_a.recovery_point_id}" in text

    # and the restore itself launches exactly that
    result = restore(stack, {"instance_id": web1, "recovery_point": set_a.recovery_point_id}, "go")
    assert result["status"] == "SUCCEEDED", result
    new = result["output"]["replacement_id"]
    assert instance(new)["ImageId"] == ami1.image_id
    assert volume_snapshot(new, "/dev/sdf") == sdf_a
    assert sdf_a not in {s.snapshot_id for s in set_b.snapshots}


def test_a_database_to_a_point_in_time_within_its_window(stack: Any, backed_up: Any) -> None:
    when = datetime.now(UTC) - timedelta(seconds=1)
    result = restore(stack, {"db_instance_id": "elearn-db", "point_time": iso(when)}, "db-pitr")
    assert result["status"] == "SUCCEEDED", result
    restored = client("rds").describe_db_instances(
        DBInstanceIdentifier=result["output"]["replacement_id"]
    )["DBInstances"]
    assert T.to_dict(restored[0]["TagList"])[T.RESTORED_FROM] == "elearn-db"
    planned = restore(
        stack, {"db_instance_id": "elearn-db", "point_time": iso(when), "dry_run": True}, "db-p"
    )["output"]
    assert planned["restore_time"] and planned["snapshot_id"] is None
    assert planned["point_note"].startswith("point-in-time restore")


# --- restore list --------------------------------------------------------------------------------
def test_restore_list_shows_recent_restores_with_their_trigger(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web1, web2 = backed_up.protected_instances["web-1"], backed_up.protected_instances["web-2"]
    # Given the alarm router started one restore (it records its execution name), a person
    # another through the CLI's naming, a dry run, and a refused one
    guards = DynamoGuardStore(stack.outputs["CatalogTableName"])
    guards.put_auto("alarm-web-2-1", {"resource_id": web2, "alarm": "x"})
    alarm = restore(stack, {"instance_id": web2}, "alarm-web-2-1")
    manual = restore(stack, {"instance_id": web1, "reason": "AZ a"}, "restore-web-1-x")
    dry = restore(stack, {"instance_id": web1, "dry_run": True, "force": True}, "plan-only")
    refused = restore(stack, {"instance_id": "i-0123456789abcdef0"}, "restore-nothere")
    assert (alarm["status"], manual["status"], refused["status"]) == (
        "SUCCEEDED",
        "SUCCEEDED",
        "REFUSED",
    )

    code, rows = cli_json(capsys, "restore", "list")

    assert code == EXIT_OK
    by_arn = {r["execution_arn"]: r for r in rows}
    assert set(by_arn) == {
        e["execution_arn"] for e in (alarm, manual, dry, refused)
    }  # newest first, every key present
    assert [r["started_at"] for r in rows] == sorted((r["started_at"] for r in rows), reverse=True)
    assert set(rows[0]) == {
        "execution_arn", "name", "trigger", "requested_by", "resource_id", "kind", "region",
        "status", "stage", "started_at", "age_seconds", "stopped_at", "replacement_id", "reason",
    }  # fmt: skip
    assert by_arn[alarm["execution_arn"]]["trigger"] == "alarm"
    assert by_arn[alarm["execution_arn"]]["resource_id"] == web2
    assert by_arn[manual["execution_arn"]]["trigger"] == "cli"
    assert by_arn[manual["execution_arn"]]["status"] == "restored"
    assert by_arn[manual["execution_arn"]]["replacement_id"] == manual["output"]["replacement_id"]
    assert by_arn[dry["execution_arn"]]["trigger"] == "api"
    assert by_arn[dry["execution_arn"]]["status"] == "dry-run"
    assert by_arn[refused["execution_arn"]]["status"] == "refused"
    # and the readable list names each, with no empty field printed as None
    assert main(["restore", "list"]) == EXIT_OK
    text = capsys.readouterr().out
    assert manual["execution_arn"] in text and "alarm" in text and "None" not in text


# --- restore rollback ---------------------------------------------------------------------------
def test_rollback_gives_the_server_back_to_its_original(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    eip = backed_up.elastic_ip["allocation_id"]
    result = restore(stack, {"instance_id": web1, "reason": "AZ a"}, "restore-web-1-rb")
    assert result["status"] == "SUCCEEDED", result
    arn, new = result["execution_arn"], result["output"]["replacement_id"]
    assert address(eip)["InstanceId"] == new
    # web-1 names the replacement now; its points are the server's (the original's included)
    code, points = cli_json(capsys, "recovery-points", "list", "--resource", "web-1")
    assert code == EXIT_OK and web1 in {p["source_id"] for p in points}

    # the dry run says what it would do and changes nothing
    assert main(["restore", "rollback", arn, "--dry-run"]) == EXIT_OK
    text = capsys.readouterr().out
    assert f"terminate the replacement {new}" in text and "nothing was changed" in text
    assert address(eip)["InstanceId"] == new and instance(new)["State"]["Name"] == "running"
    # without a terminal, it wants --yes
    assert main(["restore", "rollback", arn]) == EXIT_INPUT
    capsys.readouterr()

    code, done = cli_json(capsys, "restore", "rollback", "restore-web-1-rb", "--yes")

    assert code == EXIT_OK and done["status"] == "rolled-back", done
    original = instance(web1)
    assert original["State"]["Name"] in ("pending", "running")
    assert T.FENCED not in T.to_dict(original["Tags"])
    assert address(eip)["InstanceId"] == web1
    assert web1 in targets(backed_up.target_group_arn)
    assert new not in targets(backed_up.target_group_arn)
    assert instance(new)["State"]["Name"] in ("shutting-down", "terminated")
    # the original stands for the server again: it can be restored, and the list says so
    again = restore(stack, {"instance_id": web1, "dry_run": True}, "after-rollback")
    assert again["status"] == "SUCCEEDED" and again["output"]["lineage"] == [web1]
    _, rows = cli_json(capsys, "restore", "list")
    assert next(r for r in rows if r["execution_arn"] == arn)["status"] == "rolled-back"
    # a second rollback finds it done
    code, twice = cli_json(capsys, "restore", "rollback", arn, "--yes")
    assert code == EXIT_OK and twice["status"] == "already-rolled-back"


def test_rollback_is_refused_while_a_later_restore_stands(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    first = restore(stack, {"instance_id": web1}, "restore-first")
    r1 = first["output"]["replacement_id"]
    second = restore(stack, {"instance_id": r1, "force": True}, "restore-second")
    assert second["status"] == "SUCCEEDED", second
    r2 = second["output"]["replacement_id"]

    assert main(["restore", "rollback", first["execution_arn"], "--yes"]) == EXIT_INPUT

    assert "a later restore" in capsys.readouterr().err
    assert instance(r2)["State"]["Name"] == "running"
    assert address(backed_up.elastic_ip["allocation_id"])["InstanceId"] == r2
    # rolling the later one back first is allowed
    assert main(["restore", "rollback", second["execution_arn"], "--yes"]) == EXIT_OK


def test_rollback_refuses_what_did_not_finish(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    dry = restore(stack, {"instance_id": web1, "dry_run": True}, "restore-dry")
    assert main(["restore", "rollback", dry["execution_arn"], "--yes"]) == EXIT_INPUT
    assert "dry run" in capsys.readouterr().err
    foreign = "arn:aws:states:us-east-1:123456789012:execution:other-machine:x"
    assert main(["restore", "rollback", foreign, "--dry-run"]) == EXIT_INPUT
    assert "not an execution of" in capsys.readouterr().err


def test_rollback_of_a_database_restore_deletes_the_restored_database(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = restore(stack, {"db_instance_id": "elearn-db"}, "restore-db-rb")
    assert result["status"] == "SUCCEEDED", result
    restored = result["output"]["replacement_id"]

    code, done = cli_json(capsys, "restore", "rollback", result["execution_arn"], "--yes")

    assert code == EXIT_OK and done["status"] == "rolled-back"
    assert any("point the application back at elearn-db" in s for s in done["steps"])
    rds = client("rds")
    left = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    assert "elearn-db" in left and restored not in left
    final = rds.describe_db_snapshots(DBSnapshotIdentifier=f"{restored}-rollback")["DBSnapshots"]
    assert final and final[0]["DBInstanceIdentifier"] == restored


# --- names -------------------------------------------------------------------------------------
def test_instances_are_named_by_their_name_tag(
    stack: Any, backed_up: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    web1 = backed_up.protected_instances["web-1"]
    code, points = cli_json(capsys, "recovery-points", "list", "--resource", "web-1")
    assert code == EXIT_OK and points and {p["source_id"] for p in points} == {web1}
    assert {"consistency", "size_gb"} <= set(points[0])
    assert main(["restore", "start", "--instance", "web-1", "--dry-run", "--poll", "0.05"]) == 0
    assert f"({web1}," in capsys.readouterr().out
    # Given a second instance named web-1
    image = instance(web1)["ImageId"]
    twin = client("ec2").run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=backed_up.subnets["web-b"],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web-1"}]}
        ],
    )["Instances"][0]["InstanceId"]
    for argv in (
        ["restore", "start", "--instance", "web-1", "--dry-run"],
        ["recovery-points", "list", "--resource", "web-1"],
    ):
        assert main(argv) == EXIT_INPUT
        err = capsys.readouterr().err
        assert web1 in err and twin in err and "us-east-1a" in err and "us-east-1b" in err
    assert main(["recovery-points", "list", "--resource", "nothing-named-so"]) == EXIT_INPUT
    assert "nothing-named-so" in capsys.readouterr().err
