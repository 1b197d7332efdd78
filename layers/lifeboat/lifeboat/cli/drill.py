"""``lifeboat drill start`` and ``lifeboat drill list``: run a restore drill of a plan (or one
resource of it) and read the drills recorded in the catalog."""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from lifeboat import executions
from lifeboat.aws.catalog import Catalog
from lifeboat.cli.common import EXIT_OK, caller, finish, follow, outputs, started
from lifeboat.cli.names import resource_option
from lifeboat.drill import DrillInput
from lifeboat.errors import InvalidInputError
from lifeboat.models import validate_input
from lifeboat.output import emit_json, say, table
from lifeboat.plans import default_plans
from lifeboat.stack import require


def cmd_drill_start(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"plan": args.plan, "requested_by": "cli"}
    if args.resource:
        payload["resource"] = resource_option(args.resource, None)
    validate_input(DrillInput, payload)
    plan = default_plans().plans.get(args.plan)
    if plan is None or plan.drill is None:
        raise InvalidInputError("--plan", f"{args.plan!r} is not a plan with a drill rule")
    arn = require(outputs(args), "DrillStateMachineArn", args.stack)
    payload["requested_by"] = caller()
    name = f"drill-{args.plan}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    execution = executions.start(arn, payload, name)
    if not args.wait:
        return started(args, execution, payload)
    if not args.json:
        say(f"drill of {args.plan}{' / ' + args.resource if args.resource else ''}: {execution}")
    result = follow(args, execution, args.timeout)
    if not args.json:
        _print_results(result.get("output") or {})
    return finish(args, result)


def _print_results(summary: dict[str, Any]) -> None:
    rows = [
        (
            r["id"],
            r["type"],
            r["result"],
            _seconds(r.get("rto_seconds")),
            _seconds(r.get("rpo_seconds")),
            r.get("error") or "",
        )
        for r in summary.get("resources", [])
    ]
    if rows:
        say(table(["RESOURCE", "TYPE", "RESULT", "RTO", "RPO", "ERROR"], rows))
    for left in summary.get("not_drilled") or []:
        say(f"  not drilled: {left.get('id')} ({left.get('type')}): {left.get('reason')}")
    if summary.get("duplicate"):
        say(f"  duplicate trigger: the slot's drill is {summary.get('original_execution')}")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def cmd_drill_list(args: argparse.Namespace) -> int:
    catalog = Catalog(require(outputs(args), "CatalogTableName", args.stack))
    names = [args.plan] if args.plan else sorted(default_plans().plans)
    drills = [
        {"plan": name, **record} for name in names for record in catalog.records(f"DRILL#{name}")
    ]
    drills.sort(key=lambda d: str(d.get("started_at", "")), reverse=True)
    if args.json:
        emit_json(drills)
        return EXIT_OK
    if not drills:
        say("no drills recorded")
        return EXIT_OK
    rows = []
    for record in drills:
        resources = record.get("resources") or []
        healthy = sum(1 for r in resources if r.get("result") == "healthy")
        worst = max((r.get("rto_seconds") or 0 for r in resources), default=0)
        rows.append(
            (
                str(record.get("started_at", "")),
                record["plan"],
                str(record.get("status", "")),
                f"{healthy}/{len(resources)}"
                + (f" ({len(left)} not drilled)" if (left := record.get("not_drilled")) else ""),
                _seconds(worst) if resources else "-",
            )
        )
    say(table(["STARTED (UTC)", "PLAN", "STATUS", "HEALTHY", "WORST RTO"], rows))
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser, waiting: argparse.ArgumentParser) -> None:
    drill = sub.add_parser("drill", help="restore drills").add_subparsers(
        dest="drill_command", required=True
    )
    start = drill.add_parser(
        "start", parents=[common, waiting], help="restore a plan's resources into the drill network"
    )
    start.add_argument("--plan", required=True, help="the plan whose resources are drilled")
    start.add_argument(
        "--resource", help="drill this instance (Name tag or id) or DB identifier only"
    )
    start.add_argument("--wait", action="store_true", help="follow the drill until it ends")
    start.set_defaults(func=cmd_drill_start)
    listing = drill.add_parser("list", parents=[common], help="drills recorded in the catalog")
    listing.add_argument("--plan", help="one plan only")
    listing.set_defaults(func=cmd_drill_list)
