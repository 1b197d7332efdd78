"""``lifeboat restore start --asg`` and the rollback of a group restore: the plan and the result
in plain words (docs: Concepts, Auto Scaling groups)."""

from __future__ import annotations

import argparse
import re
import sys
import time
import uuid
from typing import Any

from lifeboat import executions
from lifeboat.asg.restore_models import GroupRestoreInput
from lifeboat.cli.common import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    caller,
    exit_code,
    outputs,
    started,
)
from lifeboat.errors import InvalidInputError
from lifeboat.models import validate_input
from lifeboat.output import emit_json, say, warn
from lifeboat.stack import require

OUTPUT = "GroupRestoreStateMachineArn"
# Options of a server's restore that say nothing about a group's.
NOT_FOR_GROUPS = {
    "target_az": "--target-az",
    "target_subnet": "--target-subnet",
    "restore_time": "--restore-time",
    "security_group": "--security-group",
    "same_az": "--same-az",
    "keep_on_failure": "--keep-on-failure",
    "force": "--force",
}
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
GROUP_EXECUTION = re.compile(r"^(restore|rollback)-asg-")


def execution_name(prefix: str, group: str) -> str:
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return f"{prefix}-{_UNSAFE.sub('-', group)[: 80 - len(prefix) - len(stamp) - 2]}-{stamp}"


