"""Prune a plan's recovery points by retention: the whole prune (``lifeboat prune``), or the
first (plan) and last (finish) step of the prune state machine every backup run starts. A dry
run computes the deletion plan and changes nothing."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.plans import default_plans
from lifeboat.prune import PruneRequest, run_step
from lifeboat.settings import get_settings
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(PruneRequest, event)
    days = get_settings().recycle_bin_days
    return run_step(request, default_plans(), runtime.ports(), utcnow(), days)
