"""The ``lifeboat`` command line (DESIGN §5): for on-call engineers and for scripts.

Works against a deployed stack (found by name, ``--stack``) or the local emulator, through the
standard AWS settings (AWS_PROFILE, AWS_REGION or AWS_DEFAULT_REGION, AWS_ENDPOINT_URL). Every
command has ``--json``. Exit codes: 0 success, 1 the work failed, 2 bad input or refused
(nothing was started or changed), 3 stack not found, 4 AWS not reachable or not configured
(no region, no credentials, endpoint unreachable).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from lifeboat import executions
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import client, long_call_client
from lifeboat.aws.guard_store import DynamoGuardStore
from lifeboat.errors import InvalidInputError, StackNotFoundError
from lifeboat.guardrails import GuardConfig, Guardrails
from lifeboat.models import BackupInput, validate_input
from lifeboat.output import emit_json, say, table, warn
from lifeboat.plans import default_plans
from lifeboat.prune import PruneRequest
from lifeboat.restore import RestoreInput
from lifeboat.stack import require, stack_outputs
from lifeboat.timeutil import utcnow

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_STACK, EXIT_AWS = 0, 1, 2, 3, 4
Command = Callable[[argparse.Namespace], int]
EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:\s]+:[^:\s]+$")
LOCAL_COMMANDS = ("demo", "local")  # they start the emulator and set their own environment
NOT_FOUND_CODES = {"ExecutionDoesNotExist", "InvalidArn", "StateMachineDoesNotExist"}


class AwsSetupError(Exception):
    """No region, no credentials, or the endpoint cannot be reached."""


def resolve_region(environ: dict[str, str] | None = None) -> str:
    """The region the way AWS tools find it: ``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then
    the profile (``AWS_PROFILE`` or default, in ~/.aws/config). boto3 itself reads only the last
    two, so the one found is exported as ``AWS_DEFAULT_REGION`` for every client of this run."""
    env = os.environ if environ is None else environ
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        try:
            region = boto3.session.Session().region_name
        except BotoCoreError as exc:
            raise AwsSetupError(str(exc)) from exc
    if not region:
        raise AwsSetupError(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your profile"
        )
    env["AWS_DEFAULT_REGION"] = region
    return region


def _outputs(args: argparse.Namespace) -> dict[str, str]:
    return stack_outputs(args.stack)


def _follow(args: argparse.Namespace, arn: str, timeout: float) -> dict[str, Any]:
    on_line = None if args.json else (lambda line: say(f"  {line}"))
    return executions.wait(arn, timeout=timeout, poll=args.poll, on_line=on_line)


def _finish(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if args.json:
        emit_json(result)
    else:
        say(f"status: {result['status']}")
        if result.get("error"):
            say(f"error:  {result['error']}")
            say(f"cause:  {result['cause']}")
    return _code(result["status"])


def _code(status: str) -> int:
    if status == "REFUSED":
        return EXIT_INPUT
    return EXIT_OK if status == "SUCCEEDED" else EXIT_FAILED


def _started(args: argparse.Namespace, execution: str, payload: dict[str, Any]) -> int:
    if args.json:
        emit_json({"execution_arn": execution, "input": payload})
    else:
        say(f"started {execution}")
        say(f"follow it with: lifeboat executions show {execution} --wait")
    return EXIT_OK


# --- stack -----------------------------------------------------------------------------------
def cmd_stack_outputs(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    if args.json:
        emit_json(outputs)
    else:
        say(table(["OUTPUT", "VALUE"], sorted(outputs.items())))
    return EXIT_OK


# --- backup ----------------------------------------------------------------------------------
def cmd_backup_start(args: argparse.Namespace) -> int:
    payload = {"plan": args.plan, "rule": args.rule, "dry_run": args.dry_run}
    validate_input(BackupInput, payload)
    default_plans().rule(args.plan, args.rule)
    arn = require(_outputs(args), "BackupStateMachineArn", args.stack)
    name = f"backup-{args.plan}-{args.rule}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    execution = executions.start(arn, payload, name)
    if not args.wait:
        return _started(args, execution, payload)
    if not args.json:
        say(f"backup {args.plan}/{args.rule}{' (dry run)' if args.dry_run else ''}: {execution}")
    result = _follow(args, execution, args.timeout)
    if not args.json:
        _print_backup_report(result)
    return _finish(args, result)


def _print_backup_report(result: dict[str, Any]) -> None:
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
            f"{report.get('original_execution')}; nothing was created"
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
    if rows:
        say(table(["RESOURCE", "KIND", "STATUS", "ARTIFACTS / ERROR"], rows))
    cause = result.get("cause")
    if isinstance(cause, str) and cause:
        say(cause)


# --- recovery points -------------------------------------------------------------------------
def cmd_recovery_points_list(args: argparse.Namespace) -> int:
    catalog = Catalog(require(_outputs(args), "CatalogTableName", args.stack))
    points = catalog.points_for_resource(args.resource) if args.resource else catalog.all_points()
    if args.status:
        points = [p for p in points if p.status.value == args.status]
    points.sort(key=lambda p: (p.source_id, p.created_at, p.kind.value))
    if args.json:
        emit_json([p.model_dump(mode="json", exclude_none=True) for p in points])
        return EXIT_OK
    if not points:
        say("no recovery points" + (f" for {args.resource}" if args.resource else ""))
        return EXIT_OK
    rows = [
        (
            p.source_id,
            p.kind.value,
            p.created_at.strftime("%Y-%m-%d %H:%M"),
            p.status.value,
            f"{p.plan}/{p.rule}",
            ", ".join(p.artifact_ids()) or (p.error or ""),
        )
        for p in points
    ]
    say(
        table(
            ["RESOURCE", "KIND", "CREATED (UTC)", "STATUS", "PLAN/RULE", "ARTIFACTS / ERROR"], rows
        )
    )
    say(f"{len(points)} recovery point(s)")
    return EXIT_OK


# --- prune -----------------------------------------------------------------------------------
def _invoke(function_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = long_call_client("lambda").invoke(
        FunctionName=function_name, Payload=json.dumps(payload).encode()
    )
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        if isinstance(body, dict) and body.get("errorType") == "InvalidInputError":
            message = str(body.get("errorMessage", ""))
            field, _, text = message.partition(": ")
            raise InvalidInputError(field, text)
        raise RemoteError(f"{function_name} failed: {body}")
    return dict(body)


class RemoteError(Exception):
    """A Lifeboat function answered with an error."""


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
    function = require(_outputs(args), "PruneFunctionName", args.stack)
    plan = _invoke(function, payload)
    refused = plan.get("orphans_refused") if args.delete_orphans else None
    if refused and not args.dry_run:
        warn(f"error: --delete-orphans refused, nothing was deleted: {refused}")
        return EXIT_INPUT
    if args.dry_run:
        if args.json:
            emit_json(plan)
        else:
            _print_prune(plan, dry_run=True)
        return EXIT_OK
    if not plan["expired"] and not (args.delete_orphans and plan["orphans"]):
        if args.json:
            emit_json(plan)
        else:
            _print_prune(plan, dry_run=False)
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            warn("error: --yes: pruning deletes recovery points; pass --yes (or --dry-run first)")
            return EXIT_INPUT
        _print_prune(plan, dry_run=True)
        answer = input(f"Delete {len(plan['expired'])} recovery point(s)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            say("nothing deleted")
            return EXIT_OK
    result = _invoke(function, {**payload, "dry_run": False})
    if args.json:
        emit_json(result)
    else:
        _print_prune(result, dry_run=False)
    return EXIT_OK


MAX_FOREIGN_LISTED = 50


def _print_prune(report: dict[str, Any], dry_run: bool) -> None:
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
    for group in report.get("stale", []):
        say(f"  ! no recent completed backup for {group}: nothing of it expires (check backups)")
    for item in report.get("skipped", []):
        say(f"  ! skipped {item}")
    orphans = report.get("orphans", [])
    if orphans:
        say(f"{len(orphans)} orphan(s) (managed by Lifeboat, unreachable by retention):")
        for orphan in orphans:
            outcome = f" -> {orphan['outcome']}" if orphan.get("outcome") else ""
            what = f"{orphan['artifact_type']} {orphan['artifact_id']}"
            say(f"  - {what}: {orphan['reason']}{outcome}")
        if not any(o.get("outcome") for o in orphans):
            say("  remove them with: lifeboat prune --plan PLAN --delete-orphans")
    foreign = report.get("foreign_tagged", [])
    if foreign:
        say(
            f"{len(foreign)} foreign-tagged artifact(s): tagged as Lifeboat's, but the catalog "
            "never recorded making them; never deleted (check who tagged them):"
        )
        for item in foreign[:MAX_FOREIGN_LISTED]:
            say(f"  - {item['artifact_type']} {item['artifact_id']}")
    for point in report.get("broken", []):
        say(f"  ! {point}: its AMI was deregistered outside Lifeboat; no longer offered")
    if report.get("orphans_refused"):
        say(f"  ! --delete-orphans would be refused: {report['orphans_refused']}")
    if dry_run:
        say("dry run: nothing was deleted")


# --- restore ---------------------------------------------------------------------------------
def _caller() -> str:
    try:
        return str(client("sts").get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError):
        return os.environ.get("USER", "unknown")


def cmd_restore_start(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {
        "instance_id": args.instance,
        "db_instance_id": args.db,
        "target_az": args.target_az,
        "target_subnet": args.target_subnet,
        "recovery_point": args.recovery_point,
        "restore_time": args.restore_time,
        "dry_run": args.dry_run,
        "keep_on_failure": args.keep_on_failure,
        "force": args.force,
        "allow_same_az": args.same_az or None,
        "reason": args.reason or "",
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    validate_input(RestoreInput, {**payload, "requested_by": "cli"})
    arn = require(_outputs(args), "RestoreStateMachineArn", args.stack)
    payload["requested_by"] = _caller()
    resource = args.instance or args.db
    name = f"restore-{resource}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    execution = executions.start(arn, payload, name)
    if not args.json:
        say(f"restore of {resource}{' (dry run)' if args.dry_run else ''}: {execution}")
    # Some refusals only the state machine can decide (tags, AZs, recovery points, the lock):
    # wait for its validation step's verdict before saying "started".
    on_line = None if args.json else (lambda line: say(f"  {line}"))
    verdict = executions.wait_until_entered(
        execution, "IsDryRun", timeout=args.timeout, poll=args.poll, on_line=on_line
    )
    if verdict is not None and verdict["status"] == "REFUSED":
        return _refused(args, verdict)
    if verdict is None and not (args.wait or args.dry_run):
        return _started(args, execution, payload)
    result = verdict or _follow(args, execution, args.timeout)
    if args.json:
        emit_json(result)
        return _code(result["status"])
    output = result.get("output") or {}
    if result["status"] == "SUCCEEDED" and output.get("dry_run"):
        for line in describe_plan(output):
            say(line)
        say("dry run: nothing was changed; run again without --dry-run to restore")
        return EXIT_OK
    if result["status"] == "SUCCEEDED":
        for line in describe_result(output):
            say(line)
        return EXIT_OK
    say(f"RESTORE FAILED: {result.get('error')}")
    say(f"  {result.get('cause')}")
    say(
        "  the replacement (if any) was removed and the original left as it was; see the SNS "
        "message, or re-run with --dry-run to see the plan"
    )
    return EXIT_FAILED


def _refused(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """A restore refused before anything changed: exit 2 with the message, no stack trace."""
    if args.json:
        emit_json(result)
    else:
        warn(f"refused ({result.get('error')}): {result.get('cause')}")
    return EXIT_INPUT


def describe_plan(plan: dict[str, Any]) -> list[str]:
    """The restore plan in plain words (for the on-call engineer at 3 a.m.)."""
    if plan.get("kind") == "db":
        source = plan["recovery_point_id"] or f"point in time {plan['restore_time']}"
        where = plan.get("target_az") or ("Multi-AZ" if plan.get("multi_az") else "any AZ")
        return [
            f"Would restore database {plan['source_id']} (in {plan.get('source_az')}) from "
            f"{source} (data of {plan['data_taken_at']}) as {plan['new_identifier']} in {where},",
            f"  class {plan.get('instance_class')}, subnet group {plan.get('subnet_group')}, "
            f"parameter group {plan.get('parameter_group')}, security groups "
            f"{', '.join(plan.get('security_group_ids', []))}.",
            "  The application must then be pointed at the new endpoint.",
            *(f"  ! WARNING: {w}" for w in plan.get("warnings", [])),
        ]
    first = plan["candidates"][0]
    lines = [
        f"Would restore {plan['name']} ({plan['source_id']}, {plan['source_state']} in "
        f"{plan['source_az']}) from recovery point {plan['recovery_point_id']}:",
        f"  launch {plan['instance_types'][0]} from {plan['image_id']} (taken "
        f"{plan['image_taken_at']}) into {first['availability_zone']} subnet {first['subnet_id']}",
    ]
    for volume in plan["volumes"]:
        lines.append(
            f"  volume {volume['device_name']}: {volume['volume_type'] or 'default'} "
            f"{volume['size_gb']} GiB from {volume['source']} (taken {volume['taken_at']})"
        )
    if len(plan["instance_types"]) > 1 or len(plan["candidates"]) > 1:
        others = [c["availability_zone"] for c in plan["candidates"][1:]]
        lines.append(
            f"  if there is no capacity: types {', '.join(plan['instance_types'][1:]) or '-'}, "
            f"then AZs {', '.join(others) or '-'}"
        )
    lines.append(
        f"  security groups {', '.join(plan['security_group_ids'])}; key {plan.get('key_name')}; "
        f"instance profile {plan.get('iam_instance_profile_arn') or '-'}; IMDSv2 required"
    )
    lines.append(f"  data as of {plan['data_taken_at']}")
    if plan.get("elastic_ip"):
        lines.append(
            f"then fence the original (stop it, tag lifeboat:fenced), move Elastic IP "
            f"{plan['elastic_ip'].get('public_ip')} ({plan['elastic_ip'].get('allocation_id')})"
        )
    else:
        lines.append("then fence the original (stop it, tag lifeboat:fenced)")
    for group in plan.get("target_groups", []):
        lines.append(f"  and move target-group membership of {group['target_group_arn']}")
    lineage = plan.get("lineage") or []
    if len(lineage) > 1:
        lines.append(f"  (this server has been restored before: {' -> '.join(lineage)})")
    return [*lines, *(f"  ! WARNING: {w}" for w in plan.get("warnings", []))]


def describe_result(result: dict[str, Any]) -> list[str]:
    cut = result.get("cutover") or {}
    lines = [
        f"RESTORED {result['resource_id']} as {result['replacement_id']} in "
        f"{result.get('availability_zone')} (was in {result.get('from_availability_zone')}) "
        f"from {result.get('recovery_point_id') or 'a point in time'}.",
        f"  RPO {_duration(result['rpo_seconds'])} (data of {result['data_taken_at']}), "
        f"RTO {_duration(result['rto_seconds'])} (request to healthy and cut over)",
    ]
    if cut.get("eip_moved"):
        lines.append(f"  Elastic IP {cut.get('public_ip')} now on {result['replacement_id']}")
    if cut.get("target_groups"):
        lines.append(f"  target groups: {', '.join(cut['target_groups'])}")
    if cut.get("fenced"):
        lines.append(
            f"  original fenced (tag lifeboat:fenced; {cut.get('stop_outcome', 'not running')})"
        )
    if result.get("endpoint"):
        lines.append(f"  endpoint: {result['endpoint']}")
    for fallback in result.get("capacity_fallbacks", []):
        where = f"{fallback['instance_type']} in {fallback['availability_zone']}"
        lines.append(f"  skipped {where}: {fallback['error']}")
    lines.append("Roll back: see README, 'Rolling a restore back'.")
    return lines


def _duration(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


# --- circuit breaker -------------------------------------------------------------------------
def _guardrails(args: argparse.Namespace) -> Guardrails:
    table = require(_outputs(args), "CatalogTableName", args.stack)
    return Guardrails(DynamoGuardStore(table), Catalog(table), GuardConfig())


def cmd_breaker_status(args: argparse.Namespace) -> int:
    guard = _guardrails(args)
    state = {**guard.breaker(), "running_automatic_restores": guard.running()}
    state.pop("threshold", None)
    if args.json:
        emit_json(state)
        return EXIT_OK
    say(f"circuit breaker: {state['state'].upper()}")
    say(f"  failed automatic restores in a row: {state['consecutive_failures']}")
    if state.get("opened_at"):
        say(f"  opened at {state['opened_at']}; last failure: {state.get('last_failure')}")
    if state.get("reset_by"):
        say(f"  last reset by {state['reset_by']}")
    say(f"  automatic restores running: {', '.join(state['running_automatic_restores']) or 'none'}")
    if state["state"] == "open":
        say("  automatic restores are refused; check the failures, then: lifeboat breaker reset")
    return EXIT_OK


def cmd_breaker_reset(args: argparse.Namespace) -> int:
    guard = _guardrails(args)
    by = f"{_caller()}{f' ({args.reason})' if args.reason else ''}"
    state = guard.reset_breaker(by, utcnow())
    if args.json:
        emit_json(state)
    else:
        say(f"circuit breaker closed by {by}; automatic restores resume")
    return EXIT_OK


# --- executions ------------------------------------------------------------------------------
def cmd_executions_show(args: argparse.Namespace) -> int:
    if not EXECUTION_ARN.match(args.arn):
        raise InvalidInputError(
            "arn",
            f"{args.arn!r} is not an execution ARN (arn:aws:states:REGION:ACCOUNT:execution:…)",
        )
    if args.wait:
        result = _follow(args, args.arn, args.timeout)
    else:
        result = executions.describe(args.arn)
        if not args.json:
            reader = executions.HistoryReader(args.arn)
            for event in reader.new_events():
                line = reader.line(event)
                if line:
                    say(f"  {line}")
    if args.json:
        emit_json(result)
        return EXIT_OK if result["status"] == "RUNNING" else _code(result["status"])
    say(f"execution: {result['execution_arn']}")
    say(f"started:   {result['started_at']}  stopped: {result['stopped_at'] or '-'}")
    if isinstance(result.get("output"), dict) and "outcomes" in result["output"]:
        _print_backup_report(result)
    return _finish(args, result) if result["status"] != "RUNNING" else EXIT_OK


# --- local mode ------------------------------------------------------------------------------
def cmd_local_serve(args: argparse.Namespace) -> int:
    from lifeboat.local.seed import seed_elearn
    from lifeboat.local.server import Emulator

    emulator = Emulator(port=args.port).start()
    stack = emulator.deploy()
    seeded = seed_elearn() if args.seed else None
    env = emulator.environment()
    if args.json:
        emit_json(
            {
                "environment": env,
                "outputs": stack.outputs,
                "seeded": seeded.as_dict() if seeded else None,
            }
        )
    else:
        say(f"Lifeboat local emulator on {emulator.endpoint} with stack '{stack.name}' deployed.")
        say("In another shell:")
        for key, value in env.items():
            say(f"  export {key}={value}")
        say(
            "then e.g.: lifeboat stack outputs; "
            "lifeboat backup start --plan standard --rule daily --wait"
        )
        say("Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emulator.stop()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from lifeboat.demo import run_demo

    return run_demo(json_output=args.json)


# --- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", default="lifeboat", help="stack name (default: lifeboat)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument("--timeout", type=float, default=6 * 3600, help="seconds to wait at most")
    waiting.add_argument("--poll", type=float, default=2.0, help="seconds between progress checks")

    parser = argparse.ArgumentParser(
        prog="lifeboat", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser(
        "demo", parents=[common], help="the whole lifecycle in the local emulator"
    ).set_defaults(func=cmd_demo)

    local = sub.add_parser("local", help="the local emulator").add_subparsers(
        dest="local_command", required=True
    )
    serve = local.add_parser(
        "serve", parents=[common], help="run the emulator with the stack deployed"
    )
    serve.add_argument("--port", type=int, default=4566)
    serve.add_argument("--seed", action="store_true", help="also seed the eLearn example platform")
    serve.set_defaults(func=cmd_local_serve)

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
    start.add_argument("--plan", required=True)
    start.add_argument("--rule", required=True)
    start.add_argument(
        "--dry-run", action="store_true", help="list what would be backed up; create nothing"
    )
    start.add_argument("--wait", action="store_true", help="follow progress until the run ends")
    start.set_defaults(func=cmd_backup_start)

    points = sub.add_parser("recovery-points", help="the catalog").add_subparsers(
        dest="rp_command", required=True
    )
    listing = points.add_parser("list", parents=[common], help="list recovery points")
    listing.add_argument("--resource", help="instance id or DB identifier")
    listing.add_argument("--status", choices=["pending", "completed", "failed", "deleted"])
    listing.set_defaults(func=cmd_recovery_points_list)

    pruning = sub.add_parser(
        "prune", parents=[common], help="apply retention to a plan's recovery points"
    )
    pruning.add_argument("--plan", required=True)
    pruning.add_argument("--rule", help="only this rule (default: every rule of the plan)")
    pruning.add_argument(
        "--dry-run", action="store_true", help="print the deletion plan; delete nothing"
    )
    pruning.add_argument(
        "--delete-orphans", action="store_true", help="also remove orphans it reports"
    )
    pruning.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    pruning.set_defaults(func=cmd_prune)

    _add_restore(sub, common, waiting)

    breaker = sub.add_parser("breaker", help="the circuit breaker of automatic restores")
    breaker_sub = breaker.add_subparsers(dest="breaker_command", required=True)
    breaker_sub.add_parser("status", parents=[common], help="open or closed, and why").set_defaults(
        func=cmd_breaker_status
    )
    reset = breaker_sub.add_parser("reset", parents=[common], help="close it (after checking)")
    reset.add_argument("--reason", help="what was checked (recorded)")
    reset.set_defaults(func=cmd_breaker_reset)

    execs = sub.add_parser("executions", help="Step Functions executions").add_subparsers(
        dest="exec_command", required=True
    )
    show = execs.add_parser(
        "show", parents=[common, waiting], help="status and progress of an execution"
    )
    show.add_argument("arn")
    show.add_argument("--wait", action="store_true")
    show.set_defaults(func=cmd_executions_show)
    return parser


def _add_restore(
    sub: Any, common: argparse.ArgumentParser, waiting: argparse.ArgumentParser
) -> None:
    restoring = sub.add_parser("restore", help="restores").add_subparsers(
        dest="restore_command", required=True
    )
    rstart = restoring.add_parser(
        "start",
        parents=[common, waiting],
        help="restore an instance into another AZ, or a database",
    )
    target = rstart.add_mutually_exclusive_group(required=True)
    target.add_argument("--instance", help="instance id (it may be gone)")
    target.add_argument("--db", help="DB instance identifier")
    rstart.add_argument(
        "--target-az",
        help="AZ to restore into (default: another AZ with a subnet of the same tier)",
    )
    rstart.add_argument(
        "--target-subnet", help="subnet to restore into (with --target-az when no tier matches)"
    )
    rstart.add_argument(
        "--recovery-point", default="latest", help="recovery point id, AMI id or DB snapshot id"
    )
    rstart.add_argument("--restore-time", help="databases: point in time (ISO 8601)")
    rstart.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    rstart.add_argument("--reason", help="why (recorded and notified)")
    rstart.add_argument(
        "--keep-on-failure",
        action="store_true",
        help="keep a replacement that failed, to investigate",
    )
    rstart.add_argument(
        "--force",
        action="store_true",
        help="bypass the cooldown (never the lock); for a server already replaced, restore "
        "the instance that stands for it now",
    )
    rstart.add_argument(
        "--same-az",
        action="store_true",
        help="allow --target-az (or --target-subnet) in the original's own AZ: a failed host, "
        "not a failed AZ",
    )
    rstart.add_argument("--wait", action="store_true", help="follow progress stage by stage")
    rstart.set_defaults(func=cmd_restore_start)


def _check_waiting(args: argparse.Namespace) -> None:
    for option in ("poll", "timeout"):
        value = getattr(args, option, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InvalidInputError(f"--{option}", f"must be a positive number of seconds: {value}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every error ends in one line on stderr and a documented exit code."""
    args = build_parser().parse_args(argv)
    try:
        _check_waiting(args)
        if args.command not in LOCAL_COMMANDS:
            resolve_region()
        code: int = args.func(args)
    except InvalidInputError as exc:
        warn(f"error: {exc}")
        return EXIT_INPUT
    except StackNotFoundError as exc:
        warn(f"error: {exc}")
        return EXIT_STACK
    except RemoteError as exc:
        warn(f"error: {exc}")
        return EXIT_FAILED
    except AwsSetupError as exc:
        warn(f"error: {exc}")
        return EXIT_AWS
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code_name = str(error.get("Code", ""))
        warn(f"error: {code_name}: {error.get('Message', '')}".rstrip(": "))
        return EXIT_INPUT if code_name in NOT_FOUND_CODES else EXIT_FAILED
    except BotoCoreError as exc:  # no credentials, endpoint unreachable, no region, …
        warn(f"error: {exc}")
        return EXIT_AWS
    except KeyboardInterrupt:
        warn("interrupted")
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
