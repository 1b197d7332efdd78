"""Whether what stands in a copy's place in its region is the copy Lifeboat started.

A tag proves nothing (anyone allowed to tag can write ``lifeboat:copy-point``, and a copy's id
and a DB copy's name are predictable). What AWS itself records decides:

* a DB snapshot copy (``CopyDBSnapshot``) is ours only when RDS reports it copied from our
  source (``SourceDBSnapshotIdentifier`` = the home snapshot's ARN) **and** created after the
  copy's intent (``SnapshotCreateTime``, which RDS sets anew for a copy); an Aurora cluster
  snapshot copy the same way (``SourceDBClusterSnapshotArn``);
* an image or snapshot copy (``CopyImage``, ``CopySnapshot``) is ours only when EC2 reports it
  created after the intent (``CreationDate`` / ``StartTime``) — an image returned for our
  ``ClientToken`` included.

A snapshot RDS has not dated yet (still copying) proves nothing either way: it is looked at
again on the next pump.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from lifeboat.errors import LifeboatError

# Clock precision between the function writing the intent and the service dating the copy:
# the intent's time is read before it is written, and it is written before any copy call, so a
# copy Lifeboat made is never dated before it — except that EC2 answers whole seconds
# (``CreationDate`` …``.000Z``). A copy dated this much before its intent is still taken as
# made after it; anything older was made before the intent (a wider slack would let a forgery
# made just before the intent be adopted, or deleted as a failed copy's leftover).
SLACK = timedelta(seconds=2)


class DbCopyInfo(BaseModel):
    """A DB or cluster snapshot in a copy's region, as RDS describes it."""

    snapshot_id: str
    source_arn: str | None = Field(
        None, description="SourceDBSnapshotIdentifier / SourceDBClusterSnapshotArn"
    )
    created_at: datetime | None = Field(None, description="SnapshotCreateTime (None: undated)")
    status: str = "unknown"


class CopyTargetExistsError(LifeboatError):
    """``CopyDBSnapshot``/``CopyDBClusterSnapshot`` answered ``…AlreadyExists``: what RDS
    reports of the snapshot in the way (None: it vanished meanwhile)."""

    def __init__(self, target_id: str, found: DbCopyInfo | None) -> None:
        super().__init__(f"{target_id} already exists")
        self.target_id = target_id
        self.found = found


class NotOurCopyError(LifeboatError):
    """Something stands in a copy's place that Lifeboat did not make: never adopted, never
    deleted; the copy fails alone, with this reason."""


class CopyNotProvenYetError(LifeboatError):
    """RDS has not dated the snapshot yet: adoption is decided on a later pump."""


def made_after(created: datetime | None, since: datetime) -> bool:
    return created is not None and created >= since - SLACK


def adopt_db_copy(
    found: DbCopyInfo | None, target_id: str, source_arn: str, since: datetime
) -> str:
    """``target_id`` when RDS proves it this copy's; else raise why not."""
    if found is None:
        raise CopyNotProvenYetError(f"{target_id}: RDS reported it existing, then not found")
    if found.source_arn != source_arn:
        raise NotOurCopyError(
            f"{target_id} already exists in the copy's region and is not Lifeboat's copy: RDS "
            f"reports it copied from {found.source_arn or 'no snapshot'}, not {source_arn}; "
            "left untouched (rename or delete it by hand, then run lifeboat copies start)"
        )
    if found.created_at is None:
        raise CopyNotProvenYetError(f"{target_id}: not dated by RDS yet ({found.status})")
    if not made_after(found.created_at, since):
        raise NotOurCopyError(
            f"{target_id} already exists in the copy's region and is not Lifeboat's copy: RDS "
            f"dates it {found.created_at.isoformat()}, before this copy was started "
            f"({since.isoformat()}); left untouched (rename or delete it by hand, then run "
            "lifeboat copies start)"
        )
    return target_id


class CopyArtifact(BaseModel):
    """An image or snapshot in a copy region tagged as a Lifeboat copy (``lifeboat:managed``
    and ``lifeboat:copy-point``): the census compares them with the catalog."""

    artifact_id: str
    artifact_type: str = Field(description="image | snapshot | db-snapshot | cluster-snapshot")
    copy_point_id: str
    plan: str = Field("", description="its lifeboat:plan tag")
    created_at: datetime | None = None
    size_gb: int = 0
