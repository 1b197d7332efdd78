"""In-memory SSM Run Command (:class:`lifeboat.scripts.ports.ScriptsPort`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifeboat.scripts.models import Invocation
from lifeboat.scripts.ports import ScriptsPort


@dataclass
class FakeScripts:
    """Agents online unless listed in ``offline``; every command ends as ``outcomes`` says for
    the instance (default ``Success``); ``sent`` keeps each SendCommand in order."""

    offline: set[str] = field(default_factory=set)
    outcomes: dict[str, str] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def online(self, instance_ids: list[str]) -> set[str]:
        return {i for i in instance_ids if i not in self.offline}

    def send(
        self,
        instance_ids: list[str],
        document: str,
        parameters: dict[str, list[str]],
        timeout_seconds: int,
        comment: str,
    ) -> str:
        assert len(instance_ids) <= 50, "SendCommand takes at most 50 instance ids"
        command_id = f"cmd-{len(self.sent)}"
        self.sent.append(
            {
                "id": command_id,
                "instances": list(instance_ids),
                "document": document,
                "parameters": parameters,
                "timeout": timeout_seconds,
            }
        )
        return command_id

    def invocations(self, command_id: str) -> list[Invocation]:
        command = next(c for c in self.sent if c["id"] == command_id)
        return [
            Invocation(instance_id=i, status=self.outcomes.get(i, "Success"))
            for i in command["instances"]
        ]


_scripts: ScriptsPort = FakeScripts()  # the fake implements the port (checked by mypy)
