"""Evacuation failed: roll back only what this evacuation changed, release its locks, notify.

Invoked by the evacuate state machine's abort step, and by EventBridge when an evacuation times
out or is stopped by a person (it never reaches its abort step)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.apps import cleanup, ending, evacuation
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.restore import ExecutionStatusChange
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("source") == "aws.states":
        change = validate_input(ExecutionStatusChange, event)
        return cleanup.clean_up(change, runtime.ports(), utcnow(), runtime.sleep)
    request = validate_input(evacuation.EvacuationEvent, event)
    return ending.abort(request, runtime.ports(), utcnow(), runtime.sleep)
