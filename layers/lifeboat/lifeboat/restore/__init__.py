"""Restore a failed instance into another Availability Zone, or a database, in stages that are
each one Lambda task of ``statemachines/restore.asl.json`` and each safe to repeat:

begin (validate, lock, plan: :mod:`.begin`, the pure :mod:`.planner`) → launch → check health
(polled: :mod:`.health`) → cut over → finish; on any failure after the lock: abort
(:mod:`.rollback`: terminate the half-made replacement, roll the cut-over back, release the
lock, notify); an execution that times out or is stopped is finished or rolled back by
:mod:`.cleanup`. Every task receives one :class:`~.models.TaskEvent` (the state and the
execution's context object).
"""

from lifeboat.restore.begin import begin
from lifeboat.restore.cleanup import (
    TASK_GRACE,
    ExecutionStatusChange,
    ExecutionStatusDetail,
    clean_up,
)
from lifeboat.restore.cutover import cut_over, verify_cut_over
from lifeboat.restore.finish import finish
from lifeboat.restore.health import MAX_HEALTH_DEADLINE, check
from lifeboat.restore.launch import launch
from lifeboat.restore.lineage import lineage, record_replacement
from lifeboat.restore.locks import LOCK_SECONDS, RESTORE_TIMEOUT, guardrails_for, release_all
from lifeboat.restore.models import (
    CutOverRecord,
    DatabasePlan,
    ExecutionContext,
    Health,
    InstancePlan,
    Launched,
    Plan,
    RestoreInput,
    RestoreState,
    TaskEvent,
)
from lifeboat.restore.planner import plan_database, plan_instance, restored_identifier
from lifeboat.restore.rollback import abort

__all__ = [
    "LOCK_SECONDS",
    "MAX_HEALTH_DEADLINE",
    "RESTORE_TIMEOUT",
    "TASK_GRACE",
    "CutOverRecord",
    "DatabasePlan",
    "ExecutionContext",
    "ExecutionStatusChange",
    "ExecutionStatusDetail",
    "Health",
    "InstancePlan",
    "Launched",
    "Plan",
    "RestoreInput",
    "RestoreState",
    "TaskEvent",
    "abort",
    "begin",
    "check",
    "clean_up",
    "cut_over",
    "finish",
    "guardrails_for",
    "launch",
    "lineage",
    "plan_database",
    "plan_instance",
    "record_replacement",
    "release_all",
    "restored_identifier",
    "verify_cut_over",
]
