"""What the fakes share: ids as AWS makes them, the killed task, the ``ClientError`` a
fake raises, the ownership test the adapters make (Lifeboat's tags and the catalog's owner),
and a task's clock."""

from __future__ import annotations

import itertools

from botocore.exceptions import ClientError

from lifeboat import tags as T

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):017x}"


class TaskClock:
    """One task's clock (epoch seconds): sleeping moves it on, nothing really sleeps."""

    def __init__(self, at: float = 0.0) -> None:
        self.at = at
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += seconds


class TaskKilled(Exception):
    """The Lambda running the task was killed (time-out) right after an AWS call returned."""


def client_error(code: str, operation: str = "Fake") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def owned_by(tags: dict[str, str], owner: dict[str, str] | None) -> bool:
    return T.is_managed(tags) and all(tags.get(k) == v for k, v in (owner or {}).items())
