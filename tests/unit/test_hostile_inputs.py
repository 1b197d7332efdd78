"""Inputs that cannot hurt (issue 12): every handler, given inputs generated from its pydantic
model plus hostile values, either rejects the input with ``InvalidInputError`` naming the field
and with nothing changed, or accepts it harmlessly (a JSON-able result, or one of Lifeboat's own
typed refusals). The real handlers run twice: on the in-memory ports (unit tier, 200 examples
each) and against moto in-process (``mock_aws``, no sockets; integration tier, fewer examples),
so what the fakes let through the real adapters are also asked about."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from lifeboat.alarms import AlarmStateChange, SyncRequest
from lifeboat.drill import DrillInput, DrillTaskEvent
from lifeboat.errors import InvalidInputError, LifeboatError
from lifeboat.models import BackupInput, BeginTask, CheckTask, CreateTask, FinalizeTask
from lifeboat.prune import PruneRequest
from lifeboat.restore import RestoreInput, TaskEvent
from tests.fakes.ports import fake_ports

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
EXAMPLES = int(os.environ.get("LIFEBOAT_PROPERTY_EXAMPLES", "200"))
MOTO_EXAMPLES = int(os.environ.get("LIFEBOAT_PROPERTY_EXAMPLES_MOTO", "15"))
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
    # $$.Execution, in the tasks' events
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
    base = _scalar(schema)
    if base is None:
        base = _container(schema, defs, depth)
    return st.one_of(base, base, base, hostile)


def _string(schema: dict[str, Any]) -> Any:
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) < 300)
    if schema.get("format") == "date-time":
        return st.datetimes(timezones=st.sampled_from([None, *_zones()])).map(
            lambda d: d.isoformat()
        )
    return st.text(max_size=40)


SCALARS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "string": _string,
    "integer": lambda s: st.integers(s.get("minimum", -(2**40)), s.get("maximum", 2**40)),
    "number": lambda _: st.floats(allow_nan=False, allow_infinity=False),
    "boolean": lambda _: st.booleans(),
    "null": lambda _: st.none(),
}


def _scalar(schema: dict[str, Any]) -> Any:
    """A strategy for an enum, a constant or a scalar type (None: something else)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    make = SCALARS.get(str(schema.get("type")))
    return make(schema) if make is not None else None


def _container(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> Any:
    """Arrays and objects of the schema (to a depth of 3), else any small JSON value."""
    kind = schema.get("type")
    if kind == "array" and depth < 3:
        return st.lists(_from_schema(schema.get("items", {}), defs, depth + 1), max_size=3)
    if kind == "object" and depth < 3 and "properties" in schema:
        return _object(schema, defs, depth + 1)
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=5), inner, max_size=2)
        ),
        max_leaves=4,
    )


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


EXECUTION = {
    "Id": "arn:aws:states:us-east-1:123456789012:execution:b:e",
    "Name": "e",
    "StartTime": "2026-11-27T02:45:00Z",
}


class RestoreExecution(BaseModel):
    """``$$.Execution`` as a restore task receives it, with the restore's input as ``Input``."""

    Id: str
    Name: str
    StartTime: str
    Input: RestoreInput


STEP: dict[str, type[BaseModel]] = {"execution": RestoreExecution}


class DrillExecution(BaseModel):
    """``$$.Execution`` as a drill task receives it, with the drill's input as ``Input``."""

    Id: str
    Name: str
    StartTime: str
    Input: DrillInput


CASES: list[tuple[str, Any]] = [
    ("alarm_router", events_of(AlarmStateChange)),
    ("backup_begin", events_of(BeginTask, {"state": BackupInput})),
    ("backup_check", events_of(CheckTask)),
    ("backup_create", events_of(CreateTask)),
    ("backup_finalize", events_of(FinalizeTask)),
    ("prune", events_of(PruneRequest)),
    ("sync_alarms", events_of(SyncRequest)),
    ("restore_begin", events_of(TaskEvent, STEP)),
    ("drill_begin", events_of(DrillTaskEvent, {"execution": DrillExecution})),
]


