"""Backup step 3: check the completion of every pending recovery point of the run."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.backup import check_run
from lifeboat.models import CheckTask, validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(CheckTask, event).request()
    return check_run(request, runtime.ports(), utcnow())
