"""Backup plans and rules (docs/concepts/plans.md), validated with pydantic.

A plan is selected by resources through the ``lifeboat:plan`` tag and has one or more rules.
Plans ship inside the package (``plans.yaml``) so the Lambdas, the CLI and the template tests
read the same declaration.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lifeboat.apps.models import Application
from lifeboat.cron_gaps import clock_shift_seconds, hour_field_gap, week_gap
from lifeboat.errors import InvalidInputError
from lifeboat.scripts.models import Scripts, scripts_for_kinds

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
_CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
_RATE = re.compile(r"^rate\(\d+ (minute|minutes|hour|hours|day|days)\)$")


class Kind(StrEnum):
    AMI = "ami"
    EBS = "ebs"
    RDS = "rds"
    # An Auto Scaling group's point: an AMI of one member plus the group's launch template data
    # and settings (docs: Concepts, Auto Scaling groups). Rules with ``ami`` back groups up too.
    ASG = "asg"


class Retention(BaseModel):
    """Grandfather-father-son retention: keep the newest point of each of the last N periods."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hourly: int = Field(0, ge=0, le=10_000)
    daily: int = Field(0, ge=0, le=10_000)
    weekly: int = Field(0, ge=0, le=10_000)
    monthly: int = Field(0, ge=0, le=10_000)
    yearly: int = Field(0, ge=0, le=1_000)


REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"
_KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:(key|alias)/.+$")


class CopyTarget(BaseModel):
    """A copy of each completed point in another region (docs/concepts/copies.md):
    re-encrypted with ``kms_key`` of that region, kept by its own ``retention``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    region: str = Field(pattern=REGION_PATTERN, description="destination region, e.g. us-west-2")
    kms_key: str = Field(
        min_length=1,
        max_length=2048,
        description="key of the destination region: alias/NAME, a key id or a key/alias ARN",
    )
    retention: Retention

    @field_validator("kms_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if value.startswith("arn:") and not _KMS_ARN.match(value):
            raise ValueError("not a KMS key or alias ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)")
        if "alias/aws/" in value:
            raise ValueError(
                "an AWS managed key (alias/aws/ebs, alias/aws/rds) serves one service only, and "
                "a rule's copies are EBS and RDS: give a customer managed key of that region"
            )
        return value

    @model_validator(mode="after")
    def _key_in_region(self) -> CopyTarget:
        found = _KMS_ARN.match(self.kms_key)
        if found and found.group("region") != self.region:
            raise ValueError(
                f"kms_key is in {found.group('region')}, not {self.region}: a copy is encrypted "
                f"with a key of its destination region"
            )
        return self


class Lock(BaseModel):
    """EBS Snapshot Lock on a rule's completed snapshots (docs/concepts/immutability.md).

    ``compliance`` cannot be shortened or removed by anyone, the account root included, once
    its cool-off ends: it needs ``i_understand_compliance_mode: true``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["governance", "compliance"]
    days: int = Field(ge=1, le=36_500, description="how long each snapshot stays locked")
    cool_off_hours: int = Field(
        0, ge=0, le=72, description="compliance only: hours during which it can still be undone"
    )
    i_understand_compliance_mode: bool = False

    @model_validator(mode="after")
    def _acknowledged(self) -> Lock:
        if self.mode == "compliance" and not self.i_understand_compliance_mode:
            raise ValueError(
                "compliance mode can never be shortened or removed, not even by the account "
                "root, and the snapshots are billed until it ends: set "
                "i_understand_compliance_mode: true to confirm, or use mode: governance"
            )
        if self.mode == "governance" and self.cool_off_hours:
            raise ValueError("cool_off_hours applies to compliance mode only; remove it")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schedule: str = Field(description="EventBridge Scheduler expression: cron(...) or rate(...)")
    timezone: str = Field(description="IANA timezone of the schedule and of retention periods")
    kinds: tuple[Kind, ...] = Field(min_length=1)
    retention: Retention
    exclude_boot_volume: bool = False
    copy_to: tuple[CopyTarget, ...] = Field((), max_length=3, description="at most 3 regions")
    lock: Lock | None = None
    # Pre and post scripts around the create calls (docs/concepts/consistency.md).
    scripts: Scripts | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not (_CRON.match(value) or _RATE.match(value)):
            raise ValueError(
                "must be 'cron(min hour day-of-month month day-of-week year)' or "
                "'rate(N minutes|hours|days)', e.g. 'cron(45 2 * * ? *)'"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}, e.g. 'Europe/London'") from exc
        return value

    @field_validator("kinds")
    @classmethod
    def _unique(cls, value: tuple[Kind, ...]) -> tuple[Kind, ...]:
        if len(set(value)) != len(value):
            raise ValueError("kinds must not repeat")
        return value

    @field_validator("lock")
    @classmethod
    def _lockable(cls, value: Lock | None, info: ValidationInfo) -> Lock | None:
        kinds = info.data.get("kinds", ())
        if value is not None and kinds and Kind.AMI not in kinds and Kind.EBS not in kinds:
            raise ValueError(
                "lock applies to EBS snapshots (kinds ami and ebs); EBS Snapshot Lock cannot "
                "lock RDS snapshots: remove lock, or add kind ami or ebs"
            )
        return value

    _scriptable = field_validator("scripts")(scripts_for_kinds)

    @field_validator("copy_to")
    @classmethod
    def _one_copy_per_region(cls, value: tuple[CopyTarget, ...]) -> tuple[CopyTarget, ...]:
        regions = [target.region for target in value]
        if len(set(regions)) != len(regions):
            raise ValueError(f"copy_to names a region twice: {regions}")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def interval_seconds(self) -> int:
        """The longest gap between two runs of this rule (used to tell that backups fail)."""
        rate = _RATE.match(self.schedule)
        if rate:
            number = int(self.schedule[5:].split()[0])
            unit = rate.group(1).rstrip("s")
            return number * {"minute": 60, "hour": 3600, "day": 86400}[unit]
        _minute, hour, dom, _month, dow, _year = self.schedule[5:-1].split()
        # A cron schedule runs on the timezone's clock: when the clocks go back, the gap
        # between two runs at the same local time grows by the shift (25 h for a daily rule).
        shift = 0 if hour == "*" else clock_shift_seconds(self.timezone)
        if dom not in ("*", "?"):
            return 31 * 86400 + shift
        if dow not in ("*", "?"):
            return week_gap(dow, hour) * 3600 + shift
        return hour_field_gap(hour) * 3600 + shift


