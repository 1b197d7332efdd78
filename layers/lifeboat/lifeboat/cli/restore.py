"""``lifeboat restore start``: restore an instance into another AZ, or a database; the plan and
the result in plain words."""

from __future__ import annotations

import argparse
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from lifeboat import executions
from lifeboat.cli import restore_oncall
from lifeboat.cli.asg import cmd_group_restore
from lifeboat.cli.common import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    caller,
    exit_code,
    follow,
    outputs,
    started,
)
from lifeboat.cli.names import instance_option
from lifeboat.cli.restore_volume import register_volume
from lifeboat.errors import InvalidInputError
from lifeboat.models import validate_input
from lifeboat.output import emit_json, say, warn
from lifeboat.restore import RestoreInput
from lifeboat.stack import require
from lifeboat.timeutil import iso, parse_iso


def cmd_restore_start(args: argparse.Namespace) -> int:
    if args.asg:
        return cmd_group_restore(args)
    if args.desired is not None:
        raise InvalidInputError("--desired", "applies to a group's restore (--asg) only")
    if args.instance:
        args.instance = instance_option(args.instance)
    recovery_point, point_time = parse_point(args.point)
    payload: dict[str, Any] = {
        "instance_id": args.instance,
        "db_instance_id": args.db,
        "target_az": args.target_az,
        "target_subnet": args.target_subnet,
        "recovery_point": recovery_point,
        "point_time": point_time,
        "restore_time": args.restore_time,
        "dry_run": args.dry_run,
        "keep_on_failure": args.keep_on_failure,
        "force": args.force,
        "allow_same_az": args.same_az or None,
        "reason": args.reason or "",
        "region": args.region,
        "security_groups": args.security_group or None,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    validate_input(RestoreInput, {**payload, "requested_by": "cli"})
    arn = require(outputs(args), "RestoreStateMachineArn", args.stack)
    payload["requested_by"] = caller()
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
        return started(args, execution, payload)
    result = verdict or follow(args, execution, args.timeout)
    if args.json:
        emit_json(result)
        return exit_code(result["status"])
    return _print_restore(result)


TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE
)


def parse_point(value: str) -> tuple[str, str | None]:
    """``--point``: ``latest``, a recovery point id (or AMI, snapshot, DB snapshot id), or a
    time (ISO 8601, UTC unless it carries an offset): ``(recovery_point, point_time)``."""
    if not TIME.match(value.strip()):
        return value, None
    try:
        return "latest", iso(parse_iso(value.strip().upper().replace(" ", "T")))
    except ValueError as exc:
        raise InvalidInputError(
            "--point", f"{value!r} is not a time (e.g. 2026-11-27T02:00:00Z): {exc}"
        ) from exc


def _print_restore(result: dict[str, Any]) -> int:
    output = result.get("output") or {}
    if result["status"] == "SUCCEEDED" and output.get("dry_run"):
        for line in describe_plan(output):
            say(line)
        say("dry run: nothing was changed; run again without --dry-run to restore")
        return EXIT_OK
    if result["status"] == "SUCCEEDED":
        for line in describe_result(output, result.get("execution_arn")):
            say(line)
        return EXIT_OK
    say(f"RESTORE FAILED: {result.get('error') or 'unknown error'}")
    say(f"  {result.get('cause') or 'no cause recorded'}")
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
        warn(f"refused ({result.get('error') or 'Refused'}): {result.get('cause') or '-'}")
    return EXIT_INPUT


def describe_plan(plan: dict[str, Any]) -> list[str]:
    """The restore plan in plain words (for the on-call engineer at 3 a.m.)."""
    if plan.get("region"):
        return describe_region_plan(plan)
    if plan.get("kind") == "db":
        return _describe_db_plan(plan)
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
            + (", not in the AMI: created from its snapshot" if volume.get("not_in_image") else "")
        )
    if len(plan["instance_types"]) > 1 or len(plan["candidates"]) > 1:
        others = [c["availability_zone"] for c in plan["candidates"][1:]]
        lines.append(
            f"  if there is no capacity: types {', '.join(plan['instance_types'][1:]) or '-'}, "
            f"then AZs {', '.join(others) or '-'}"
        )
    lines.append(
        f"  security groups {', '.join(plan['security_group_ids']) or '-'}; key pair "
        f"{plan.get('key_name') or 'none'}; instance profile "
        f"{plan.get('iam_instance_profile_arn') or '-'}; IMDSv2 required"
    )
    lines.append(f"  data as of {plan['data_taken_at']}")
    if plan.get("point_note"):
        lines.append(f"  point: {plan['point_note']}")
    if plan.get("elastic_ip"):
        lines.append(
            f"then fence the original (stop it, tag lifeboat:fenced), move Elastic IP "
            f"{plan['elastic_ip'].get('public_ip') or '-'} "
            f"({plan['elastic_ip'].get('allocation_id')})"
        )
    else:
        lines.append("then fence the original (stop it, tag lifeboat:fenced)")
    for group in plan.get("target_groups", []):
        lines.append(f"  and move target-group membership of {group['target_group_arn']}")
    lineage = plan.get("lineage") or []
    if len(lineage) > 1:
        lines.append(f"  (this server has been restored before: {' -> '.join(lineage)})")
    return [*lines, *(f"  ! WARNING: {w}" for w in plan.get("warnings", []))]


