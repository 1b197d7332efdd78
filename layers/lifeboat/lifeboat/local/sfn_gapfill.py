"""What Step Functions does and moto 5.2.x's engine does not, filled in for local mode.

The optimised Step Functions integration (``arn:aws:states:::states:startExecution.sync:2``)
takes the API's parameters in PascalCase (``StateMachineArn``, ``Input``, ``Name``) and answers
in PascalCase (``ExecutionArn``, ``Output``, ``Status``, …), as the Step Functions developer
guide's "Start a new AWS Step Functions state machine from a running execution" shows. moto's
port of the engine leaves both unconverted (its ``_normalise_parameters`` and
``_normalise_response`` are no-ops), so botocore rejects ``StateMachineArn`` and a
``ResultSelector`` on ``$.Output`` finds nothing. Here both are converted through botocore's
model of the Step Functions API, as the engine it was ported from does.

Its Distributed Map never fails for its children's failures: a failed child's output is
``null`` and the Map goes on, whatever its tolerated failure threshold. Step Functions fails the
Map Run (``States.ExceedToleratedFailureThreshold``) once its failed children exceed the
threshold the state declares (none declared: any failure). moto keeps both thresholds, at 0 when
not declared; here a Map fails when its failed and timed-out children exceed both, which is
Step Functions' rule for a state that declares one threshold or neither (as Lifeboat's do).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import botocore.session
from moto.stepfunctions.parser.api import HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    distributed_iteration_component as distributed,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_sfn as sfn_service,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

SfnTask = sfn_service.StateTaskServiceSfn
ORIGINAL_PARAMETERS = SfnTask._normalise_parameters
DistributedMap = distributed.DistributedIterationComponent
ORIGINAL_MAP_RUN = DistributedMap._map_run
THRESHOLD_EXCEEDED = "States.ExceedToleratedFailureThreshold"
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


def _map_run(component: Any, env: Any, eval_input: Any) -> None:
    ORIGINAL_MAP_RUN(component, env, eval_input)
    record = eval_input.map_run_record
    items = record.item_counter
    failed, total = items.failed.get() + items.timed_out.get(), max(1, items.total.get())
    if (
        failed > record.tolerated_failure_count
        and 100.0 * failed / total > record.tolerated_failure_percentage
    ):
        cause = f"{failed} of {total} child executions failed: more than the Map tolerates"
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=StatesErrorName(
                    typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold
                ),
                event_type=HistoryEventType.ExecutionFailed,
                event_details=EventDetails(
                    executionFailedEventDetails={"error": THRESHOLD_EXCEEDED, "cause": cause}
                ),
            )
        )


@contextmanager
def sfn_gap_fills() -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(DistributedMap, "_map_run", _map_run))
        stack.enter_context(
            mock.patch.object(SfnTask, "_normalise_parameters", _normalise_parameters)
        )
        stack.enter_context(mock.patch.object(SfnTask, "_normalise_response", _normalise_response))
        yield


def express_children_as_standard(definition: str) -> str:
    """moto 5.2.x's ASL grammar accepts only ``STANDARD`` as a Distributed Map's
    ``ExecutionType`` (``EXPRESS`` is a parse error), and its engine runs every child execution
    the same way whatever the type. Local mode deploys Express children as Standard ones: what
    differs on AWS (the five-minute life an Express child's task keeps within, its billing by
    duration) is Lifeboat's own code, tested without the emulator (tests/unit/test_scale.py,
    tests/unit/test_create_pace.py) and priced by the benchmark from the ASL file itself."""
    parsed = json.loads(definition)

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            processor = state.get("ItemProcessor") or {}
            config = processor.get("ProcessorConfig") or {}
            if config.get("ExecutionType") == "EXPRESS":
                config["ExecutionType"] = "STANDARD"
            for branch in [processor, *state.get("Branches", [])]:
                walk(branch.get("States", {}))

    walk(parsed["States"])
    return json.dumps(parsed)
