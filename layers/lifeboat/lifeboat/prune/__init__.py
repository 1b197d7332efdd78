"""Pruning: apply a rule's retention to its recovery points, safely.

* only points of the plan and rule, and only artifacts tagged ``lifeboat:managed=true`` with the
  same plan and rule tags (checked here; IAM enforces ``lifeboat:managed`` too);
* write-ahead: a point is marked ``deleting`` (no longer offered for restore) before its
  artifacts go and ``deleted`` after; a point left ``deleting`` by an interrupted prune is
  finished by the next one; a point of a resource under restore (its lock held) is put back;
* an AMI is deregistered first, then the snapshots it owned are deleted, so none is orphaned;
  a snapshot still used by another AMI, or under a snapshot lock, is skipped and reported;
  ``NotFound`` is treated as already done;
* a point under an EBS Snapshot Lock (``locked_until`` in the catalog, or a lock EC2 reports on
  one of its snapshots) is kept, never counted as deleted or freed, until the lock ends; so is
  a locked orphan;
* the dry run computes the same plan (what, why, how much storage it frees) and changes nothing;
* orphans are artifacts the catalog proves Lifeboat made (an intent or a point of the plan)
  that nothing live references, older than :data:`ORPHAN_GRACE`; tagged artifacts the catalog
  never heard of are ``foreign-tagged`` and never deleted. Orphans are removed only when asked,
  and never on a catalog that is empty or lacks the plan's history (fail closed).
"""

from lifeboat.prune.expired import prune, run_prune
from lifeboat.prune.machine import run_step
from lifeboat.prune.models import (
    BACKUP_TIMEOUT,
    ORPHAN_GRACE,
    PRUNE_TAKEOVER,
    Deletion,
    Locked,
    Orphan,
    PruneReport,
    PruneRequest,
)
from lifeboat.prune.orphans import find_orphans

__all__ = [
    "BACKUP_TIMEOUT",
    "ORPHAN_GRACE",
    "PRUNE_TAKEOVER",
    "Deletion",
    "Locked",
    "Orphan",
    "PruneReport",
    "PruneRequest",
    "find_orphans",
    "prune",
    "run_prune",
    "run_step",
]
