"""Step Functions executions: start, status, history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.aws.clients import client
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code


class StepFunctions:
    def __init__(self, sfn: Any = None) -> None:
        self.sfn = sfn or client("stepfunctions")

    @needs("states:StartExecution")
    def start(
        self,
        state_machine_arn: str,
        name: str | None,
        payload: dict[str, Any],
        existing_ok: bool = True,
    ) -> str | None:
        """Start an execution; its ARN, or None when one of that name exists already
        (``StartExecution`` is the dedupe of a named execution; ``existing_ok=False``: raise)."""
        kwargs: dict[str, Any] = {
            "stateMachineArn": state_machine_arn,
            "input": json.dumps(payload),
        }
        if name:
            kwargs["name"] = name[:80]
        try:
            return str(self.sfn.start_execution(**kwargs)["executionArn"])
        except ClientError as exc:
            if existing_ok and error_code(exc) == "ExecutionAlreadyExists":
                return None
            raise

    @needs("states:DescribeExecution")
    def describe(self, execution_arn: str, missing_ok: bool = True) -> dict[str, Any] | None:
        """The execution's description, None if it does not exist (yet; ``missing_ok=False``:
        raise)."""
        try:
            return dict(self.sfn.describe_execution(executionArn=execution_arn))
        except ClientError as exc:
            if missing_ok and error_code(exc) == "ExecutionDoesNotExist":
                return None
            raise

    @needs("states:DescribeExecution")
    def status(self, execution_arn: str) -> str | None:
        found = self.describe(execution_arn)
        return None if found is None else str(found["status"])

    @needs("states:GetExecutionHistory")
    def history(self, execution_arn: str) -> Iterator[dict[str, Any]]:
        paginator = self.sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_arn, includeExecutionData=False):
            yield from page["events"]
