"""The demo's application-consistent backup and volume restore: the hourly rule with the MySQL
recipe as its pre and post scripts (SSM Run Command, answered by local mode's gap-fills), then one
data volume of app-1 restored beside the original and rolled back."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from lifeboat import executions
from lifeboat.aws.clients import client
from lifeboat.plans import default_plans
from lifeboat.restore.lineage import lineage

if TYPE_CHECKING:
    from lifeboat.demo import Scene

RECIPE = "/opt/lifeboat/recipes/mysql-flush-lock.sh"


def application_consistency_and_volume_restore(scene: Scene) -> None:
    _consistent_backup(scene)
    _volume_restore(scene)


def _consistent_backup(scene: Scene) -> None:
    from lifeboat.local.bridge import BRIDGE

    story = scene.story
    story.step("An application-consistent backup: the hourly rule with the MySQL recipe")
    plans = default_plans().model_dump(mode="json", exclude_none=True)
    plans["plans"]["standard"]["rules"]["hourly"]["scripts"] = {
        "pre": [f"{RECIPE} freeze 50"],
        "post": [f"{RECIPE} thaw"],
        "timeout_seconds": 60,
        "on_pre_failure": "crash-consistent",
    }
    story.line(
        f"   scripts: pre '{RECIPE} freeze 50' (FLUSH TABLES WITH READ LOCK, released by itself "
        "after 50 s), post 'thaw'"
    )
    folder = Path(tempfile.mkdtemp(prefix="lifeboat-demo-plans-"))
    (folder / "plans.yaml").write_text(yaml.safe_dump(plans), encoding="utf-8")
    environment = BRIDGE.local_environment
    previous = environment.get("LIFEBOAT_PLANS_FILE")
    environment["LIFEBOAT_PLANS_FILE"] = str(folder / "plans.yaml")
    earlier = {c["CommandId"] for c in client("ssm").list_commands()["Commands"]}
    try:
        arn = executions.start(
            scene.stack.outputs["BackupStateMachineArn"],
            {"plan": "standard", "rule": "hourly"},
            f"consistent-{uuid.uuid4().hex[:6]}",
        )
        result = story.follow(arn)
    finally:
        if previous is None:
            environment.pop("LIFEBOAT_PLANS_FILE", None)
        else:
            environment["LIFEBOAT_PLANS_FILE"] = previous
    story.check("the backup run succeeded", result["status"] == "SUCCEEDED", str(result))
    report = result.get("output") or {}
    points = scene.catalog.points_for_run(str(report.get("run_id", "")))
    for point in sorted(points, key=lambda p: p.source_id):
        story.line(f"   {point.source_id}: {point.consistency} ({point.consistency_reason})")
    story.check(
        "every instance's point is application-consistent",
        bool(points) and all(p.consistency == "application" for p in points),
    )
    sent = [
        c["Comment"]
        for c in client("ssm").list_commands()["Commands"]
        if c["CommandId"] not in earlier
    ]
    story.check(
        "the pre script ran before and the post script after the snapshots (SSM commands)",
        [s.split(",")[0] for s in sent] == ["Lifeboat pre script", "Lifeboat post script"],
        str(sent),
    )
    story.facts["consistent_backup"] = {"run_id": report.get("run_id"), "points": len(points)}


def _volume_restore(scene: Scene) -> None:
    from lifeboat.cli.restore_volume import describe_volume_result, start_volume_rollback

    story = scene.story
    # The instance that stands for app-1 now (an earlier step may have replaced it).
    app = lineage(scene.catalog, scene.seeded.protected_instances["app-1"])[-1]
    machine = scene.stack.outputs["VolumeRestoreStateMachineArn"]
    story.step(
        f"Files deleted on app-1: lifeboat restore volume --instance app-1 --device /dev/sdf "
        f"({app})"
    )
    before = _devices(app)
    arn = executions.start(
        machine,
        {"instance_id": app, "device": "/dev/sdf", "reason": "demo", "requested_by": "demo"},
        f"volume-{uuid.uuid4().hex[:6]}",
    )
    result = story.follow(arn)
    output = result.get("output") or {}
    story.check("the volume restore succeeded", result["status"] == "SUCCEEDED", str(result))
    for line in describe_volume_result(output) if output else []:
        story.line(f"   {line}")
    after = _devices(app)
    story.check(
        "the restored volume is attached beside the original, which is untouched",
        after == {**before, output.get("attached_as", "?"): output.get("new_volume_id", "?")},
        str(after),
    )
    story.step("Files copied back: lifeboat restore rollback (the restored volume goes)")
    rolled = story.follow(start_volume_rollback(machine, arn, requested_by="demo"))
    story.check(
        "the rollback removed only what the restore created",
        rolled["status"] == "SUCCEEDED" and _devices(app) == before,
    )
    story.facts["volume_restore"] = {
        "execution": arn,
        "instance": app,
        "volume": output.get("new_volume_id"),
    }


def _devices(instance_id: str) -> dict[str, str]:
    found = client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return {
        m["DeviceName"]: m["Ebs"]["VolumeId"]
        for m in found[0]["Instances"][0]["BlockDeviceMappings"]
    }
