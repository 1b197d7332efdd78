"""A batch's create calls, made together when the shared pace reserved them together
(docs: development/scale.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from botocore.exceptions import ClientError

from lifeboat.pace import SharedPacing

CREATE_WORKERS = 8  # a batch's create calls made at once (reserved together from the pace)
Item = TypeVar("Item")
Made = TypeVar("Made")


def attempt_all(
    items: Sequence[Item], attempt: Callable[[Item], Made], together: SharedPacing | None
) -> list[Made | BaseException]:
    """Each item's outcome (what ``attempt`` returned, or what it raised), in the items'
    order. When the pace reserved all their calls ``together`` (one grant), from the grant's
    moment, CREATE_WORKERS at once: each waits for its own answer, not for the others' (one
    after the other, a batch's last call would go seconds after its moment). Otherwise one by
    one, stopping after the first that raised anything but an AWS error (the pace stopping
    the task part-way, a failure: the items after it are not attempted)."""

    def one(item: Item) -> Made | BaseException:
        try:
            return attempt(item)
        except Exception as exc:  # noqa: BLE001 - every outcome goes back to the caller
            return exc

    if together is not None:
        together.wait_for_grant()
        with ThreadPoolExecutor(max_workers=CREATE_WORKERS) as pool:
            return list(pool.map(one, items))
    outcomes: list[Made | BaseException] = []
    for item in items:
        outcomes.append(one(item))
        if isinstance(outcomes[-1], BaseException) and not isinstance(outcomes[-1], ClientError):
            break
    return outcomes
