"""Starting and following Step Functions executions (CLI progress and summaries)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lifeboat.aws.stepfunctions import StepFunctions

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "REFUSED"}
REFUSAL_STATE = "Refused"  # the restore machine's refusal path (a Succeed, not a failure)


def start(state_machine_arn: str, payload: dict[str, Any], name: str | None = None) -> str:
    return str(StepFunctions().start(state_machine_arn, name, payload, existing_ok=False))


def describe(execution_arn: str) -> dict[str, Any]:
    found = StepFunctions().describe(execution_arn, missing_ok=False) or {}
    result: dict[str, Any] = {
        "execution_arn": execution_arn,
        "state_machine_arn": found["stateMachineArn"],
        "status": found["status"],
        "started_at": found["startDate"].isoformat(),
        "stopped_at": found["stopDate"].isoformat() if found.get("stopDate") else None,
        "input": _json(found.get("input")),
        "output": _json(found.get("output")),
        "error": found.get("error"),
        "cause": _json(found.get("cause")),
    }
    output = result["output"]
    if result["status"] == "SUCCEEDED" and isinstance(output, dict):
        if output.get("status") == "refused":
            # Refused before anything changed: Step Functions says SUCCEEDED (a refusal is not
            # a failure and fires no alarm); the CLI reports it as REFUSED with the message.
            result["status"] = "REFUSED"
            result["error"] = output.get("error")
            result["cause"] = error_message(output.get("cause"))
    return result


def error_message(cause: Any) -> str:
    """The message of a Lambda error's cause (``{"errorMessage", "errorType", "stackTrace"}``),
    without the stack trace; other causes as they are."""
    parsed = _json(cause) if isinstance(cause, str) else cause
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])
    return "" if parsed is None else str(parsed)


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class HistoryReader:
    """Reads an execution's history incrementally (paginated), yielding only new events."""

    execution_arn: str
    seen: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    refused: bool = False

    def new_events(self) -> Iterator[dict[str, Any]]:
        collected = list(StepFunctions().history(self.execution_arn))
        fresh = collected[self.seen :]
        self.seen = len(collected)
        self.events.extend(fresh)
        for event in fresh:
            entered = (event.get("stateEnteredEventDetails") or {}).get("name")
            self.refused = self.refused or entered == REFUSAL_STATE
            yield event

    def line(self, event: dict[str, Any]) -> str | None:
        return progress_line(event, self.refused)


def progress_line(event: dict[str, Any], refused: bool = False) -> str | None:
    """A readable line for the history events an on-call engineer cares about (``refused``: the
    execution entered the refusal path, so its success is not a restore's)."""
    kind = event["type"]
    if kind.endswith("StateEntered"):
        name = event["stateEnteredEventDetails"]["name"]
        return "✗ refused: nothing was changed" if name == REFUSAL_STATE else f"→ {name}"
    if kind in ("TaskFailed", "LambdaFunctionFailed"):
        details = (
            event.get("taskFailedEventDetails")
            or event.get("lambdaFunctionFailedEventDetails")
            or {}
        )
        cause = error_message(details.get("cause"))[:200]
        return f"  ✗ {details.get('error', 'error')}: {cause}"
    if kind == "ExecutionFailed":
        details = event.get("executionFailedEventDetails", {})
        return f"✗ execution failed: {details.get('error', '')}"
    if kind == "ExecutionSucceeded" and refused:
        return "✓ execution ended"
    return _FIXED_LINES.get(kind)


_FIXED_LINES = {
    "MapIterationFailed": "  ✗ a batch failed",
    "ExecutionSucceeded": "✓ execution succeeded",
}


def wait(
    execution_arn: str,
    *,
    timeout: float = 3600,
    poll: float = 1.0,
    on_line: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Follow an execution until it ends (or ``timeout`` seconds pass), reporting progress."""
    reader = HistoryReader(execution_arn)
    deadline = time.monotonic() + timeout
    while True:
        status = describe(execution_arn)
        if on_line is not None:
            for event in reader.new_events():
                line = reader.line(event)
                if line:
                    on_line(line)
        if status["status"] in TERMINAL:
            return status
        if time.monotonic() > deadline:
            status["status"] = "STILL_RUNNING"
            return status
        time.sleep(poll)


def wait_until_entered(
    execution_arn: str,
    state: str,
    *,
    timeout: float = 600,
    poll: float = 1.0,
    on_line: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """Follow an execution until it enters ``state`` (None: it did) or ends (its description):
    the restore CLI waits for the validation step's verdict this way."""
    reader = HistoryReader(execution_arn)
    deadline = time.monotonic() + timeout
    while True:
        status = describe(execution_arn)
        entered = False
        for event in reader.new_events():
            if on_line is not None:
                line = reader.line(event)
                if line:
                    on_line(line)
            details = event.get("stateEnteredEventDetails") or {}
            entered = entered or details.get("name") == state
        if status["status"] in TERMINAL:
            return status
        if entered:
            return None
        if time.monotonic() > deadline:
            status["status"] = "STILL_RUNNING"
            return status
        time.sleep(poll)
