"""``lifeboat restore list`` and ``lifeboat restore rollback``: the restores running and recent
(trigger, resource, stage, age, ARN), and undoing a finished one. Both run on your machine with
your credentials (the catalog, Step Functions, EC2, ELB and RDS)."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from lifeboat.cli.asg import group_execution, rollback_group
from lifeboat.cli.common import EXIT_FAILED, EXIT_INPUT, EXIT_OK, caller, outputs
from lifeboat.cli.restore_volume import cmd_volume_rollback, volume_execution
from lifeboat.errors import InvalidInputError
from lifeboat.models import validate_input
from lifeboat.output import emit_json, say, table, warn
from lifeboat.restore.listing import RestoreRow, list_restores
from lifeboat.restore.undo import RollbackRequest, RollbackResult, roll_back
from lifeboat.stack import require
from lifeboat.timeutil import utcnow
from lifeboat.volumes.listing import volume_rows

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def cmd_restore_list(args: argparse.Namespace) -> int:
    from lifeboat.aws.restore_history import RestoreHistory
    from lifeboat.runtime import aws_ports

    found = outputs(args)
    ports = aws_ports(require(found, "CatalogTableName", args.stack))
    machine = require(found, "RestoreStateMachineArn", args.stack)
    rows = list_restores(RestoreHistory(), ports.guards, ports.catalog, machine, utcnow())
    volumes = found.get("VolumeRestoreStateMachineArn")
    if volumes:  # lifeboat restore volume's executions, in the same list
        more = volume_rows(RestoreHistory(), ports.catalog, volumes, utcnow())
        rows = sorted([*rows, *more], key=lambda r: (r.started_at, r.execution_arn), reverse=True)
    if args.json:
        emit_json([r.model_dump(mode="json") for r in rows])
        return EXIT_OK
    for line in describe_rows(rows):
        say(line)
    return EXIT_OK


def describe_rows(rows: list[RestoreRow]) -> list[str]:
    """The list in plain words (no field ever printed as None)."""
    if not rows:
        return ["no restore running or started in the last 24 hours"]
    lines = table(
        ["STARTED (UTC)", "AGE", "TRIGGER", "RESOURCE", "STATUS", "STAGE", "REPLACEMENT", "ARN"],
        [
            (
                r.started_at.strftime("%Y-%m-%d %H:%M"),
                age(r.age_seconds),
                r.trigger,
                r.resource_id
                + (f" ({r.region})" if r.region else "")
                + (" (volume)" if r.kind == "volume" else ""),
                r.status,
                r.stage,
                r.replacement_id or "-",
                r.execution_arn,
            )
            for r in rows
        ],
    ).splitlines()
    return [
        *lines,
        f"{len(rows)} restore(s); follow one: lifeboat executions show ARN --wait; undo a "
        "finished one: lifeboat restore rollback ARN --dry-run",
    ]


def age(seconds: int) -> str:
    minutes, _ = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def execution_arn(value: str, state_machine_arn: str) -> str:
    """An execution ARN, or an execution's name (as ``restore list`` shows it) turned into one."""
    if value.startswith("arn:"):
        return value
    if not NAME.match(value):
        raise InvalidInputError(
            "execution", f"{value!r} is neither an execution ARN nor an execution name"
        )
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{value}"


def cmd_restore_rollback(args: argparse.Namespace) -> int:
    from lifeboat.aws.restore_history import RestoreHistory
    from lifeboat.aws.rollback_ops import RdsRollback
    from lifeboat.runtime import aws_ports

    found = outputs(args)
    group = group_execution(args.execution, found)
    if group is not None:  # an Auto Scaling group's restore (docs: Auto Scaling groups)
        return rollback_group(args, group)
    # A volume restore (lifeboat restore volume) is rolled back by its own state machine.
    volumes = found.get("VolumeRestoreStateMachineArn")
    volume = volume_execution(args.execution, volumes) if volumes else None
    if volumes and volume is not None:
        return cmd_volume_rollback(args, volume, volumes)
    machine = require(found, "RestoreStateMachineArn", args.stack)
    request = validate_input(
        RollbackRequest,
        {
            "execution_arn": execution_arn(args.execution, machine),
            "dry_run": True,
            "reason": args.reason or "",
            "requested_by": caller(),
        },
    )
    ports = aws_ports(
        require(found, "CatalogTableName", args.stack), found.get("NotificationTopicArn")
    )
    history, databases = RestoreHistory(), RdsRollback()
    planned = roll_back(request, machine, ports, history, databases, utcnow())
    if args.dry_run or planned.status != "planned":
        return _show(args, planned)
    if not args.yes:
        stop = _confirm(planned)
        if stop is not None:
            return stop
    done = roll_back(
        request.model_copy(update={"dry_run": False}), machine, ports, history, databases, utcnow()
    )
    return _show(args, done)


def _confirm(planned: RollbackResult) -> int | None:
    if not sys.stdin.isatty():
        warn("error: --yes: a rollback terminates the replacement; pass --yes (or --dry-run first)")
        return EXIT_INPUT
    for line in describe_rollback(planned):
        say(line)
    if input("Roll this restore back? [y/N] ").strip().lower() not in ("y", "yes"):
        say("nothing was changed")
        return EXIT_OK
    return None


def _show(args: argparse.Namespace, result: RollbackResult) -> int:
    if args.json:
        emit_json(result.model_dump(mode="json"))
    else:
        for line in describe_rollback(result):
            say(line)
    return EXIT_FAILED if result.status == "incomplete" else EXIT_OK


def describe_rollback(result: RollbackResult) -> list[str]:
    """The rollback in plain words: what it would do, or what it did."""
    what = f"the restore of {result.resource_id} ({result.execution_arn})"
    if result.status == "already-rolled-back":
        return [f"{what} was already rolled back: nothing to do"]
    if result.dry_run:
        return [
            f"Would roll back {what}:",
            *(f"  {n}. {step}" for n, step in enumerate(result.steps, 1)),
            "dry run: nothing was changed; run again without --dry-run (and --yes) to roll back",
        ]
    return [
        f"ROLLBACK INCOMPLETE for {what}:"
        if result.status == "incomplete"
        else f"ROLLED BACK {what}:",
        *(f"  {key}: {outcome}" for key, outcome in result.done.items()),
        *(f"  {note}" for note in result.notes),
    ]


def register(restoring: Any, common: argparse.ArgumentParser) -> None:
    listing = restoring.add_parser(
        "list",
        parents=[common],
        help="restores running now and started in the last 24 hours: trigger, resource, "
        "status, stage, age, ARN",
    )
    listing.set_defaults(func=cmd_restore_list)
    rollback = restoring.add_parser(
        "rollback",
        parents=[common],
        help="undo a finished restore: the original back in service (started, its Elastic IP "
        "and target groups, unfenced), the replacement terminated; a database: the restored "
        "one deleted with a final snapshot; a volume restore: the original volume back, the "
        "restored one deleted",
    )
    rollback.add_argument(
        "execution", help="the restore's execution ARN, or its name (lifeboat restore list)"
    )
    rollback.add_argument(
        "--dry-run", action="store_true", help="print what would be done; change nothing"
    )
    rollback.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation (scripts, no terminal)"
    )
    rollback.add_argument("--reason", help="why (recorded and notified)")
    rollback.set_defaults(func=cmd_restore_rollback)
