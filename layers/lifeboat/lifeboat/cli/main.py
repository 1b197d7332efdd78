"""The ``lifeboat`` command line, for on-call engineers and scripts (docs/reference/cli.md).

Works against a deployed stack (found by name, ``--stack``) or the local emulator, through the
standard AWS settings (AWS_PROFILE, AWS_REGION or AWS_DEFAULT_REGION, AWS_ENDPOINT_URL). Every
command has ``--json``. Exit codes: 0 success, 1 the work failed, 2 bad input or refused
(nothing was started or changed), 3 stack not found, 4 AWS not reachable or not configured
(no region, no credentials, endpoint unreachable).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from lifeboat.cli import backup, breaker, copies, drill, local, prune, recover, report, restore
from lifeboat.cli.common import (
    EXIT_AWS,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_STACK,
    AwsSetupError,
    RemoteError,
    resolve_region,
)
from lifeboat.errors import InvalidInputError, StackNotFoundError
from lifeboat.output import warn

Command = Callable[[argparse.Namespace], int]
LOCAL_COMMANDS = ("demo", "local")  # they start the emulator and set their own environment
NOT_FOUND_CODES = {"ExecutionDoesNotExist", "InvalidArn", "StateMachineDoesNotExist"}
EXIT_INTERRUPTED = 130
# Every error a command may end in, and its exit code (the first that matches)
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (InvalidInputError, EXIT_INPUT),
    (StackNotFoundError, EXIT_STACK),
    (RemoteError, EXIT_FAILED),
    (AwsSetupError, EXIT_AWS),
    (ClientError, EXIT_FAILED),  # EXIT_INPUT when what was named does not exist
    (BotoCoreError, EXIT_AWS),  # no credentials, endpoint unreachable, no region, …
)


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
    local.register(sub, common)
    backup.register(sub, common, waiting)
    prune.register(sub, common)
    restore.register(sub, common, waiting)
    drill.register(sub, common, waiting)
    copies.register(sub, common, waiting)
    breaker.register(sub, common)
    recover.register(sub, common, waiting)
    report.register(sub, common)
    backup.register_executions(sub, common, waiting)
    return parser


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
    except tuple(kind for kind, _ in EXIT_CODES) as exc:
        return _failed(exc)
    except KeyboardInterrupt:
        warn("interrupted")
        return EXIT_INTERRUPTED
    return code


def _failed(exc: Exception) -> int:
    """One line on stderr for ``exc``, and its exit code."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code_name = str(error.get("Code", ""))
        warn(f"error: {code_name}: {error.get('Message', '')}".rstrip(": "))
        return EXIT_INPUT if code_name in NOT_FOUND_CODES else EXIT_FAILED
    warn(f"error: {exc}")
    return next(code for kind, code in EXIT_CODES if isinstance(exc, kind))
