"""Backup step 4: record outcomes, clean up failed recovery points, notify, report."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.backup import finalize_run
from lifeboat.models import FinalizeTask, validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.plans import default_plans
from lifeboat.settings import get_settings
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(FinalizeTask, event).request()
    settings = get_settings()
    copier = settings.copier_state_machine_arn or None
    return finalize_run(
        request, default_plans(), runtime.ports(), utcnow(), copier, settings.lock_max_days
    )
