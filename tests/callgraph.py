"""What AWS actions can a Lambda function's code call? A static reading of the package.

From a handler's ``lambda_handler`` it follows every call it can resolve inside the ``lifeboat``
package: module functions (through imports and re-exports), classes (their ``__init__``),
methods of ``self``, methods of objects whose class is known (a local assigned from a class or
from a function annotated to return one, a parameter annotated with a class or a port), and any
package function named without being called (callbacks). A call on an adapter — an attribute of
a ``Ports`` field (``ports.ec2.describe_instances``), the guardrails' ``self.store``, or a
variable known to hold an adapter — is not followed: the adapter method's ``@needs`` declaration
says which IAM actions it uses. A call that names an adapter method on a receiver the reading
cannot type is reported (``unresolved``) rather than guessed, so code stays checkable.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "layers" / "lifeboat" / "lifeboat"

# Ports fields (and the guardrails' attributes) -> the adapter classes behind them
FIELD_ADAPTERS = {
    "catalog": "lifeboat.aws.catalog.Catalog",
    "ec2": "lifeboat.aws.ec2.Ec2Gateway",
    "rds": "lifeboat.aws.rds.RdsGateway",
    "ec2_restore": "lifeboat.aws.restore_ops.Ec2Restorer",
    "rds_restore": "lifeboat.aws.restore_ops.RdsRestorer",
    "guards": "lifeboat.aws.guard_store.DynamoGuardStore",
    "store": "lifeboat.aws.guard_store.DynamoGuardStore",
    "alarms": "lifeboat.aws.cloudwatch.CloudWatchAlarms",
    "executions": "lifeboat.aws.stepfunctions.StepFunctions",
    "notifier": "lifeboat.aws.notify.Notifier",
    "metrics": "lifeboat.aws.metrics.CloudWatchMetrics",
    "drills": "lifeboat.aws.drill_ops.DrillOps",
    "copies": "lifeboat.aws.copy_ops.CopyOps",  # a factory: ports.copies(region)
    "autoscaling": "lifeboat.aws.autoscaling.AutoScalingGateway",
    "groups": "lifeboat.aws.autoscaling.AutoScalingGateway",
    "endpoints": "lifeboat.aws.dns.EndpointGateway",
    "evacuation": "lifeboat.aws.evacuation_ops.EvacuationOps",
    "cluster_drills": "lifeboat.aws.drill_clusters.ClusterDrillOps",
    "scripts": "lifeboat.aws.ssm_scripts.SsmScripts",
    "volumes": "lifeboat.aws.volume_ops.VolumeOps",
}
PORT_ADAPTERS = {
    "CatalogPort": FIELD_ADAPTERS["catalog"],
    "Ec2Port": FIELD_ADAPTERS["ec2"],
    "RdsPort": FIELD_ADAPTERS["rds"],
    "Ec2RestorePort": FIELD_ADAPTERS["ec2_restore"],
    "RdsRestorePort": FIELD_ADAPTERS["rds_restore"],
    "GuardStorePort": FIELD_ADAPTERS["guards"],
    "AlarmsPort": FIELD_ADAPTERS["alarms"],
    "ExecutionsPort": FIELD_ADAPTERS["executions"],
    "NotifierPort": FIELD_ADAPTERS["notifier"],
    "MetricsPort": FIELD_ADAPTERS["metrics"],
    "DrillPort": FIELD_ADAPTERS["drills"],
    "CopyPort": FIELD_ADAPTERS["copies"],
    "AutoScalingPort": FIELD_ADAPTERS["autoscaling"],
    "GroupPort": FIELD_ADAPTERS["groups"],
    "EndpointPort": FIELD_ADAPTERS["endpoints"],
    "EvacuationPort": FIELD_ADAPTERS["evacuation"],
    "ClusterDrillPort": FIELD_ADAPTERS["cluster_drills"],
    "ScriptsPort": FIELD_ADAPTERS["scripts"],
    "VolumeRestorePort": FIELD_ADAPTERS["volumes"],
}
Node = tuple[str, str]  # (module, "function" or "Class.method")


@dataclass
class Module:
    name: str
    tree: ast.Module
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)  # alias -> dotted target


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _load(path: Path, name: str) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = Module(name, tree)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            module.functions[node.name] = node
        elif isinstance(node, ast.ClassDef):
            module.classes[node.name] = node
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                module.imports[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                module.imports[alias.asname or alias.name.split(".")[0]] = alias.name
    return module


def _annotation(node: ast.expr | None) -> str | None:
    """The class name an annotation names (``X``, ``X | None``, ``"X"``)."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.split("|")[0].strip().split("[")[0]
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.BinOp):
        return _annotation(node.left)
    return None