def _describe_db_plan(plan: dict[str, Any]) -> list[str]:
    source = plan.get("recovery_point_id") or f"point in time {plan.get('restore_time') or '-'}"
    where = plan.get("target_az") or ("Multi-AZ" if plan.get("multi_az") else "any AZ")
    how = (
        "point-in-time restore (RestoreDBInstanceToPointInTime)"
        if plan.get("restore_time")
        else f"DB snapshot {plan.get('snapshot_id') or '-'} (RestoreDBInstanceFromDBSnapshot)"
    )
    return [
        f"Would restore database {plan['source_id']} (in {plan.get('source_az') or 'AZ unknown'})"
        f" from {source} (data of {plan['data_taken_at']}) as {plan['new_identifier']} in "
        f"{where},",
        f"  by {how}",
        *([f"  point: {plan['point_note']}"] if plan.get("point_note") else []),
        f"  class {plan.get('instance_class') or 'as the snapshot'}, subnet group "
        f"{plan.get('subnet_group') or 'default'}, parameter group "
        f"{plan.get('parameter_group') or 'default'}, security groups "
        f"{', '.join(plan.get('security_group_ids', [])) or 'default'}.",
        "  The application must then be pointed at the new endpoint.",
        *(f"  ! WARNING: {w}" for w in plan.get("warnings", [])),
    ]


def describe_region_plan(plan: dict[str, Any]) -> list[str]:
    """A restore in another region: the copy used and its age (the RPO), where it lands (VPC,
    subnet, AZ), the security groups by name, and what will NOT be done."""
    region, home = plan["region"], plan.get("home_region") or "the home region"
    age = _duration(int((datetime.now(UTC) - parse_iso(plan["data_taken_at"])).total_seconds()))
    groups = ", ".join(
        f"{name or '?'} ({gid})"
        for gid, name in zip(
            plan.get("security_group_ids", []), plan.get("security_group_names", []), strict=False
        )
    )
    if plan.get("kind") == "db":
        what, artifact = (
            f"database {plan['source_id']}",
            f"DB snapshot {plan.get('snapshot_id') or '-'}",
        )
        lands = [
            f"  as {plan['new_identifier']} in {plan.get('target_az') or 'any AZ'}, DB subnet "
            f"group {plan.get('subnet_group') or '-'} (VPC {plan.get('vpc_id') or '-'}), class "
            f"{plan.get('instance_class') or 'as the snapshot'}, parameter group "
            f"{plan.get('parameter_group') or 'the default'}, single-AZ",
        ]
    else:
        what, artifact = f"{plan['name']} ({plan['source_id']})", f"AMI {plan['image_id']}"
        first = plan["candidates"][0]
        others = [c["availability_zone"] for c in plan["candidates"][1:]]
        lands = [
            f"  launch {plan['instance_types'][0]} into {first['availability_zone']} subnet "
            f"{first['subnet_id']} of VPC {plan.get('vpc_id') or '-'} (if no capacity: types "
            f"{', '.join(plan['instance_types'][1:]) or '-'}, then AZs {', '.join(others) or '-'})",
            *(
                f"  volume {v['device_name']}: {v['volume_type'] or 'default'} {v['size_gb']} GiB "
                f"from {v['source']}"
                for v in plan["volumes"]
            ),
            f"  key pair {plan.get('key_name') or 'none'}; instance profile "
            f"{plan.get('iam_instance_profile_arn') or '-'}; IMDSv2 required",
        ]
    return [
        f"Would restore {what} in {region} from its copy there ({home} presumed lost):",
        f"  copy {plan.get('recovery_point_id') or '-'} (of {plan.get('copy_of') or '-'}), "
        f"{artifact}",
        f"  data of {plan['data_taken_at']}: {age} old, the data lost if restored now (RPO)",
        *lands,
        f"  security groups {groups or '-'}",
        "NOT done (runbook: region lost):",
        *(f"  - {n}" for n in plan.get("not_done", [])),
        *(f"  ! WARNING: {w}" for w in plan.get("warnings", [])),
    ]


