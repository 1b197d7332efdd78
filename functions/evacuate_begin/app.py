"""Evacuation step 1: validate the application, plan (one recovery time T, tiers in order),
refuse a second evacuation of the same application and AZ, take the locks."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.apps import evacuation, stages
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.plans import default_plans
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(evacuation.EvacuationEvent, event)
    plan = stages.begin(request, default_plans(), runtime.ports(), utcnow())
    return plan.model_dump(mode="json")
