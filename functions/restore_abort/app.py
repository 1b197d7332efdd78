"""Restore failure path: undo this execution's changes, release its locks, notify.

Invoked by the restore state machine's Abort step, and by EventBridge when a restore execution
times out or is stopped by a person (it never reaches Abort: "Step Functions Execution Status
Change", TIMED_OUT or ABORTED)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import restore, runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("source") == "aws.states":
        change = validate_input(restore.ExecutionStatusChange, event)
        return restore.clean_up(change, runtime.ports(), utcnow(), sleep=runtime.sleep)
    request = validate_input(restore.TaskEvent, event)
    return restore.abort(request, runtime.ports(), utcnow())