def describe_result(result: dict[str, Any], execution_arn: str | None = None) -> list[str]:
    cut = result.get("cutover") or {}
    lines = [
        f"RESTORED {result['resource_id']} as {result['replacement_id']} in "
        f"{result.get('availability_zone') or 'its AZ'} (was in "
        f"{result.get('from_availability_zone') or 'an unknown AZ'}) "
        f"from {result.get('recovery_point_id') or 'a point in time'}.",
        f"  RPO {_duration(result['rpo_seconds'])} (data of {result['data_taken_at']}), "
        f"RTO {_duration(result['rto_seconds'])} (request to healthy and cut over)",
    ]
    if cut.get("eip_moved"):
        lines.append(
            f"  Elastic IP {cut.get('public_ip') or '-'} now on {result['replacement_id']}"
        )
    if cut.get("target_groups"):
        lines.append(f"  target groups: {', '.join(cut['target_groups'])}")
    if cut.get("fenced"):
        lines.append(
            f"  original fenced (tag lifeboat:fenced; {cut.get('stop_outcome') or 'not running'})"
        )
    if result.get("endpoint"):
        lines.append(f"  endpoint: {result['endpoint']}")
    for fallback in result.get("capacity_fallbacks", []):
        where = f"{fallback['instance_type']} in {fallback['availability_zone']}"
        lines.append(f"  skipped {where}: {fallback['error']}")
    if result.get("region"):
        lines.append(f"In {result['region']}, from its copy. NOT done (runbook: region lost):")
        lines.extend(f"  - {n}" for n in result.get("not_done", []))
        return lines
    lines.append(
        f"Roll back: lifeboat restore rollback {execution_arn or 'EXECUTION_ARN'} --dry-run "
        "(docs/runbooks/restore-went-wrong.md)"
    )
    return lines


def _duration(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def register(sub: Any, common: argparse.ArgumentParser, waiting: argparse.ArgumentParser) -> None:
    restoring = sub.add_parser("restore", help="restores").add_subparsers(
        dest="restore_command", required=True
    )
    rstart = restoring.add_parser(
        "start",
        parents=[common, waiting],
        help="restore an instance into another AZ, or a database; with --region, from the "
        "copies in another region",
    )
    target = rstart.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--instance", help="instance: its Name tag (e.g. web-1) or its id (an id if it is gone)"
    )
    target.add_argument("--db", help="DB instance identifier")
    target.add_argument(
        "--asg",
        help="Auto Scaling group name: a launch template version from its recovery point, "
        "and an instance refresh (recreated when gone; with --region, created there)",
    )
    rstart.add_argument(
        "--target-az",
        help="AZ to restore into (default: another AZ with a subnet of the same tier)",
    )
    rstart.add_argument(
        "--target-subnet",
        help="subnet to restore into (with --target-az when no tier matches; with --region, a "
        "subnet of that region)",
    )
    rstart.add_argument(
        "--point",
        "--recovery-point",
        dest="point",
        default="latest",
        metavar="ID|TIME|latest",
        help="what to restore (default: latest): a recovery point id (an AMI point, an EBS set, "
        "a DB snapshot point; or an AMI, snapshot or DB snapshot id), or a time (ISO 8601, UTC "
        "unless it has an offset): an instance from the AMI at or before it with the newest EBS "
        "set at or before it; a database to that point in time when it is within its "
        "restorable window (to its latest restorable time when it is after it), else from its "
        "newest snapshot at or before it. A time in the future is refused. --recovery-point is "
        "the same option's older name",
    )
    rstart.add_argument(
        "--restore-time",
        help="databases: restore to exactly this point in time (ISO 8601) with "
        "RestoreDBInstanceToPointInTime, refused outside the restorable window",
    )
    rstart.add_argument(
        "--desired",
        type=int,
        help="with --asg: desired capacity of a group created (--region, or deleted by hand)",
    )
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
        "the instance that stands for it now; with --region, restore again although an earlier "
        "restore's replacement still stands there",
    )
    rstart.add_argument(
        "--same-az",
        action="store_true",
        help="allow --target-az (or --target-subnet) in the original's own AZ: a failed host, "
        "not a failed AZ",
    )
    rstart.add_argument(
        "--region",
        help="restore from the copies in this region, into a subnet of the same tier there "
        "(docs/runbooks/region-lost.md); nothing in the home region is touched",
    )
    rstart.add_argument(
        "--security-group",
        action="append",
        help="with --region: a security group of the target VPC there (repeatable; default: "
        "the groups named as the original's were)",
    )
    rstart.add_argument("--wait", action="store_true", help="follow progress stage by stage")
    rstart.set_defaults(func=cmd_restore_start)
    restore_oncall.register(restoring, common)
    register_volume(restoring, common)
