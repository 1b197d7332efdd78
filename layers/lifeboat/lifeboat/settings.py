"""Environment of the Lambda functions, validated once at cold start (domain code never reads
``os.environ``)."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lifeboat.errors import InvalidInputError


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    catalog_table: str = Field(alias="CATALOG_TABLE", min_length=3)
    topic_arn: str = Field(alias="TOPIC_ARN", pattern=r"^arn:aws[a-z-]*:sns:")
    stack_name: str = Field("lifeboat", alias="LIFEBOAT_STACK_NAME")
    batch_size: int = Field(25, alias="BATCH_SIZE", ge=1, le=200)
    run_record_days: int = Field(35, alias="RUN_RECORD_DAYS", ge=1, le=400)
    max_local_retries: int = Field(6, alias="MAX_LOCAL_RETRIES", ge=0, le=20)
    retry_base_seconds: float = Field(1.0, alias="RETRY_BASE_SECONDS", ge=0, le=60)
    pace_share: float = Field(0.8, alias="PACE_SHARE", gt=0, le=1)
    pace_burst_share: float = Field(1.0, alias="PACE_BURST_SHARE", ge=0, le=1)
    pace_time_scale: float = Field(1.0, alias="PACE_TIME_SCALE", ge=0, le=1)
    # Benchmark only: the emulator runs AWS's refill rates this many times faster (and so
    # does the shared pace), so that a 10,000-point prune is measured in minutes.
    pace_rate_scale: float = Field(1.0, alias="PACE_RATE_SCALE", ge=1, le=1000)
    # Set by Lambda itself: a task weighs sleeping for its pace against a Wait state by it.
    memory_mb: int = Field(512, alias="AWS_LAMBDA_FUNCTION_MEMORY_SIZE", ge=128, le=10_240)
    cooldown_minutes: int = Field(30, alias="COOLDOWN_MINUTES", ge=0, le=24 * 60)
    max_concurrent_auto_restores: int = Field(2, alias="MAX_CONCURRENT_AUTO_RESTORES", ge=1, le=50)
    max_auto_restores_per_hour: int = Field(5, alias="MAX_AUTO_RESTORES_PER_HOUR", ge=1, le=500)
    breaker_threshold: int = Field(3, alias="BREAKER_THRESHOLD", ge=1, le=50)
    alarm_periods: int = Field(3, alias="ALARM_EVALUATION_PERIODS", ge=1, le=30)
    alarm_instance_check: bool = Field(False, alias="ALARM_INSTANCE_CHECK")
    restore_state_machine_arn: str = Field("", alias="RESTORE_STATE_MACHINE_ARN")
    copier_state_machine_arn: str = Field("", alias="COPIER_STATE_MACHINE_ARN")
    evacuate_state_machine_arn: str = Field("", alias="EVACUATE_STATE_MACHINE_ARN")
    auto_evacuate: bool = Field(False, alias="AUTO_EVACUATE")
    alarm_storm_window_minutes: int = Field(5, alias="ALARM_STORM_WINDOW_MINUTES", ge=1, le=60)
    recycle_bin_days: int = Field(0, alias="RECYCLE_BIN_DAYS", ge=0, le=365)
    lock_max_days: int = Field(0, alias="SNAPSHOT_LOCK_MAX_DAYS", ge=0, le=36_500)
    instance_health_minutes: int = Field(60, alias="INSTANCE_HEALTH_DEADLINE_MINUTES", ge=5, le=420)
    database_health_minutes: int = Field(
        360, alias="DATABASE_HEALTH_DEADLINE_MINUTES", ge=30, le=420
    )
    drill_instance_profile_arn: str = Field(
        "",
        alias="DRILL_INSTANCE_PROFILE_ARN",
        pattern=r"^$|^arn:aws[a-z-]*:iam::[0-9]{12}:instance-profile/[A-Za-z0-9+=,.@_/-]+$",
    )


def get_settings() -> Settings:
    """Read and validate the environment; a missing or bad variable is named in the error.

    Cached per value of the variables it reads: on AWS once per cold start; in local mode, where
    every function's handler runs in one process with its own environment, once per function."""
    return _settings(tuple((name, os.environ.get(name)) for name in _VARIABLES))


_VARIABLES = tuple(
    str(info.alias) for info in Settings.model_fields.values() if info.alias is not None
)


@lru_cache(maxsize=32)
def _settings(variables: tuple[tuple[str, str | None], ...]) -> Settings:
    try:
        return Settings.model_validate({k: v for k, v in variables if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(field, f"environment variable {first['msg']}") from exc


def clear_cache() -> None:
    """Forget the validated settings (tests, local mode's redeploys)."""
    _settings.cache_clear()
