"""Each Lambda function is granted exactly the IAM actions its code can call: the union of the
``@needs`` declarations of the adapter methods reachable from its handler (tests/callgraph.py).
A new AWS call without its grant fails here, and so does a grant no code path uses."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifeboat.aws.permissions import actions_of
from tests.callgraph import FIELD_ADAPTERS, PACKAGE, ROOT, CallGraph

pytestmark = pytest.mark.unit

SERVICES = {
    "ddb": "dynamodb",
    "ec2": "ec2",
    "elbv2": "elasticloadbalancing",
    "rds": "rds",
    "sns": "sns",
    "cw": "cloudwatch",
    "sfn": "states",
    "ssm": "ssm",
    "route53": "route53",
    "autoscaling": "autoscaling",
    "arc": "arc-zonal-shift",
}


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags read as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)


def _adapters() -> dict[str, dict[str, frozenset[str]]]:
    import importlib

    found: dict[str, dict[str, frozenset[str]]] = {}
    for dotted in set(FIELD_ADAPTERS.values()):
        module, _, name = dotted.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        found[dotted] = {
            method: actions_of(fn)
            for method, fn in inspect.getmembers(cls, predicate=inspect.isfunction)
            if not method.startswith("_")
        }
    return found


ADAPTERS = _adapters()


def _granted_when_set(statement: Any) -> dict[str, Any]:
    """A statement, or the one an ``!If`` grants when its condition holds (a parameter set):
    the code can reach it, so it counts as granted."""
    if isinstance(statement, list):  # !If [condition, statement, !Ref AWS::NoValue]
        return dict(statement[1])
    return dict(statement)


def granted() -> dict[str, set[str]]:
    """Function code directory -> the actions its inline policy statements allow."""
    template = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), _CfnLoader)  # noqa: S506
    grants: dict[str, set[str]] = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        actions: set[str] = set()
        for policy in properties.get("Policies", []):
            assert "Statement" in policy, f"{properties['CodeUri']}: use inline statements"
            for statement in map(_granted_when_set, policy["Statement"]):
                assert statement["Effect"] == "Allow"
                listed = statement["Action"]
                actions |= {listed} if isinstance(listed, str) else set(listed)
        grants[Path(properties["CodeUri"]).name] = actions
    return grants


GRANTED = granted()


@pytest.fixture(scope="module")
def graph() -> CallGraph:
    return CallGraph(ADAPTERS)


@pytest.mark.parametrize("function", sorted(GRANTED))
def test_each_function_is_granted_exactly_what_its_code_can_call(
    function: str, graph: CallGraph
) -> None:
    reading = graph.read_file(ROOT / "functions" / function / "app.py")
    assert not reading.unresolved, f"calls the reading cannot type: {sorted(reading.unresolved)}"
    missing = reading.actions - GRANTED[function]
    unused = GRANTED[function] - reading.actions
    assert not missing and not unused, (
        f"{function}: missing grants {sorted(missing)}; granted but never called "
        f"{sorted(unused)} (adapter methods reached: {sorted(reading.adapter_calls)})"
    )


# Operations IAM has no action for: each of their items is authorized as its own action (a
# TransactWriteItems of Puts needs dynamodb:PutItem on the table).
AUTHORIZED_AS = {"dynamodb:TransactWriteItems": "dynamodb:PutItem"}


def _calls_in(cls: ast.ClassDef, method: ast.FunctionDef) -> set[str]:
    """The AWS operations a method's body calls (``self.<client>.<op>``, paginators, helpers
    of its own class), as IAM actions."""
    by_name = {m.name: m for m in cls.body if isinstance(m, ast.FunctionDef)}
    found: set[str] = set()
    seen: set[str] = set()
    stack = [method]
    while stack:
        current = stack.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        for node in ast.walk(current):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
                service = SERVICES.get(node.value.attr)
                if service and node.attr not in ("get_paginator", "exceptions", "meta"):
                    action = f"{service}:{_operation(node.attr)}"
                    found.add(AUTHORIZED_AS.get(action, action))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                first = node.args[0] if node.args else None
                if name in ("get_paginator", "_pages", "call") and isinstance(first, ast.Constant):
                    receiver = node.func.value
                    service = _service_of(receiver, cls)
                    found.add(f"{service}:{_operation(str(first.value))}")
                if isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
                    if name in by_name:
                        stack.append(by_name[name])
    return found


def _operation(snake: str) -> str:
    return "".join(p.capitalize() for p in snake.split("_")).replace("Db", "DB")


def _service_of(receiver: ast.expr, cls: ast.ClassDef) -> str:
    if isinstance(receiver, ast.Attribute) and receiver.attr in SERVICES:
        return SERVICES[receiver.attr]
    for prefix, service in (("Ec2", "ec2"), ("Rds", "rds"), ("AutoScaling", "autoscaling")):
        if cls.name.startswith(prefix):  # self._pages(...) in an EC2 or RDS adapter
            return service
    source = ast.unparse(cls)
    for gateway, service in (("Ec2Gateway", "ec2"), ("RdsGateway", "rds")):
        if f"gateway: {gateway}" in source:  # a restore adapter over a gateway's call()
            return service
    return next(s for attr, s in SERVICES.items() if f"self.{attr} =" in source)


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_each_adapter_method_declares_the_calls_it_makes(adapter: str) -> None:
    import importlib

    module, _, name = adapter.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    for base in cls.__mro__[:-1]:  # the adapter and the classes it builds on (not object)
        path = PACKAGE.parent.joinpath(*base.__module__.split(".")).with_suffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == base.__name__)
        for method in node.body:
            if not isinstance(method, ast.FunctionDef) or method.name.startswith("_"):
                continue
            calls = _calls_in(node, method)
            declared = ADAPTERS[adapter].get(method.name, frozenset())
            assert calls <= declared, (
                f"{base.__name__}.{method.name} calls {sorted(calls - declared)} undeclared"
            )
