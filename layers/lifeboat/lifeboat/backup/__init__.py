"""The backup run, one module per stage of ``statemachines/backup.asl.json``: begin (validate,
dedupe, discover: :mod:`.run`) → create (per batch: :mod:`.create`) → check (:mod:`.check`) →
finalize (:mod:`.finalize`). Each stage is one Lambda task, safe to repeat.

The names other modules use are re-exported here (``from lifeboat.backup import ...``).
"""

from lifeboat.backup.check import (
    FAILED_DB_SNAPSHOT_STATES,
    FAILED_IMAGE_STATES,
    INTENT_SKEW,
    TASK_LIMIT,
    adopt,
    check_run,
    made_by_intent,
)
from lifeboat.backup.create import GONE_STATES, create_batch
from lifeboat.backup.finalize import cleanup_artifacts, finalize_run
from lifeboat.backup.points import image_name, point_id
from lifeboat.backup.run import begin_run, check_slot, discover, make_run_id

__all__ = [
    "FAILED_DB_SNAPSHOT_STATES",
    "FAILED_IMAGE_STATES",
    "GONE_STATES",
    "INTENT_SKEW",
    "TASK_LIMIT",
    "adopt",
    "begin_run",
    "check_run",
    "check_slot",
    "cleanup_artifacts",
    "create_batch",
    "discover",
    "finalize_run",
    "image_name",
    "made_by_intent",
    "make_run_id",
    "point_id",
]
