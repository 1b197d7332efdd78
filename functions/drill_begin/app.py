"""Drill step 1: plan the drill (resources, their latest points, the drill network); hold the
points."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import drill, runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.plans import default_plans
from lifeboat.settings import get_settings
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(drill.DrillTaskEvent, event)
    profile = get_settings().drill_instance_profile_arn  # for copies with an application check
    plan = drill.begin(request, default_plans(), runtime.ports(), utcnow(), profile)
    return plan.model_dump(mode="json")