def _handler(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hostile_{name}", FUNCTIONS / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def environment() -> Iterator[pytest.MonkeyPatch]:
    """The functions' environment (the same for both backends)."""
    from lifeboat import runtime
    from lifeboat.aws.clients import reset_clients

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
    yield patch
    reset_clients()
    runtime.reset()
    patch.undo()


@contextmanager
def _moto() -> Iterator[dict[str, Any]]:
    """Moto in-process with the catalog table and topic: no sockets."""
    from moto import mock_aws

    from lifeboat import runtime
    from lifeboat.aws.clients import client, reset_clients

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
        yield {"client": client, "state": _moto_state}
    reset_clients()
    runtime.reset()


@contextmanager
def _fakes(patch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The handlers' ports replaced by the in-memory fakes (one world for the whole test)."""
    from lifeboat import runtime
    from lifeboat.guardrails import Guardrails

    ports = fake_ports()
    with pytest.MonkeyPatch.context() as local:
        local.setattr(runtime, "ports", lambda: ports)
        local.setattr(runtime, "create_ports", lambda: (ports, None))
        local.setattr(
            runtime,
            "guardrails",
            lambda: Guardrails(ports.guards, ports.catalog, runtime.guard_config()),
        )
        yield {"state": lambda: _fake_state(ports)}


@pytest.fixture(
    params=[
        pytest.param("fakes", marks=pytest.mark.unit),
        pytest.param("moto", marks=pytest.mark.integration),
    ]
)
def backend(
    request: pytest.FixtureRequest, environment: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    with _fakes(environment) if request.param == "fakes" else _moto() as world:
        world["examples"] = EXAMPLES if request.param == "fakes" else MOTO_EXAMPLES
        yield world


def _fake_state(ports: Any) -> str:
    catalog, ec2, alarms, guards = ports.catalog, ports.ec2, ports.alarms, ports.guards
    return repr(
        (
            sorted((k, v.model_dump_json()) for k, v in catalog.points.items()),
            sorted(catalog.runs.items(), key=str),
            sorted(catalog.locks.items(), key=str),
            sorted(catalog.items.items(), key=str),
            sorted(ec2.amis),
            sorted(ec2.snaps),
            sorted(alarms.alarms_by_name),
            sorted(guards.slots.items()),
            sorted(guards.autos),
        )
    )


def _moto_state() -> str:
    from lifeboat.aws.clients import client

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
    name: str, events: Any, backend: dict[str, Any], lambda_context: Any
) -> None:
    handler = _handler(name).lambda_handler
    state = backend["state"]

    @settings(
        max_examples=backend["examples"],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(event=events)
    def check(event: Any) -> None:
        before = state()
        try:
            result = handler(event, lambda_context)
        except InvalidInputError as exc:
            assert exc.field and exc.message, exc
            assert state() == before, f"rejected ({exc}) but something changed"
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
                "state": {
                    "plan": "standard",
                    "rule": "daily",
                    "scheduled_time": "0001-01-01T00:00:00+14:00",  # was an OverflowError
                },
                "execution": EXECUTION,
            },
            "scheduled_time",
        ),
        (
            "backup_begin",
            {
                "state": {"plan": "standard", "rule": "daily"},
                "execution": {**EXECUTION, "StartTime": "now"},  # was a ValueError
            },
            "StartTime",
        ),
        (  # was a DynamoDB key error
            "backup_finalize",
            {"state": {"run": {"run_id": "A" * 3000}}, "execution": EXECUTION},
            "run_id",
        ),
        (
            "backup_check",
            {
                "state": {"run": {"run_id": "x"}, "poll": {"attempt": 10**40}},
                "execution": EXECUTION,
            },
            "attempt",
        ),
        ("sync_alarms", {"plan": "standard", "rule": "daily", "batches": []}, "batches"),
        ("sync_alarms", {"plan": "standard", "batches": [[]]}, "rule"),
    ],
)
def test_known_crashing_inputs_are_rejected_naming_the_field(
    name: str, event: dict[str, Any], field: str, backend: dict[str, Any], lambda_context: Any
) -> None:
    state = backend["state"]
    before = state()
    with pytest.raises(InvalidInputError) as err:
        _handler(name).lambda_handler(event, lambda_context)
    assert err.value.field.split(".")[-1] == field or err.value.field.startswith(field), err.value
    assert state() == before
