"""boto3 clients, and Lifeboat's retry policy: one policy, one job per layer.

1. **botocore** (``standard`` mode, :data:`SDK_MAX_ATTEMPTS` attempts a call) retries
   throttling and transient failures, with full-jitter back-off capped at 20 s (1 s base for
   throttles). Which codes it retries is fixed in ``botocore/retries/standard.py`` (botocore
   1.44.8): ``ThrottledRetryableChecker`` (``Throttling``, ``ThrottlingException``,
   ``ThrottledException``, ``RequestThrottledException``, ``TooManyRequestsException``,
   ``ProvisionedThroughputExceededException``, ``TransactionInProgressException``,
   ``RequestLimitExceeded``, ``BandwidthLimitExceeded``, ``LimitExceededException``,
   ``RequestThrottled``, ``SlowDown``, ``PriorRequestNotComplete``, ``EC2ThrottledException``),
   ``TransientRetryableChecker`` (``RequestTimeout``, ``RequestTimeoutException``,
   ``PriorRequestNotComplete``, HTTP 500/502/503/504, connection errors), HTTP 429, and errors
   the service model marks retryable. ``data/_retry.json`` is read by ``legacy`` mode only.
2. **Lifeboat's** :class:`Retrier` retries only what botocore does not: EC2's per-volume
   snapshot limits, ``SnapshotCreationPerVolumeRateExceeded`` (15 s between snapshots of one
   volume) and ``ConcurrentSnapshotLimitExceeded`` (5 in progress per volume), with
   full-jitter back-off, ``MAX_LOCAL_RETRIES`` times. A throttle botocore gave up on is not
   retried again here: like a per-volume limit that persists, it becomes
   :class:`~lifeboat.errors.TransientAwsError`. Capacity errors (``InsufficientInstanceCapacity``)
   are not retried at all: restore's launch falls back to other instance types and AZs itself.
3. **The state machine** retries the task on ``TransientAwsError`` (``Retry`` in
   ``statemachines/*.asl.json``, with back-off), which reruns it idempotently.

So a throttled call costs at most :data:`SDK_MAX_ATTEMPTS` requests per task attempt (three
stacked layers used to make it 35). The :class:`Retrier` also paces calls client-side
(:mod:`lifeboat.pacing`, one token per attempt): pacing keeps calls under AWS's rates, it retries
nothing.
"""

from __future__ import annotations

import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from lifeboat.errors import TransientAwsError, error_code
from lifeboat.pacing import Pacer, Pacing

# What botocore's standard mode does not retry and Lifeboat does (layer 2 above).
RETRIED_HERE = frozenset(
    {"SnapshotCreationPerVolumeRateExceeded", "ConcurrentSnapshotLimitExceeded"}
)
# Throttles of the APIs the Retrier calls (EC2, RDS, CloudWatch, Lambda), all of them retried by
# botocore (layer 1): when one still fails, the task gives up at once.
THROTTLES = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException"}
)
SDK_MAX_ATTEMPTS = 5

_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": SDK_MAX_ATTEMPTS},
    user_agent_extra="lifeboat",
    connect_timeout=10,
    read_timeout=60,
)
ClientHook = Callable[[Any], None]
_hooks: list[ClientHook] = []
_cache: dict[tuple[str, str, str, str], Any] = {}
_cache_lock = threading.Lock()


_created: weakref.WeakSet[Any] = weakref.WeakSet()


def add_client_hook(hook: ClientHook) -> None:
    """Run ``hook(client)`` on every client Lifeboat has created or creates from now on (fault
    injection, metering); clients cached inside long-lived adapters get it too."""
    _hooks.append(hook)
    for existing in list(_created):
        hook(existing)


def remove_client_hook(hook: ClientHook) -> None:
    """Stop applying ``hook`` to new clients (the hook's owner unregisters its handlers)."""
    if hook in _hooks:
        _hooks.remove(hook)


