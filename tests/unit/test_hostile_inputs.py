"""Inputs that cannot hurt (issue 12): every handler, given inputs generated from its pydantic
model plus hostile values, either rejects the input with ``InvalidInputError`` naming the field
and with nothing changed, or accepts it harmlessly (a JSON-able result, or one of Lifeboat's own
typed refusals). Runs the real handlers against moto in-process (``mock_aws``: no sockets)."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from lifeboat.alarms import AlarmStateChange, SyncRequest
from lifeboat.errors import InvalidInputError, LifeboatError
from lifeboat.models import BackupInput, BeginEvent, CheckEvent, CreateBatchEvent, FinalizeEvent
from lifeboat.prune import PruneRequest
from lifeboat.restore import RestoreInput, TaskEvent

pytestmark = pytest.mark.unit
FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
EXAMPLES = int(os.environ.get("LIFEBOAT_PROPERTY_EXAMPLES", "200"))
TABLE = "lifeboat-catalog"
HOSTILE: list[Any] = [
    "",
    " ",
    "\x00",
    "\u202e\ufeff",
    "../../etc/passwd",
    "'; DROP TABLE x; --",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "A" * 5000,
    "i-*",
    "*",
    "i-0123456789abcdef0",
    "arn:aws:states:us-east-1:123456789012:execution:x:y",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-02-30T00:00:00Z",
    "1e309",
    -1,
    0,
    2**63,
    10**40,
    1.5,
    True,
    [],
    {},
    None,
    [None],
    {"$ref": "#"},
]
hostile = st.sampled_from(HOSTILE)
# Valid values of fields whose pattern alone rarely reaches the code behind validation
KNOWN: dict[str, list[Any]] = {
    "plan": ["standard", "standard-eu"],
    "rule": ["daily", "hourly", "weekly"],
    "run_id": ["20261127T0245Z-standard-daily", "x"],
    "alarmName": ["lifeboat-standard-i-0123456789abcdef0-system", "lifeboat-x-i-1-instance"],
    "value": ["ALARM", "OK"],
    "type": ["instance", "db", "cluster"],
    "id": ["i-0123456789abcdef0", "elearn-db", "i-*"],
    "instance_id": ["i-0123456789abcdef0"],
    "db_instance_id": ["elearn-db"],
    "scheduled_time": ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"],
    "restore_time": ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"],
    "start_time": ["2026-11-27T02:45:00Z", "0001-01-01T00:00:00+14:00", "now"],
    "execution_arn": ["arn:aws:states:us-east-1:123456789012:execution:x:y", "x"],
    "Id": ["arn:aws:states:us-east-1:123456789012:execution:x:y", "x"],
    "Name": ["restore-1", "x" * 81],
    "StartTime": ["2026-11-27T02:45:00Z", "0001-01-01T00:00:00+14:00", "now"],
}


def _from_schema(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> Any:
    """A strategy for JSON values of ``schema`` (a pydantic JSON schema), mixed with hostile
    values at every level."""
    if "$ref" in schema:
        return _from_schema(defs[schema["$ref"].split("/")[-1]], defs, depth)
    if "anyOf" in schema:
        return st.one_of([_from_schema(s, defs, depth) for s in schema["anyOf"]])
    kind = schema.get("type")
    base: Any
    if "enum" in schema:
        base = st.sampled_from(schema["enum"])
    elif "const" in schema:
        base = st.just(schema["const"])
    elif kind == "string" and "pattern" in schema:
        base = st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) < 300)
    elif kind == "string" and schema.get("format") == "date-time":
        base = st.datetimes(timezones=st.sampled_from([None, *_zones()])).map(
            lambda d: d.isoformat()
        )
    elif kind == "string":
        base = st.text(max_size=40)
    elif kind == "integer":
        base = st.integers(schema.get("minimum", -(2**40)), schema.get("maximum", 2**40))
    elif kind == "number":
        base = st.floats(allow_nan=False, allow_infinity=False)
    elif kind == "boolean":
        base = st.booleans()
    elif kind == "null":
        base = st.none()
    elif kind == "array" and depth < 3:
        items = _from_schema(schema.get("items", {}), defs, depth + 1)
        base = st.lists(items, max_size=3)
    elif kind == "object" and depth < 3 and "properties" in schema:
        base = _object(schema, defs, depth + 1)
    else:
        base = st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=2)
                | st.dictionaries(st.text(max_size=5), inner, max_size=2)
            ),
            max_leaves=4,
        )
    return st.one_of(base, base, base, hostile)


def _zones() -> list[Any]:
    from datetime import UTC, timedelta, timezone

    return [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12, minutes=-30))]


def _object(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> Any:
    required = set(schema.get("required", []))
    props = {
        k: st.one_of(_from_schema(v, defs, depth), st.sampled_from(KNOWN[k]))
        if k in KNOWN
        else _from_schema(v, defs, depth)
        for k, v in schema["properties"].items()
    }
    optional = {k: v for k, v in props.items() if k not in required}
    must = {k: v for k, v in props.items() if k in required}
    extra = st.dictionaries(st.sampled_from(["colour", "__proto__", "trigger", "x" * 50]), hostile)
    return st.builds(
        lambda a, b, c: {**a, **b, **c},
        st.fixed_dictionaries(must, optional=optional),
        st.just({}) | extra,
        st.just({}) | st.just({}) | st.just({}) | extra,
    )


def events_of(model: type[BaseModel], nested: dict[str, type[BaseModel]] | None = None) -> Any:
    schema = model.model_json_schema()
    defs = dict(schema.get("$defs", {}))
    for field, sub in (nested or {}).items():
        sub_schema = sub.model_json_schema()
        defs.update(sub_schema.pop("$defs", {}))
        schema["properties"][field] = sub_schema
    events = _object(schema, defs, 0)
    return st.one_of(events, events, events, events, hostile)


class RestoreExecution(BaseModel):
    """``$$.Execution`` as a restore task receives it, with the restore's input as ``Input``."""

    Id: str
    Name: str
    StartTime: str
    Input: RestoreInput


