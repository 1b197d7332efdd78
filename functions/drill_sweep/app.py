"""Backup run, last step: delete drill resources older than the drill time-out."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import drill, runtime
from lifeboat.models import TaskEvent, validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.timeutil import utcnow


class SweepEvent(TaskEvent[dict[str, Any]]):
    """The backup's uniform payload; the sweep needs only the time."""


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    validate_input(SweepEvent, event)
    return drill.sweep(runtime.ports(), utcnow())
