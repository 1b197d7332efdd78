"""One pace per account, region and API, shared by every task of the stack (docs:
development/scale.md).

AWS meters each EC2 API with a token bucket per account and region. Lifeboat's tasks (backup
runs, prunes, copiers, drills, restores) share one bucket per region and API, sized at
``PaceShare`` of AWS's published burst and refill (:data:`lifeboat.pacing.AWS_BUCKETS`). Its
state is one number in the catalog, the bucket's *theoretical arrival time* (the generic cell
rate algorithm): a task reserves ``count`` calls with one conditional write and is told when it
may make them. However many executions reserve at once, the calls handed out by any time ``t``
never exceed ``capacity + rate × (t − t₀)``: a bucket that started full.

A task told to wait returns that time to its state machine, which waits in a ``Wait`` state
(``TimestampPath``), not in a sleeping Lambda.
"""

from lifeboat.pace.bucket import (
    WAKE_LEAD,
    CasStore,
    Grant,
    PaceBeyondBudget,
    PaceDeferred,
    SharedPacing,
    bucket_size,
    gcra,
    lateness_allowed,
    pace_key,
    reserve,
    shift,
)

__all__ = [
    "WAKE_LEAD",
    "CasStore",
    "Grant",
    "PaceBeyondBudget",
    "PaceDeferred",
    "SharedPacing",
    "bucket_size",
    "gcra",
    "lateness_allowed",
    "pace_key",
    "reserve",
    "shift",
]