# Service models parsed once per process: every session shares one loader (its cache), while
# credentials and region are still read afresh by each new session.
_LOADER = botocore.loaders.create_loader()
_loader_lock = threading.Lock()


def new_session() -> boto3.session.Session:
    with _loader_lock:
        core = botocore.session.get_session()
        core.register_component("data_loader", _LOADER)
        session = boto3.session.Session(botocore_session=core)
        paths = _LOADER.search_paths  # boto3 appends its own data path for every session
        paths[:] = list(dict.fromkeys(paths))
        return session


def reset_clients() -> None:
    with _cache_lock:
        _cache.clear()


def client(service: str, region: str | None = None) -> Any:
    """A client for ``service`` honouring AWS_ENDPOINT_URL and AWS_REGION (or in ``region``: a
    copy's destination), created once per process (boto3 clients are thread-safe; creating one
    loads its service model, which is the costly part) and shared by every invocation of a warm
    Lambda."""
    key = (
        service,
        os.environ.get("AWS_ENDPOINT_URL", ""),
        os.environ.get("AWS_REGION", ""),
        region or "",
    )
    found = _cache.get(key)
    if found is not None:
        return found
    with _cache_lock:
        if key not in _cache:
            created = new_session().client(  # type: ignore[call-overload]
                service, config=_CONFIG, **({"region_name": region} if region else {})
            )
            _created.add(created)
            for hook in _hooks:
                hook(created)
            _cache[key] = created
        return _cache[key]


def long_call_client(service: str, read_timeout: int = 910) -> Any:
    """A client for synchronous calls that may run for up to 15 minutes (Lambda invoke);
    never retried by boto3, so a slow answer is not taken for a lost one."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        read_timeout=read_timeout,
        user_agent_extra="lifeboat",
    )
    created = new_session().client(service, config=config)  # type: ignore[call-overload]
    _created.add(created)
    for hook in _hooks:
        hook(created)
    return created


class Retrier:
    """Layer 2 of the retry policy (module docstring): full-jitter exponential back-off for
    EC2's per-volume snapshot limits, which botocore leaves to the caller; every other error is
    raised as it came, a throttle botocore gave up on as :class:`TransientAwsError`. Mutating
    calls are paced client-side (one token per attempt)."""

    def __init__(
        self,
        attempts: int = 6,
        base_seconds: float = 1.0,
        cap_seconds: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        pacer: Pacing | None = None,
    ) -> None:
        self.attempts = attempts
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self.sleep = sleep
        self.pacer: Pacing = pacer or Pacer()
        self.retried = 0

    def call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        api, region = _api_name(fn), _region_of(fn)
        for attempt in range(self.attempts + 1):
            self.pacer.acquire(api, region)
            try:
                return fn(**kwargs)
            except ClientError as exc:
                code = error_code(exc)
                if code in THROTTLES:
                    raise TransientAwsError(
                        f"{code} persisted after botocore's retries: {exc}"
                    ) from exc
                if code not in RETRIED_HERE:
                    raise
                if attempt == self.attempts:
                    raise TransientAwsError(
                        f"{code} persisted after {self.attempts} retries: {exc}"
                    ) from exc
                self.retried += 1
                delay = min(self.cap_seconds, self.base_seconds * (2**attempt))
                self.sleep(random.uniform(0, delay))
        raise AssertionError("unreachable")  # pragma: no cover


def _region_of(fn: Callable[..., Any]) -> str | None:
    """The region a client method's calls go to (its client's), None for anything else."""
    meta = getattr(getattr(fn, "__self__", None), "meta", None)
    region = getattr(meta, "region_name", None)
    return region if isinstance(region, str) else None


def _api_name(fn: Callable[..., Any]) -> str:
    """``ec2.create_snapshots`` → ``CreateSnapshots`` (the name AWS's rate buckets use)."""
    name = getattr(fn, "__name__", "")
    return "".join(part.capitalize() for part in name.split("_")).replace("Db", "DB")
