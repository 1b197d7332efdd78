"""``lifeboat breaker``: the circuit breaker of automatic restores (status, reset)."""

from __future__ import annotations

import argparse
from typing import Any

from lifeboat.aws.catalog import Catalog
from lifeboat.aws.guard_store import DynamoGuardStore
from lifeboat.cli.common import EXIT_OK, caller, outputs
from lifeboat.guardrails import GuardConfig, Guardrails
from lifeboat.output import emit_json, say
from lifeboat.stack import require
from lifeboat.timeutil import utcnow


def _guardrails(args: argparse.Namespace) -> Guardrails:
    table = require(outputs(args), "CatalogTableName", args.stack)
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
        say(
            f"  opened at {state.get('opened_at') or '-'}; last failure: "
            f"{state.get('last_failure') or '-'}"
        )
    if state.get("reset_by"):
        say(f"  last reset by {state['reset_by']}")
    say(f"  automatic restores running: {', '.join(state['running_automatic_restores']) or 'none'}")
    if state["state"] == "open":
        say("  automatic restores are refused; check the failures, then: lifeboat breaker reset")
    return EXIT_OK


def cmd_breaker_reset(args: argparse.Namespace) -> int:
    guard = _guardrails(args)
    by = f"{caller()}{f' ({args.reason})' if args.reason else ''}"
    state = guard.reset_breaker(by, utcnow())
    if args.json:
        emit_json(state)
    else:
        say(f"circuit breaker closed by {by}; automatic restores resume")
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    breaker = sub.add_parser("breaker", help="the circuit breaker of automatic restores")
    breaker_sub = breaker.add_subparsers(dest="breaker_command", required=True)
    breaker_sub.add_parser("status", parents=[common], help="open or closed, and why").set_defaults(
        func=cmd_breaker_status
    )
    reset = breaker_sub.add_parser("reset", parents=[common], help="close it (after checking)")
    reset.add_argument("--reason", help="what was checked (recorded)")
    reset.set_defaults(func=cmd_breaker_reset)
