"""One pass of the prune state machine over one region's batches of expired recovery points:
marks a batch 'deleting', deletes its points a chunk at a time under the shared pace, and
returns when done, when the pace says wait (the machine waits), or before its time runs out."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.prune.passes import PassEvent, delete_pass
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(PassEvent, event)
    ports, pacing = runtime.prune_pass_ports(request.region)
    result = delete_pass(request, ports, pacing, context.get_remaining_time_in_millis, utcnow)
    return result.model_dump(mode="json")
