"""Restore step 2: launch the replacement (capacity fallbacks across types, then AZs), its
RunInstances on the shared pace of the region it launches in (it may stop for the machine's
WaitForLaunchPace)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import restore, runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(restore.TaskEvent, event)
    ports, pacing = runtime.launch_ports(request.plan().region)
    return restore.launch(request, ports, utcnow(), pacing).model_dump(mode="json")
