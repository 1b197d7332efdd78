"""In memory, no sockets: Step Functions executions (``ExecutionsPort``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifeboat.ports import (
    ExecutionsPort,
)


@dataclass
class FakeExecutions:
    """Executions by ARN with their status; ``fail_starts`` makes the next starts raise."""

    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_starts: int = 0

    def start(
        self,
        state_machine_arn: str,
        name: str | None,
        payload: dict[str, Any],
        existing_ok: bool = True,
    ) -> str | None:
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("ThrottlingException: Rate exceeded")
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name or 'x'}"
        if arn in self.executions:
            if existing_ok:
                return None
            raise RuntimeError("ExecutionAlreadyExists")
        self.executions[arn] = {"status": "RUNNING", "input": payload}
        return arn

    def status(self, execution_arn: str) -> str | None:
        found = self.executions.get(execution_arn)
        return None if found is None else str(found["status"])


_executions: ExecutionsPort = FakeExecutions()  # the fake implements the port (checked by mypy)
