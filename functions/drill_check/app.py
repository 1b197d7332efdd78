"""Drill step 3 (per resource): is the copy healthy (status checks ok and the tier's application
check passed / available)?"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import drill, runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(drill.DrillTaskEvent, event)
    return drill.check(request, runtime.ports(), utcnow()).model_dump(mode="json")