# A URL path that is safe inside single quotes in a shell command (no quote, no space).
_URL_PATH = r"^/[A-Za-z0-9._~!$&()*+,;=:@%/?-]{0,1023}$"
Command = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class HttpCheck(BaseModel):
    """An HTTP request the drill copy makes to itself (``127.0.0.1``): no route to production
    is needed, nor one from the drill's own network."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str = Field("/", pattern=_URL_PATH, description="e.g. /healthz")
    port: int = Field(80, ge=1, le=65535)
    expect_status: int = Field(200, ge=100, le=599)

    def command(self) -> str:
        """curl, on the copy: the status code is printed (the check's output) and compared
        (no ``-f``, so that any expected status, 401 or 302 say, can pass)."""
        url = f"http://127.0.0.1:{self.port}{self.path}"
        return (
            f"code=$(curl -sS -o /dev/null -w '%{{http_code}}' --max-time 10 '{url}'); "
            f'echo "GET {url}: HTTP $code (expected {self.expect_status})"; '
            f'test "$code" = "{self.expect_status}"'
        )


class SsmCheck(BaseModel):
    """Shell commands run on the drill copy as root (SSM's ``AWS-RunShellScript``); the check
    passes when the last one exits 0."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    commands: tuple[Command, ...] = Field(min_length=1, max_length=50)


class AppCheck(BaseModel):
    """A tier's application-level health check, run with SSM on each drill copy of the tier
    once its status checks pass: exactly one of ``http`` or ``ssm``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    http: HttpCheck | None = None
    ssm: SsmCheck | None = None
    timeout_seconds: int = Field(60, ge=30, le=900, description="one run of the check, at most")

    @model_validator(mode="after")
    def _exactly_one(self) -> AppCheck:
        if (self.http is None) == (self.ssm is None):
            raise ValueError("give exactly one of 'http' or 'ssm'")
        return self

    def commands(self) -> list[str]:
        if self.http is not None:
            return [self.http.command()]
        return list(self.ssm.commands) if self.ssm is not None else []


class DrillRule(BaseModel):
    """A plan's restore drill: when it runs, what it samples, where it may launch.

    Placement is by tag, never by a production id: a drill launches instances only into subnets
    and security groups tagged ``lifeboat:drill-tier=<tier>`` (the tier of the original's
    subnet; ``db`` for databases), in another AZ than the original, and restores databases into
    the DB subnet group ``db_subnet_group``. IAM allows nothing else (template.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schedule: str = Field(description="EventBridge Scheduler expression: cron(...) or rate(...)")
    timezone: str = Field(description="IANA timezone of the schedule")
    sample: dict[Name, int] = Field(
        default_factory=dict,
        description="at most N instances per tier (the others are skipped); absent: all",
    )
    db_subnet_group: str = Field(
        "lifeboat-drill",
        pattern=r"^lifeboat-drill[a-z0-9._-]{0,240}$",
        description="named lifeboat-drill*: IAM lets drills restore into no other",
    )
    databases: bool = Field(True, description="also drill the plan's databases")
    checks: dict[Name, AppCheck] = Field(
        default_factory=dict,
        description="per tier: an application check of its instances' copies (needs the "
        "stack's DrillInstanceProfileArn); absent: status checks only",
    )

    _schedule = field_validator("schedule")(Rule._schedule.__func__)  # type: ignore[attr-defined]
    _timezone = field_validator("timezone")(Rule._timezone.__func__)  # type: ignore[attr-defined]

    @field_validator("sample")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        if any(n < 0 or n > 1000 for n in value.values()):
            raise ValueError("sample sizes must be between 0 and 1000")
        return value


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str = ""
    min_keep: int = Field(3, ge=1, le=1000)
    fallback_instance_types: tuple[str, ...] = Field(
        (), description="tried in order when a restore meets InsufficientInstanceCapacity"
    )
    rules: dict[Name, Rule] = Field(min_length=1)
    drill: DrillRule | None = None
    # Points of an instance or group that no longer exists are kept by the rule's retention for
    # this many days after it disappeared (min_keep included), then expire.
    decommissioned_days: int = Field(90, ge=0, le=3650)
    # Applications recovered as one unit (docs: Concepts, Applications); the shape is a contract.
    applications: dict[Name, Application] = Field(default_factory=dict)


class PlanSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    plans: dict[Name, Plan] = Field(min_length=1)

    def copy_regions(self) -> list[str]:
        """Every region some rule copies to (the copier's destinations)."""
        return sorted(
            {t.region for p in self.plans.values() for r in p.rules.values() for t in r.copy_to}
        )

    def copy_target(self, plan: str, rule: str, region: str) -> CopyTarget | None:
        found = self.plans.get(plan)
        targets = found.rules[rule].copy_to if found and rule in found.rules else ()
        return next((t for t in targets if t.region == region), None)

    def plan(self, plan: str) -> Plan:
        """Return the plan, or raise an error naming the field and the choices."""
        if plan not in self.plans:
            raise InvalidInputError(
                "plan", f"unknown plan {plan!r}; declared plans: {sorted(self.plans)}"
            )
        return self.plans[plan]

    def rule(self, plan: str, rule: str) -> tuple[Plan, Rule]:
        """Return the plan and rule, or raise an error naming the field and the choices."""
        found = self.plan(plan)
        if rule not in found.rules:
            raise InvalidInputError(
                "rule", f"plan {plan!r} has no rule {rule!r}; its rules: {sorted(found.rules)}"
            )
        return found, found.rules[rule]

    def rule_names(self, plan: str, rule: str | None) -> list[str]:
        """The rules a command applies to (one, or all of the plan), validated."""
        if rule is not None:
            self.rule(plan, rule)
            return [rule]
        return sorted(self.plan(plan).rules)


def parse_plans(data: Any) -> PlanSet:
    return PlanSet.model_validate(data)


def load_plans_file(path: Path) -> PlanSet:
    return parse_plans(yaml.safe_load(path.read_text(encoding="utf-8")))


def default_plans() -> PlanSet:
    """The plans shipped with this deployment (``lifeboat/plans.yaml``), or those of the file
    named by ``LIFEBOAT_PLANS_FILE`` (the benchmark's; never set in a deployed stack)."""
    return _plans(os.environ.get("LIFEBOAT_PLANS_FILE"))


@cache
def _plans(path: str | None) -> PlanSet:
    """The plans; a bad file is one :class:`InvalidInputError` naming the first bad field and
    its fix (every command that loads the plans then exits 2, with one line)."""
    where = path or "lifeboat/plans.yaml"
    try:
        if path:
            return load_plans_file(Path(path))
        text = resources.files("lifeboat").joinpath("plans.yaml").read_text(encoding="utf-8")
        return parse_plans(yaml.safe_load(text))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "plans"
        message = str(err["msg"]).removeprefix("Value error, ")
        raise InvalidInputError(f"{where}: {field}", message) from exc
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInputError(where, f"cannot be read as YAML: {exc}".replace("\n", " ")) from exc
