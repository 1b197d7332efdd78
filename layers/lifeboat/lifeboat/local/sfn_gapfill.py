"""What Step Functions does and moto 5.2.x's engine does not, filled in for local mode.

The optimised Step Functions integration (``arn:aws:states:::states:startExecution.sync:2``)
takes the API's parameters in PascalCase (``StateMachineArn``, ``Input``, ``Name``) and answers
in PascalCase (``ExecutionArn``, ``Output``, ``Status``, …), as the Step Functions developer
guide's "Start a new AWS Step Functions state machine from a running execution" shows. moto's
port of the engine leaves both unconverted (its ``_normalise_parameters`` and
``_normalise_response`` are no-ops), so botocore rejects ``StateMachineArn`` and a
``ResultSelector`` on ``$.Output`` finds nothing. Here both are converted through botocore's
model of the Step Functions API, as the engine it was ported from does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import botocore.session
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_sfn as sfn_service,
)

SfnTask = sfn_service.StateTaskServiceSfn
ORIGINAL_PARAMETERS = SfnTask._normalise_parameters
_MODEL = botocore.session.get_session().get_service_model("stepfunctions")


def _operation(task: Any, action: str | None) -> Any:
    snake = action or task._get_boto_service_action()
    return _MODEL.operation_model("".join(p.capitalize() for p in snake.split("_")))


def _normalise_parameters(
    task: Any,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    ORIGINAL_PARAMETERS(task, parameters, boto_service_name, service_action_name)
    if service_action_name is None:  # the task's own request (not the .sync poll)
        task._to_boto_request(parameters, _operation(task, None).input_shape)


def _normalise_response(
    task: Any,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    if isinstance(response, dict):
        pascal = {key[:1].upper() + key[1:]: value for key, value in response.items()}
        response.clear()
        response.update(pascal)


@contextmanager
def sfn_gap_fills() -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(SfnTask, "_normalise_parameters", _normalise_parameters)
        )
        stack.enter_context(mock.patch.object(SfnTask, "_normalise_response", _normalise_response))
        yield