@dataclass
class Reading:
    """The actions reachable from one entry point, and what could not be resolved."""

    actions: set[str] = field(default_factory=set)
    adapter_calls: set[str] = field(default_factory=set)
    unresolved: set[str] = field(default_factory=set)
    visited: set[Node] = field(default_factory=set)


class CallGraph:
    def __init__(self, actions_of: dict[str, dict[str, frozenset[str]]]) -> None:
        """``actions_of``: adapter class (dotted) -> method -> its declared IAM actions."""
        self.actions_of = actions_of
        self.modules: dict[str, Module] = {}
        for path in sorted(PACKAGE.rglob("*.py")):
            name = _module_name(path)
            self.modules[name] = _load(path, name)
        self.adapter_methods = {m for methods in actions_of.values() for m in methods}
        self.domain_methods: dict[str, list[Node]] = {}
        for module in self.modules.values():
            for cls in module.classes.values():
                dotted = f"{module.name}.{cls.name}"
                if dotted in actions_of:
                    continue
                for item in cls.body:
                    if isinstance(item, ast.FunctionDef):
                        self.domain_methods.setdefault(item.name, []).append(
                            (module.name, f"{cls.name}.{item.name}")
                        )

    # --- resolution ----------------------------------------------------------------------------
    def resolve(self, dotted: str, depth: int = 0) -> tuple[str, str] | None:
        """``lifeboat.x.y`` -> ("function"|"class"|"module", dotted of its definition)."""
        if depth > 10 or not dotted.startswith("lifeboat"):
            return None
        owner, _, name = dotted.rpartition(".")
        module = self.modules.get(owner)
        # A package's own name wins over its submodule of the same name (restore.begin is the
        # function restore/__init__.py re-exports, not the module restore/begin.py).
        if module is not None:
            if name in module.functions:
                return ("function", dotted)
            if name in module.classes:
                return ("class", dotted)
            if name in module.imports and module.imports[name] != dotted:
                return self.resolve(module.imports[name], depth + 1)
        if dotted in self.modules:
            return ("module", dotted)
        return None

    def _name(self, module: Module, name: str) -> tuple[str, str] | None:
        if name in module.functions:
            return ("function", f"{module.name}.{name}")
        if name in module.classes:
            return ("class", f"{module.name}.{name}")
        if name in module.imports:
            return self.resolve(module.imports[name])
        return None

    def _class_node(self, dotted: str, method: str) -> Node | None:
        owner, _, cls = dotted.rpartition(".")
        module = self.modules.get(owner)
        if module is None or cls not in module.classes:
            return None
        for item in module.classes[cls].body:
            if isinstance(item, ast.FunctionDef) and item.name == method:
                return (owner, f"{cls}.{method}")
        return None

    def _function(self, node: Node) -> ast.FunctionDef | None:
        module = self.modules[node[0]]
        if "." in node[1]:
            cls, method = node[1].split(".")
            for item in module.classes[cls].body:
                if isinstance(item, ast.FunctionDef) and item.name == method:
                    return item
            return None
        return module.functions.get(node[1])

    def _typed(self, module: Module, annotation: str | None) -> str | None:
        """The dotted class (adapter or domain) an annotation stands for."""
        if annotation is None:
            return None
        if annotation in PORT_ADAPTERS:
            return PORT_ADAPTERS[annotation]
        found = self._name(module, annotation)
        return found[1] if found and found[0] == "class" else None

    # --- walking -------------------------------------------------------------------------------
    def read(self, module_name: str, function: str) -> Reading:
        reading = Reading()
        self._visit((module_name, function), reading)
        return reading

    def read_file(self, path: Path, function: str = "lambda_handler") -> Reading:
        name = f"handler:{path.parent.name}"
        self.modules[name] = _load(path, name)
        return self.read(name, function)

    def _visit(self, node: Node, reading: Reading) -> None:
        if node in reading.visited:
            return
        reading.visited.add(node)
        fn = self._function(node)
        if fn is None:
            return
        module = self.modules[node[0]]
        cls = node[1].split(".")[0] if "." in node[1] else None
        types: dict[str, str] = {}
        for arg in [*fn.args.args, *fn.args.kwonlyargs]:
            typed = self._typed(module, _annotation(arg.annotation))
            if typed:
                types[arg.arg] = typed
        for inner in ast.walk(fn):
            if isinstance(inner, ast.Assign | ast.AnnAssign):
                self._assign(module, inner, types)
        for inner in ast.walk(fn):
            if isinstance(inner, ast.Call):
                self._call(module, cls, inner, types, reading)
            elif isinstance(inner, ast.Attribute) and inner.attr in self.adapter_methods:
                self._reference(module, inner, types, reading)  # partial(ec2.register, …)
            elif isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Load):
                found = self._name(module, inner.id)
                if found and found[0] == "function":
                    self._visit(tuple(found[1].rsplit(".", 1)), reading)  # type: ignore[arg-type]

    def _reference(
        self, module: Module, node: ast.Attribute, types: dict[str, str], reading: Reading
    ) -> None:
        """A bound adapter method passed on, not called here (it is called later)."""
        typed = self._expression_type(module, node.value, types)
        declared = self.actions_of.get(typed or "", {})
        if node.attr in declared:
            reading.actions |= declared[node.attr]
            reading.adapter_calls.add(f"{(typed or '').rsplit('.', 1)[1]}.{node.attr}")

    def _assign(
        self, module: Module, node: ast.Assign | ast.AnnAssign, types: dict[str, str]
    ) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        value = node.value
        for target in targets:  # a, b = x.ec2, y: element by element
            if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
                for one, expr in zip(target.elts, value.elts, strict=False):
                    typed_one = self._expression_type(module, expr, types)
                    if isinstance(one, ast.Name) and typed_one:
                        types[one.id] = typed_one
        typed: str | None = None
        if isinstance(node, ast.AnnAssign):
            typed = self._typed(module, _annotation(node.annotation))
        if typed is None and value is not None:
            typed = self._expression_type(module, value, types)
        if typed is None:
            return
        for target in targets:
            if isinstance(target, ast.Name):
                types[target.id] = typed

    def _expression_type(
        self, module: Module, value: ast.expr, types: dict[str, str]
    ) -> str | None:
        if isinstance(value, ast.Attribute) and value.attr in FIELD_ADAPTERS:
            return FIELD_ADAPTERS[value.attr]
        if isinstance(value, ast.Name) and value.id in types:
            return types[value.id]
        if isinstance(value, ast.Call):
            func = value.func
            if isinstance(func, ast.Attribute) and func.attr in FIELD_ADAPTERS:
                return FIELD_ADAPTERS[func.attr]  # an adapter factory field: ports.copies(r)
            target = self._callee(module, value.func)
            if target and target[0] == "class":
                return target[1]
            if target and target[0] == "function":
                owner, _, name = target[1].rpartition(".")
                fn = self.modules[owner].functions[name]
                return self._typed(self.modules[owner], _annotation(fn.returns))
        return None

    def _callee(self, module: Module, func: ast.expr) -> tuple[str, str] | None:
        if isinstance(func, ast.Name):
            return self._name(module, func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            found = self._name(module, func.value.id)
            if found and found[0] == "module":
                return self.resolve(f"{found[1]}.{func.attr}")
        return None

    def _call(
        self,
        module: Module,
        cls: str | None,
        call: ast.Call,
        types: dict[str, str],
        reading: Reading,
    ) -> None:
        target = self._callee(module, call.func)
        if target is not None:
            if target[0] == "function":
                self._visit(tuple(target[1].rsplit(".", 1)), reading)  # type: ignore[arg-type]
            elif target[0] == "class":
                init = self._class_node(target[1], "__init__")
                if init:
                    self._visit(init, reading)
            return
        if not isinstance(call.func, ast.Attribute):
            return
        method, receiver = call.func.attr, call.func.value
        if isinstance(receiver, ast.Name) and receiver.id == "self" and cls:
            self._visit((module.name, f"{cls}.{method}"), reading)
            return
        typed = self._expression_type(module, receiver, types)
        if typed in self.actions_of:
            declared = self.actions_of[typed]
            if method in declared:
                reading.actions |= declared[method]
                reading.adapter_calls.add(f"{typed.rsplit('.', 1)[1]}.{method}")
            return
        if typed is not None:
            found = self._class_node(typed, method)
            if found:
                self._visit(found, reading)
            return
        if method in self.adapter_methods:
            reading.unresolved.add(f"{module.name}: .{method}(…) on {ast.unparse(receiver)}")
        for candidate in self.domain_methods.get(method, []):
            self._visit(candidate, reading)
