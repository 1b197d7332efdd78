"""Measuring mode (off by default, on in the benchmark): the emulator made AWS-shaped.

A fixed latency per API call and EC2's published token buckets enforced per API, answering
``RequestLimitExceeded`` exactly as EC2 does when a bucket is empty; every call is counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import moto.core.responses as core_responses
import moto.ec2.responses as ec2_responses

EC2_THROTTLE_BODY = (
    "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
    "exceeded.</Message></Error></Errors><RequestID>lifeboat-measure</RequestID></Response>"
)


@dataclass
class Meter:
    """What the emulator answered, per API action, while measuring."""

    latency: float = 0.05
    enforce: bool = True
    active: bool = False
    calls: dict[str, int] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)
    times: dict[str, list[float]] = field(default_factory=dict)  # epoch seconds of each call
    buckets: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, latency: float = 0.05, enforce: bool = True, rate_scale: float = 1.0) -> None:
        """Measure from now; ``rate_scale``: EC2's buckets refill that many times faster (the
        benchmark's compressed time, matched by Lifeboat's PACE_RATE_SCALE)."""
        from lifeboat.pacing import AWS_BUCKETS, TokenBucket

        with self._lock:
            self.latency, self.enforce, self.active = latency, enforce, True
            self.calls, self.throttled, self.times = {}, {}, {}
            self.buckets = {
                name: TokenBucket(b, r * rate_scale) for name, (b, r) in AWS_BUCKETS.items()
            }

    def stop(self) -> None:
        self.active = False

    def admit(self, action: str, is_ec2: bool) -> bool:
        """Count the call; False when EC2 would throttle it."""
        now = time.time()  # wall clock, like the run's create_started_at
        with self._lock:
            self.calls[action] = self.calls.get(action, 0) + 1
            self.times.setdefault(action, []).append(now)
            bucket = self.buckets.get(action) if is_ec2 and self.enforce else None
            if bucket is not None and bucket.delay() > 0:
                bucket.tokens += 1  # a refused call takes no token
                self.throttled[action] = self.throttled.get(action, 0) + 1
                return False
        return True


@contextmanager
def metered(meter: Meter) -> Iterator[None]:
    """Every API call moto answers passes through ``meter`` (a no-op until it is started)."""
    original_call = core_responses.BaseResponse.call_action

    def call_action(response: Any) -> Any:
        if not meter.active:
            return original_call(response)
        action = response._get_action() or "unknown"
        is_ec2 = isinstance(response, ec2_responses.EC2Response)
        if meter.latency:
            time.sleep(meter.latency)
        if not meter.admit(action, is_ec2):
            return 503, {"Content-Type": "text/xml"}, EC2_THROTTLE_BODY
        return original_call(response)

    with mock.patch.object(core_responses.BaseResponse, "call_action", call_action):
        yield