STEP: dict[str, type[BaseModel]] = {"execution": RestoreExecution}
CASES: list[tuple[str, Any]] = [
    ("alarm_router", events_of(AlarmStateChange)),
    ("backup_begin", events_of(BeginEvent, {"input": BackupInput})),
    ("backup_check", events_of(CheckEvent)),
    ("backup_create", events_of(CreateBatchEvent)),
    ("backup_finalize", events_of(FinalizeEvent)),
    ("prune", events_of(PruneRequest)),
    ("sync_alarms", events_of(SyncRequest)),
    ("restore_begin", events_of(TaskEvent, STEP)),
]


def _handler(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hostile_{name}", FUNCTIONS / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    """Moto in-process with the catalog table and topic: no sockets."""
    from moto import mock_aws

    from lifeboat import runtime
    from lifeboat.aws.clients import client, reset_clients

    patch = pytest.MonkeyPatch()
    patch.delenv("AWS_ENDPOINT_URL", raising=False)
    patch.delenv("AWS_PROFILE", raising=False)
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CATALOG_TABLE": TABLE,
        "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:lifeboat",
        "RESTORE_STATE_MACHINE_ARN": (
            "arn:aws:states:us-east-1:123456789012:stateMachine:lifeboat-restore"
        ),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "LifeboatTest",
        "RETRY_BASE_SECONDS": "0",
        "PACE_TIME_SCALE": "0",
    }.items():
        patch.setenv(key, value)
    from lifeboat.observability import metrics

    patch.setattr(metrics.provider, "namespace", "LifeboatTest")  # read at import otherwise
    reset_clients()
    runtime.reset()
    with mock_aws():
        keys = [("pk", "HASH"), ("sk", "RANGE")]
        client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
            AttributeDefinitions=[
                {"AttributeName": a, "AttributeType": "S"}
                for a in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": index,
                    "KeySchema": [
                        {"AttributeName": f"{index}pk", "KeyType": "HASH"},
                        {"AttributeName": f"{index}sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index in ("gsi1", "gsi2")
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client("sns").create_topic(Name="lifeboat")
        yield {"client": client}
    reset_clients()
    runtime.reset()
    patch.undo()


def _state(aws: dict[str, Any]) -> str:
    client = aws["client"]
    items = client("dynamodb").scan(TableName=TABLE)["Items"]
    ec2 = client("ec2")
    return json.dumps(
        {
            "items": sorted(json.dumps(i, sort_keys=True) for i in items),
            "images": len(ec2.describe_images(Owners=["self"])["Images"]),
            "snapshots": len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]),
            "alarms": len(client("cloudwatch").describe_alarms()["MetricAlarms"]),
        },
        sort_keys=True,
    )


@pytest.mark.parametrize(("name", "events"), CASES, ids=[c[0] for c in CASES])
def test_every_input_is_rejected_naming_the_field_or_accepted_harmlessly(
    name: str, events: Any, aws: dict[str, Any], lambda_context: Any
) -> None:
    handler = _handler(name).lambda_handler

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(event=events)
    def check(event: Any) -> None:
        before = _state(aws)
        try:
            result = handler(event, lambda_context)
        except InvalidInputError as exc:
            assert exc.field and exc.message, exc
            assert _state(aws) == before, f"rejected ({exc}) but something changed"
            return
        except LifeboatError:
            return  # one of Lifeboat's typed refusals (the state machine catches them by name)
        json.dumps(result)

    check()


@pytest.mark.parametrize(
    ("name", "event", "field"),
    [
        (
            "backup_begin",
            {
                "input": {
                    "plan": "standard",
                    "rule": "daily",
                    "scheduled_time": "0001-01-01T00:00:00+14:00",  # was an OverflowError
                },
                "execution_name": "e",
                "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:b:e",
                "start_time": "2026-11-27T02:45:00Z",
            },
            "scheduled_time",
        ),
        (
            "backup_begin",
            {
                "input": {"plan": "standard", "rule": "daily"},
                "execution_name": "e",
                "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:b:e",
                "start_time": "now",  # was a ValueError
            },
            "start_time",
        ),
        ("backup_finalize", {"run_id": "A" * 3000}, "run_id"),  # was a DynamoDB key error
        ("backup_check", {"run_id": "x", "attempt": 10**40}, "attempt"),
        ("sync_alarms", {"plan": "standard", "rule": "daily", "batches": []}, "batches"),
        ("sync_alarms", {"plan": "standard", "batches": [[]]}, "rule"),
    ],
)
def test_known_crashing_inputs_are_rejected_naming_the_field(
    name: str, event: dict[str, Any], field: str, aws: dict[str, Any], lambda_context: Any
) -> None:
    before = _state(aws)
    with pytest.raises(InvalidInputError) as err:
        _handler(name).lambda_handler(event, lambda_context)
    assert err.value.field.split(".")[-1] == field or err.value.field.startswith(field), err.value
    assert _state(aws) == before
