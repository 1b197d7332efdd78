"""``lifeboat prune``: apply a plan's retention, through the prune function (a dry run first,
then, confirmed, the deletion)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lifeboat.cli.common import EXIT_INPUT, EXIT_OK, invoke, outputs
from lifeboat.models import validate_input
from lifeboat.output import emit_json, say, table, warn
from lifeboat.plans import default_plans
from lifeboat.prune import Locked, PruneRequest
from lifeboat.stack import require

MAX_FOREIGN_LISTED = 50


def cmd_prune(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {
        "plan": args.plan,
        "dry_run": True,
        "delete_orphans": args.delete_orphans,
    }
    if args.rule:
        payload["rule"] = args.rule
    request = validate_input(PruneRequest, payload)
    default_plans().rule_names(request.plan, request.rule)
    function = require(outputs(args), "PruneFunctionName", args.stack)
    plan = invoke(function, payload)
    refused = plan.get("orphans_refused") if args.delete_orphans else None
    if refused and not args.dry_run:
        warn(f"error: --delete-orphans refused, nothing was deleted: {refused}")
        return EXIT_INPUT
    nothing_to_delete = not plan["expired"] and not (args.delete_orphans and plan["orphans"])
    if args.dry_run or nothing_to_delete:
        _show(args, plan, dry_run=args.dry_run)
        return EXIT_OK
    if not args.yes:
        stop = _confirm(plan)
        if stop is not None:
            return stop
    _show(args, invoke(function, {**payload, "dry_run": False}), dry_run=False)
    return EXIT_OK


def _confirm(plan: dict[str, Any]) -> int | None:
    """Ask before deleting (None: go ahead; else the exit code)."""
    if not sys.stdin.isatty():
        warn("error: --yes: pruning deletes recovery points; pass --yes (or --dry-run first)")
        return EXIT_INPUT
    print_prune(plan, dry_run=True)
    answer = input(f"Delete {len(plan['expired'])} recovery point(s)? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        say("nothing deleted")
        return EXIT_OK
    return None


def _show(args: argparse.Namespace, report: dict[str, Any], dry_run: bool) -> None:
    if args.json:
        emit_json(report)
    else:
        print_prune(report, dry_run=dry_run)


def print_prune(report: dict[str, Any], dry_run: bool) -> None:
    verb = "would delete" if dry_run else "deleted"
    rows = [
        (
            e["source_id"],
            e["kind"],
            e["rule"],
            e["created_at"][:16].replace("T", " "),
            e["size_gb"],
            ", ".join(e["artifacts"]),
            e["reason"] if dry_run else ", ".join(f"{k}: {v}" for k, v in e["outcome"].items()),
        )
        for e in report["expired"]
    ]
    if rows:
        header = ["RESOURCE", "KIND", "RULE", "CREATED (UTC)", "GiB", "ARTIFACTS"]
        say(table([*header, "WHY" if dry_run else "OUTCOME"], rows))
    summary = report.get("summary", report)
    say(
        f"plan {report['plan']} ({', '.join(report['rules'])}): {summary['evaluated']} evaluated, "
        f"{summary['kept']} kept, {len(report['expired'])} {verb}, "
        f"frees up to {report['frees_gb']} GiB (snapshot sizes; EBS snapshots are incremental)"
    )
    if summary.get("recycle_bin"):
        say(f"  note: {summary['recycle_bin']}")
    for group in report.get("stale", []):
        say(f"  ! no recent completed backup for {group}: nothing of it expires (check backups)")
    for group in report.get("decommissioned", []):
        say(f"  decommissioned: {group} no longer exists (kept decommissioned_days, then expired)")
    for item in report.get("skipped", []):
        say(f"  ! skipped {item}")
    for locked in report.get("locked", []):
        say(f"  locked: {Locked.model_validate(locked).describe()}")
    _print_orphans(report.get("orphans", []))
    _print_foreign(report.get("foreign_tagged", []))
    for point in report.get("broken", []):
        say(f"  ! {point}: its AMI was deregistered outside Lifeboat; no longer offered")
    if report.get("orphans_refused"):
        say(f"  ! --delete-orphans would be refused: {report['orphans_refused']}")
    if dry_run:
        say("dry run: nothing was deleted")


def _print_orphans(orphans: list[dict[str, Any]]) -> None:
    if not orphans:
        return
    say(f"{len(orphans)} orphan(s) (managed by Lifeboat, unreachable by retention):")
    for orphan in orphans:
        outcome = f" -> {orphan['outcome']}" if orphan.get("outcome") else ""
        what = f"{orphan['artifact_type']} {orphan['artifact_id']}"
        say(f"  - {what}: {orphan['reason']}{outcome}")
    if not any(o.get("outcome") for o in orphans):
        say("  remove them with: lifeboat prune --plan PLAN --delete-orphans")


def _print_foreign(foreign: list[dict[str, Any]]) -> None:
    if not foreign:
        return
    say(
        f"{len(foreign)} foreign-tagged artifact(s): tagged as Lifeboat's, but the catalog "
        "never recorded making them; never deleted (check who tagged them):"
    )
    for item in foreign[:MAX_FOREIGN_LISTED]:
        say(f"  - {item['artifact_type']} {item['artifact_id']}")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    pruning = sub.add_parser(
        "prune", parents=[common], help="apply retention to a plan's recovery points"
    )
    pruning.add_argument("--plan", required=True, help="the plan whose retention is applied")
    pruning.add_argument("--rule", help="only this rule (default: every rule of the plan)")
    pruning.add_argument(
        "--dry-run", action="store_true", help="print the deletion plan; delete nothing"
    )
    pruning.add_argument(
        "--delete-orphans", action="store_true", help="also remove orphans it reports"
    )
    pruning.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    pruning.set_defaults(func=cmd_prune)
