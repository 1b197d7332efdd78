"""``lifeboat stack``, ``backup``, ``recovery-points`` and ``executions``: start a backup run
and read what runs and restores did."""

from __future__ import annotations

import argparse
import re
import time
import uuid
from datetime import datetime
from typing import Any

from lifeboat import executions
from lifeboat.aws.catalog import Catalog
from lifeboat.cli.common import EXIT_OK, exit_code, finish, follow, outputs, started
from lifeboat.cli.copies import copies_listed
from lifeboat.cli.names import resource_option
from lifeboat.errors import InvalidInputError
from lifeboat.models import BackupInput, RecoveryPoint, validate_input
from lifeboat.output import emit_json, say, table
from lifeboat.plans import default_plans
from lifeboat.restore.lineage import lineage
from lifeboat.stack import require
from lifeboat.timeutil import utcnow

EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:\s]+:[^:\s]+$")


# --- stack -----------------------------------------------------------------------------------
def cmd_stack_outputs(args: argparse.Namespace) -> int:
    found = outputs(args)
    if args.json:
        emit_json(found)
    else:
        say(table(["OUTPUT", "VALUE"], sorted(found.items())))
    return EXIT_OK


# --- backup ----------------------------------------------------------------------------------
def cmd_backup_start(args: argparse.Namespace) -> int:
    payload = {"plan": args.plan, "rule": args.rule, "dry_run": args.dry_run}
    validate_input(BackupInput, payload)
    default_plans().rule(args.plan, args.rule)
    arn = require(outputs(args), "BackupStateMachineArn", args.stack)
    name = f"backup-{args.plan}-{args.rule}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    execution = executions.start(arn, payload, name)
    if not args.wait:
        return started(args, execution, payload)
    if not args.json:
        say(f"backup {args.plan}/{args.rule}{' (dry run)' if args.dry_run else ''}: {execution}")
    result = follow(args, execution, args.timeout)
    if not args.json:
        print_backup_report(result)
    return finish(args, result)


def print_backup_report(result: dict[str, Any]) -> None:
    report = result.get("output") or {}
    if report.get("dry_run"):
        say(
            f"dry run: would back up {report.get('resource_count', 0)} resource(s) "
            f"as {', '.join(report.get('kinds', []))}; nothing was created"
        )
        for item in report.get("would_back_up", []):
            say(f"  - {item}")
        return
    if report.get("duplicate"):
        say(
            f"duplicate trigger: run {report['run_id']} was already taken by "
            f"{report.get('original_execution') or 'another execution'}; nothing was created"
        )
        return
    rows = [
        (
            o["resource_id"],
            o["kind"],
            o["status"],
            ", ".join(o.get("artifact_ids", [])) or o.get("error", ""),
        )
        for o in report.get("outcomes", [])
    ]
    outcomes = report.get("outcomes", [])
    if any(o.get("consistency") == "application" for o in outcomes):
        # A rule with pre/post scripts: how consistent each instance's point is.
        with_consistency = [
            (*row, o.get("consistency") or "-") for row, o in zip(rows, outcomes, strict=True)
        ]
        headers = ["RESOURCE", "KIND", "STATUS", "ARTIFACTS / ERROR", "CONSISTENCY"]
        say(table(headers, with_consistency))
    elif rows:
        say(table(["RESOURCE", "KIND", "STATUS", "ARTIFACTS / ERROR"], rows))
    cause = result.get("cause")
    if isinstance(cause, str) and cause:
        say(cause)


# --- recovery points -------------------------------------------------------------------------
def _status(point: RecoveryPoint, now: datetime) -> str:
    """The point's status, and its snapshot lock while it holds (a copy is never locked)."""
    if point.is_copy:
        return f"{point.status.value}, copy in {point.region}"
    if point.locked_until is None or point.locked_until <= now:
        return point.status.value
    return f"{point.status.value}, locked to {point.locked_until:%Y-%m-%d} ({point.lock_mode})"


