"""Wiring for the Lambda handlers: settings and adapters built once per cold start."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache, partial

from lifeboat.apps.storm import StormConfig
from lifeboat.aws.autoscaling import AutoScalingGateway
from lifeboat.aws.catalog import Catalog
from lifeboat.aws.clients import Retrier, client
from lifeboat.aws.cloudwatch import CloudWatchAlarms
from lifeboat.aws.copy_ops import CopyOps, home_region
from lifeboat.aws.dns import EndpointGateway
from lifeboat.aws.drill_clusters import ClusterDrillOps
from lifeboat.aws.drill_ops import DrillOps
from lifeboat.aws.ec2 import Ec2Gateway
from lifeboat.aws.evacuation_ops import EvacuationOps
from lifeboat.aws.guard_store import DynamoGuardStore
from lifeboat.aws.metrics import CloudWatchMetrics
from lifeboat.aws.notify import Notifier
from lifeboat.aws.rds import RdsGateway
from lifeboat.aws.restore_ops import Ec2Restorer, RdsRestorer
from lifeboat.aws.ssm_scripts import SsmScripts
from lifeboat.aws.stepfunctions import StepFunctions
from lifeboat.aws.volume_ops import VolumeOps
from lifeboat.backup.pace import EXPRESS_INLINE_WAIT, express_budget
from lifeboat.copies.pace import PUMP_INLINE_WAIT
from lifeboat.guardrails import GuardConfig, Guardrails
from lifeboat.pace import SharedPacing
from lifeboat.pacing import Pacing
from lifeboat.ports import Ports
from lifeboat.prices import wait_state_break_even
from lifeboat.settings import Settings, clear_cache, get_settings


def shared_pacing(region: str | None = None, defer: bool = False) -> SharedPacing:
    """The stack's shared pace (:mod:`lifeboat.pace`): one bucket per region and API in the
    catalog, whichever execution calls. Calls go to ``region`` (default: the home region) unless
    the client says otherwise. ``defer``: a task whose state machine can wait for it (a
    ``Wait`` state) stops with :class:`~lifeboat.pace.PaceDeferred` when sleeping would cost
    more than the state machine's wait (:func:`lifeboat.prices.wait_state_break_even`); any
    other task sleeps for its calls (compressed in local mode)."""
    settings = get_settings()
    catalog = Catalog(settings.catalog_table)
    return SharedPacing(
        reserve_calls=catalog.reserve_pace,
        shift_calls=catalog.shift_pace,
        region=region or home_region(),
        share=settings.pace_share,
        burst_share=settings.pace_burst_share,
        inline_wait=wait_state_break_even(settings.memory_mb) if defer else math.inf,
        time_scale=settings.pace_time_scale,
        rate_scale=settings.pace_rate_scale,
    )


def sleep(seconds: float) -> None:
    """Sleep (compressed in local mode, like the pacing's waits)."""
    time.sleep(seconds * get_settings().pace_time_scale)


def ports() -> Ports:
    """Adapters of this process (cached across warm invocations, per settings: one entry on AWS,
    one per function in local mode, where every handler runs in one process)."""
    return _cached_ports(get_settings())


@lru_cache(maxsize=32)
def _cached_ports(settings: Settings) -> Ports:
    return _ports(shared_pacing())


def retrier(pacing: Pacing | None = None) -> Retrier:
    """Lifeboat's retry policy, pacing with ``pacing`` (default: :func:`shared_pacing`)."""
    settings = get_settings()
    return Retrier(
        attempts=settings.max_local_retries,
        base_seconds=settings.retry_base_seconds,
        pacer=pacing or shared_pacing(),
    )


def _ports(pacing: Pacing) -> Ports:
    settings = get_settings()
    return aws_ports(settings.catalog_table, settings.topic_arn, retrier(pacing))


def aws_ports(table: str, topic_arn: str | None = None, calls: Retrier | None = None) -> Ports:
    """The AWS adapters on catalog ``table``, sharing one retry and pacing policy."""
    calls = calls or Retrier()
    ec2, rds = Ec2Gateway(calls), RdsGateway(calls)
    groups = AutoScalingGateway(calls)
    home = Ports(
        catalog=Catalog(table),
        ec2=ec2,
        rds=rds,
        ec2_restore=Ec2Restorer(ec2),
        rds_restore=RdsRestorer(rds),
        guards=DynamoGuardStore(table),
        alarms=CloudWatchAlarms(calls),
        executions=StepFunctions(),
        metrics=CloudWatchMetrics(),
        notifier=Notifier(topic_arn) if topic_arn else None,
        drills=DrillOps(ec2, rds),
        cluster_drills=ClusterDrillOps(rds),
        copies=partial(_copy_ops, calls),
        home_region=home_region(),
        autoscaling=groups,
        groups=groups,
        endpoints=EndpointGateway(calls),
        evacuation=EvacuationOps(calls),
        scripts=SsmScripts(),
        volumes=VolumeOps(ec2),
    )
    home.regional = partial(_in_region, home, calls)
    return home


def _in_region(home: Ports, calls: Retrier, region: str) -> Ports:
    """``home``'s ports with EC2 and RDS (and the restore adapters) of ``region``."""
    ec2 = Ec2Gateway(calls, ec2=client("ec2", region), elbv2=client("elbv2", region))
    rds = RdsGateway(calls, rds=client("rds", region))
    groups = AutoScalingGateway(calls, client("autoscaling", region), ec2=client("ec2", region))
    return replace(
        home,
        ec2=ec2,
        rds=rds,
        ec2_restore=Ec2Restorer(ec2),
        rds_restore=RdsRestorer(rds),
        autoscaling=groups,
        groups=groups,
        regional=None,
        home_region=home.home_region,
    )


def _copy_ops(calls: Retrier, region: str) -> CopyOps:
    return CopyOps(region, calls)


def reset() -> None:
    """Forget cached settings and adapters (local mode redeploys; tests)."""
    _cached_ports.cache_clear()
    clear_cache()


def create_ports(express_since: float | None = None) -> tuple[Ports, SharedPacing]:
    """Adapters for one create task (one of the Map's iterations), its calls on the shared pace
    of the home region; the pacing is returned too (the task reserves its batch's create calls
    through it, and stops for its state machine's ``Wait`` when they come later). In an Express
    child (its task there since ``express_since``), it waits in the state machine for a second
    or more and only as long as the child lives (:mod:`lifeboat.backup.pace`)."""
    pacing = shared_pacing(defer=True)
    if express_since is not None:
        not_after, deadline = express_budget(express_since)
        pacing = replace(
            pacing, inline_wait=EXPRESS_INLINE_WAIT, not_after=not_after, deadline=deadline
        )
    return _ports(pacing), pacing


def copy_pump_ports() -> tuple[Ports, Callable[[str], SharedPacing]]:
    """Adapters for one copy pump: each destination's copy calls (and deletes of failed copies)
    paced by the stack's shared buckets of that region, which the pump reserves through (it
    waits for none of them: :mod:`lifeboat.copies.pace`); the region's pacing is returned too."""
    pacings: dict[str, SharedPacing] = {}

    def pacing(region: str) -> SharedPacing:
        if region not in pacings:
            pacings[region] = replace(shared_pacing(region), inline_wait=PUMP_INLINE_WAIT)
        return pacings[region]

    def copies(region: str) -> CopyOps:
        return CopyOps(region, retrier(pacing(region)))

    return replace(ports(), copies=copies), pacing


def guard_config() -> GuardConfig:
    return GuardConfig.from_environment()


def guardrails() -> Guardrails:
    return Guardrails(ports().guards, ports().catalog, guard_config())


def prune_pass_ports(region: str) -> tuple[Ports, SharedPacing]:
    """Adapters for one pass of the prune machine over ``region``: its delete calls paced by
    the stack's shared buckets of that region (:mod:`lifeboat.pace`), reserved a chunk at a
    time; the pacing is returned too (the pass reserves through it)."""
    pacing = shared_pacing(region, defer=True)
    return _ports(pacing), pacing


def launch_ports(region: str | None = None) -> tuple[Ports, SharedPacing]:
    """Adapters for one task that launches (a restore's, a drill copy's, an evacuation
    member's RunInstances; a volume restore's CreateVolume), its calls on the shared pace of
    ``region`` (default: home), the region it launches in; the pacing is returned too (the task
    reserves its call through it, and stops for its state machine's ``Wait`` when the call
    comes later). Built per invocation: the reservation is the task's own."""
    pacing = shared_pacing(region, defer=True)
    return _ports(pacing), pacing


def storm_config() -> StormConfig | None:
    """The alarm router's storm settings (None: no evacuate state machine to start)."""
    settings = get_settings()
    if not settings.evacuate_state_machine_arn:
        return None
    return StormConfig(
        settings.evacuate_state_machine_arn,
        settings.alarm_storm_window_minutes,
        settings.auto_evacuate,
    )
