"""Compressed time: Wait states and Retry back-offs of moto's Step Functions engine (and, when
asked, botocore's own retry back-off) sleep ``scale`` times as long, so a demo takes seconds.

Each scale is read at every sleep (``scale`` is a callable), so the emulator's owner can change
it while the patches are in place. No state machine sleep lasts more than :data:`LONGEST` seconds;
botocore's are only scaled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import SimpleNamespace
from typing import Any
from unittest import mock

import botocore.endpoint
import moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function as wait_fn
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

LONGEST = 5.0
Scale = Callable[[], float]


def _scaled_sleep(scale: Scale, longest: float | None = None) -> Callable[[float], None]:
    """``longest`` None: :data:`LONGEST`, read at each sleep (the benchmark lifts it, so that
    its Wait states last as written)."""
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        scaled = seconds * scale()
        if scaled > 0:
            real_sleep(min(scaled, LONGEST if longest is None else longest))

    return sleep


@contextmanager
def compressed_state_machine_time(scale: Scale) -> Iterator[None]:
    """Wait states and Retry intervals (``IntervalSeconds × BackoffRate^n``)."""
    sleep = _scaled_sleep(scale)

    def wait_interval(wf_self: Any, env: Any, wait_seconds: int) -> None:
        sleep(wait_seconds)

    with ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(wait_fn.WaitFunction, "_wait_interval", wait_interval)
        )
        stack.enter_context(
            mock.patch.object(retrier_decl, "time", SimpleNamespace(sleep=sleep, time=time.time))
        )
        yield


@contextmanager
def compressed_sdk_backoff(scale: Scale) -> Iterator[None]:
    """botocore's back-off between retried attempts (``standard`` mode: up to 20 s a retry)."""
    namespace = SimpleNamespace(sleep=_scaled_sleep(scale, float("inf")), time=time.time)
    with mock.patch.object(botocore.endpoint, "time", namespace):
        yield
