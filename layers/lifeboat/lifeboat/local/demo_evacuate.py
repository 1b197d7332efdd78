"""The demo's AZ evacuation: us-east-1a fails under eLearn, declared as an application; one
execution brings its tiers back in order (db, then app, then web) at one recovery time T, and
switches the application's database record to the restored database."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lifeboat import executions
from lifeboat.aws.clients import client
from lifeboat.local.seed_apps import SeededApplication, seed_elearn_application
from lifeboat.output import table
from lifeboat.plans import default_plans

if TYPE_CHECKING:
    from lifeboat.demo import Scene

AZ = "us-east-1a"


@contextmanager
def _declared(app: SeededApplication) -> Iterator[None]:
    """The shipped plans with the eLearn application (its zone id is the emulator's), for the
    functions and for this process, while the step runs."""
    from lifeboat.local.bridge import BRIDGE

    plans = default_plans().model_dump(mode="json")
    plans["plans"]["standard"]["applications"] = {"elearn": app.application()}
    handle, name = tempfile.mkstemp(prefix="lifeboat-plans-", suffix=".yaml")
    os.close(handle)
    Path(name).write_text(yaml.safe_dump(plans), encoding="utf-8")
    before = os.environ.get("LIFEBOAT_PLANS_FILE")
    BRIDGE.local_environment["LIFEBOAT_PLANS_FILE"] = name
    os.environ["LIFEBOAT_PLANS_FILE"] = name
    try:
        yield
    finally:
        BRIDGE.local_environment.pop("LIFEBOAT_PLANS_FILE", None)
        if before is None:
            os.environ.pop("LIFEBOAT_PLANS_FILE", None)
        else:
            os.environ["LIFEBOAT_PLANS_FILE"] = before
        Path(name).unlink(missing_ok=True)


def _record(app: SeededApplication) -> str:
    found = client("route53").list_resource_record_sets(
        HostedZoneId=app.zone_id, StartRecordName=app.record, MaxItems="1"
    )["ResourceRecordSets"][0]
    return str(found["ResourceRecords"][0]["Value"])


def az_evacuation(scene: Scene) -> None:
    story = scene.story
    story.step(f"{AZ} fails under eLearn: one evacuation of the application (lifeboat recover)")
    app = seed_elearn_application(scene.seeded)
    story.line(
        f"   eLearn declared: select app=elearn, order db -> app -> web; the application finds "
        f"its database at {app.record} (private zone {app.zone_id})"
    )
    arn = scene.stack.outputs["EvacuateStateMachineArn"]
    with _declared(app):
        dry = executions.wait(
            executions.start(arn, {"app": "elearn", "az": AZ, "dry_run": True}, "demo-dry"),
            timeout=120,
            poll=0.1,
        )
        plan: dict[str, Any] = dry.get("output") or {}
        if not story.check("the dry run plans, changes nothing", dry["status"] == "SUCCEEDED"):
            return
        story.line(
            f"   recovery time T {plan['recovery_time']}, skew between tiers "
            f"{plan['skew_seconds']} s"
        )
        rows = [
            [tier["tier"], s["name"] or s["resource_id"], s["action"], s["point"]]
            for tier in plan["tiers"]
            for s in tier["steps"]
        ]
        story.line(table(["TIER", "RESOURCE", "ACTION", "POINT"], rows))
        story.step("One execution: tiers in order, members of a tier in parallel (live)")
        result = story.follow(executions.start(arn, {"app": "elearn", "az": AZ}, "demo-evacuate"))
    out = result.get("output") or {}
    if not story.check("the evacuation recovered eLearn", result["status"] == "SUCCEEDED"):
        return
    members = {m["resource_id"]: m for m in out["members"]}
    db = members.get("elearn-db", {}).get("replacement_id")
    endpoint = (
        client("rds").describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0] if db else {}
    )
    story.check(
        f"{app.record} now names the restored database {db}",
        bool(endpoint) and _record(app) == endpoint["Endpoint"]["Address"],
    )
    started = _tiers_started(result["execution_arn"])
    rank = {tier: i for i, tier in enumerate(out["tiers"])}
    story.check(
        f"the tiers started in order ({' -> '.join(dict.fromkeys(started))})",
        started == sorted(started, key=rank.__getitem__),
    )
    for member in out["members"]:
        story.line(
            f"   {member['tier']:<4} {member['resource_id']:<22} {member['action']:<17} -> "
            f"{member.get('replacement_id') or '(same, failed over)'}"
        )
    story.line(f"   RTO {out['rto_seconds']} s for the whole application (waits compressed)")
    scene.reports["evacuation"] = out


def _tiers_started(execution_arn: str) -> list[str]:
    """Each member's first task, in the order the execution scheduled them: its tier."""
    tiers = []
    for event in executions.HistoryReader(execution_arn).new_events():
        details = event.get("taskScheduledEventDetails")
        payload = json.loads(details["parameters"]).get("Payload", {}) if details else {}
        if payload.get("stage") == "act":
            tiers.append(str(payload["state"]["step"]["tier"]))
    return tiers
