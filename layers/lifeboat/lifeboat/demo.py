"""``lifeboat demo``: the whole lifecycle in the local emulator, narrated, checked step by step.

Every step states what it expects and the demo exits non-zero if anything did not happen."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lifeboat import executions
from lifeboat import tags as T
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client
from lifeboat.models import PointStatus
from lifeboat.output import emit_json, say, table


@dataclass
class Story:
    json_output: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
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


def _follow(story: Story, arn: str) -> dict[str, Any]:
    on_line = None if story.json_output else (lambda text: say(f"     {text}"))
    return executions.wait(arn, timeout=120, poll=0.1, on_line=on_line)


def run_demo(json_output: bool = False) -> int:
    from lifeboat.local.harness import fire_schedule
    from lifeboat.local.seed import seed_elearn
    from lifeboat.local.server import Emulator

    story = Story(json_output)
    with Emulator() as emulator:
        story.step(
            f"Local AWS emulator on {emulator.endpoint}: deploying template.yaml and statemachines/"
        )
        stack = emulator.deploy()
        story.line(
            f"   state machines, functions, catalog, topic and {len(stack.schedules)} schedules"
        )
        story.check("stack outputs readable like on AWS", "BackupStateMachineArn" in stack.outputs)

        story.step(
            "Seeding the eLearn platform (web and app servers in two AZs, an Elastic IP, RDS)"
        )
        seeded = seed_elearn()
        rows = [
            (name, iid, "lifeboat:plan=standard")
            for name, iid in seeded.protected_instances.items()
        ]
        rows += [(name, iid, "-") for name, iid in seeded.other_instances.items()]
        rows += [("elearn-db", "rds", "lifeboat:plan=standard"), ("analytics-db", "rds", "-")]
        story.line(table(["RESOURCE", "ID", "PROTECTED BY"], rows))

        scheduled = datetime.now(UTC).replace(minute=45, second=0, microsecond=0)
        reports: dict[str, dict[str, Any]] = {}
        for name in stack.schedules:
            rule = name.rsplit("-", 1)[-1].lower().removeprefix("standard")
            story.step(
                f"Schedule '{rule}' fires (EventBridge Scheduler's payload, "
                f"scheduled {scheduled:%H:%M}Z)"
            )
            result = _follow(story, fire_schedule(name, scheduled))
            reports[rule] = result.get("output") or {}
            story.check(
                f"backup run '{rule}' succeeded",
                result["status"] == "SUCCEEDED",
                str(result.get("cause")),
            )

        story.step("The daily trigger is delivered twice more (Scheduler delivers at least once)")
        daily = next(n for n in stack.schedules if n.lower().endswith("daily"))
        duplicates = [_follow(story, fire_schedule(daily, scheduled)) for _ in range(2)]
        story.check(
            "repeated triggers create nothing",
            all((d.get("output") or {}).get("duplicate") is True for d in duplicates),
        )

        story.step("Recovery points in the catalog (lifeboat recovery-points list)")
        catalog = Catalog(stack.outputs["CatalogTableName"])
        points = catalog.all_points()
        story.line(
            table(
                ["RESOURCE", "KIND", "STATUS", "ARTIFACTS"],
                [
                    (p.source_id, p.kind.value, p.status.value, ", ".join(p.artifact_ids()))
                    for p in sorted(points, key=lambda p: (p.source_id, p.kind.value))
                ],
            )
        )
        completed = {
            (p.source_id, p.kind.value) for p in points if p.status is PointStatus.COMPLETED
        }
        for name, iid in seeded.protected_instances.items():
            story.check(
                f"{name}: AMI and crash-consistent EBS snapshot set",
                {(iid, "ami"), (iid, "ebs")} <= completed,
            )
        story.check("elearn-db: RDS snapshot", ("elearn-db", "rds") in completed)
        story.check(
            "exactly one recovery point per resource and kind",
            len(points) == len(completed) == 3 * 2 + 1,
        )
        untouched = _untouched(seeded.other_instances.values(), seeded.other_databases)
        story.check(
            "untagged and other-plan resources untouched", untouched == [], ", ".join(untouched)
        )

    summary = {
        "ok": story.ok,
        "steps": story.steps,
        "checks": story.checks,
        "backups": reports,
        "seconds": round(time.monotonic() - story.started, 1),
    }
    if json_output:
        emit_json(summary)
    else:
        say(
            f"\n{'All checks passed' if story.ok else 'SOME CHECKS FAILED'} "
            f"in {summary['seconds']} s."
        )
    return 0 if story.ok else 1


def _untouched(instance_ids: Any, databases: list[str]) -> list[str]:
    """Names of 'other' resources that got a backup anyway (should be none)."""
    ec2 = client("ec2")
    touched: list[str] = []
    for iid in instance_ids:
        flt = [{"Name": f"tag:{T.SOURCE}", "Values": [iid]}]
        if (
            ec2.describe_images(Owners=["self"], Filters=flt)["Images"]
            or ec2.describe_snapshots(OwnerIds=["self"], Filters=flt)["Snapshots"]
        ):
            touched.append(iid)
    rds = client("rds")
    for db in databases:
        if rds.describe_db_snapshots(DBInstanceIdentifier=db, SnapshotType="manual")["DBSnapshots"]:
            touched.append(db)
    return touched
