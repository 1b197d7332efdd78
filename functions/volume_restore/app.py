"""Volume restore (statemachines/volume_restore.asl.json): begin, advance one step, undo, or
finish; the machine's Wait states do the waiting (also for the shared pace of the create
step's CreateVolume)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.timeutil import utcnow
from lifeboat.volumes.stages import VolumeStepEvent, run_step


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(VolumeStepEvent, event)
    advance = request.action == "advance"  # a create step's CreateVolume: the shared pace
    ports, pacing = runtime.launch_ports() if advance else (runtime.ports(), None)
    return run_step(request, ports, utcnow(), pacing)
