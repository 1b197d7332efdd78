"""Drill step 2 (per resource): launch the copy into the drill subnet and security group, its
RunInstances on the shared pace (it may stop for the machine's WaitForDrillCopyPace)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import drill, runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(drill.DrillTaskEvent, event)
    ports, pacing = runtime.launch_ports()
    return drill.launch(request, ports, utcnow(), pacing).model_dump(mode="json")
