"""Backup step 2: create the recovery points of one batch of resources (tagged at creation)."""

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.backup import create_batch
from lifeboat.backup.pace import CreateProgress, express_since
from lifeboat.models import CreateTask, validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.plans import default_plans
from lifeboat.scripts.steps import consistency_for
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = validate_input(CreateTask, event)
    request, plans = task.state, default_plans()
    earlier = validate_input(CreateProgress, task.result) if task.result else None
    since = express_since(task.express, earlier, time.time())
    ports, pacing = runtime.create_ports(since)
    consistency = consistency_for(task, plans)
    result = create_batch(request, plans, ports, utcnow(), consistency, pacing, earlier)
    return result if since is None else {**result, "express_since": since}
