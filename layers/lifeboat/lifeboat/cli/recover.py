"""``lifeboat recover --app NAME --az AZ [--dry-run] [--at TIME] [--json]``: evacuate one
application from a failed AZ in one execution (docs/runbooks/az-failed.md); ``--undo`` puts
back what a finished evacuation changed that outlives it. Exit 0 done, 2 refused (nothing
changed), 1 failed (rolled back)."""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from lifeboat import executions
from lifeboat.apps.evacuation import EvacuateInput
from lifeboat.cli.common import EXIT_OK, caller, exit_code, outputs
from lifeboat.models import validate_input
from lifeboat.output import emit_json, say
from lifeboat.stack import require
from lifeboat.timeutil import utcnow


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "app": args.app,
        "az": args.az,
        "at": args.at,
        "plan": args.plan,
        "dry_run": args.dry_run,
        "reason": args.reason or "",
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    validate_input(EvacuateInput, payload)
    return payload


def cmd_recover(args: argparse.Namespace) -> int:
    if args.undo:
        return _undo(args)
    payload = _payload(args)
    arn = require(outputs(args), "EvacuateStateMachineArn", args.stack)
    payload["requested_by"] = caller()
    name = f"evacuate-{args.app}-{args.az}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:4]}"
    execution = executions.start(arn, payload, name[:80])
    if not args.json:
        say(f"evacuation of {args.app} from {args.az}{' (dry run)' if args.dry_run else ''}:")
        say(f"  {execution}")
    on_line = None if args.json else (lambda line: say(f"  {line}"))
    result = executions.wait(execution, timeout=args.timeout, poll=args.poll, on_line=on_line)
    if args.json:
        emit_json(result)
    else:
        _say(result, args.dry_run)
    return exit_code(result["status"])


def _say(result: dict[str, Any], dry_run: bool) -> None:
    out = result.get("output") or {}
    say(f"status: {result['status']}")
    if result["status"] == "REFUSED":
        say(f"refused: {out.get('cause')}")
        return
    if result["status"] != "SUCCEEDED":
        say(f"error:  {result.get('error')}\ncause:  {result.get('cause')}")
        say("what this evacuation changed was rolled back (see the notification for each step)")
        return
    say(
        f"recovery time T: {out.get('recovery_time')} (skew between tiers: "
        f"{out.get('skew_seconds')} s)"
    )
    if dry_run:
        for tier in out.get("tiers", []):
            say(f"tier {tier['tier']}:")
            for step in tier["steps"]:
                say(f"  {step['resource_id']:<22} {step['action']:<18} point {step['point']}")
        for note in out.get("not_automated", []):
            say(f"  not automated: {note}")
        return
    for member in out.get("members", []):
        say(
            f"  {member['tier']:<5} {member['resource_id']:<22} {member['action']:<18} "
            f"-> {member.get('replacement_id') or '-'}"
        )
    say(f"RTO: {out.get('rto_seconds')} s")


def _undo(args: argparse.Namespace) -> int:
    from lifeboat.apps.ending import undo
    from lifeboat.runtime import aws_ports

    validate_input(EvacuateInput, {"app": args.app, "az": args.az})
    table = require(outputs(args), "CatalogTableName", args.stack)
    result = undo(args.app, args.az, aws_ports(table), utcnow(), time.sleep, args.include_endpoint)
    if args.json:
        emit_json(result)
    else:
        say(f"undone what evacuation {result['execution_name']} changed:")
        for key, value in result["undone"].items():
            say(f"  {key}: {value}")
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser, waiting: argparse.ArgumentParser) -> None:
    recover = sub.add_parser(
        "recover",
        parents=[common, waiting],
        help="evacuate an application from a failed AZ (one execution, tiers in order)",
    )
    recover.add_argument("--app", required=True, help="an application plans.yaml declares")
    recover.add_argument("--az", required=True, help="the failed Availability Zone")
    recover.add_argument("--at", help="recovery time T (ISO 8601; default: the newest common)")
    recover.add_argument("--plan", help="the plan declaring the app (when several do)")
    recover.add_argument("--dry-run", action="store_true", help="the plan, nothing changed")
    recover.add_argument("--reason", help="why (recorded, notified)")
    recover.add_argument(
        "--undo", action="store_true", help="put back what the last evacuation changed"
    )
    recover.add_argument(
        "--include-endpoint",
        action="store_true",
        help="with --undo: also switch the database endpoint back to the old database",
    )
    recover.set_defaults(func=cmd_recover)
