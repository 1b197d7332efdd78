"""Client-side pacing: a token bucket per API keeps sustained create/delete calls under a share
of EC2's and RDS's own refill rates, so a large run is not a throttling storm."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# AWS's published buckets (burst, refill per second): EC2's API request throttling page.
AWS_BUCKETS: dict[str, tuple[float, float]] = {
    "CreateSnapshot": (100, 5),
    "CreateSnapshots": (100, 5),
    "DeleteSnapshot": (100, 5),
    "DeregisterImage": (100, 5),
    "CreateVolume": (100, 5),
    "CopyImage": (100, 1),
    "CreateTags": (100, 10),
    "CreateImage": (50, 5),
    "CopySnapshot": (50, 5),
    "RunInstances": (5, 2),
    # CloudWatch's per-account quotas (requests per second, no separate burst).
    "PutMetricAlarm": (3, 3),
    "DeleteAlarms": (3, 3),
    "ListTagsForResource": (10, 10),
}
DEFAULT_BUCKET = (50.0, 5.0)


@dataclass
class TokenBucket:
    capacity: float
    rate: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = -1.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:  # full unless told otherwise
            self.tokens = self.capacity
        self.updated = self.clock()

    def delay(self) -> float:
        """Take one token; return how long to wait before using it."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


@dataclass
class Pacer:
    """One bucket per API at ``share`` of AWS's rate and of its burst (at least one token),
    full at first unless ``start_empty``: then it only holds what refills while the task is
    busy elsewhere (no burst)."""

    share: float = 0.8
    start_empty: bool = False
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    waited: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, api: str, region: str | None = None) -> None:
        with self._lock:
            bucket = self.buckets.get(api)
            if bucket is None:
                burst, rate = AWS_BUCKETS.get(api, DEFAULT_BUCKET)
                capacity = max(1.0, burst * self.share)
                tokens = 0.0 if self.start_empty else capacity
                bucket = TokenBucket(capacity, rate * self.share, self.clock, tokens)
                self.buckets[api] = bucket
            wait = bucket.delay()
            self.waited += wait
        if wait > 0:
            self.sleep(wait)


class Pacing(Protocol):
    """Waits before a call of ``api`` until its bucket allows it (``region``: where the call
    goes, when the pacing keeps one bucket per region)."""

    def acquire(self, api: str, region: str | None = None) -> None: ...
