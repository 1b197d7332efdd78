"""``lifeboat demo`` and ``lifeboat local serve``: the local emulator (they start it and set
their own environment, so no AWS region is needed)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from lifeboat.cli.common import EXIT_OK
from lifeboat.output import emit_json, say


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


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser(
        "demo", parents=[common], help="the whole lifecycle in the local emulator"
    ).set_defaults(func=cmd_demo)

    local = sub.add_parser("local", help="the local emulator").add_subparsers(
        dest="local_command", required=True
    )
    serve = local.add_parser(
        "serve", parents=[common], help="run the emulator with the stack deployed"
    )
    serve.add_argument(
        "--port", type=int, default=4566, help="loopback port to serve on (default: 4566)"
    )
    serve.add_argument("--seed", action="store_true", help="also seed the eLearn example platform")
    serve.set_defaults(func=cmd_local_serve)