def cmd_group_restore(args: argparse.Namespace) -> int:
    for option, flag in NOT_FOR_GROUPS.items():
        if getattr(args, option, None):
            raise InvalidInputError(
                flag, "applies to a server's restore, not a group's (--asg): remove it"
            )
    if TIME.match(str(args.point).strip()):
        raise InvalidInputError(
            "--point",
            "a group's restore takes a recovery point id, an AMI id or latest, not a time "
            f"(list them: lifeboat recovery-points list --resource {args.asg})",
        )
    payload: dict[str, Any] = {
        "asg": args.asg,
        "recovery_point": args.point,
        "dry_run": args.dry_run,
        "region": args.region,
        "desired": args.desired,
        "reason": args.reason or "",
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    validate_input(GroupRestoreInput, {**payload, "requested_by": "cli"})
    return _run(args, payload, execution_name("restore-asg", args.asg))


def group_execution(value: str, found: dict[str, str]) -> str | None:
    """The group restore execution ``value`` names (its ARN, or its name as ``restore-asg-…``
    / ``rollback-asg-…``), or None: ``lifeboat restore rollback`` dispatches it here."""
    machine = found.get(OUTPUT)
    if not machine:
        return None
    prefix = machine.replace(":stateMachine:", ":execution:") + ":"
    if value.startswith(prefix):
        return value
    if not value.startswith("arn:") and GROUP_EXECUTION.match(value):
        return prefix + value
    return None


def rollback_group(args: argparse.Namespace, execution_arn: str) -> int:
    """Put back the template version a group restore replaced (through the same state
    machine: the recorded version made the group's again, and an instance refresh)."""
    found = executions.describe(execution_arn)
    group = (found.get("input") or {}).get("asg")
    if not group:
        raise InvalidInputError("execution", f"{execution_arn} is not a group restore")
    payload = {
        "asg": group,
        "rollback_of": execution_arn,
        "dry_run": bool(args.dry_run),
        "reason": args.reason or f"rollback of {execution_arn}",
    }
    validate_input(GroupRestoreInput, {**payload, "requested_by": "cli"})
    if not args.dry_run and not args.yes:
        if not sys.stdin.isatty():
            warn("error: --yes: a rollback replaces the group's members; pass --yes (or --dry-run)")
            return EXIT_INPUT
        if input(f"Roll group {group} back? [y/N] ").strip().lower() not in ("y", "yes"):
            say("nothing was changed")
            return EXIT_OK
    args.wait = True  # a rollback is followed to its end
    return _run(args, payload, execution_name("rollback-asg", group))


def _run(args: argparse.Namespace, payload: dict[str, Any], name: str) -> int:
    arn = require(outputs(args), OUTPUT, args.stack)
    payload["requested_by"] = caller()
    execution = executions.start(arn, payload, name)
    if not args.json:
        say(f"group {payload['asg']}{' (dry run)' if payload.get('dry_run') else ''}: {execution}")
    on_line = None if args.json else (lambda line: say(f"  {line}"))
    timeout, poll = getattr(args, "timeout", 600.0), getattr(args, "poll", 1.0)
    verdict = executions.wait_until_entered(
        execution, "IsGroupDryRun", timeout=timeout, poll=poll, on_line=on_line
    )
    if verdict is not None and verdict["status"] == "REFUSED":
        if args.json:
            emit_json(verdict)
        else:
            warn(f"refused ({verdict.get('error')}): {verdict.get('cause')}")
        return EXIT_INPUT
    if verdict is None and not (args.wait or payload.get("dry_run")):
        return started(args, execution, payload)
    result = verdict or executions.wait(execution, timeout=timeout, poll=poll, on_line=on_line)
    if args.json:
        emit_json(result)
        return exit_code(result["status"])
    output = result.get("output") or {}
    if result["status"] != "SUCCEEDED":
        say(f"GROUP RESTORE FAILED: {result.get('error')}")
        say(f"  {result.get('cause')}")
        say("  the group's previous launch template version was put back (see the SNS message)")
        return EXIT_FAILED
    for line in describe_group(output):
        say(line)
    return EXIT_OK


def describe_group(found: dict[str, Any]) -> list[str]:
    """A group restore's plan (dry run) or result in plain words."""
    group, action = found.get("group"), found.get("action")
    where = f" in {found['region']}" if found.get("region") else ""
    if found.get("dry_run"):
        lines = [f"Would {_verb(found)} Auto Scaling group {group}{where}:"]
        if action == "rollback":
            target = found.get("target") or {}
            lines.append(
                f"  make launch template {target.get('template_id')} version "
                f"{target.get('version')} the group's again"
            )
        else:
            lines.append(
                f"  from recovery point {found.get('recovery_point_id')} (AMI "
                f"{found.get('image_id')}, data of {found.get('data_taken_at')})"
            )
            template = (
                f"a new version of launch template {found['template_id']}"
                if found.get("template_id")
                else f"a new launch template {found.get('template_name', '')}"
            )
            lines.append(f"  {template}, described lifeboat:restored-from=<point>")
            if not found.get("group_exists", True):
                lines.append(
                    f"  create the group in subnets {', '.join(found.get('subnet_ids', []))}, "
                    f"desired {found.get('desired_capacity')} (min {found.get('min_size')}, max "
                    f"{found.get('max_size')})"
                )
        if found.get("group_exists", True):
            lines.append("  then an instance refresh (checkpoint at 50%) replaces the members")
        previous = found.get("previous")
        if previous:
            lines.append(
                f"  the way back: version {previous['version']} of {previous['template_id']} "
                f"(lifeboat restore rollback EXECUTION)"
            )
        lines += [f"  ! WARNING: {w}" for w in found.get("warnings", [])]
        if found.get("not_done"):
            lines.append("NOT done:")
            lines += [f"  - {n}" for n in found["not_done"]]
        lines.append("dry run: nothing was changed; run again without --dry-run to restore")
        return lines
    done = "ROLLED BACK" if action == "rollback" else "RESTORED"
    lines = [
        f"{done} group {group}{where}: launch template {found.get('template_id')} version "
        f"{found.get('version')}"
    ]
    if found.get("image_id"):
        lines.append(f"  AMI {found['image_id']}, data of {found.get('data_taken_at')}")
    if found.get("refresh_id"):
        lines.append(f"  instance refresh {found['refresh_id']} replaced the members")
    if found.get("rollback"):
        lines.append(f"  the way back: {found['rollback']}")
    lines += [f"  ! WARNING: {w}" for w in found.get("warnings", [])]
    if found.get("not_done"):
        lines.append("NOT done:")
        lines += [f"  - {n}" for n in found["not_done"]]
    return lines


def _verb(found: dict[str, Any]) -> str:
    return {
        "update": "restore",
        "recreate_template": "restore (its launch template is gone)",
        "recreate_group": "recreate (it is gone)",
        "create_in_region": "create",
        "rollback": "roll back",
    }.get(str(found.get("action")), "restore")
