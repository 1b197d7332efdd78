"""A volume restore's CreateVolume on the stack's shared pace (:mod:`lifeboat.restore.pace`).

The create step reserves its call from the home region's bucket; when the bucket hands it out
later than sleeping is worth, the step stays at ``create`` and sets ``wait_seconds`` to the
wait, rounded down (the machine's ``WaitForVolumeStep`` waits that long from after the task
returned; called again, the step sleeps what is left, so the call goes at its moment), keeping
the reservation in the state; called again, it spends it. A wait is cut to the state's 300 s
at most: then the next call, still early, stops again with the same reservation (never
reserving twice). Any other step's paced call (``CreateTags`` on the volume it replaces) that
the pace hands out too late stops that step the same way: it stays where it was (every step
first reads where EC2 stands), and its next call spends the reservation."""

from __future__ import annotations

import math

from lifeboat.pace import WAKE_LEAD, SharedPacing
from lifeboat.restore.models import LaunchDeferred
from lifeboat.restore.pace import CREATE_VOLUME, deferred, reserve_launch
from lifeboat.volumes.models import VolumeState

STEP_WAIT = int(VolumeState.model_fields["wait_seconds"].default)
MAX_WAIT = 300  # VolumeState.wait_seconds' bound


def reserve_step(state: VolumeState, pacing: SharedPacing, region: str) -> VolumeState | None:
    """Before a step: the state to return when it must wait for the pace first, else None (its
    calls go now: the create step's CreateVolume reserved, or the reservation an earlier call
    of the step stopped for spent, in ``pacing``'s grant)."""
    earlier = _earlier(state)
    if earlier is not None and state.pace_capped and pacing.defers(earlier.reserved_at):
        return _wait(state, earlier.reserved_at, pacing, keep=True)
    calls = {CREATE_VOLUME: 1} if state.stage == "create" else {}
    if earlier is None and not calls:
        return None
    ready = reserve_launch(pacing, region, calls, earlier)
    return None if ready is None else _wait(state, ready, pacing)


def stop_for(state: VolumeState, ready_at: float, pacing: SharedPacing) -> VolumeState:
    """A step's paced call met the pace later than worth sleeping: the step stays where it was
    and keeps what ``pacing`` reserved for it."""
    return _wait(state, ready_at, pacing)


def stepped(before: VolumeState, after: VolumeState) -> VolumeState:
    """After a step that went: a reservation it had is spent, the loop's own wait again."""
    if before.pace is None:
        return after
    return after.model_copy(update={"pace": None, "pace_capped": False, "wait_seconds": STEP_WAIT})


def _wait(
    state: VolumeState, ready_at: float, pacing: SharedPacing, keep: bool = False
) -> VolumeState:
    seconds = max(1, math.floor(ready_at - WAKE_LEAD - pacing.clock()))
    earlier = _earlier(state)
    if keep and earlier is not None:
        pace = earlier.model_copy(update={"waits": earlier.waits + 1})
    else:
        pace = deferred(ready_at, pacing, earlier)
    return state.model_copy(
        update={
            "pace": pace.model_dump(mode="json"),
            "pace_capped": seconds > MAX_WAIT,
            "wait_seconds": min(seconds, MAX_WAIT),
        }
    )


def _earlier(state: VolumeState) -> LaunchDeferred | None:
    return LaunchDeferred.model_validate(state.pace) if state.pace else None
