"""IAM actions declared next to the adapter methods that call them.

``@needs("ec2:CreateImage", ...)`` on an adapter method records the actions that method (and
whatever it calls) can use; :func:`actions_of` reads them back. ``tests/unit/test_permissions``
follows each Lambda function's code from its handler to the adapter methods it can reach and
checks that the template grants that function exactly the union of their actions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__iam_actions__"


def needs(*actions: str) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        setattr(fn, ATTRIBUTE, frozenset(actions))
        return fn

    return mark


def actions_of(fn: Any) -> frozenset[str]:
    found: frozenset[str] = getattr(fn, ATTRIBUTE, frozenset())
    return found
