"""The ``lifeboat`` command line, one module per group of commands: :mod:`.main` (the parser,
error handling and exit codes), :mod:`.backup` (stack, backup, recovery points, executions),
:mod:`.restore`, :mod:`.prune`, :mod:`.breaker`, :mod:`.local` (demo and emulator) and
:mod:`.common`. Development only: the Lambda layer leaves this package out.

``lifeboat = "lifeboat.cli:main"`` (pyproject) and ``python -m lifeboat.cli`` both run
:func:`main`.
"""

from lifeboat.cli.common import (
    EXIT_AWS,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_STACK,
    AwsSetupError,
    RemoteError,
    resolve_region,
)
from lifeboat.cli.main import build_parser, main
from lifeboat.cli.restore import describe_plan, describe_result

__all__ = [
    "EXIT_AWS",
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_STACK",
    "AwsSetupError",
    "RemoteError",
    "build_parser",
    "describe_plan",
    "describe_result",
    "main",
    "resolve_region",
]
