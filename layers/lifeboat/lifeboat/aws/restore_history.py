"""The restore state machine's executions, described (:class:`lifeboat.restore.listing.
RestoreExecutionsPort`): ListExecutions (paginated), DescribeExecution, the history's newest
state entered."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.aws.clients import client
from lifeboat.aws.permissions import needs
from lifeboat.errors import error_code
from lifeboat.restore.listing import ExecutionSummary


def _json(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


class RestoreHistory:
    def __init__(self, sfn: Any = None) -> None:
        self.sfn = sfn or client("stepfunctions")

    @needs("states:ListExecutions", "states:DescribeExecution")
    def executions(self, state_machine_arn: str, since: datetime) -> list[ExecutionSummary]:
        """Every execution running now or started at or after ``since`` (restores are rare:
        every page is read, whatever order it comes in)."""
        found: list[ExecutionSummary] = []
        paginator = self.sfn.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=state_machine_arn):
            for listed in page.get("executions", []):
                if listed["status"] == "RUNNING" or listed["startDate"] >= since:
                    described = self.execution(listed["executionArn"])
                    if described is not None:
                        found.append(described)
        return found

    @needs("states:DescribeExecution")
    def execution(self, execution_arn: str) -> ExecutionSummary | None:
        try:
            found = self.sfn.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
                return None
            raise
        return ExecutionSummary(
            arn=found["executionArn"],
            name=found["name"],
            status=found["status"],
            started_at=found["startDate"],
            stopped_at=found.get("stopDate"),
            input=_json(found.get("input")) or {},
            output=_json(found.get("output")),
        )

    @needs("states:GetExecutionHistory")
    def current_state(self, execution_arn: str) -> str | None:
        """The newest state entered (the history read newest first, a page at a time)."""
        paginator = self.sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(
            executionArn=execution_arn, reverseOrder=True, includeExecutionData=False
        ):
            for event in page.get("events", []):
                if event["type"].endswith("StateEntered"):
                    return str(event["stateEnteredEventDetails"]["name"])
        return None
