"""Restore step 3: is the replacement running with both status checks passing?"""

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifeboat import restore, runtime
from lifeboat.models import validate_input
from lifeboat.observability import logger, metrics, tracer
from lifeboat.settings import get_settings
from lifeboat.timeutil import utcnow


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate_input(restore.TaskEvent, event)
    settings = get_settings()
    minutes = (
        settings.database_health_minutes
        if request.launched().kind == "db"
        else settings.instance_health_minutes
    )
    health = restore.check(request, runtime.ports(), utcnow(), timedelta(minutes=minutes))
    return health.model_dump(mode="json")
