"""What real RDS does and moto 5.2.x does not, filled in for local mode.

* ``DescribeDBInstanceAutomatedBackups`` gives each active automated backup its
  ``RestoreWindow`` (moto: none): the earliest restorable time is the first automated backup,
  at most ``BackupRetentionPeriod`` days ago; the latest is the instance's
  ``LatestRestorableTime``. A restore to a point in time (``--point TIME``) reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from unittest import mock

import moto.rds.models as rds_models


def _restore_window(backup: Any) -> dict[str, Any] | None:
    database = backup.backend.databases.get(backup.db_instance_identifier)
    days = int(getattr(database, "backup_retention_period", 0) or 0)
    if database is None or not days or not backup.automated_snapshots:
        return None
    latest = database.latest_restorable_time
    first = min(s.created for s in backup.automated_snapshots)
    return {"EarliestTime": max(first, latest - timedelta(days=days)), "LatestTime": latest}


@contextmanager
def rds_gap_fills() -> Iterator[None]:
    """Every RDS gap-fill above, in place until exit."""
    with mock.patch.object(
        rds_models.DBInstanceAutomatedBackup,
        "restore_window",
        property(_restore_window),
        create=True,
    ):
        yield
