"""In-memory fakes of Lifeboat's ports, one module per port, for fast unit and model-based
tests (no sockets). Each fake has the adapter's methods and ownership checks and satisfies its
``Protocol`` (mypy checks it at the bottom of the fake's module); :func:`fake_ports` builds the
``Ports`` a domain function takes.

A new fake goes in its own module here (``tests/fakes/<port>.py``). The names below are
re-exported so ``from tests.fakes import FakeCatalog`` keeps working; prefer the module.
"""

from tests.fakes.alarms import FakeCloudWatch
from tests.fakes.catalog import CatalogUnavailable, FakeCatalog
from tests.fakes.common import TaskClock, TaskKilled, client_error, new_id
from tests.fakes.ec2 import FakeEc2
from tests.fakes.executions import FakeExecutions
from tests.fakes.guards import FakeGuardStore
from tests.fakes.metrics import FakeMetrics
from tests.fakes.notifier import FakeNotifier
from tests.fakes.ports import fake_ports
from tests.fakes.rds import FakeRds
from tests.fakes.restore import LIVE_STATES, FakeEc2Restore, FakeRdsRestore

__all__ = [
    "LIVE_STATES",
    "CatalogUnavailable",
    "FakeCatalog",
    "FakeCloudWatch",
    "FakeEc2",
    "FakeEc2Restore",
    "FakeExecutions",
    "FakeGuardStore",
    "FakeMetrics",
    "FakeNotifier",
    "FakeRds",
    "FakeRdsRestore",
    "TaskClock",
    "TaskKilled",
    "client_error",
    "fake_ports",
    "new_id",
]