def cmd_recovery_points_list(args: argparse.Namespace) -> int:
    if not args.home_only:
        default_plans()  # the copies' regions; a bad plans file: exit 2 before any read
    catalog = Catalog(require(outputs(args), "CatalogTableName", args.stack))
    resource = resource_option(args.resource, catalog) if args.resource else None
    # A server's points are those of every instance that has stood for it (a restore of it
    # chooses among them all): the original's before a restore, its replacement's after.
    members = lineage(catalog, resource) if resource and resource.startswith("i-") else [resource]
    points = (
        [p for member in members if member for p in catalog.points_for_resource(member)]
        if resource
        else catalog.all_points()
    )
    if not args.home_only:  # the copies in other regions too, marked with their region
        sources = [m for m in members if m] if resource else [None]
        points += [c for source in sources for c in copies_listed(catalog, source)]
    if args.status:
        points = [p for p in points if p.status.value == args.status]
    points.sort(key=lambda p: (p.source_id, p.created_at, p.kind.value))
    if args.json:
        emit_json([p.model_dump(mode="json", exclude_none=True) for p in points])
        return EXIT_OK
    if not points:
        say("no recovery points" + (f" for {args.resource}" if args.resource else ""))
        return EXIT_OK
    now = utcnow()
    rows = [
        (
            p.source_id,
            p.kind.value,
            p.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            _status(p, now),
            p.consistency,
            _size(p),
            f"{p.plan}/{p.rule}",
            ", ".join(p.artifact_ids()) or (p.error or ""),
        )
        for p in points
    ]
    say(
        table(
            [
                "RESOURCE",
                "KIND",
                "CREATED (UTC)",
                "STATUS",
                "CONSISTENCY",
                "SIZE",
                "PLAN/RULE",
                "ARTIFACTS / ERROR",
            ],
            rows,
        )
    )
    say(f"{len(points)} recovery point(s)")
    if resource:
        which = "--instance" if resource.startswith("i-") else "--db"
        say(
            f"restore one: lifeboat restore start {which} {args.resource} --point ID|TIME "
            "(an artifact id above, or a time: the newest point at or before it)"
        )
    return EXIT_OK


def _size(point: RecoveryPoint) -> str:
    """The point's size in GiB as recorded (its volumes' sizes for EC2), or '-'."""
    size = point.size_gb or sum(s.size_gb for s in point.snapshots)
    return f"{size} GiB" if size else "-"


# --- executions ------------------------------------------------------------------------------
def cmd_executions_show(args: argparse.Namespace) -> int:
    if not EXECUTION_ARN.match(args.arn):
        raise InvalidInputError(
            "arn",
            f"{args.arn!r} is not an execution ARN (arn:aws:states:REGION:ACCOUNT:execution:…)",
        )
    if args.wait:
        result = follow(args, args.arn, args.timeout)
    else:
        result = executions.describe(args.arn)
        if not args.json:
            _print_history(args.arn)
    if args.json:
        emit_json(result)
        return EXIT_OK if result["status"] == "RUNNING" else exit_code(result["status"])
    say(f"execution: {result['execution_arn']}")
    say(f"started:   {result['started_at']}  stopped: {result['stopped_at'] or '-'}")
    if isinstance(result.get("output"), dict) and "outcomes" in result["output"]:
        print_backup_report(result)
    return finish(args, result) if result["status"] != "RUNNING" else EXIT_OK


def _print_history(arn: str) -> None:
    reader = executions.HistoryReader(arn)
    for event in reader.new_events():
        line = reader.line(event)
        if line:
            say(f"  {line}")


def register(sub: Any, common: argparse.ArgumentParser, waiting: argparse.ArgumentParser) -> None:
    """``stack``, ``backup`` and ``recovery-points`` (``executions`` comes last in the help)."""
    stack = sub.add_parser("stack", help="the deployed stack").add_subparsers(
        dest="stack_command", required=True
    )
    stack.add_parser("outputs", parents=[common], help="the stack's Outputs").set_defaults(
        func=cmd_stack_outputs
    )

    backup = sub.add_parser("backup", help="backup runs").add_subparsers(
        dest="backup_command", required=True
    )
    start = backup.add_parser(
        "start", parents=[common, waiting], help="start a backup run of a plan's rule now"
    )
    start.add_argument(
        "--plan", required=True, help="the plan to back up (a name from the plans file)"
    )
    start.add_argument(
        "--rule", required=True, help="the plan's rule to run (e.g. hourly, daily): its kinds"
    )
    start.add_argument(
        "--dry-run", action="store_true", help="list what would be backed up; create nothing"
    )
    start.add_argument("--wait", action="store_true", help="follow progress until the run ends")
    start.set_defaults(func=cmd_backup_start)

    points = sub.add_parser("recovery-points", help="the catalog").add_subparsers(
        dest="rp_command", required=True
    )
    listing = points.add_parser("list", parents=[common], help="list recovery points")
    listing.add_argument("--resource", help="instance (Name tag or id) or DB identifier")
    listing.add_argument(
        "--status",
        choices=["pending", "completed", "failed", "deleted"],
        help="only points in this status",
    )
    listing.add_argument(
        "--home-only", action="store_true", help="leave out the copies in other regions"
    )
    listing.set_defaults(func=cmd_recovery_points_list)


def register_executions(
    sub: Any, common: argparse.ArgumentParser, waiting: argparse.ArgumentParser
) -> None:
    execs = sub.add_parser("executions", help="Step Functions executions").add_subparsers(
        dest="exec_command", required=True
    )
    show = execs.add_parser(
        "show", parents=[common, waiting], help="status and progress of an execution"
    )
    show.add_argument("arn", help="the execution's ARN (arn:aws:states:…:execution:…)")
    show.add_argument("--wait", action="store_true", help="follow it until it ends")
    show.set_defaults(func=cmd_executions_show)
