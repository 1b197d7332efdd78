"""Evacuation, one member: act (launch, restore, fail over, shift; a launch on the shared pace,
which may stop for the machine's WaitForMemberPace), check (polled), settle (cut over, switch
the database endpoint)."""

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import runtime
from lifeboat.apps import evacuation, stages
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.settings import get_settings
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(evacuation.MemberEvent, event)
    settings = get_settings()
    deadlines = {
        "instance": timedelta(minutes=settings.instance_health_minutes),
        "db": timedelta(minutes=settings.database_health_minutes),
    }
    act = request.stage == "act"  # a replacement's RunInstances: on the shared pace
    ports, pacing = runtime.launch_ports() if act else (runtime.ports(), None)
    return stages.member_task(request, ports, utcnow(), deadlines, runtime.sleep, pacing)
