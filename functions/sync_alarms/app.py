"""Keep one status-check alarm per protected instance of a plan (create new, delete gone/fenced)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import alarms, runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.settings import get_settings


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(alarms.SyncRequest, event)
    settings = get_settings()
    return alarms.sync_alarms(
        request,
        settings.alarm_periods,
        settings.alarm_instance_check,
        runtime.ports(),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
