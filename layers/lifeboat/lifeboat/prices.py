"""AWS's public prices (us-east-1) that Lifeboat reasons with: the benchmark's cost estimates,
and whether a task should sleep for its pace or let its state machine wait."""

from __future__ import annotations

PER_TRANSITION = 0.000025  # Step Functions Standard, per state transition
PER_REQUEST = 0.0000002  # Lambda, per request
PER_GB_SECOND = 0.0000133334  # Lambda arm64, per GB-second
# Step Functions Express (the create Map's child executions): per execution, and per GB-second
# of its duration, billed in 64 MB steps of the memory it uses (a small execution: one step).
EXPRESS_PER_REQUEST = 0.000001
EXPRESS_PER_GB_SECOND = 0.00001667
EXPRESS_MIN_GB = 0.0625
SOURCE = (
    "AWS public prices (us-east-1): Step Functions Standard $0.025 per 1,000 state "
    "transitions; Express $1.00 per 1M executions and $0.00001667 per GB-second (64 MB steps); "
    "Lambda arm64 $0.20 per 1M requests and $0.0000133334 per GB-second"
)
# A task that stops for its pace costs its state machine three transitions: the Choice that
# sees it stopped, the Wait, and the Task entered again.
DEFER_TRANSITIONS = 3


def wait_state_break_even(memory_mb: int, transitions: int = DEFER_TRANSITIONS) -> float:
    """Seconds a Lambda of ``memory_mb`` can sleep for the price of ``transitions`` state
    transitions (about 11 s at 512 MB): a shorter wait is cheaper slept in the function, a
    longer one in a ``Wait`` state."""
    return transitions * PER_TRANSITION / (memory_mb / 1024 * PER_GB_SECOND)
