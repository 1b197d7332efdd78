"""Evacuation, last step: lineage, cooldowns, release the locks, RTO, notify."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.apps import ending, evacuation
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(evacuation.EvacuationEvent, event)
    return ending.finish(request, runtime.ports(), utcnow())
