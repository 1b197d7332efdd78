"""What DynamoDB does and moto 5.2.x does not do efficiently, filled in for local mode.

``TransactWriteItems``: moto keeps a copy of the table to roll a cancelled transaction back,
but makes it once **per item** of the transaction (``copy.deepcopy`` of the whole table inside
its loop over the items): 100 copies of a catalog of thousands of items for one finalize's
batch of copies to queue, which took tens of seconds and gigabytes of memory per batch (the
benchmark's 1,000-instance run was killed for it). Here each table is copied once per
transaction, the copy moto's later items ask for is that same one (it is only ever used to
roll back, never changed), and everything else moto does is unchanged: the same conditions,
the same cancellation reasons, the same all-or-nothing result.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

ORIGINAL_TRANSACT = DynamoDBBackend.transact_write_items
_within = threading.local()  # this thread's transaction: table id → its one copy


def _deepcopy_table(table: Table, memo: dict[int, Any]) -> Table:
    """``copy.deepcopy(table)``: once per table within a transaction, as usual elsewhere."""
    made: dict[int, Table] | None = getattr(_within, "copies", None)
    if made is not None and id(table) in made:
        return made[id(table)]
    reductor = table.__reduce_ex__(4)
    copied: Table = copy._reconstruct(table, memo, *reductor)  # type: ignore[attr-defined]  # noqa: SLF001 - deepcopy's own default, without this hook
    if made is not None:
        made[id(table)] = copied
    return copied


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    _within.copies = {}
    try:
        ORIGINAL_TRANSACT(self, transact_items)
    finally:
        _within.copies = None


@contextmanager
def dynamo_gap_fills() -> Iterator[None]:
    """The DynamoDB gap-fill above, in place until exit."""
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(Table, "__deepcopy__", _deepcopy_table, create=True))
        stack.enter_context(
            mock.patch.object(DynamoDBBackend, "transact_write_items", _transact_write_items)
        )
        yield
