"""``lifeboat restore volume``: one volume of an instance from a recovery point, as a new volume
beside the original or swapped in its place (docs/runbooks/bad-deploy.md); and the rollback
``restore rollback`` starts for a volume restore (:func:`start_volume_rollback`)."""

from __future__ import annotations

import argparse
import re
import sys
import time
import uuid
from typing import Any

from lifeboat import executions
from lifeboat.cli.common import EXIT_FAILED, EXIT_INPUT, EXIT_OK, caller, exit_code, outputs
from lifeboat.cli.names import instance_option
from lifeboat.models import validate_input
from lifeboat.output import emit_json, say, warn
from lifeboat.stack import require
from lifeboat.volumes.models import VolumeRestoreInput, VolumeRollbackInput

OUTPUT = "VolumeRestoreStateMachineArn"


def resolve_instance(text: str) -> str:
    """The instance an operator named: its id, or its ``Name`` tag (the shared resolver)."""
    return instance_option(text)


def point_option(value: str) -> str:
    """``--point`` read as ``restore start`` reads it (the one parser: a time without an offset
    is UTC), given to the machine as an id, ``latest``, or an ISO time with its zone."""
    from lifeboat.cli.restore import parse_point

    point_id, point_time = parse_point(value)
    return point_time or point_id


def cmd_restore_volume(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {
        "instance_id": resolve_instance(args.instance),
        "device": args.device,
        "point": point_option(args.point),
        "attach_as": args.attach_as,
        "replace": args.replace,
        "dry_run": args.dry_run,
        "reason": args.reason or "",
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    validate_input(VolumeRestoreInput, {**payload, "requested_by": "cli"})
    arn = require(outputs(args), OUTPUT, args.stack)
    payload["requested_by"] = caller()
    name = (
        f"volume-{payload['instance_id']}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    )
    execution = executions.start(arn, payload, name)
    return _follow(args, execution)


def start_volume_rollback(
    state_machine_arn: str, execution_arn: str, dry_run: bool = False, requested_by: str = ""
) -> str:
    """Start the rollback of volume restore ``execution_arn`` (reattach the original, delete
    only the volume that restore created): the rollback's execution ARN. ``restore rollback``
    calls this for an execution of the volume restore machine."""
    payload = {"rollback_of": execution_arn, "dry_run": dry_run, "requested_by": requested_by}
    validate_input(VolumeRollbackInput, payload)
    restored = execution_arn.rsplit(":", 1)[-1][:60]
    return executions.start(
        state_machine_arn, payload, f"rollback-{restored}-{uuid.uuid4().hex[:6]}"
    )


def is_volume_restore(execution_arn: str, state_machine_arn: str) -> bool:
    """Whether ``execution_arn`` is an execution of the volume restore machine."""
    machine = state_machine_arn.split(":stateMachine:", 1)[-1]
    return f":execution:{machine}:" in execution_arn


def volume_execution(value: str, state_machine_arn: str) -> str | None:
    """The volume restore ``value`` names (its ARN, or its name ``volume-…`` as the restore
    printed it), or None when it names no volume restore."""
    if value.startswith("arn:"):
        return value if is_volume_restore(value, state_machine_arn) else None
    if re.match(r"^volume-[A-Za-z0-9_.-]{1,73}$", value):
        return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{value}"
    return None


def cmd_volume_rollback(args: argparse.Namespace, execution_arn: str, machine: str) -> int:
    """``restore rollback EXECUTION`` for a volume restore: its rollback runs in the volume
    restore machine (reattach the original, delete only the volume that restore made), with a
    dry run first when asked; refusals (not a completed volume restore, a later one standing)
    exit 2."""
    if not args.dry_run and not getattr(args, "yes", False) and not sys.stdin.isatty():
        warn("error: --yes: a rollback deletes the restored volume; pass --yes (or --dry-run)")
        return EXIT_INPUT
    rollback = start_volume_rollback(machine, execution_arn, args.dry_run, caller())
    return _follow(args, rollback)


def _follow(args: argparse.Namespace, execution: str) -> int:
    if not args.json:
        say(f"volume restore{' (dry run)' if args.dry_run else ''}: {execution}")
    if getattr(args, "no_wait", False) and not args.dry_run:
        if args.json:
            emit_json({"execution_arn": execution})
        else:
            say(f"follow it with: lifeboat executions show {execution} --wait")
        return EXIT_OK
    on_line = None if args.json else (lambda line: say(f"  {line}"))
    timeout, poll = getattr(args, "timeout", 3600.0), getattr(args, "poll", 2.0)
    result = executions.wait(execution, timeout=timeout, poll=poll, on_line=on_line)
    if args.json:
        emit_json(result)
        return exit_code(result["status"])
    if result["status"] == "REFUSED":
        warn(f"refused ({result.get('error')}): {result.get('cause')}")
        return EXIT_INPUT
    if result["status"] != "SUCCEEDED":
        say(f"VOLUME RESTORE FAILED: {result.get('error')}")
        say(f"  {result.get('cause')}")
        say("  what the restore created was removed and the original put back")
        return EXIT_FAILED
    for line in describe_volume_result(result.get("output") or {}):
        say(line)
    return EXIT_OK


def describe_volume_plan(summary: dict[str, Any]) -> list[str]:
    """The plan in plain words."""
    plan = summary["plan"]
    mode = plan["mode"]
    if mode.startswith("rollback"):
        return [
            f"Roll back volume restore {plan.get('rollback_of')} of {plan['instance_id']} "
            f"{plan['device']}:",
            *(
                [
                    f"  stop {plan['instance_id']}, detach {plan.get('restored_volume_id')}, "
                    f"attach {plan.get('original_volume_id')} at {plan['device']} again, start it"
                ]
                if mode == "rollback-replace"
                else [f"  detach {plan.get('restored_volume_id')} (the original was untouched)"]
            ),
            f"  then delete {plan.get('restored_volume_id')} (the volume that restore created)",
        ]
    encryption = (
        f"encrypted with {plan.get('kms_key_id') or 'the same key'}"
        if plan.get("encrypted")
        else "not encrypted (as the source)"
    )
    lines = [
        f"Restore {plan['device']} of {plan['instance_id']} from recovery point "
        f"{plan['recovery_point_id']} (taken {plan['point_created_at']}), snapshot "
        f"{plan['snapshot_id']}:",
    ]
    if mode == "attach":
        lines.append(
            f"  a new {plan.get('volume_type') or 'default'} {plan.get('size_gb')} GiB volume in "
            f"{plan['availability_zone']}, {encryption}, tagged lifeboat:restored-from, attached "
            f"at {plan['attach_as']}; the original {plan.get('original_volume_id') or '(none)'} "
            "is untouched"
        )
    elif mode == "replace-data":
        lines.append(
            f"  a new {plan.get('volume_type') or 'default'} {plan.get('size_gb')} GiB volume in "
            f"{plan['availability_zone']}, {encryption}; then stop {plan['instance_id']}, "
            f"detach {plan.get('original_volume_id')} (kept, tagged lifeboat:replaced-by), "
            f"attach the new volume at {plan['device']}"
            + (", start it again" if plan.get("was_running") else " (it stays stopped)")
        )
    else:
        lines.append(
            f"  replace the root volume in place (CreateReplaceRootVolumeTask: the instance "
            f"reboots); the old root {plan.get('original_volume_id')} is kept detached, tagged "
            "lifeboat:replaced-by"
        )
    return lines


def describe_volume_result(summary: dict[str, Any]) -> list[str]:
    if summary.get("status") == "dry-run":
        return [
            *describe_volume_plan(summary),
            "dry run: nothing was changed; run again without --dry-run",
        ]
    if summary.get("status") == "rolled-back":
        return [*describe_volume_plan(summary), "ROLLED BACK."]
    plan = summary["plan"]
    where = plan["attach_as"] if plan["mode"] == "attach" else plan["device"]
    return [
        *describe_volume_plan(summary),
        f"RESTORED: {summary.get('new_volume_id')} is at {where} on {plan['instance_id']} "
        f"(data of {plan['point_created_at']}).",
        f"Roll back: lifeboat restore rollback {summary.get('execution_arn')}",
    ]


def register_volume(restoring: Any, common: argparse.ArgumentParser) -> None:
    """``restore volume``, under ``lifeboat restore``."""
    volume = restoring.add_parser(
        "volume",
        parents=[common],
        help="restore one volume of an instance from a recovery point: a new volume beside "
        "the original (default) or swapped in its place (--replace)",
    )
    volume.add_argument(
        "--instance", required=True, help="the instance: its id or its Name tag (unique)"
    )
    volume.add_argument(
        "--device", required=True, help="the volume's device on the instance, e.g. /dev/sdf"
    )
    volume.add_argument(
        "--point",
        default="latest",
        help="recovery point id (or its AMI or snapshot id), or a time (ISO 8601, UTC unless it "
        "has an offset: the newest point at or before it, to the second), or latest (default)",
    )
    how = volume.add_mutually_exclusive_group()
    how.add_argument(
        "--attach-as", help="device for the new volume (default: the first free of /dev/sdf-p)"
    )
    how.add_argument(
        "--replace",
        action="store_true",
        help="swap it in place: root volumes with CreateReplaceRootVolumeTask (a reboot), data "
        "volumes by stop, detach, attach, start; the old volume is kept for the rollback",
    )
    volume.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    volume.add_argument("--reason", help="why (recorded and notified)")
    volume.add_argument(
        "--no-wait", action="store_true", help="return once started (default: follow to the end)"
    )
    volume.add_argument(
        "--timeout", type=float, default=3600, help="seconds to follow it (default 3600)"
    )
    volume.add_argument(
        "--poll", type=float, default=2.0, help="seconds between progress reads (default 2)"
    )
    volume.set_defaults(func=cmd_restore_volume)
