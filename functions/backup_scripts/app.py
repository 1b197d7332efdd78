"""Backup, around each batch's create call: send the pre or post script (SSM), or read its
results once (the state machine's Wait states do the waiting)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.plans import default_plans
from lifeboat.scripts.steps import ScriptsEvent, run_step


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(ScriptsEvent, event)
    return run_step(request, default_plans(), runtime.ports())
