"""In memory, no sockets: the notifier (``NotifierPort``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifeboat.ports import (
    NotifierPort,
)


@dataclass
class FakeNotifier:
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, subject: str, body: dict[str, Any]) -> None:
        self.sent.append((subject, body))


_notifier: NotifierPort = FakeNotifier()  # the fake implements the port (checked by mypy)
