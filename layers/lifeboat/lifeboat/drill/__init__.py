"""Restore drills: prove each protected resource restores, measure RTO and RPO, leave nothing."""

from lifeboat.drill.health import check
from lifeboat.drill.models import DrillInput, DrillTaskEvent
from lifeboat.drill.stages import begin, finish, launch, tear_down_resource
from lifeboat.drill.sweep import sweep

__all__ = [
    "DrillInput",
    "DrillTaskEvent",
    "begin",
    "check",
    "finish",
    "launch",
    "sweep",
    "tear_down_resource",
]
