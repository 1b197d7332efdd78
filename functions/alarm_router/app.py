"""Alarm router: a Lifeboat status-check alarm entered ALARM; apply the guardrails (dedupe,
cooldown, caps, circuit breaker) and start a restore into another AZ."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import alarms, runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.settings import get_settings
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    change = validate_input(alarms.AlarmStateChange, event)
    arn = get_settings().restore_state_machine_arn
    storm = runtime.storm_config()
    return alarms.route(change, runtime.ports(), runtime.guardrails(), arn, utcnow(), storm)
