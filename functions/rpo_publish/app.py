"""Every 5 minutes (EventBridge Scheduler): put each plan rule's RPO as it stands now, so its
alarm sees a datapoint between runs (daily rules included)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from lifeboat import runtime
from lifeboat.backup.rpo import publish_rpo_ages
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.plans import default_plans
from lifeboat.timeutil import utcnow


class RpoTick(BaseModel):
    """The schedule's input: ``{"requested_by": "schedule"}``."""

    model_config = ConfigDict(extra="forbid")
    requested_by: str = "schedule"


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    validate_input(RpoTick, event)
    return {"published": publish_rpo_ages(default_plans(), runtime.ports(), utcnow())}
