"""Wiring for the Lambda handlers: settings and adapters built once per cold start."""

from __future__ import annotations

import time
from functools import cache

from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import Retrier
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.notify import Notifier
from lifeboat.aws.rds import RdsGateway
from lifeboat.backup import Ports
from lifeboat.guardrails import GuardConfig, Guardrails
from lifeboat.pacing import Pacer
from lifeboat.settings import get_settings


@cache
def ports() -> Ports:
    """Adapters of this process (cached across warm invocations)."""
    return build_ports(1)


def build_ports(concurrent_tasks: int, use_burst: bool = True) -> Ports:
    """Adapters with a fresh pacer. ``concurrent_tasks`` tasks running at once (the create
    Map's MaxConcurrency) share AWS's rate: each paces at ``PACE_SHARE / concurrent_tasks``;
    only the first wave of tasks shares the burst (``use_burst``); later ones start empty and
    bank only what refills while they are busy with Describe calls."""
    settings = get_settings()
    scale = settings.pace_time_scale
    share = settings.pace_share / concurrent_tasks
    pacer = Pacer(
        share=share,
        start_empty=not use_burst,
        sleep=lambda seconds: time.sleep(seconds * scale),
    )
    retrier = Retrier(
        attempts=settings.max_local_retries,
        base_seconds=settings.retry_base_seconds,
        pacer=pacer,
    )
    return Ports(
        catalog=Catalog(settings.catalog_table),
        ec2=Ec2Gateway(retrier),
        rds=RdsGateway(retrier),
        notifier=Notifier(settings.topic_arn),
    )


def reset() -> None:
    """Forget cached settings and adapters (local mode redeploys; tests)."""
    ports.cache_clear()
    get_settings.cache_clear()


def create_ports(batch_index: int) -> Ports:
    """Adapters for one create task (one of the Map's concurrent iterations), with its own
    pacer (clients are shared and cached): the first wave of batches spends AWS's burst, the
    later ones only its refill, so the run as a whole never outruns EC2's bucket."""
    concurrency = get_settings().create_concurrency
    return build_ports(concurrency, use_burst=batch_index < concurrency)


def guard_config() -> GuardConfig:
    settings = get_settings()
    return GuardConfig(
        cooldown_minutes=settings.cooldown_minutes,
        max_concurrent=settings.max_concurrent_auto_restores,
        max_per_hour=settings.max_auto_restores_per_hour,
        breaker_threshold=settings.breaker_threshold,
    )


def guardrails() -> Guardrails:
    return Guardrails(ports().catalog, guard_config())
