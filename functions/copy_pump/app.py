"""The copier's one task: settle copies in flight, start queued ones within the limits."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.copies.models import PumpEvent
from lifeboat.copies.pump import pump
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.plans import default_plans
from lifeboat.timeutil import utcnow

MAX_LISTED = 50


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(PumpEvent, event)
    ports, pacing = runtime.copy_pump_ports()
    report = pump(request, default_plans(), ports, utcnow(), pacing).model_dump(mode="json")
    for region in report["regions"]:  # the state stays small whatever the queue
        for key in ("started", "completed"):
            region[key] = region[key][:MAX_LISTED]
        region["failed"] = dict(list(region["failed"].items())[:MAX_LISTED])
    return report
