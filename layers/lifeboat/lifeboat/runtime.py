"""Wiring for the Lambda handlers: settings and adapters built once per cold start."""

from __future__ import annotations

import time
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
from lifeboat.guardrails import GuardConfig, Guardrails
from lifeboat.models import CreateBatchEvent
from lifeboat.pace import SharedPacing
from lifeboat.pacing import Pacer, Pacing, RunSchedule
from lifeboat.ports import Ports
from lifeboat.settings import Settings, clear_cache, get_settings


def pacer(tasks: int = 1, start_empty: bool = False) -> Pacer:
    """One bucket per API at ``PACE_SHARE`` of AWS's rates, split between ``tasks`` running at
    once (sleeps compressed in local mode)."""
    settings = get_settings()
    scale = settings.pace_time_scale
    return Pacer(
        share=settings.pace_share / tasks,
        start_empty=start_empty,
        sleep=lambda seconds: time.sleep(seconds * scale),
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
    return _ports(pacer())


def retrier(pacing: Pacing | None = None) -> Retrier:
    """Lifeboat's retry policy, pacing with ``pacing`` (default: :func:`pacer`)."""
    settings = get_settings()
    return Retrier(
        attempts=settings.max_local_retries,
        base_seconds=settings.retry_base_seconds,
        pacer=pacing or pacer(),
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


SCHEDULED_APIS = frozenset({"CreateImage", "CreateSnapshots"})


def create_ports(event: CreateBatchEvent) -> Ports:
    """Adapters for one create task (one of the Map's iterations). Its ``CreateImage`` and
    ``CreateSnapshots`` calls follow the run's schedule (:class:`~lifeboat.pacing.RunSchedule`:
    batch ``b``'s instances own call numbers ``b × batch size`` onwards), so the run as a whole
    keeps to ``PACE_SHARE`` of EC2's refill after spending ``PACE_BURST_SHARE`` of its burst,
    whichever tasks run when. Anything else (database snapshots, retried attempts) goes through
    the task's own bucket: ``PACE_SHARE`` split between ``CREATE_CONCURRENCY`` tasks, no burst."""
    settings = get_settings()
    batch_size = event.batch_size or settings.batch_size
    catalog = Catalog(settings.catalog_table)
    instances = sum(1 for r in event.resources if r.type in ("instance", "asg"))
    schedule = RunSchedule(
        claim_start=lambda: catalog.claim_create_start(event.run_id, time.time()),
        first_slot=event.batch_index * batch_size,
        slots=instances,
        apis=SCHEDULED_APIS,
        fallback=pacer(settings.create_concurrency, start_empty=True),
        share=settings.pace_share,
        burst_share=settings.pace_burst_share,
        time_scale=settings.pace_time_scale,
    )
    return _ports(schedule)


def guard_config() -> GuardConfig:
    return GuardConfig.from_environment()


def guardrails() -> Guardrails:
    return Guardrails(ports().guards, ports().catalog, guard_config())


def prune_pass_ports(region: str) -> tuple[Ports, SharedPacing]:
    """Adapters for one pass of the prune machine over ``region``: its delete calls paced by
    the stack's shared buckets of that region (:mod:`lifeboat.pace`), reserved a chunk at a
    time; the pacing is returned too (the pass reserves through it)."""
    settings = get_settings()
    catalog = Catalog(settings.catalog_table)
    pacing = SharedPacing(
        reserve_calls=catalog.reserve_pace,
        region=region,
        share=settings.pace_share,
        time_scale=settings.pace_time_scale,
        rate_scale=settings.pace_rate_scale,
    )
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
