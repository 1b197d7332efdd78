"""``lifeboat demo``: the whole lifecycle in the local emulator, narrated, checked step by step.

Every step states what it expects and the demo exits non-zero if anything did not happen."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lifeboat import executions
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.local.demo_asg import auto_scaling_group
from lifeboat.local.demo_copies import copies_to_dr_region, region_lost_restore
from lifeboat.local.demo_drill import restore_drill
from lifeboat.local.demo_evacuate import az_evacuation
from lifeboat.local.demo_scripts import application_consistency_and_volume_restore
from lifeboat.local.history import fabricate_history
from lifeboat.local.seed import Seeded
from lifeboat.local.stack import LocalStack
from lifeboat.models import PointStatus
from lifeboat.output import emit_json, say, table
from lifeboat.plans import default_plans

HISTORY_DAYS = 14
HISTORY_HOURS = 30


@dataclass
class Story:
    json_output: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def step(self, title: str) -> None:
        self.steps.append({"step": title, "at_seconds": round(time.monotonic() - self.started, 2)})
        if not self.json_output:
            say(f"\n== {len(self.steps)}. {title}")

    def line(self, text: str) -> None:
        if not self.json_output:
            say(text)

    def check(self, what: str, ok: bool, detail: str = "") -> bool:
        self.checks.append({"check": what, "ok": ok, "detail": detail})
        self.line(
            f"   [{'ok' if ok else 'FAIL'}] {what}{f' ({detail})' if detail and not ok else ''}"
        )
        return ok

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks)

    def follow(self, arn: str) -> dict[str, Any]:
        on_line = None if self.json_output else (lambda text: say(f"     {text}"))
        return executions.wait(arn, timeout=120, poll=0.1, on_line=on_line)


@dataclass
class Scene:
    story: Story
    stack: LocalStack
    seeded: Seeded
    catalog: Catalog
    now: datetime
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def scheduled(self) -> datetime:
        return demo_schedule(self.now)[0]


def demo_schedule(now: datetime) -> tuple[datetime, datetime]:
    """The scheduled time the demo's triggers carry (this minute: a scheduled_time is never in
    the future, Scheduler delivers a slot when it comes), and the moment its back-dated history
    ends: before those runs, which would otherwise find their slot taken (at 02:45 UTC the
    daily run's slot is today's history slot)."""
    scheduled = now.replace(second=0, microsecond=0)
    return scheduled, scheduled - timedelta(seconds=1)


def run_demo(json_output: bool = False) -> int:
    from lifeboat.local.seed import seed_elearn
    from lifeboat.local.server import Emulator

    story = Story(json_output)
    # The functions' own log lines go to a file, as they would go to CloudWatch Logs: the
    # narration is what the on-call engineer sees (the CLI, notifications, executions).
    handle, name = tempfile.mkstemp(prefix="lifeboat-demo-", suffix=".log")
    os.close(handle)
    log_path = Path(name)
    with Emulator(log_path=log_path) as emulator:
        story.step(f"Local AWS emulator on {emulator.endpoint}: deploying template.yaml + ASL")
        stack = emulator.deploy()
        story.line(
            f"   state machines, functions, catalog, topic, {len(stack.schedules)} schedules"
        )
        story.check("stack outputs readable like on AWS", "BackupStateMachineArn" in stack.outputs)

        story.step("Seeding the eLearn platform (web and app servers in two AZs, an EIP, RDS)")
        seeded = seed_elearn()
        rows = [(n, i, "lifeboat:plan=standard") for n, i in seeded.protected_instances.items()]
        rows += [(n, i, "-") for n, i in seeded.other_instances.items()]
        rows += [("elearn-db", "rds", "lifeboat:plan=standard"), ("analytics-db", "rds", "-")]
        story.line(table(["RESOURCE", "ID", "PROTECTED BY"], rows))

        scene = Scene(
            story, stack, seeded, Catalog(stack.outputs["CatalogTableName"]), datetime.now(UTC)
        )
        _history_and_dry_run(scene)
        _scheduled_backups(scene)
        _this_runs_points(scene)
        copies_to_dr_region(scene)
        _retention_after_pruning(scene)
        restore_drill(scene)
        _az_failure_and_automatic_restore(scene)
        _readiness_report(scene)
        region_lost_restore(scene)
        auto_scaling_group(scene)
        az_evacuation(scene)
        application_consistency_and_volume_restore(scene)

    summary = {
        "ok": story.ok,
        "steps": story.steps,
        "checks": story.checks,
        "backups": scene.reports,
        "facts": story.facts,
        "seconds": round(time.monotonic() - story.started, 1),
        "function_logs": str(log_path),
    }
    if json_output:
        emit_json(summary)
    else:
        verdict = "All checks passed" if story.ok else "SOME CHECKS FAILED"
        say(f"\n{verdict} in {summary['seconds']} s.")
        say(f"The functions' logs (JSON, as CloudWatch Logs would hold them): {log_path}")
        if "report" in story.facts:
            say(f"The readiness report: {story.facts['report']['html']}")
    return 0 if story.ok else 1


def _history_and_dry_run(scene: Scene) -> None:
    story = scene.story
    story.step(f"History: the platform has been protected for {HISTORY_DAYS} days (back-dated)")
    protected = list(scene.seeded.protected_instances.values())
    until = demo_schedule(scene.now)[1]
    history = fabricate_history(scene.catalog, protected, until, HISTORY_DAYS, HISTORY_HOURS)
    story.line(
        f"   {len(history)} recovery points: {HISTORY_DAYS} daily AMIs and {HISTORY_HOURS} hourly "
        "snapshot sets per instance, tagged as backup runs tag them"
    )
    story.step("lifeboat prune --plan standard --dry-run (the deletion plan; nothing deleted)")
    before = _inventory()
    plan = _invoke_prune(scene.stack.outputs["PruneFunctionName"], dry_run=True)
    summary = plan["summary"]
    story.line(
        f"   {summary['evaluated']} evaluated, {summary['kept']} kept, {summary['expired']} would "
        f"be deleted, freeing up to {summary['frees_gb']} GiB"
    )
    for item in plan["expired"][:3]:
        when = item["created_at"][:16].replace("T", " ")
        story.line(f"   e.g. {item['source_id']} {item['kind']} of {when}: {item['reason']}")
    story.check("the dry run deleted nothing", _inventory() == before and summary["deleted"] == 0)


def _scheduled_backups(scene: Scene) -> None:
    from lifeboat.local.harness import fire_schedule

    story = scene.story
    scheduled = scene.scheduled
    for name in scene.stack.schedules:
        rule = name.rsplit("-", 1)[-1].lower().removeprefix("standard")
        if rule not in default_plans().plans["standard"].rules:
            continue  # the drill's and the copier's own schedules: their steps come later
        story.step(f"Schedule '{rule}' fires (Scheduler's payload, scheduled {scheduled:%H:%M}Z)")
        result = story.follow(fire_schedule(name, scheduled))
        report = result.get("output") or {}
        scene.reports[rule] = report
        ok = result["status"] == "SUCCEEDED"
        story.check(f"backup run '{rule}' succeeded", ok, str(result.get("cause")))
        pruned = report.get("prune", {})
        story.line(
            f"   then pruned: {pruned.get('deleted', 0)} expired recovery points deleted, "
            f"up to {pruned.get('frees_gb', 0)} GiB freed"
        )

    story.step("The daily trigger is delivered twice more (Scheduler delivers at least once)")
    daily = next(n for n in scene.stack.schedules if n.lower().endswith("daily"))
    duplicates = [story.follow(fire_schedule(daily, scheduled)) for _ in range(2)]
    story.check(
        "repeated triggers create nothing",
        all((d.get("output") or {}).get("duplicate") is True for d in duplicates),
    )


def _this_runs_points(scene: Scene) -> None:
    story, seeded = scene.story, scene.seeded
    story.step("This run's recovery points (lifeboat recovery-points list)")
    points = [
        p
        for report in scene.reports.values()
        for p in scene.catalog.points_for_run(report.get("run_id", ""))
    ]
    points.sort(key=lambda p: (p.source_id, p.kind.value))
    story.line(
        table(
            ["RESOURCE", "KIND", "STATUS", "ARTIFACTS"],
            [
                (p.source_id, p.kind.value, p.status.value, ", ".join(p.artifact_ids()))
                for p in points
            ],
        )
    )
    completed = {(p.source_id, p.kind.value) for p in points if p.status is PointStatus.COMPLETED}
    for name, iid in seeded.protected_instances.items():
        story.check(
            f"{name}: AMI and crash-consistent EBS snapshot set",
            {(iid, "ami"), (iid, "ebs")} <= completed,
        )
    story.check("elearn-db: RDS snapshot", ("elearn-db", "rds") in completed)
    story.check("one recovery point per resource and kind", len(points) == len(completed) == 7)
    untouched = _untouched(seeded.other_instances.values(), seeded.other_databases)
    story.check(
        "untagged and other-plan resources untouched", untouched == [], ", ".join(untouched)
    )


def _retention_after_pruning(scene: Scene) -> None:
    story = scene.story
    story.step("Retention after pruning (24 hourly; 7 daily, 4 weekly, 12 monthly; min_keep 3)")
    live = [p for p in scene.catalog.all_points() if p.status is PointStatus.COMPLETED]
    for name, iid in scene.seeded.protected_instances.items():
        hourly = sum(1 for p in live if p.source_id == iid and p.rule == "hourly")
        daily = sum(1 for p in live if p.source_id == iid and p.rule == "daily")
        story.line(f"   {name}: {hourly} hourly snapshot sets and {daily} daily AMIs kept")
        hours = {
            p.created_at.strftime("%Y%m%d%H")
            for p in live
            if p.source_id == iid and p.rule == "hourly"
        }
        story.check(
            f"{name}: one hourly set in each of the 24 hourly slots (+ min_keep)",
            len(hours) == 24 and hourly <= 24 + 2,
        )
        story.check(
            f"{name}: the daily rule keeps 7 days (+ older weeks, months)", 7 <= daily <= 11
        )
    kept = {a for p in live for a in p.artifact_ids()}
    images, snapshots = _inventory()
    story.check(
        "every remaining AMI and snapshot belongs to a kept point", images | snapshots <= kept
    )
    orphans = _invoke_prune(scene.stack.outputs["PruneFunctionName"], dry_run=True)["orphans"]
    story.check("expired AMIs' snapshots went with them (no orphans)", orphans == [])


def _az_failure_and_automatic_restore(scene: Scene) -> None:
    from lifeboat.local.bridge import BRIDGE
    from lifeboat.local.harness import alarm_state_change

    story, seeded = scene.story, scene.seeded
    web1 = seeded.protected_instances["web-1"]
    alarm = f"lifeboat-standard-{web1}-system"
    story.step(f"AZ us-east-1a fails under web-1: its status-check alarm goes to ALARM ({alarm})")
    reason = "Threshold Crossed: 3 out of the last 3 datapoints [1.0, 1.0, 1.0] >= 1.0"
    BRIDGE.async_results.clear()
    alarm_state_change(alarm, "ALARM", reason, datetime.now(UTC))
    BRIDGE.wait_async()
    routed: dict[str, Any] = next(
        (p for n, p, _e in BRIDGE.async_results if n.endswith("AlarmRouterFunction")), {}
    )
    story.line("   EventBridge rule (from template.yaml) -> alarm router -> guardrails -> restore")
    ok = story.check(
        "the alarm router started a restore", routed.get("action") == "started", str(routed)
    )
    if not ok:
        return
    story.step("Automatic restore into another AZ (restore state machine, live)")
    result = story.follow(routed["execution_arn"])
    out = result.get("output") or {}
    story.check("the restore succeeded", result["status"] == "SUCCEEDED", str(result.get("cause")))
    if result["status"] != "SUCCEEDED":
        return
    new = out["replacement_id"]
    ec2 = client("ec2")
    eip = ec2.describe_addresses(AllocationIds=[seeded.elastic_ip["allocation_id"]])["Addresses"][0]
    old = ec2.describe_instances(InstanceIds=[web1])["Reservations"][0]["Instances"][0]
    story.line(f"   web-1 is now {new} in {out['availability_zone']} (was {web1} in us-east-1a)")
    story.check("the replacement runs in another AZ", out["availability_zone"] != "us-east-1a")
    story.check(
        f"Elastic IP {eip['PublicIp']} moved to the replacement", eip.get("InstanceId") == new
    )
    targets = client("elbv2").describe_target_health(TargetGroupArn=seeded.target_group_arn)
    members = {d["Target"]["Id"] for d in targets["TargetHealthDescriptions"]}
    story.check(
        "the target group serves the replacement, not the old one",
        new in members and web1 not in members,
    )
    story.check("the old instance is fenced", T.FENCED in T.to_dict(old.get("Tags")))
    story.facts["restore"] = out

    story.step("The alarm flaps: a new ALARM transition five minutes later")
    BRIDGE.async_results.clear()
    alarm_state_change(alarm, "ALARM", reason, datetime.now(UTC) + timedelta(minutes=5))
    BRIDGE.wait_async()
    again: dict[str, Any] = next(
        (p for n, p, _e in BRIDGE.async_results if n.endswith("AlarmRouterFunction")), {}
    )
    story.line(f"   {again.get('action')}: {again.get('reason', '')}")
    story.check("refused by the cooldown (no restore storm)", again.get("guard") == "cooldown")

    story.step("Summary")
    data_time = out["data_taken_at"]
    story.line(
        f"   RPO {out['rpo_seconds']} s: the data restored dates from {data_time} (hourly set)"
    )
    story.line(
        f"   RTO {out['rto_seconds']} s: from the alarm to a healthy replacement serving traffic"
    )
    story.line(
        "   (the emulator compresses waits; on AWS the RTO is minutes: launch + status checks)"
    )


def _readiness_report(scene: Scene) -> None:
    from lifeboat.cli.report import write_report
    from lifeboat.report import render_html

    story = scene.story
    story.step("Readiness report: RPO per rule, drills, what each AZ failure would cost")
    report = write_report(scene.stack.outputs["CatalogTableName"], None, 60)
    handle, name = tempfile.mkstemp(prefix="lifeboat-report-", suffix=".html")
    os.close(handle)
    Path(name).write_text(render_html(report), encoding="utf-8")
    story.line(f"   overall {report.summary.status.upper()}: " + "; ".join(report.summary.reasons))
    for failure in report.az_failures:
        rows = (*failure.servers, *failure.databases)
        ready = sum(1 for r in rows if r.restorable)
        story.line(
            f"   if {failure.availability_zone} failed: {len(rows)} affected, {ready} restorable"
        )
    story.check(
        "the report covers every protected server",
        {r.id for r in report.resources}
        >= set(scene.seeded.protected_instances.values())
        - {scene.seeded.protected_instances["web-1"]},
    )
    story.line(f"   written to {name}")
    story.facts["report"] = {"html": name, "status": report.summary.status}


def _inventory() -> tuple[set[str], set[str]]:
    """Managed AMIs and snapshots now in EC2."""
    ec2 = client("ec2")
    flt = [{"Name": f"tag:{T.MANAGED}", "Values": ["true"]}]
    images = {i["ImageId"] for i in ec2.describe_images(Owners=["self"], Filters=flt)["Images"]}
    snaps = ec2.describe_snapshots(OwnerIds=["self"], Filters=flt)["Snapshots"]
    return images, {s["SnapshotId"] for s in snaps}


def _invoke_prune(function_name: str, dry_run: bool) -> dict[str, Any]:
    response = client("lambda").invoke(
        FunctionName=function_name,
        Payload=json.dumps({"plan": "standard", "dry_run": dry_run}).encode(),
    )
    return dict(json.loads(response["Payload"].read()))


def _untouched(instance_ids: Any, databases: list[str]) -> list[str]:
    """Names of 'other' resources that got a backup anyway (should be none)."""
    ec2 = client("ec2")
    touched: list[str] = []
    for iid in instance_ids:
        flt = [{"Name": f"tag:{T.SOURCE}", "Values": [iid]}]
        images = ec2.describe_images(Owners=["self"], Filters=flt)["Images"]
        snaps = ec2.describe_snapshots(OwnerIds=["self"], Filters=flt)["Snapshots"]
        if images or snaps:
            touched.append(iid)
    rds = client("rds")
    for db in databases:
        if rds.describe_db_snapshots(DBInstanceIdentifier=db, SnapshotType="manual")["DBSnapshots"]:
            touched.append(db)
    return touched
