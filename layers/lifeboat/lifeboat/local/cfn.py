"""Reading template.yaml: CloudFormation's short-form tags and the intrinsic functions the
template uses (Ref, GetAtt, Sub, Join, Select, If, Equals, Not), resolved for local mode, and the
order in which its resources refer to each other."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}


class _Loader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _construct)


def load_template(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return data


class Resolver:
    """Resolves intrinsic functions against parameters, conditions and deployed resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        stack_name: str,
        region: str,
        account_id: str,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.pseudo = {
            **PSEUDO,
            "AWS::StackName": stack_name,
            "AWS::Region": region,
            "AWS::AccountId": account_id,
        }
        self.parameters: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            value = (parameters or {}).get(name, spec.get("Default"))
            if value is None:
                raise ValueError(f"parameter {name} has no default; pass a value")
            self.parameters[name] = str(value)
        self.refs: dict[str, Any] = {}
        self.attrs: dict[tuple[str, str], Any] = {}
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": lambda a: str(self.resolve(a[0])).join(str(x) for x in self.resolve(a[1])),
            "Fn::Select": lambda a: self.resolve(a[1])[int(self.resolve(a[0]))],
            "Fn::Split": lambda a: str(self.resolve(a[1])).split(str(a[0])),
            "Fn::Equals": lambda a: self.resolve(a[0]) == self.resolve(a[1]),
            "Fn::Not": lambda a: not self.resolve(a[0]),
            "Fn::If": lambda a: self.resolve(a[1] if self.condition(a[0]) else a[2]),
            "Condition": self.condition,
        }

    def _ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"Ref {name}: not deployed (yet) in local mode")

    def _get_att(self, arg: list[str]) -> Any:
        key = (arg[0], arg[1])
        if key not in self.attrs:
            raise KeyError(f"GetAtt {arg[0]}.{arg[1]}: not available in local mode")
        return self.attrs[key]

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._get_att(name.split(".", 1)))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def repo_root() -> Path:
    """The repository holding template.yaml (LIFEBOAT_ROOT, else found upwards from here)."""
    if os.environ.get("LIFEBOAT_ROOT"):
        return Path(os.environ["LIFEBOAT_ROOT"]).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "template.yaml").is_file() and (parent / "statemachines").is_dir():
            return parent
    for parent in [Path.cwd(), *Path.cwd().parents]:
        if (parent / "template.yaml").is_file():
            return parent
    raise FileNotFoundError("template.yaml not found: run from the repository or set LIFEBOAT_ROOT")


def _dependencies(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".")[0])
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
            found |= _dependencies(arg)
    elif isinstance(value, list):
        for item in value:
            found |= _dependencies(item)
    return found


def deployment_order(resources: dict[str, Any], function_globals: Any) -> list[str]:
    """Logical ids in an order where each comes after what it refers to."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise ValueError(f"circular dependency at {name}")
        visiting.add(name)
        # A SAM resource's Events become resources of their own (rules, schedules) that depend
        # on it: deployed after everything (see Deployer.deploy), not before it.
        spec = resources[name]
        if "Events" in spec.get("Properties", {}):
            properties = {k: v for k, v in spec["Properties"].items() if k != "Events"}
            spec = {**spec, "Properties": properties}
        deps = _dependencies(spec)
        if resources[name]["Type"] == "AWS::Serverless::Function":
            deps |= _dependencies(function_globals)
        for dep in sorted(deps & set(resources)):
            visit(dep)
        visiting.discard(name)
        ordered.append(name)

    for name in sorted(resources):
        visit(name)
    return ordered
