"""A drill copy's RunInstances on the stack's shared pace (:mod:`lifeboat.restore.pace`): the
launch task reserves it from the home region's bucket and, when it comes later than sleeping
is worth, stops for the drill's ``WaitForDrillCopyPace``; called again, it spends that
reservation. The copy's provenance (the catalog's record, and the time the drill first asked
for it) is written before, and kept across the stop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lifeboat.drill.models import DrillLaunched, DrillTaskEvent
from lifeboat.pace import PaceDeferred, SharedPacing
from lifeboat.ports import DrillPort
from lifeboat.restore.models import Candidate, InstancePlan, LaunchDeferred
from lifeboat.restore.pace import RUN_INSTANCES, deferred, reserve_launch, waits_of


@dataclass(frozen=True)
class Made:
    """One drill copy's launch: the adapter, what to launch where, its client token (the
    proof of which drill made it), its tags, and when the drill first asked for it."""

    drills: DrillPort
    plan: InstancePlan
    candidate: Candidate
    token: str
    tags: dict[str, str]
    requested: datetime


def launch_instance(
    event: DrillTaskEvent, made: Made, pacing: SharedPacing | None, region: str
) -> DrillLaunched | LaunchDeferred:
    found = event.state.launch.launched if event.state.launch else None
    earlier = found if isinstance(found, LaunchDeferred) else None
    if pacing is not None:
        ready = reserve_launch(pacing, region, {RUN_INSTANCES: 1}, earlier)
        if ready is not None:
            return deferred(ready, pacing, earlier)
    try:
        instance = made.drills.launch(made.plan, made.candidate, made.token, made.tags)
    except PaceDeferred as wait:  # the adapter's retried call: later than worth sleeping
        assert pacing is not None  # only the shared pace defers
        return deferred(wait.ready_at, pacing, earlier)
    return DrillLaunched(
        id=instance["InstanceId"],
        type="instance",
        requested_at=made.requested,
        waits=waits_of(earlier),
    )
