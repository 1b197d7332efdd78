"""Drill step 4 (per resource, always): delete the copy; the resource's result."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import drill, runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(drill.DrillTaskEvent, event)
    return drill.tear_down_resource(request, runtime.ports()).model_dump(mode="json")
