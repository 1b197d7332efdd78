"""The SSM port of pre and post scripts (``lifeboat/ports.py`` is full: feature ports live in
their package)."""

from __future__ import annotations

from typing import Protocol

from lifeboat.scripts.models import Invocation


class ScriptsPort(Protocol):
    """SSM Run Command (:class:`lifeboat.aws.ssm_scripts.SsmScripts`)."""

    def online(self, instance_ids: list[str]) -> set[str]:
        """Those of ``instance_ids`` whose SSM agent answers (``PingStatus`` ``Online``)."""
        ...

    def send(
        self,
        instance_ids: list[str],
        document: str,
        parameters: dict[str, list[str]],
        timeout_seconds: int,
        comment: str,
    ) -> str:
        """One SendCommand to at most 50 instances: the command id."""
        ...

    def invocations(self, command_id: str) -> list[Invocation]:
        """Each instance's run of the command (an instance not listed yet: not started)."""
        ...
