"""The group restore's tasks (begin, apply, check, finish, abort): one step per invocation."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.asg.apply import run_step
from lifeboat.asg.restore_models import GroupTask
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = validate_input(GroupTask, event)
    return run_step(task, runtime.ports(), utcnow())
