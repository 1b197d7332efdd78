"""Backup step 1: validate the input, claim the run (dedupe), discover the plan's resources."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.backup import begin_run
from lifeboat.models import BeginTask, validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.plans import default_plans
from lifeboat.settings import get_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(BeginTask, event)
    settings = get_settings()
    return begin_run(
        request, default_plans(), runtime.ports(), settings.batch_size, settings.run_record_days
    )
