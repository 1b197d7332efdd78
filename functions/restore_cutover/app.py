"""Restore step 4: fence the original, move its Elastic IP and target-group membership."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import restore, runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(restore.TaskEvent, event)
    return restore.cut_over(request, runtime.ports()).model_dump(mode="json")
