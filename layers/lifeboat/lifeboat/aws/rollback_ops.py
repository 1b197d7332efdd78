"""RDS calls of ``lifeboat restore rollback`` (:class:`lifeboat.restore.undo.
DatabaseRollbackPort`): the original's endpoint, and deleting a database a restore made."""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.exceptions import ClientError

from lifeboat import tags as T
from lifeboat.aws.permissions import needs
from lifeboat.aws.rds import RdsGateway
from lifeboat.errors import error_code


class RdsRollback:
    def __init__(self, gateway: RdsGateway | None = None) -> None:
        self.gw = gateway or RdsGateway()

    @needs("rds:DescribeDBInstances")
    def endpoint(self, db_id: str) -> str | None:
        found = self.gw.describe_db(db_id) or {}
        address = (found.get("Endpoint") or {}).get("Address")
        return str(address) if address else None

    @needs("rds:DescribeDBInstances", "rds:DeleteDBInstance", "rds:CreateDBSnapshot")
    def delete_restored(
        self,
        db_id: str,
        execution_arn: str,
        final_snapshot: str,
        since: datetime,
        until: datetime | None,
    ) -> str:
        """Delete ``db_id`` if this restore execution made it, with a final snapshot (tagged as
        the database is: CopyTagsToSnapshot was set when it was restored). Made by it: it
        carries the execution's tag *and* RDS created it while the execution ran (``since`` to
        ``until``); a database renamed into its name, or restored from its snapshot (tags and
        all), was created later and is never deleted."""
        found = self.gw.describe_db(db_id)
        if found is None or found.get("DBInstanceStatus") == "deleting":
            return "gone"
        created = found.get("InstanceCreateTime")
        end = until or datetime.now(UTC)
        if (
            T.to_dict(found.get("TagList")).get(T.RESTORE_EXECUTION) != execution_arn
            or not isinstance(created, datetime)
            or not since.replace(microsecond=0) <= created <= end
        ):
            return "not-owned"
        try:
            self.gw.call(
                "delete_db_instance",
                DBInstanceIdentifier=db_id,
                SkipFinalSnapshot=False,
                FinalDBSnapshotIdentifier=final_snapshot,
            )
        except ClientError as exc:
            if error_code(exc) == "DBInstanceNotFound":
                return "gone"
            raise
        return f"deleting (final snapshot {final_snapshot})"
